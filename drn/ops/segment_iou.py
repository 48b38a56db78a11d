"""segment_iou: IoU between two sets of 1-D segments."""

from __future__ import annotations

import torch

from . import _checks, _extension

_OP = "segment_iou"


def segment_iou(a: torch.Tensor, b: torch.Tensor, aligned: bool = False) -> torch.Tensor:
    """IoU of segments ``a`` [N, 2] and ``b`` [M, 2] of (start, end) pairs, in any common unit.

    Returns [N, M] (every pair) or, with ``aligned=True``, [N] (row i of a with row i of b; N == M).
    IoU = overlap / union with the overlap clamped at 0, and 0 where the union is 0 (two
    zero-length segments). Any float dtype; fp16/bf16 are computed in fp32 and returned in their
    own dtype. Raises ValueError for a segment with start > end.

    Non-finite input, on every device: a segment with a NaN or infinite coordinate (or a length
    past the dtype's range) has IoU 0 with every segment, itself included. The start > end check is
    taken as written: a NaN end never counts as reversed, (inf, 5) does.
    """
    _checks.segments(a, _OP, "a")
    _checks.segments(b, _OP, "b")
    _checks.same_device(_OP, a=a, b=b)
    if aligned and a.shape[0] != b.shape[0]:
        raise ValueError(f"{_OP}: aligned=True needs as many segments in a as in b, got {a.shape[0]} and {b.shape[0]}")
    dtype = _checks.compute_dtype(a, b)
    a_, b_ = _checks.as_dtype(a, dtype), _checks.as_dtype(b, dtype)
    if _extension.compiled(a.device):
        out = torch.ops.drn.segment_iou(a_, b_, aligned)
    else:
        out = segment_iou_reference(a_, b_, aligned)
    return _checks.as_dtype(out, _checks.result_dtype(a, b))


def segment_iou_reference(a: torch.Tensor, b: torch.Tensor, aligned: bool = False) -> torch.Tensor:
    """Plain-PyTorch segment_iou, the definition the kernels are tested against."""
    _checks.ordered(a, _OP, "a")
    _checks.ordered(b, _OP, "b")
    if aligned:
        sa, ea, sb, eb = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    else:
        sa, ea, sb, eb = a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1]
    inter = (torch.minimum(ea, eb) - torch.maximum(sa, sb)).clamp(min=0)
    union = (ea - sa) + (eb - sb) - inter
    return torch.where(union > 0, inter / torch.where(union > 0, union, torch.ones_like(union)), torch.zeros_like(union))


if _extension.HAS_SCHEMAS:

    @torch.library.register_fake("drn::segment_iou")
    def _segment_iou_fake(a, b, aligned=False):
        torch._check(a.dim() == 2 and a.shape[1] == 2, lambda: f"{_OP}: a must have shape [N, 2]")
        torch._check(b.dim() == 2 and b.shape[1] == 2, lambda: f"{_OP}: b must have shape [M, 2]")
        if aligned:
            torch._check(a.shape[0] == b.shape[0], lambda: f"{_OP}: aligned=True needs N == M")
            return a.new_empty(a.shape[0])
        return a.new_empty(a.shape[0], b.shape[0])
