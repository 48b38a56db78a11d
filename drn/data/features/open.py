"""`open_features`: the right `FeatureSource` for a path (npy/pt folder, npz folder, HDF5 file)."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from drn.data.features.folders import HDF5_SUFFIXES, HDF5Features, NpyFolderFeatures
from drn.data.features.npz import ConcatenatedFeatures, NpzFolderFeatures
from drn.data.features.source import FeatureFileError, FeatureSource, MissingFeaturesError


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
            return NpzFolderFeatures(path, feature_dim=feature_dim, cache_size=cache_size)
        return NpyFolderFeatures(path, feature_dim=feature_dim, cache_size=cache_size)
    if path.suffix.lower() in HDF5_SUFFIXES:
        return HDF5Features(
            path, dataset_key=dataset_key, feature_dim=feature_dim, cache_size=cache_size
        )
    if not path.exists():
        raise MissingFeaturesError(f"features {path} do not exist (expected a folder or an HDF5 file)")
    raise FeatureFileError(f"features {path}: expected a folder of .npy/.pt files or one of {HDF5_SUFFIXES}")


def open_feature_types(paths: Sequence[str | PathLike], feature_dim: int | None = None,
                       cache_size: int = 128) -> ConcatenatedFeatures:
    """Several feature types (each a folder or file `open_features` reads) as one
    `ConcatenatedFeatures`: rows L2-normalised per type, truncated to the shortest, concatenated."""
    return ConcatenatedFeatures([open_features(path) for path in paths], feature_dim=feature_dim,
                                cache_size=cache_size)
