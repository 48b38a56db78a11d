"""Resampling a video's [windows, D] features to T equal clips (mean- or max-pooled)."""

from __future__ import annotations

import numpy as np
import torch

POOLINGS = ("mean", "max")


def clip_window_bounds(num_windows: int, num_clips: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window span of each clip: clip i covers windows [first[i], last[i]) with
    first = floor(i * W / T) and last = ceil((i + 1) * W / T); int64 [T] each.

    Every clip covers at least one window (ceil((i+1)W/T) > floor(iW/T) always); with W < T
    neighbouring clips share windows, so windows repeat.
    """
    i = torch.arange(num_clips, dtype=torch.int64)
    first = (i * num_windows) // num_clips
    last = -((-(i + 1) * num_windows) // num_clips)  # integer ceil: exact for any W, T
    return first, last


def resample_to_clips(
    features: torch.Tensor | np.ndarray, num_clips: int, pooling: str = "mean"
) -> torch.Tensor:
    """Pool a video's [W, D] window features into [num_clips, D] equal clips (float32).

    Clip i is the mean or max of windows [floor(i*W/T), ceil((i+1)*W/T)), T = num_clips; see
    `clip_window_bounds`. Vectorised over clips: a cumulative sum for the mean, a gather for max.
    """
    x = torch.as_tensor(features)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"features must have shape [windows >= 1, D], got {tuple(x.shape)}")
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    x = x.to(torch.float32)
    first, last = clip_window_bounds(x.shape[0], num_clips)
    if pooling == "mean":
        # float64 prefix sums keep the differences exact enough for long videos.
        prefix = torch.cat([x.new_zeros(1, x.shape[1], dtype=torch.float64), x.double().cumsum(0)])
        counts = (last - first).unsqueeze(1).to(torch.float64)
        return ((prefix[last] - prefix[first]) / counts).to(torch.float32)
    width = int((last - first).max())
    # Indices past a clip's span are clamped to its last window, which leaves the max unchanged.
    index = torch.minimum(first.unsqueeze(1) + torch.arange(width), (last - 1).unsqueeze(1))
    return x[index].amax(dim=1)
