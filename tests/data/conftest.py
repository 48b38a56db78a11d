"""Fixtures for the data-layer tests: the Charades CSVs of the shared data and small feature writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def charades_csvs(shared_data: Path) -> list[Path]:
    return [shared_data / "charades_sta" / f"Charades_v1_{split}.csv" for split in ("train", "test")]


def _write_npy_features(folder: Path, shapes: dict[str, tuple[int, int]], seed: int = 0) -> dict[str, np.ndarray]:
    """Write `folder/VID.npy` float32 arrays of the given [windows, D] shapes; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for vid, shape in shapes.items():
        arrays[vid] = rng.standard_normal(shape).astype(np.float32)
        np.save(folder / f"{vid}.npy", arrays[vid])
    return arrays


def _write_hdf5_features(path: Path, shapes: dict[str, tuple[int, int]], seed: int = 0) -> dict[str, np.ndarray]:
    """Write one HDF5 file with a [windows, D] float32 dataset per video id; returns them."""
    import h5py

    rng = np.random.default_rng(seed)
    arrays = {}
    with h5py.File(path, "w") as f:
        for vid, shape in shapes.items():
            arrays[vid] = rng.standard_normal(shape).astype(np.float32)
            f.create_dataset(vid, data=arrays[vid])
    return arrays


@pytest.fixture
def write_npy_features():
    """`write(folder, {vid: (windows, D)}, seed=0) -> {vid: array}`, one `VID.npy` per video."""
    return _write_npy_features


@pytest.fixture
def write_hdf5_features():
    """`write(path, {vid: (windows, D)}, seed=0) -> {vid: array}`, one HDF5 file keyed by vid."""
    return _write_hdf5_features
