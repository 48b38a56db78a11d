"""iou_loss: forward against hand-computed losses, backward against hand-computed gradients and
autograd of the reference (min/max ties included), gradcheck, reductions, empty and fp16 inputs."""

from __future__ import annotations

import math

import pytest
import torch

from drn.ops import iou_loss, iou_loss_reference

from .ops_testing import FLOATS, LAYOUTS, LOW_PRECISION, layout, random_distances, requires_ext

LOSS_TYPES = ("iou", "linear_iou", "giou")
REDUCTIONS = ("none", "sum", "mean")


def _direct(pred, target, weight=None, loss_type="iou", reduction="mean", eps=1e-6):
    return torch.ops.drn.iou_loss(pred, target, weight, loss_type, reduction, eps)


IMPLS = [
    pytest.param(iou_loss_reference, id="reference"),
    pytest.param(iou_loss, id="public"),
    pytest.param(_direct, id="direct", marks=requires_ext),
]

# (pred (l, r), target (l*, r*), I, U) with eps = 0; IoU = I / U. In 1-D, with distances from one
# point, the hull C = max(l, l*) + max(r, r*) equals U, so GIoU's penalty is 0 and giou == linear_iou.
HAND = [
    ((1.0, 1.0), (1.0, 1.0), 2, 2),  # identical
    ((1.0, 3.0), (2.0, 2.0), 3, 5),
    ((1.0, 1.0), (3.0, 3.0), 2, 6),  # nested
    ((0.0, 4.0), (2.0, 2.0), 2, 6),  # l = 0
    ((1.0, 2.0), (1.0, 3.0), 3, 4),  # l == l* only
    ((0.5, 0.25), (0.25, 0.75), 0.5, 1.25),
]


def _hand_losses(loss_type):
    iou = torch.tensor([i / u for *_, i, u in HAND], dtype=torch.float64)
    return -torch.log(iou) if loss_type == "iou" else 1 - iou


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_hand_table(impl, loss_type, dtype):
    pred = torch.tensor([row[0] for row in HAND], dtype=dtype)
    target = torch.tensor([row[1] for row in HAND], dtype=dtype)
    expected = _hand_losses(loss_type).to(dtype)
    out = impl(pred, target, None, loss_type=loss_type, reduction="none", eps=0.0)
    assert out.shape == (len(HAND),) and out.dtype == dtype
    torch.testing.assert_close(out, expected)
    weight = torch.tensor([1.0, 0.0, 2.0, 0.5, 3.0, 1.0], dtype=dtype)
    torch.testing.assert_close(impl(pred, target, weight, loss_type=loss_type, reduction="none", eps=0.0), expected * weight)
    torch.testing.assert_close(impl(pred, target, weight, loss_type=loss_type, reduction="sum", eps=0.0), (expected * weight).sum())
    torch.testing.assert_close(
        impl(pred, target, weight, loss_type=loss_type, reduction="mean", eps=0.0), (expected * weight).sum() / 7.5
    )
    torch.testing.assert_close(impl(pred, target, None, loss_type=loss_type, reduction="mean", eps=0.0), expected.mean())


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_eps_keeps_degenerate_pairs_finite(impl, loss_type):
    eps = 1e-6
    pred = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.0], [0.0, 2.0]], dtype=torch.float64)  # U = 0; I = 0 with U = 4
    iou = torch.tensor([eps / eps, eps / (4 + eps)], dtype=torch.float64)
    expected = -torch.log(iou) if loss_type == "iou" else 1 - iou
    out = impl(pred, target, None, loss_type=loss_type, reduction="none", eps=eps)
    torch.testing.assert_close(out, expected)
    assert out[0] == 0


