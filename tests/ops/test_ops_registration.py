"""The ops as torch.library ops: the compiled kernels are registered and serve the public wrappers,
opcheck passes on every op, and torch.compile(fullgraph=True) traces each public op."""

from __future__ import annotations

import os
import sys

import pytest
import torch

import drn.ops
from drn.ops import (
    batched_temporal_nms,
    iou_loss,
    iou_loss_reference,
    regression_targets,
    segment_iou,
    temporal_nms,
)

from .ops_testing import HAS_EXT, random_distances, random_segments, requires_ext

OPS = ("segment_iou", "regression_targets", "iou_loss", "batched_temporal_nms")
SCHEMAS = OPS + ("iou_loss_backward",)


def test_backend_report_shape():
    info = drn.ops.backend()
    assert set(info["ops"]) == set(OPS)
    for impl in info["ops"].values():
        assert impl["cpu"] in ("cpu", "reference") and impl["cuda"] in ("cuda", "reference")
    assert info["why"]["cpu"] and info["why"]["cuda"]
    if HAS_EXT:
        ext = info["extension"]
        assert os.path.isfile(ext["path"]) and ext["torch_version"] == torch.__version__
        assert isinstance(ext["with_cuda"], bool)
        assert (ext["cuda_version"] is not None) == ext["with_cuda"]


@pytest.mark.skipif(os.environ.get("DRN_REQUIRE_EXT") != "1", reason="DRN_REQUIRE_EXT=1 not set (CI sets it)")
@pytest.mark.parametrize("op", OPS)
def test_require_ext_means_compiled_cpu_kernels(op):
    assert drn.ops.backend()["ops"][op]["cpu"] == "cpu"


@requires_ext
@pytest.mark.parametrize("op", SCHEMAS)
def test_op_registered_with_cpu_kernel(op):
    assert hasattr(torch.ops.drn, op)
    assert torch._C._dispatch_has_kernel_for_dispatch_key(f"drn::{op}", "CPU")
    assert torch._C._dispatch_has_kernel_for_dispatch_key(f"drn::{op}", "Meta")  # the fake kernel


@requires_ext
def test_public_ops_run_the_kernels_not_the_references(monkeypatch):
    """With every reference replaced by a function that raises, the public ops still work on CPU."""

    def refuse(*args, **kwargs):
        raise AssertionError("the reference ran although the compiled kernel serves cpu")

    for module, name in [
        ("segment_iou", "segment_iou_reference"),
        ("regression_targets", "regression_targets_reference"),
        ("iou_loss", "iou_loss_reference"),
        ("batched_temporal_nms", "batched_temporal_nms_reference"),
    ]:
        # drn.ops.<op> is the function, so the module comes from sys.modules.
        monkeypatch.setattr(sys.modules[f"drn.ops.{module}"], name, refuse)
    seg = torch.tensor([[0.0, 2.0], [1.0, 3.0]])
    assert segment_iou(seg, seg)[0, 1].item() == pytest.approx(1 / 3)
    assert regression_targets(torch.tensor([1.5]), seg)[2].tolist() == [[0], [0]]
    pred = torch.tensor([[1.0, 2.0]], requires_grad=True)
    iou_loss(pred, torch.tensor([[2.0, 2.0]]), loss_type="linear_iou").backward()
    assert pred.grad is not None
    assert batched_temporal_nms(seg, torch.tensor([0.1, 0.9]), torch.zeros(2, dtype=torch.long), 0.2).tolist() == [1]
    assert temporal_nms(seg, torch.tensor([0.1, 0.9]), 0.5).tolist() == [1, 0]


def _opcheck_samples():
    gen = torch.Generator().manual_seed(0)
    a, b = random_segments(6, gen), random_segments(4, gen)
    a_t = a.t().contiguous().t()  # non-contiguous
    points = torch.linspace(-15, 15, 9, dtype=torch.float64)
    segs = random_segments(6, gen).reshape(3, 2, 2)
    ranges = torch.tensor([[0.0, 5.0]] * 9, dtype=torch.float64)
    counts = torch.tensor([2, 1, 0])
    pred, target = random_distances((5,), gen, ties=False)
    weight = torch.rand(5, generator=gen, dtype=torch.float64)
    scores = torch.rand(6, generator=gen, dtype=torch.float64)
    groups = torch.tensor([0, 0, 1, 1, 1, 0])

    def rg(t):
        return t.clone().requires_grad_()

    return [
        ("segment_iou", (a, b, False)),
        ("segment_iou", (a_t, a, True)),
        ("segment_iou", (a[:0], b, False)),
        ("regression_targets", (points, segs, ranges, counts)),
        ("regression_targets", (points, segs[:, 0], None, None)),
        ("regression_targets", (points[:0], segs, None, None)),
        ("iou_loss", (rg(pred), rg(target), None, "iou", "mean", 1e-6)),
        ("iou_loss", (rg(pred), target, weight, "giou", "none", 1e-6)),
        ("iou_loss", (pred, rg(target), weight, "linear_iou", "sum", 1e-6)),
        ("iou_loss", (pred, target, None, "iou", "none", 1e-6)),
        ("iou_loss_backward", (torch.tensor(1.5, dtype=torch.float64), pred, target, weight, "iou", "mean", 1e-6)),
        ("iou_loss_backward", (torch.rand(5, dtype=torch.float64), pred, target, None, "giou", "none", 1e-6)),
        ("batched_temporal_nms", (a, scores, groups, 0.5, -1)),
        ("batched_temporal_nms", (a, scores, groups, 0.0, 1)),
        ("batched_temporal_nms", (a[:0], scores[:0], groups[:0], 0.5, -1)),
    ]


