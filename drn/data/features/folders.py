"""Feature sources on disk: a folder of `VID.npy` / `VID.pt` files, or one HDF5 file keyed by video id."""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from drn.data.features.source import FeatureFileError, FeatureSource, MissingFeaturesError
from drn.errors import reading

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


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
