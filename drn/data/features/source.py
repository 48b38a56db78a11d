"""What every feature source is: one video's [windows, D] array by id, read lazily through a small
LRU cache; the errors a feature file can raise, and the check of one loaded array."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from drn.errors import FileReadError, UserError, reading


class FeatureDimError(UserError, ValueError):
    """A feature file's dimension D differs from the expected one."""


class FeatureFileError(FileReadError):
    """A feature file that cannot be read as one video's [windows, D] numbers."""


class MissingFeaturesError(UserError, FileNotFoundError):
    """The features a config or command names do not exist."""


@dataclass(frozen=True)
class VideoCheck:
    """What `FeatureSource.inspect` found in one video's features: its shape, and how many of its
    values are NaN or infinite (such a video is skipped, see `GroundingDataset`)."""

    windows: int
    dim: int
    nonfinite: int


def as_feature_tensor(array, where: str) -> torch.Tensor:
    """A loaded array as a tensor [windows >= 1, D] of real numbers (its dtype kept), or a
    `FeatureFileError` naming `where` for anything else (another rank, no windows, strings,
    objects, a dict...)."""
    if not torch.is_tensor(array):
        if not isinstance(array, np.ndarray):
            raise FeatureFileError(f"{where}: expected an array [windows, D], got a {type(array).__name__}")
        if array.dtype.kind not in "biuf":
            raise FeatureFileError(f"{where}: expected numbers, got an array of dtype {array.dtype}")
        array = torch.from_numpy(np.ascontiguousarray(array))
    elif array.is_complex():
        raise FeatureFileError(f"{where}: expected real numbers, got a tensor of dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise FeatureFileError(f"{where}: expected features of shape [windows, D] with windows >= 1, "
                               f"got shape {tuple(array.shape)}")
    return array


class FeatureSource(ABC):
    """Maps a video id to its features, a float32 tensor [windows, D].

    Args:
        feature_dim: the D every video must have (None: not checked).
        cache_size: how many videos the per-process LRU cache keeps (0 disables it).

    `source[vid]` returns a cached tensor: treat it as read-only.
    """

    def __init__(self, feature_dim: int | None = None, cache_size: int = 128):
        self.feature_dim = feature_dim
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._checks: dict[str, VideoCheck] = {}  # what `inspect` found, per video
        self.cache_hits = 0
        self.cache_misses = 0

    @abstractmethod
    def video_ids(self) -> frozenset[str]:
        """Every video id that has features."""

    @abstractmethod
    def describe(self, vid: str) -> str:
        """Where `vid`'s features are stored (a file path, or `file.h5[vid]`), for messages."""

    @abstractmethod
    def _load(self, vid: str) -> np.ndarray | torch.Tensor:
        """Read `vid`'s array from storage, uncached and unchecked."""

    def __contains__(self, vid: object) -> bool:
        return vid in self.video_ids()

    def __len__(self) -> int:
        return len(self.video_ids())

    def __getitem__(self, vid: str) -> torch.Tensor:
        cached = self._cache.get(vid)
        if cached is not None:
            self._cache.move_to_end(vid)
            self.cache_hits += 1
            return cached
        self.cache_misses += 1
        if vid not in self:
            raise KeyError(f"no features for video {vid!r} in {self}")
        with reading(self.describe(vid), "features [windows, D]", FeatureFileError):
            array = self._load(vid)
        features = self._check(vid, array)
        if self.cache_size > 0:
            self._cache[vid] = features
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return features

    def _check(self, vid: str, array: np.ndarray | torch.Tensor) -> torch.Tensor:
        features = as_feature_tensor(array, self.describe(vid))
        if self.feature_dim is not None and features.shape[1] != self.feature_dim:
            raise FeatureDimError(
                f"{self.describe(vid)}: expected feature dimension {self.feature_dim}, "
                f"got {features.shape[1]} (shape {tuple(features.shape)}); "
                "set feature_dim to the features' D or point to the right features"
            )
        return features.to(torch.float32).contiguous()

    def inspect(self, vid: str) -> VideoCheck:
        """Read `vid`'s features once and record their shape and non-finite values (remembered,
        so every split and command asks once). A malformed file is a `FeatureFileError`."""
        found = self._checks.get(vid)
        if found is None:
            features = self[vid]
            nonfinite = int(features.numel() - torch.isfinite(features).sum())
            found = self._checks[vid] = VideoCheck(int(features.shape[0]), int(features.shape[1]), nonfinite)
        return found

    def __getstate__(self) -> dict:
        # Workers start with an empty cache of their own; nothing process-bound is pickled.
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state
