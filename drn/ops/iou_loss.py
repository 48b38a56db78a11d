"""iou_loss: the 1-D IoU losses (UnitBox -log IoU, linear 1 - IoU, GIoU) on (l, r) distances."""

from __future__ import annotations

import torch

from . import _checks, _extension

_OP = "iou_loss"
LOSS_TYPES = ("iou", "linear_iou", "giou")
REDUCTIONS = ("none", "sum", "mean")


def iou_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    loss_type: str = "iou",
    reduction: str = "mean",
    eps: float = 1e-6,
) -> torch.Tensor:
    """IoU loss between predicted and target distances (l, r) >= 0 from a common point.

    Args:
        pred, target: [..., 2] distances to the start and to the end (any one unit).
        weight: optional [...] per-pair weight.
        loss_type: "iou" (-log IoU, UnitBox and DRN), "linear_iou" (1 - IoU) or "giou"
            (1 - IoU + (C - U) / (C + eps), C = max(l, l*) + max(r, r*)).
        reduction: "none" ([...] weighted losses), "sum", or "mean" (divided by the weight sum,
            or the count; 0 when that is 0).
        eps: IoU = (I + eps) / (U + eps) with I = min(l, l*) + min(r, r*), U = l + r + l* + r* - I.

    Gradients flow to pred and target (not weight); at a min/max tie they are split in half, as
    autograd does. fp16/bf16 are computed in fp32 and returned in their own dtype.

    Non-finite input: a pair with a NaN or infinite distance (pred or target) has loss NaN and NaN
    gradients, on every device; the weight multiplies that NaN (a weight of 0 does not hide it),
    so "sum" and "mean" are NaN too. A NaN weight makes its pair's loss NaN likewise.
    """
    _checks.floating(pred, _OP, "pred")
    _checks.floating(target, _OP, "target")
    if pred.dim() < 1 or pred.shape[-1] != 2:
        raise ValueError(f"{_OP}: pred must have shape [..., 2] of (l, r) distances, got {list(pred.shape)}")
    if target.shape != pred.shape:
        raise ValueError(f"{_OP}: target must have the shape of pred {list(pred.shape)}, got {list(target.shape)}")
    if weight is not None:
        _checks.floating(weight, _OP, "weight")
        if weight.shape != pred.shape[:-1]:
            raise ValueError(
                f"{_OP}: weight must have shape pred.shape[:-1] = {list(pred.shape[:-1])}, got {list(weight.shape)}"
            )
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"{_OP}: loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{_OP}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    _checks.same_device(_OP, pred=pred, target=target, weight=weight)
    dtype = _checks.compute_dtype(pred, target, weight)
    args = (_checks.as_dtype(pred, dtype), _checks.as_dtype(target, dtype), _checks.as_dtype(weight, dtype))
    if _extension.compiled(pred.device):
        out = torch.ops.drn.iou_loss(*args, loss_type, reduction, float(eps))
    else:
        out = iou_loss_reference(*args, loss_type=loss_type, reduction=reduction, eps=eps)
    return _checks.as_dtype(out, _checks.result_dtype(pred, target, weight))


def iou_loss_reference(pred, target, weight=None, loss_type="iou", reduction="mean", eps=1e-6):
    """Plain-PyTorch iou_loss; its autograd is what the backward kernel is held to."""
    l, r, lt, rt = pred[..., 0], pred[..., 1], target[..., 0], target[..., 1]
    inter = torch.minimum(l, lt) + torch.minimum(r, rt)
    union = (l + r) + (lt + rt) - inter
    iou = (inter + eps) / (union + eps)
    if loss_type == "iou":
        loss = -torch.log(iou)
    elif loss_type == "linear_iou":
        loss = 1 - iou
    else:
        hull = torch.maximum(l, lt) + torch.maximum(r, rt)
        loss = 1 - iou + (hull - union) / (hull + eps)
    # 1 for a pair of finite distances, NaN otherwise (x - x is 0 only for finite x), as in the
    # kernels: a NaN or infinite distance gives a NaN loss and NaN gradients. Detached, so that it
    # only scales the gradient.
    finite = (1 + (((l - l) + (r - r)) + ((lt - lt) + (rt - rt)))).detach()
    loss = loss * finite
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    denom = weight.sum() if weight is not None else torch.tensor(float(loss.numel()), dtype=loss.dtype, device=loss.device)
    # An empty or all-zero-weight mean is 0; the safe divisor keeps its gradient finite too.
    return total / torch.where(denom != 0, denom, torch.ones_like(denom))


if _extension.HAS_SCHEMAS:

    @torch.library.register_fake("drn::iou_loss")
    def _iou_loss_fake(pred, target, weight, loss_type, reduction, eps):
        torch._check(pred.shape == target.shape, lambda: f"{_OP}: target must have the shape of pred")
        return pred.new_empty(pred.shape[:-1]) if reduction == "none" else pred.new_empty(())

    @torch.library.register_fake("drn::iou_loss_backward")
    def _iou_loss_backward_fake(grad, pred, target, weight, loss_type, reduction, eps):
        # The kernel returns contiguous gradients whatever the inputs' strides.
        return pred.new_empty(pred.shape), target.new_empty(target.shape)

    def _setup_context(ctx, inputs, output):
        pred, target, weight, loss_type, reduction, eps = inputs
        ctx.save_for_backward(pred, target, weight)
        ctx.options = (loss_type, reduction, eps)

    def _backward(ctx, grad):
        pred, target, weight = ctx.saved_tensors
        grad_pred, grad_target = torch.ops.drn.iou_loss_backward(grad, pred, target, weight, *ctx.options)
        return grad_pred, grad_target, None, None, None, None

    torch.library.register_autograd("drn::iou_loss", _backward, setup_context=_setup_context)