# Gradients of the summed loss with eps = 0, by hand: (pred, target, loss_type, d/d(l, r), d/d(l*, r*)).
# At l == l*, min and max pass half the gradient to each side (as autograd does).
GRAD_HAND = [
    ((1.0, 2.0), (1.0, 3.0), "iou", (-1 / 24, -1 / 3), (-1 / 24, 1 / 4)),  # I = 3, U = 4
    ((1.0, 2.0), (1.0, 3.0), "linear_iou", (-1 / 32, -1 / 4), (-1 / 32, 3 / 16)),
    ((1.0, 2.0), (1.0, 3.0), "giou", (-1 / 32, -1 / 4), (-1 / 32, 3 / 16)),
    ((1.0, 2.0), (1.0, 2.0), "iou", (0.0, 0.0), (0.0, 0.0)),  # pred == target: all halves cancel
    ((1.0, 2.0), (1.0, 2.0), "linear_iou", (0.0, 0.0), (0.0, 0.0)),
    ((1.0, 2.0), (1.0, 2.0), "giou", (0.0, 0.0), (0.0, 0.0)),
    ((1.0, 3.0), (2.0, 2.0), "iou", (-1 / 3, 1 / 5), (1 / 5, -1 / 3)),  # I = 3, U = 5, no tie
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pred, target, loss_type, grad_pred, grad_target", GRAD_HAND)
def test_hand_gradients(impl, pred, target, loss_type, grad_pred, grad_target):
    p = torch.tensor([pred], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([target], dtype=torch.float64, requires_grad=True)
    impl(p, t, None, loss_type=loss_type, reduction="sum", eps=0.0).backward()
    torch.testing.assert_close(p.grad, torch.tensor([grad_pred], dtype=torch.float64))
    torch.testing.assert_close(t.grad, torch.tensor([grad_target], dtype=torch.float64))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradcheck(loss_type, reduction, weighted):
    gen = torch.Generator().manual_seed(11)
    # Distances well apart, so finite differences never cross a min/max kink.
    pred = (torch.rand(6, 2, generator=gen, dtype=torch.float64) * 3 + 0.2).requires_grad_()
    target = (torch.rand(6, 2, generator=gen, dtype=torch.float64) * 3 + 0.2)
    assert (pred - target).abs().min() > 1e-3
    target.requires_grad_()
    weight = torch.rand(6, generator=gen, dtype=torch.float64) + 0.5 if weighted else None
    assert torch.autograd.gradcheck(
        lambda p, t: iou_loss(p, t, weight, loss_type=loss_type, reduction=reduction), (pred, target)
    )


def _grads(fn, pred, target, weight, loss_type, reduction, upstream):
    p = pred.detach().clone().requires_grad_()
    t = target.detach().clone().requires_grad_()
    out = fn(p, t, weight, loss_type=loss_type, reduction=reduction)
    out.backward(upstream if reduction == "none" else None)
    return out.detach(), p.grad, t.grad


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("seed", (0, 1))
def test_kernel_matches_reference_autograd(seed, loss_type, reduction, weighted, dtype):
    gen = torch.Generator().manual_seed(seed)
    pred, target = random_distances((4, 25), gen, dtype, ties=True)  # [B, T, 2], ties included
    weight = (torch.rand(4, 25, generator=gen, dtype=torch.float64) * 2).to(dtype) if weighted else None
    upstream = torch.randn(4, 25, generator=gen, dtype=torch.float64).to(dtype)
    got = _grads(iou_loss, pred, target, weight, loss_type, reduction, upstream)
    want = _grads(iou_loss_reference, pred, target, weight, loss_type, reduction, upstream)
    for g, w in zip(got, want):
        assert g.dtype == dtype
        torch.testing.assert_close(g, w)


@requires_ext
@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_non_contiguous_inputs(how, loss_type):
    gen = torch.Generator().manual_seed(5)
    pred, target = random_distances((3, 17), gen, torch.float64)
    weight = torch.rand(3, 17, generator=gen, dtype=torch.float64)
    want = _grads(iou_loss_reference, pred, target, weight, loss_type, "mean", None)
    p = layout(pred, how).requires_grad_()
    t = layout(target, how).requires_grad_()
    out = iou_loss(p, t, layout(weight, how), loss_type=loss_type)
    out.backward()
    torch.testing.assert_close(out.detach(), want[0])
    torch.testing.assert_close(p.grad, want[1])
    torch.testing.assert_close(t.grad, want[2])
    direct = _direct(p.detach(), t.detach(), layout(weight, how), loss_type, "none", 1e-6)
    torch.testing.assert_close(direct, iou_loss_reference(pred, target, weight, loss_type, "none"))


@requires_ext
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_backward_op_directly(loss_type, reduction):
    gen = torch.Generator().manual_seed(9)
    pred, target = random_distances((40,), gen, torch.float64, ties=True)
    weight = torch.rand(40, generator=gen, dtype=torch.float64)
    upstream = torch.randn(40, generator=gen, dtype=torch.float64) if reduction == "none" else torch.tensor(1.7, dtype=torch.float64)
    p, t = pred.clone().requires_grad_(), target.clone().requires_grad_()
    iou_loss_reference(p, t, weight, loss_type, reduction).backward(upstream)
    grad_pred, grad_target = torch.ops.drn.iou_loss_backward(upstream, pred, target, weight, loss_type, reduction, 1e-6)
    torch.testing.assert_close(grad_pred, p.grad)
    torch.testing.assert_close(grad_target, t.grad)


@pytest.mark.parametrize("impl", [pytest.param(iou_loss_reference, id="reference"), pytest.param(iou_loss, id="public")])
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_mean_with_all_zero_weights_is_zero(impl, loss_type):
    gen = torch.Generator().manual_seed(2)
    pred, target = random_distances((8,), gen, torch.float64)
    p, t = pred.requires_grad_(), target.requires_grad_()
    out = impl(p, t, torch.zeros(8, dtype=torch.float64), loss_type=loss_type, reduction="mean")
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(p.grad, torch.zeros_like(p)) and torch.equal(t.grad, torch.zeros_like(t))


@pytest.mark.parametrize("impl", [pytest.param(iou_loss_reference, id="reference"), pytest.param(iou_loss, id="public")])
@pytest.mark.parametrize("shape", [(0, 2), (3, 0, 2)], ids=["N=0", "B=3,T=0"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty(impl, shape, reduction):
    p = torch.zeros(shape, requires_grad=True)
    t = torch.zeros(shape, requires_grad=True)
    out = impl(p, t, None, loss_type="iou", reduction=reduction)
    if reduction == "none":
        assert out.shape == shape[:-1]
        out.sum().backward()
    else:
        assert out.shape == () and out.item() == 0.0
        out.backward()
    assert p.grad.shape == shape and t.grad.shape == shape


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_low_precision_computed_in_fp32(dtype, loss_type):
    gen = torch.Generator().manual_seed(4)
    pred, target = random_distances((30,), gen, dtype)
    p, t = pred.clone().requires_grad_(), target.clone().requires_grad_()
    out = iou_loss(p, t, None, loss_type=loss_type, reduction="none")
    assert out.dtype == dtype
    out.sum().backward()
    assert p.grad.dtype == dtype and t.grad.dtype == dtype
    p32, t32 = pred.float().requires_grad_(), target.float().requires_grad_()
    ref = iou_loss_reference(p32, t32, None, loss_type=loss_type, reduction="none")
    ref.sum().backward()
    torch.testing.assert_close(out, ref.detach().to(dtype))
    torch.testing.assert_close(p.grad, p32.grad.to(dtype))
    torch.testing.assert_close(t.grad, t32.grad.to(dtype))
    mean = iou_loss(pred, target, loss_type=loss_type)
    assert mean.dtype == dtype and math.isclose(mean.item(), ref.detach().mean().item(), rel_tol=1e-2)
