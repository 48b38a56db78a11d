"""batched_temporal_nms / temporal_nms: greedy non-maximum suppression of 1-D segments."""

from __future__ import annotations

import math

import torch

from . import _checks, _extension
from .segment_iou import segment_iou_reference

_OP = "batched_temporal_nms"


def batched_temporal_nms(
    segments: torch.Tensor,
    scores: torch.Tensor,
    groups: torch.Tensor,
    iou_threshold: float,
    max_per_group: int = -1,
) -> torch.Tensor:
    """Greedy NMS inside each group of segments, all groups in one call.

    Args:
        segments: [N, 2] (start, end), any unit. scores: [N], no NaN. groups: [N] integer ids
            (e.g. the query index); groups need not be contiguous or sorted.
        iou_threshold: in [0, 1]; a segment is dropped when its IoU with a kept, higher-scored
            segment of its group is > iou_threshold.
        max_per_group: keep at most this many per group (-1: no limit).

    Returns:
        keep: int64 [K] indices into segments, sorted by score descending, ties by index
        ascending. With distinct scores this is the set and order of torchvision's batched_nms
        on the boxes (start, 0, end, 1).

    Non-finite input, on every device: IoU is segment_iou's, so a segment with a NaN or infinite
    coordinate overlaps nothing: it is never suppressed and suppresses nothing (kept, in score
    order, unless max_per_group is reached first), as in torchvision, whose NaN IoU never exceeds
    the threshold. Infinite scores sort as numbers; NaN scores are an error.

    Cost on the CPU: groups of up to 256 compare each candidate with every kept segment; larger
    groups sweep the segments sorted by start and compare a candidate only with the kept segments
    that overlap it: O(N log N) for sparse proposals, more where kept segments pile up over one
    point. On CUDA a large group builds an N x N suppression bitmask (O(N^2) work and memory).
    """
    _checks.segments(segments, _OP, "segments")
    _checks.floating(scores, _OP, "scores")
    _checks.integer(groups, _OP, "groups")
    n = segments.shape[0]
    if scores.shape != (n,):
        raise ValueError(f"{_OP}: scores must have shape [N] = [{n}] (one per segment), got {list(scores.shape)}")
    if groups.shape != (n,):
        raise ValueError(f"{_OP}: groups must have shape [N] = [{n}] (one per segment), got {list(groups.shape)}")
    _checks.same_device(_OP, segments=segments, scores=scores, groups=groups)
    iou_threshold = float(iou_threshold)
    if not 0.0 <= iou_threshold <= 1.0:  # also rejects NaN
        raise ValueError(f"{_OP}: iou_threshold must lie in [0, 1], got {iou_threshold}")
    if max_per_group < -1:
        raise ValueError(f"{_OP}: max_per_group must be -1 (no limit) or >= 0, got {max_per_group}")
    dtype = _checks.compute_dtype(segments, scores)
    args = (_checks.as_dtype(segments, dtype), _checks.as_dtype(scores, dtype), _checks.as_dtype(groups, torch.long),
            iou_threshold, int(max_per_group))
    if _extension.compiled(segments.device):
        return torch.ops.drn.batched_temporal_nms(*args)
    return batched_temporal_nms_reference(*args)


def temporal_nms(segments: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_keep: int = -1) -> torch.Tensor:
    """Greedy NMS over one set of segments: ``batched_temporal_nms`` with a single group."""
    groups = torch.zeros(segments.shape[0] if segments.dim() else 0, dtype=torch.long, device=segments.device)
    return batched_temporal_nms(segments, scores, groups, iou_threshold, max_keep)


def batched_temporal_nms_reference(segments, scores, groups, iou_threshold, max_per_group=-1):
    """Plain-PyTorch batched NMS (a loop over candidates), the kernels' definition."""
    _checks.ordered(segments, _OP, "segments")
    if bool(torch.isnan(scores).any()):
        i = int(torch.isnan(scores).nonzero()[0, 0])
        raise ValueError(f"{_OP}: scores must not be NaN, but scores[{i}] is NaN")
    n = segments.shape[0]
    # Score descending, ties by index ascending: a stable sort of the negated scores.
    order = torch.sort(-scores, stable=True).indices
    # Compared in float64, as the kernels and torchvision do, so float32 boundary cases agree.
    over = segment_iou_reference(segments, segments).double() > iou_threshold
    same_group = groups[:, None] == groups[None, :]
    suppressed = torch.zeros(n, dtype=torch.bool, device=segments.device)
    kept_per_group: dict[int, int] = {}
    limit = math.inf if max_per_group < 0 else max_per_group
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        g = int(groups[i])
        if kept_per_group.get(g, 0) >= limit:
            continue
        kept_per_group[g] = kept_per_group.get(g, 0) + 1
        keep.append(i)
        suppressed |= same_group[i] & over[i]
    return torch.tensor(keep, dtype=torch.long, device=segments.device)


if _extension.HAS_SCHEMAS:

    @torch.library.register_fake("drn::batched_temporal_nms")
    def _nms_fake(segments, scores, groups, iou_threshold, max_per_group=-1):
        torch._check(segments.dim() == 2 and segments.shape[1] == 2, lambda: f"{_OP}: segments must be [N, 2]")
        kept = torch.library.get_ctx().new_dynamic_size()
        return segments.new_empty(kept, dtype=torch.long)
