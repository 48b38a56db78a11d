"""Pre-extracted video features: where they are stored, and resampling them to T equal clips.

A video's features are one `[windows, D]` array (windows = frames or snippets in time order,
spread evenly over the video). They are read from either

- a folder of `VID.npy` / `VID.pt` files (`NpyFolderFeatures`; `.npy` wins when both exist),
- a folder of `VID.npz` files, key `features` (`drn.data.npz_features.NpzFolderFeatures`; several
  such feature types concatenate with `open_feature_types`), or
- one HDF5 file keyed by video id (`HDF5Features`), the dataset either at `f[vid]` or, for files
  laid out like ActivityNet's C3D release, at `f[vid][dataset_key]`.

Loading is lazy, through a small per-process LRU cache. Sources are safe to hand to DataLoader
workers: nothing open is pickled, and an HDF5 handle is (re)opened by the process that reads.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from drn.errors import FileReadError, UserError, reading

POOLINGS = ("mean", "max")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


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


class NpyFolderFeatures(FeatureSource):
    """Features as a folder of `VID.npy` or `VID.pt` files, one [windows, D] array each."""

    def __init__(self, root: str | PathLike, feature_dim: int | None = None, cache_size: int = 128):
        super().__init__(feature_dim, cache_size)
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingFeaturesError(f"feature folder {self.root} does not exist")
        self._files: dict[str, Path] | None = None

    def _index(self) -> dict[str, Path]:
        if self._files is None:
            files: dict[str, Path] = {}
            # Sorted so that `.npy` is seen after `.pt` and wins for a video stored both ways.
            for path in sorted(self.root.iterdir(), key=lambda p: p.suffix == ".npy"):
                if path.suffix in (".npy", ".pt") and path.is_file():
                    files[path.stem] = path
            self._files = files
        return self._files

    def video_ids(self) -> frozenset[str]:
        return frozenset(self._index())

    def __contains__(self, vid: object) -> bool:
        return vid in self._index()

    def describe(self, vid: str) -> str:
        return str(self._index().get(vid, self.root / f"{vid}.npy"))

    def _load(self, vid: str) -> np.ndarray | torch.Tensor:
        path = self._index()[vid]
        if path.suffix == ".npy":
            return np.load(path)
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        if not torch.is_tensor(loaded):
            raise FeatureFileError(f"{path}: expected a saved tensor [windows, D], got a {type(loaded).__name__}")
        return loaded

    def __repr__(self) -> str:
        return f"NpyFolderFeatures({str(self.root)!r})"


class HDF5Features(FeatureSource):
    """Features in one HDF5 file: `f[vid]` is a [windows, D] dataset, or a group holding it.

    Args:
        path: the HDF5 file.
        dataset_key: for files whose `f[vid]` is a group, the name of the dataset inside it
            (e.g. "c3d_features"); None takes the group's only dataset.
        feature_dim, cache_size: see `FeatureSource`.

    The file is opened lazily by the process that reads it, never pickled, and reopened after a
    fork, so a DataLoader with workers gets one handle per worker.
    """

    def __init__(
        self,
        path: str | PathLike,
        dataset_key: str | None = None,
        feature_dim: int | None = None,
        cache_size: int = 128,
    ):
        super().__init__(feature_dim, cache_size)
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingFeaturesError(f"feature file {self.path} does not exist")
        self.dataset_key = dataset_key
        self._keys: frozenset[str] | None = None
        self._file = None
        self._file_pid: int | None = None

    def video_ids(self) -> frozenset[str]:
        if self._keys is None:
            import h5py

            # A short-lived handle: listing keys must not leave a handle for forked workers.
            with reading(self.path, "an HDF5 file of features", FeatureFileError), h5py.File(self.path, "r") as f:
                self._keys = frozenset(f.keys())
        return self._keys

    def describe(self, vid: str) -> str:
        return f"{self.path}[{vid!r}]"

    def _handle(self):
        if self._file is None or self._file_pid != os.getpid():
            import h5py

            self._file = h5py.File(self.path, "r")
            self._file_pid = os.getpid()
        return self._file

    def _load(self, vid: str) -> np.ndarray:
        import h5py

        node = self._handle()[vid]
        if isinstance(node, h5py.Group):
            if self.dataset_key is not None:
                node = node[self.dataset_key]
            else:
                datasets = [key for key, child in node.items() if isinstance(child, h5py.Dataset)]
                if len(datasets) != 1:
                    raise FeatureFileError(
                        f"{self.describe(vid)} is a group with datasets {datasets}; "
                        "pass dataset_key to choose one"
                    )
                node = node[datasets[0]]
        return node[()]

    def close(self) -> None:
        """Close this process's handle (reading reopens it)."""
        if self._file is not None and self._file_pid == os.getpid():
            self._file.close()
        self._file = None
        self._file_pid = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_file"] = None
        state["_file_pid"] = None
        return state

    def __repr__(self) -> str:
        return f"HDF5Features({str(self.path)!r})"


def _holds_only_npz(folder: Path) -> bool:
    suffixes = {entry.suffix for entry in folder.iterdir()}
    return ".npz" in suffixes and not suffixes & {".npy", ".pt"}


def open_features(
    path: str | PathLike,
    feature_dim: int | None = None,
    cache_size: int = 128,
    dataset_key: str | None = None,
) -> FeatureSource:
    """A `FeatureSource` for `path`: a folder of `.npy`/`.pt` files, a folder of `.npz` files (and no
    `.npy`/`.pt`) or an `.h5`/`.hdf5` file."""
    path = Path(path)
    if path.is_dir():
        if _holds_only_npz(path):
            from drn.data.npz_features import NpzFolderFeatures

            return NpzFolderFeatures(path, feature_dim=feature_dim, cache_size=cache_size)
        return NpyFolderFeatures(path, feature_dim=feature_dim, cache_size=cache_size)
    if path.suffix.lower() in HDF5_SUFFIXES:
        return HDF5Features(
            path, dataset_key=dataset_key, feature_dim=feature_dim, cache_size=cache_size
        )
    if not path.exists():
        raise MissingFeaturesError(f"features {path} do not exist (expected a folder or an HDF5 file)")
    raise FeatureFileError(f"features {path}: expected a folder of .npy/.pt files or one of {HDF5_SUFFIXES}")


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

