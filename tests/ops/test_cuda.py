"""The CUDA kernels against the CPU kernels on the same inputs (skipped without a GPU and the CUDA
kernels; tests/conftest.py decides). Subtractions and divisions agree bit for bit; logs and sums
within a tight tolerance; NMS keep lists are identical, ties included."""

from __future__ import annotations

import pytest
import torch

import drn.ops
from drn.ops import batched_temporal_nms, iou_loss, regression_targets, segment_iou, temporal_nms

from .ops_testing import (
    FLOATS,
    LAYOUTS,
    LOW_PRECISION,
    SEEDS,
    SWEEP_KINDS,
    SWEEP_SETTINGS,
    layout,
    random_distances,
    random_segments,
    sweep_case,
)

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")
OPS = ("segment_iou", "regression_targets", "iou_loss", "iou_loss_backward", "batched_temporal_nms")


def _cuda(*tensors):
    return tuple(None if t is None else t.to(CUDA) for t in tensors)


def _cpu(out):
    return tuple(t.cpu() for t in out) if isinstance(out, tuple) else out.cpu()


@pytest.mark.parametrize("op", OPS)
def test_cuda_kernels_registered_and_serving(op):
    assert torch._C._dispatch_has_kernel_for_dispatch_key(f"drn::{op}", "CUDA")
    if op != "iou_loss_backward":
        assert drn.ops.backend()["ops"][op]["cuda"] == "cuda"


@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("aligned", [False, True], ids=["pairs", "aligned"])
def test_segment_iou(how, dtype, seed, aligned):
    gen = torch.Generator().manual_seed(seed)
    a = random_segments(700, gen, dtype)
    b = random_segments(700 if aligned else 300, gen, dtype)
    want = segment_iou(a, b, aligned)
    a_, b_ = _cuda(layout(a, how), layout(b, how))
    for got in (segment_iou(a_, b_, aligned), torch.ops.drn.segment_iou(a_, b_, aligned)):
        assert got.device.type == "cuda" and got.dtype == dtype
        torch.testing.assert_close(got.cpu(), want, rtol=0, atol=0)


def _targets_case(seed, dtype, B=16, G=5, T=600):
    gen = torch.Generator().manual_seed(seed)
    segments = random_segments(B * G, gen, dtype, span=60).reshape(B, G, 2)
    segments[:, 1] = segments[:, 0]  # ties in length
    points = ((torch.rand(T, generator=gen, dtype=torch.float64) - 0.5) * 70).to(dtype)
    points[:10] = segments[:5].reshape(-1)[:10]  # on boundaries
    lo = torch.rand(T, generator=gen, dtype=torch.float64) * 5
    ranges = torch.stack([lo, lo + torch.rand(T, generator=gen, dtype=torch.float64) * 20], 1).to(dtype)
    counts = torch.randint(0, G + 1, (B,), generator=gen)
    return points, segments, ranges, counts


