"""Feature sources (npy/pt folders, HDF5), the LRU cache, dimension checks and clip resampling."""

from __future__ import annotations

import math
import pickle

import h5py
import numpy as np
import pytest
import torch

from drn.data import (
    FeatureDimError,
    HDF5Features,
    NpyFolderFeatures,
    clip_window_bounds,
    open_features,
    resample_to_clips,
)
from drn.data.features import FeatureFileError

# ---- resampling --------------------------------------------------------------------------

# (windows, clips, x, expected mean, expected max), worked out by hand from
# clip i = windows [floor(i*W/T), ceil((i+1)*W/T)).
HAND_CASES = [
    # W > T: clip 0 = windows 0..2, clip 1 = windows 2..4 (window 2 is shared).
    (5, 2, [[0.0], [1.0], [2.0], [3.0], [4.0]], [[1.0], [3.0]], [[2.0], [4.0]]),
    # W > T, D = 2: clip 0 = windows 0, 1; clip 1 = windows 1, 2.
    (3, 2, [[1.0, 6.0], [2.0, -4.0], [6.0, 5.0]], [[1.5, 1.0], [4.0, 0.5]], [[2.0, 6.0], [6.0, 5.0]]),
    # W < T: each window repeated: clips = windows 0, 0, 1, 1.
    (2, 4, [[1.0, 10.0], [3.0, -2.0]], [[1.0, 10.0], [1.0, 10.0], [3.0, -2.0], [3.0, -2.0]],
     [[1.0, 10.0], [1.0, 10.0], [3.0, -2.0], [3.0, -2.0]]),
    # W < T, not a multiple: clips = windows {0}, {0, 1}, {1}.
    (2, 3, [[2.0], [4.0]], [[2.0], [3.0], [4.0]], [[2.0], [4.0], [4.0]]),
]


@pytest.mark.parametrize("windows, clips, x, mean, maximum", HAND_CASES)
def test_resample_hand_computed(windows, clips, x, mean, maximum):
    x = torch.tensor(x)
    assert x.shape[0] == windows
    torch.testing.assert_close(resample_to_clips(x, clips, "mean"), torch.tensor(mean))
    torch.testing.assert_close(resample_to_clips(x, clips, "max"), torch.tensor(maximum))


def _loop_reference(x: np.ndarray, clips: int, pooling: str) -> np.ndarray:
    windows = x.shape[0]
    out = []
    for i in range(clips):
        span = x[math.floor(i * windows / clips) : math.ceil((i + 1) * windows / clips)]
        out.append(span.mean(0) if pooling == "mean" else span.max(0))
    return np.stack(out)


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_resample_matches_a_loop(pooling):
    rng = np.random.default_rng(1)
    for windows, clips in [(1, 1), (1, 32), (7, 32), (32, 32), (75, 32), (333, 16), (1000, 64)]:
        x = rng.standard_normal((windows, 5)).astype(np.float32)
        got = resample_to_clips(x, clips, pooling)
        assert got.shape == (clips, 5) and got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), _loop_reference(x, clips, pooling), rtol=1e-5, atol=1e-6)


def test_clip_bounds_cover_every_window_and_are_nonempty():
    for windows, clips in [(3, 32), (32, 32), (75, 32), (1, 5)]:
        first, last = clip_window_bounds(windows, clips)
        assert bool((last > first).all())
        assert first[0] == 0 and last[-1] == windows
        assert bool((first[1:] <= last[:-1]).all())  # no window left out between clips


def test_resample_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \[windows >= 1, D\], got \(0, 4\)"):
        resample_to_clips(torch.zeros(0, 4), 8)
    with pytest.raises(ValueError, match="pooling must be one of"):
        resample_to_clips(torch.zeros(3, 4), 8, "median")
    with pytest.raises(ValueError, match="num_clips must be >= 1"):
        resample_to_clips(torch.zeros(3, 4), 0)


# ---- sources -----------------------------------------------------------------------------


