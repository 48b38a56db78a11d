"""Location centres, per-location regression ranges, and decoding of distances into segments.

All in clip units: a video of T clips spans [0, T].
"""

from __future__ import annotations

import torch
from torch import Tensor

from drn.model.precision import at_least_fp32


def location_points(num_clips: int, strides: tuple[int, ...], device: torch.device | None = None,
                    dtype: torch.dtype = torch.float32) -> list[Tensor]:
    """Per level, [T / stride] location centres t = i * stride + stride / 2 (fp32 by default)."""
    return [torch.arange(num_clips // s, device=device, dtype=dtype) * s + s / 2 for s in strides]


def location_ranges(ranges: tuple[tuple[float, float], ...], level_lengths: tuple[int, ...],
                    device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """[sum T_l, 2] (low, high) regression range of every location, levels concatenated (fp32 by default)."""
    per_level = [torch.tensor(r, dtype=dtype, device=device).expand(n, 2) for r, n in zip(ranges, level_lengths)]
    return torch.cat(per_level)


def decode_segments(points: Tensor, distances: Tensor, num_clips: int) -> Tensor:
    """Segments (t - l, t + r) clamped to [0, T].

    points: [N] location centres; distances: [..., N, 2] (l, r) >= 0; returns [..., N, 2] fp32 (fp64
    for fp64 distances).
    Both ends of every segment are clamped (DRN's code clamped only some of them).
    """
    distances = at_least_fp32(distances)
    segments = torch.stack([points - distances[..., 0], points + distances[..., 1]], dim=-1)
    return segments.clamp(0.0, float(num_clips))