@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
def test_regression_targets(how, dtype, seed):
    points, segments, ranges, counts = _targets_case(seed, dtype)
    for args in [(points, segments, ranges, counts), (points, segments[:, 0], None, None)]:
        want = regression_targets(*args)
        moved = _cuda(
            layout(args[0], "contiguous" if how == "contiguous" else "strided"),
            layout(args[1], how),
            None if args[2] is None else layout(args[2], how),
            args[3],
        )
        for got in (regression_targets(*moved), torch.ops.drn.regression_targets(*moved)):
            for g, w in zip(got, want):
                assert g.device.type == "cuda"
                torch.testing.assert_close(g.cpu(), w, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("loss_type", ["iou", "linear_iou", "giou"])
def test_iou_loss_forward_and_gradients(loss_type, reduction, weighted, dtype):
    gen = torch.Generator().manual_seed(7)
    pred, target = random_distances((64, 300), gen, dtype, ties=True)  # min/max ties included
    weight = (torch.rand(64, 300, generator=gen, dtype=torch.float64) * 2).to(dtype) if weighted else None
    upstream = torch.randn(64, 300, generator=gen, dtype=torch.float64).to(dtype)
    results = []
    for device in ("cpu", "cuda"):
        # A fresh leaf per device: on the CPU pass .to() returns pred itself, which must not
        # carry requires_grad into the CUDA pass (its copy would be a non-leaf with no .grad).
        p = pred.detach().to(device).clone().requires_grad_()
        t = target.detach().to(device).clone().requires_grad_()
        w = None if weight is None else weight.to(device)
        out = iou_loss(p, t, w, loss_type=loss_type, reduction=reduction)
        out.backward(upstream.to(device) if reduction == "none" else None)
        results.append((out.detach().cpu(), p.grad.cpu(), t.grad.cpu()))
    for g, w in zip(results[1], results[0]):
        torch.testing.assert_close(g, w)


def test_iou_loss_mean_all_zero_weights_on_cuda():
    gen = torch.Generator().manual_seed(1)
    pred, target = _cuda(*random_distances((50,), gen))
    pred.requires_grad_()
    out = iou_loss(pred, target, torch.zeros(50, device=CUDA, dtype=torch.float64))
    out.backward()
    assert out.item() == 0.0 and torch.equal(pred.grad, torch.zeros_like(pred))


def _nms_case(seed, group_size, num_groups, dtype, coarse):
    gen = torch.Generator().manual_seed(seed)
    n = group_size * num_groups
    segments = random_segments(n, gen, dtype, span=100)
    if coarse:  # many ties: identical segments and equal scores
        segments = segments.round()
        segments[:, 1] = torch.maximum(segments[:, 0], segments[:, 1])
        scores = torch.randint(0, 8, (n,), generator=gen).to(dtype)
    else:
        scores = torch.rand(n, generator=gen, dtype=torch.float64).to(dtype)
    groups = torch.arange(num_groups).repeat_interleave(group_size)
    groups = groups[torch.randperm(n, generator=gen)] if seed % 2 else groups
    return segments, scores, groups


@pytest.mark.parametrize("coarse", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("group_size, num_groups", [(56, 300), (224, 80), (7, 1000)])
@pytest.mark.parametrize("seed", (0, 1))
def test_nms_many_groups(seed, group_size, num_groups, dtype, coarse):
    segments, scores, groups = _nms_case(seed, group_size, num_groups, dtype, coarse)
    moved = _cuda(segments, scores, groups)
    for thr in (0.0, 0.3, 0.5, 0.7, 1.0):
        for limit in (-1, 5):
            want = batched_temporal_nms(segments, scores, groups, thr, limit)
            got = batched_temporal_nms(*moved, thr, limit)
            assert got.device.type == "cuda" and got.dtype == torch.int64
            assert got.cpu().tolist() == want.tolist(), (thr, limit)


@pytest.mark.parametrize("coarse", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_nms_single_group_of_20000(dtype, coarse):
    segments, scores, _ = _nms_case(3, 20000, 1, dtype, coarse)
    moved = _cuda(segments, scores)
    for thr in (0.0, 0.5, 0.9):
        want = temporal_nms(segments, scores, thr)
        assert temporal_nms(*moved, thr).cpu().tolist() == want.tolist(), thr
        groups = torch.zeros(20000, dtype=torch.long, device=CUDA)
        assert torch.ops.drn.batched_temporal_nms(*moved, groups, thr, -1).cpu().tolist() == want.tolist()


@pytest.mark.parametrize("kind", SWEEP_KINDS)
@pytest.mark.parametrize("scores_kind", ["distinct", "ties"])
def test_nms_sweep_past_the_bitmask_equals_the_cpu(kind, scores_kind):
    """One group of 20,000 (> 16,384: the CUDA sparse sweep) keeps what the CPU sweep keeps, in order."""
    segments, scores, groups = sweep_case(kind, scores_kind, 20000, seed=41)
    moved = _cuda(segments, scores, groups)
    for thr, limit in SWEEP_SETTINGS:
        want = batched_temporal_nms(segments, scores, groups, thr, limit)
        assert batched_temporal_nms(*moved, thr, limit).cpu().tolist() == want.tolist(), (thr, limit)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_nms_one_large_group_of_proposals_like_cpu(size, dtype):
    """Sparse proposals (greedy keeps most: the all-pairs bitmask would need N^2 / 8 bytes) and
    dense clusters, with a few segments of non-finite length that meet nothing, beside small groups."""
    gen = torch.Generator().manual_seed(43)
    start = torch.rand(size, generator=gen, dtype=torch.float64) * size * 8
    length = torch.exp(torch.randn(size, generator=gen, dtype=torch.float64) * 0.5 + 1.1)
    length[size // 2:] *= 20  # half of them long: dense overlaps
    length[::9973] = float("inf")
    segments = torch.stack([start, start + length], 1).to(dtype)
    scores = torch.rand(size, generator=gen, dtype=torch.float64).to(dtype)
    groups = torch.zeros(size, dtype=torch.long)
    groups[:3000] = torch.arange(3000) // 30 + 1  # 100 groups of 30
    moved = _cuda(segments, scores, groups)
    for thr in (0.5, 0.7):
        want = batched_temporal_nms(segments, scores, groups, thr)
        assert batched_temporal_nms(*moved, thr).cpu().tolist() == want.tolist(), thr
    assert temporal_nms(*_cuda(segments, scores), 0.5).cpu().tolist() == temporal_nms(segments, scores, 0.5).tolist()


def test_nms_float32_threshold_boundary_like_cpu():
    segments = torch.tensor([[0.0, 10.0], [0.0, 3.0], [20.0, 30.0], [20.0, 21.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    groups = torch.tensor([0, 0, 1, 1])
    for thr in (0.1, 0.3):
        want = batched_temporal_nms(segments, scores, groups, thr)
        assert batched_temporal_nms(*_cuda(segments, scores, groups), thr).cpu().tolist() == want.tolist()


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_low_precision_on_cuda(dtype):
    gen = torch.Generator().manual_seed(2)
    a = random_segments(100, gen, dtype)
    out = segment_iou(*_cuda(a, a))
    assert out.dtype == dtype
    torch.testing.assert_close(out.cpu(), segment_iou(a, a), rtol=0, atol=0)
    pred, target = random_distances((100,), gen, dtype)
    torch.testing.assert_close(iou_loss(*_cuda(pred, target)).cpu(), iou_loss(pred, target))
    scores = torch.rand(100, generator=gen).to(dtype)
    assert temporal_nms(*_cuda(a, scores), 0.5).cpu().tolist() == temporal_nms(a, scores, 0.5).tolist()


def test_empty_inputs_on_cuda():
    e2 = torch.zeros(0, 2, device=CUDA)
    assert segment_iou(e2, torch.zeros(3, 2, device=CUDA)).shape == (0, 3)
    assert segment_iou(e2, e2, aligned=True).shape == (0,)
    t, p, a = regression_targets(torch.zeros(0, device=CUDA), torch.tensor([[0.0, 1.0]], device=CUDA))
    assert t.shape == (1, 0, 2) and p.shape == (1, 0) and a.shape == (1, 0) and t.is_cuda
    t, p, a = regression_targets(torch.zeros(4, device=CUDA), torch.zeros(0, 2, device=CUDA))
    assert t.shape == (0, 4, 2)
    pred = torch.zeros(0, 2, device=CUDA, requires_grad=True)
    loss = iou_loss(pred, torch.zeros(0, 2, device=CUDA))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad.shape == (0, 2)
    assert iou_loss(pred, torch.zeros(0, 2, device=CUDA), reduction="none").shape == (0,)
    keep = batched_temporal_nms(e2, torch.zeros(0, device=CUDA), torch.zeros(0, dtype=torch.long, device=CUDA), 0.5)
    assert keep.shape == (0,) and keep.dtype == torch.int64 and keep.is_cuda


BAD = [[0.0, 2.0], [3.0, 1.0]]


@pytest.mark.parametrize(
    "call, text",
    [
        (lambda: segment_iou(torch.tensor(BAD, device=CUDA), torch.tensor(BAD[:1], device=CUDA)), "a must have start <= end"),
        (lambda: torch.ops.drn.segment_iou(torch.tensor(BAD[:1], device=CUDA), torch.tensor(BAD, device=CUDA)), "b must have start <= end"),
        (lambda: regression_targets(torch.zeros(3, device=CUDA), torch.tensor(BAD, device=CUDA)), "segments must have start <= end"),
        (lambda: batched_temporal_nms(torch.tensor(BAD, device=CUDA), torch.ones(2, device=CUDA), torch.zeros(2, dtype=torch.long, device=CUDA), 0.5), "segments must have start <= end"),
        (lambda: temporal_nms(torch.tensor(BAD[:1] * 2, device=CUDA), torch.tensor([0.5, float("nan")], device=CUDA), 0.5), "scores[1] is NaN"),
        (lambda: torch.ops.drn.batched_temporal_nms(torch.zeros(300, 2, device=CUDA), torch.full((300,), float("nan"), device=CUDA), torch.zeros(300, dtype=torch.long, device=CUDA), 0.5, -1), "is NaN"),
        (lambda: torch.ops.drn.segment_iou(torch.zeros(2, 2, device=CUDA), torch.zeros(2, 2)), "must be on the same device"),
        (lambda: torch.ops.drn.batched_temporal_nms(torch.zeros(2, 2, device=CUDA), torch.ones(2, device=CUDA), torch.zeros(2, dtype=torch.long), 0.5, -1), "must be on the same device"),
    ],
    ids=["iou a", "iou b direct", "targets", "nms segments", "nms NaN", "nms NaN direct", "iou devices direct", "nms groups device direct"],
)
def test_errors_on_cuda(call, text):
    with pytest.raises(ValueError) as info:
        call()
    assert text in str(info.value)


@pytest.mark.parametrize(
    "op, make",
    [
        ("segment_iou", lambda: (torch.rand(5, 2, device=CUDA).sort(1).values, torch.rand(4, 2, device=CUDA).sort(1).values, False)),
        ("regression_targets", lambda: (torch.linspace(0, 1, 7, device=CUDA), torch.tensor([[[0.1, 0.6], [0.3, 0.9]]], device=CUDA), None, torch.tensor([2], device=CUDA))),
        ("iou_loss", lambda: (torch.rand(6, 2, device=CUDA, requires_grad=True), torch.rand(6, 2, device=CUDA), None, "giou", "mean", 1e-6)),
        ("batched_temporal_nms", lambda: (torch.tensor([[0.0, 2.0], [1.0, 3.0], [5.0, 6.0]], device=CUDA), torch.tensor([0.3, 0.9, 0.5], device=CUDA), torch.tensor([0, 0, 1], device=CUDA), 0.2, -1)),
    ],
)
def test_opcheck_on_cuda(op, make):
    torch.library.opcheck(getattr(torch.ops.drn, op).default, make())


def _with_non_finite(t: torch.Tensor, gen: torch.Generator, values=(float("nan"), float("inf"), -float("inf"))):
    """t with about one entry in six replaced by NaN / +-Inf."""
    out = t.clone()
    hit = torch.rand(out.shape, generator=gen) < 1 / 6
    pick = torch.tensor(values, dtype=out.dtype)[torch.randint(0, len(values), out.shape, generator=gen)]
    return torch.where(hit, pick, out)


@pytest.mark.parametrize("dtype", FLOATS)
def test_non_finite_like_cpu(dtype):
    """The NaN / Inf rules (README) hold on CUDA as on the CPU kernels: every op, NMS groups > 256 too."""
    gen = torch.Generator().manual_seed(5)
    a = _with_non_finite(random_segments(300, gen, dtype), gen)
    a = torch.where((a[:, :1] > a[:, 1:]), a.flip(1), a)  # keep start <= end where it is comparable
    torch.testing.assert_close(_cpu(segment_iou(*_cuda(a, a))), segment_iou(a, a), rtol=0, atol=0)
    points = _with_non_finite(torch.linspace(-20, 20, 56, dtype=dtype), gen)
    got, want = _cpu(regression_targets(*_cuda(points, a[:64].reshape(16, 4, 2)))), regression_targets(
        points, a[:64].reshape(16, 4, 2))
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=0, equal_nan=True)
    assert torch.equal(got[1], want[1]) and torch.equal(got[2], want[2])
    pred, target = random_distances((200,), gen, dtype)
    pred = _with_non_finite(pred, gen)
    p, t = _cuda(pred, target)
    p.requires_grad_(True)
    loss = iou_loss(p, t, reduction="none")
    loss.sum().backward()
    pc = pred.clone().requires_grad_(True)
    want_loss = iou_loss(pc, target, reduction="none")
    want_loss.sum().backward()
    torch.testing.assert_close(loss.detach().cpu(), want_loss.detach(), equal_nan=True)
    torch.testing.assert_close(p.grad.cpu(), pc.grad, equal_nan=True)
    scores = torch.rand(300, generator=gen, dtype=torch.float64).to(dtype)
    for groups in (torch.zeros(300, dtype=torch.long), torch.arange(300) % 3):
        for thr in (0.0, 0.5):
            want = batched_temporal_nms(a, scores, groups, thr)
            assert batched_temporal_nms(*_cuda(a, scores, groups), thr).cpu().tolist() == want.tolist()