@requires_ext
@pytest.mark.parametrize("op, args", _opcheck_samples(), ids=lambda v: v if isinstance(v, str) else "")
def test_opcheck(op, args):
    torch.library.opcheck(getattr(torch.ops.drn, op).default, args)


@requires_ext
@pytest.mark.parametrize("op", ["iou_loss_backward", "iou_loss"])
def test_opcheck_non_contiguous_distances(op):
    """The fake kernel must describe the real output, strides included, for transposed inputs."""
    gen = torch.Generator().manual_seed(1)
    pred, target = random_distances((5,), gen, ties=False)
    pred_t, target_t = pred.t().contiguous().t(), target.t().contiguous().t()
    assert not pred_t.is_contiguous()
    if op == "iou_loss":
        args = (pred_t.requires_grad_(), target_t, None, "iou", "none", 1e-6)
    else:
        args = (torch.rand(5, dtype=torch.float64), pred_t, target_t, None, "iou", "none", 1e-6)
    torch.library.opcheck(getattr(torch.ops.drn, op).default, args)


def _compiled(fn):
    return torch.compile(fn, fullgraph=True, backend="aot_eager", dynamic=False)


def _assert_same(got, want):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
    else:
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def _case_segment_iou():
    gen = torch.Generator().manual_seed(2)
    a, b = random_segments(7, gen, torch.float32), random_segments(5, gen, torch.float32)
    return (lambda a, b: (segment_iou(a, b), segment_iou(a, a, aligned=True) * 2)), (a, b)


def _case_regression_targets():
    gen = torch.Generator().manual_seed(3)
    segs = random_segments(8, gen, torch.float32).reshape(4, 2, 2)
    points = torch.linspace(-20, 20, 11)
    ranges = torch.tensor([[0.0, 8.0]] * 11)
    return (
        lambda p, s, r, c: regression_targets(p, s, r, c),
        (points, segs, ranges, torch.tensor([2, 2, 1, 0])),
    )


def _case_nms():
    gen = torch.Generator().manual_seed(4)
    segs = random_segments(40, gen, torch.float32)
    scores = torch.rand(40, generator=gen)
    groups = torch.randint(0, 3, (40,), generator=gen)
    return (
        lambda s, c, g: (batched_temporal_nms(s, c, g, 0.4, 5), temporal_nms(s, c, 0.6)),
        (segs, scores, groups),
    )


@requires_ext  # the references' value checks are data-dependent: they break the graph
@pytest.mark.parametrize("case", [_case_segment_iou, _case_regression_targets, _case_nms], ids=lambda c: c.__name__[6:])
def test_compile_fullgraph_matches_eager(case):
    fn, args = case()
    _assert_same(_compiled(fn)(*args), fn(*args))


@pytest.mark.parametrize("transposed", [False, True], ids=["contiguous", "transposed"])
@pytest.mark.parametrize("loss_type", ["iou", "giou"])
def test_compile_fullgraph_iou_loss_with_backward(loss_type, transposed):
    gen = torch.Generator().manual_seed(5)
    pred, target = random_distances((4, 6), gen, torch.float32)
    weight = torch.rand(4, 6, generator=gen)

    def fn(p, t, w):
        return iou_loss(p, t, w, loss_type=loss_type) + iou_loss(p, t, None, loss_type=loss_type, reduction="sum")

    results = []
    for run in (fn, _compiled(fn)):
        p = (pred.transpose(0, 1).contiguous().transpose(0, 1) if transposed else pred.clone()).requires_grad_()
        t = target.clone().requires_grad_()
        out = run(p, t, weight)
        out.backward()
        results.append((out.detach(), p.grad, t.grad))
    _assert_same(results[1], results[0])
    want = iou_loss_reference(pred, target, weight, loss_type)
    torch.testing.assert_close(iou_loss(pred, target, weight, loss_type=loss_type), want)