def test_npy_and_pt_folder(tmp_path, write_npy_features):
    arrays = write_npy_features(tmp_path, {"a": (4, 3), "b": (6, 3)})
    pt = torch.arange(12, dtype=torch.float64).reshape(4, 3)
    torch.save(pt, tmp_path / "c.pt")
    torch.save(torch.zeros(2, 3), tmp_path / "a.pt")  # `.npy` wins over `.pt` for the same video
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_features(tmp_path)
    assert isinstance(source, NpyFolderFeatures)
    assert source.video_ids() == {"a", "b", "c"}
    np.testing.assert_array_equal(source["a"].numpy(), arrays["a"])
    assert source["c"].dtype == torch.float32
    torch.testing.assert_close(source["c"], pt.float())
    assert "zzz" not in source
    with pytest.raises(KeyError, match="no features for video 'zzz'"):
        source["zzz"]


def test_hdf5_flat_and_grouped(tmp_path, write_hdf5_features):
    arrays = write_hdf5_features(tmp_path / "f.h5", {"v1": (5, 4), "v2": (3, 4)})
    source = open_features(tmp_path / "f.h5", feature_dim=4)
    assert isinstance(source, HDF5Features) and len(source) == 2
    np.testing.assert_array_equal(source["v2"].numpy(), arrays["v2"])

    with h5py.File(tmp_path / "g.hdf5", "w") as f:  # ActivityNet-C3D-like: f[vid]["c3d_features"]
        f.create_dataset("v_x/c3d_features", data=np.ones((2, 4), np.float32))
        f.create_dataset("v_y/c3d_features", data=np.ones((2, 4), np.float32))
        f.create_dataset("v_y/other", data=np.ones((2, 4), np.float32))
    grouped = HDF5Features(tmp_path / "g.hdf5")
    assert grouped["v_x"].shape == (2, 4)
    with pytest.raises(ValueError, match="pass dataset_key"):
        grouped["v_y"]
    assert HDF5Features(tmp_path / "g.hdf5", dataset_key="c3d_features")["v_y"].shape == (2, 4)


def test_hdf5_source_pickles_without_its_handle(tmp_path, write_hdf5_features):
    arrays = write_hdf5_features(tmp_path / "f.h5", {"v1": (5, 4)})
    source = HDF5Features(tmp_path / "f.h5")
    source["v1"]  # opens the handle and fills the cache
    assert source._file is not None
    clone = pickle.loads(pickle.dumps(source))
    assert clone._file is None and len(clone._cache) == 0
    np.testing.assert_array_equal(clone["v1"].numpy(), arrays["v1"])


def test_lru_cache_hits_and_evicts(tmp_path, write_npy_features):
    write_npy_features(tmp_path, {"a": (4, 3), "b": (4, 3), "c": (4, 3)})
    source = NpyFolderFeatures(tmp_path, cache_size=2)
    first = source["a"]
    source["b"]
    (tmp_path / "a.npy").unlink()
    assert source["a"] is first  # served from the cache: the file is gone
    source["c"]  # evicts "b", the least recently used
    assert (source.cache_hits, source.cache_misses) == (1, 3)
    (tmp_path / "b.npy").unlink()
    with pytest.raises(FeatureFileError, match=r"b\.npy: cannot read features \[windows, D\]: No such file"):
        source["b"]
    assert source["a"] is first


def test_dimension_mismatch_names_file_expected_and_got(tmp_path, write_npy_features, write_hdf5_features):
    write_npy_features(tmp_path / "npy", {"a": (4, 8)})
    with pytest.raises(FeatureDimError, match=r"a\.npy: expected feature dimension 16, got 8"):
        open_features(tmp_path / "npy", feature_dim=16)["a"]
    write_hdf5_features(tmp_path / "f.h5", {"v": (4, 8)})
    with pytest.raises(FeatureDimError, match=r"f\.h5\['v'\]: expected feature dimension 1024, got 8"):
        open_features(tmp_path / "f.h5", feature_dim=1024)["v"]


def test_non_2d_features_are_an_error(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"a\.npy: expected features of shape \[windows, D\].*\(2, 3, 4\)"):
        NpyFolderFeatures(tmp_path)["a"]


def test_open_features_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="do not exist"):
        open_features(tmp_path / "nothing")
    (tmp_path / "x.zip").write_bytes(b"")
    with pytest.raises(ValueError, match="expected a folder of .npy/.pt files"):
        open_features(tmp_path / "x.zip")
