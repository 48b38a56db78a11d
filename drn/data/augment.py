"""Training-time augmentation: random temporal crops of a query's video.

A cropped item shows the model a stretch of its video that still holds every ground-truth window
of the query: the windows inside the crop are resampled to the T clips, and the times (windows,
duration) are shifted into the crop. Each epoch draws new crops, so the clip grid falls on other
windows and the moment sits elsewhere in the clips: the model cannot memorise a training video's
pooled clips. The draw of item i in epoch e depends on (seed, e, i) alone, so a resumed run
crops as the uninterrupted one does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from drn.data.dataset import GroundingDataset
from drn.data.features import resample_to_clips
from drn.data.saliency_targets import saliency_targets


class RandomCrops(Dataset):
    """`dataset` with each item cropped with probability `probability` to a random stretch of at
    least `min_fraction` of its video (and of every window of the query), on window boundaries."""

    def __init__(self, dataset: GroundingDataset, probability: float, min_fraction: float, seed: int) -> None:
        if not 0.0 <= probability <= 1.0 or not 0.0 < min_fraction <= 1.0:
            raise ValueError(f"probability must lie in [0, 1] and min_fraction in (0, 1], got {probability}, "
                             f"{min_fraction}")
        self.dataset = dataset
        self.probability = probability
        self.min_fraction = min_fraction
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch `epoch`'s crops (call before iterating, as with `DistributedSampler`)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset.query_item(index)
        windows = self.dataset.source[item["vid"]]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if rng.random() < self.probability:
            first, last = crop_bounds(rng, len(windows), item["duration"], item["windows"], self.min_fraction)
            seconds_per_window = item["duration"] / len(windows)
            shift = first * seconds_per_window
            duration = (last - first) * seconds_per_window
            item["windows"] = (item["windows"] - shift).clamp(0.0, duration)
            item["gt"] = (item["gt"] - shift).clamp(0.0, duration)
            item["duration"] = duration
            if "saliency" in item:
                item["saliency"] = saliency_targets(self.dataset.queries[index], self.dataset.num_clips, shift,
                                                    duration)
            windows = windows[first:last]
        item["features"] = resample_to_clips(windows, self.dataset.num_clips, self.dataset.pooling)
        return item


def crop_bounds(rng: np.random.Generator, num_windows: int, duration: float, segments: torch.Tensor,
                min_fraction: float) -> tuple[int, int]:
    """Windows [first, last) of a random crop that keeps every segment ([G, 2] seconds) whole and
    at least `min_fraction` of the windows; the whole video when nothing shorter fits."""
    per_second = num_windows / duration
    need_first = int(np.floor(float(segments[:, 0].min()) * per_second))
    need_last = int(np.ceil(float(segments[:, 1].max()) * per_second))
    need_first, need_last = max(0, min(need_first, num_windows - 1)), min(num_windows, max(need_last, need_first + 1))
    shortest = max(need_last - need_first, int(np.ceil(min_fraction * num_windows)))
    if shortest >= num_windows:
        return 0, num_windows
    length = int(rng.integers(shortest, num_windows + 1))
    lowest, highest = max(0, need_last - length), min(need_first, num_windows - length)
    first = int(rng.integers(lowest, highest + 1))
    return first, first + length
