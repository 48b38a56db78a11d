"""regression_targets: DRN's per-location regression targets and positive masks."""

from __future__ import annotations

import torch

from . import _checks, _extension

_OP = "regression_targets"


def regression_targets(
    points: torch.Tensor,
    segments: torch.Tensor,
    ranges: torch.Tensor | None = None,
    num_segments: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distances from every location to the segment it regresses.

    Args:
        points: [T] location centres (all FPN levels concatenated), in the segments' unit.
        segments: [B, 2] (one segment per query, DRN's case) or [B, G, 2] padded (start, end).
        ranges: [T, 2] optional (lo, hi): a location is positive only if lo <= max(l, r) <= hi.
        num_segments: [B] int64 optional, the valid segments per query (the first ones).

    Returns:
        targets [B, T, 2]: (p - start, end - p) of the assigned segment (segment 0 for negatives),
        positive [B, T] bool: p lies strictly inside a segment (start < p < end) within range,
        assigned [B, T] int64: the winning segment (the shortest, ties to the lowest index), or -1.

    Non-finite input follows IEEE comparisons, on every device: a comparison with NaN is false, so
    a NaN point, segment coordinate or range bound makes no location positive through it, and
    targets carry the NaN (p - start). Infinities are ordinary values: (-inf, inf) holds every
    finite location, with targets (inf, inf) (positive unless a range's upper bound is finite);
    segments of equal (even infinite) length tie to the lowest index. A segment is reversed (an error) only when start > end holds, so NaN is not.
    """
    _checks.floating(points, _OP, "points")
    _checks.floating(segments, _OP, "segments")
    if points.dim() != 1:
        raise ValueError(f"{_OP}: points must have shape [T], got {list(points.shape)}")
    if segments.dim() not in (2, 3) or segments.shape[-1] != 2:
        raise ValueError(f"{_OP}: segments must have shape [B, 2] or [B, G, 2], got {list(segments.shape)}")
    segs = segments if segments.dim() == 3 else segments.unsqueeze(1)
    B, G, T = segs.shape[0], segs.shape[1], points.shape[0]
    if G == 0 and B > 0:
        raise ValueError(f"{_OP}: segments needs at least one segment per query, got {list(segments.shape)}")
    if ranges is not None:
        _checks.floating(ranges, _OP, "ranges")
        if ranges.shape != (T, 2):
            raise ValueError(f"{_OP}: ranges must have shape [T, 2] = [{T}, 2], got {list(ranges.shape)}")
    if num_segments is not None:
        _checks.integer(num_segments, _OP, "num_segments")
        if num_segments.shape != (B,):
            raise ValueError(f"{_OP}: num_segments must have shape [B] = [{B}], got {list(num_segments.shape)}")
        num_segments = _checks.as_dtype(num_segments, torch.long)
    _checks.same_device(_OP, segments=segments, points=points, ranges=ranges, num_segments=num_segments)
    dtype = _checks.compute_dtype(points, segments)
    args = (_checks.as_dtype(points, dtype), _checks.as_dtype(segs, dtype), _checks.as_dtype(ranges, dtype), num_segments)
    if _extension.compiled(segments.device):
        targets, positive, assigned = torch.ops.drn.regression_targets(*args)
    else:
        targets, positive, assigned = regression_targets_reference(*args)
    return _checks.as_dtype(targets, _checks.result_dtype(points, segments)), positive, assigned


def regression_targets_reference(points, segments, ranges=None, num_segments=None):
    """Plain-PyTorch regression_targets (segments [B, G, 2]), the kernels' definition."""
    if segments.dim() == 2:
        segments = segments.unsqueeze(1)
    B, G, _ = segments.shape
    if num_segments is None:
        valid = torch.ones(B, G, dtype=torch.bool, device=segments.device)
    else:
        if B > 0 and (int(num_segments.min()) < 0 or int(num_segments.max()) > G):
            raise ValueError(f"{_OP}: num_segments must lie in [0, G] = [0, {G}], got {num_segments.tolist()}")
        valid = torch.arange(G, device=segments.device)[None, :] < num_segments[:, None]
    _checks.ordered(segments[valid], _OP, "segments")
    start, end = segments[..., 0][:, None, :], segments[..., 1][:, None, :]  # [B, 1, G]
    p = points[None, :, None]  # [1, T, 1]
    left, right = p - start, end - p  # [B, T, G]
    inside = (start < p) & (p < end) & valid[:, None, :]
    if ranges is not None:
        reach = torch.maximum(left, right)
        inside &= (ranges[None, :, 0, None] <= reach) & (reach <= ranges[None, :, 1, None])
    length = (end - start).expand_as(left)
    # Among the segments that make a location positive, the shortest wins, ties to the first; an
    # infinite length ((-inf, inf) holds every point) ties with the padding, hence the explicit mask.
    masked = torch.where(inside, length, torch.full_like(length, float("inf")))
    if G > 0:
        shortest = inside & (masked == masked.min(dim=2, keepdim=True).values)
        best = shortest.to(torch.uint8).argmax(dim=2)  # the first True
    else:
        best = torch.zeros(B, points.shape[0], dtype=torch.long)
    positive = inside.any(dim=2)
    chosen = torch.where(positive, best, torch.zeros_like(best))
    targets = torch.stack(
        [left.gather(2, chosen[..., None])[..., 0], right.gather(2, chosen[..., None])[..., 0]], dim=-1
    )
    assigned = torch.where(positive, best, torch.full_like(best, -1))
    return targets, positive, assigned


if _extension.HAS_SCHEMAS:

    @torch.library.register_fake("drn::regression_targets")
    def _regression_targets_fake(points, segments, ranges=None, num_segments=None):
        torch._check(points.dim() == 1, lambda: f"{_OP}: points must have shape [T]")
        torch._check(segments.dim() in (2, 3), lambda: f"{_OP}: segments must be [B, 2] or [B, G, 2]")
        B, T = segments.shape[0], points.shape[0]
        return (
            segments.new_empty(B, T, 2),
            segments.new_empty(B, T, dtype=torch.bool),
            segments.new_empty(B, T, dtype=torch.long),
        )
