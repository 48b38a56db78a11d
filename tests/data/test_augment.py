"""Random temporal crops of the training videos (drn.data.augment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drn.data import GroundingDataset, Query, Vocabulary, resample_to_clips
from drn.data.augment import RandomCrops, crop_bounds

VOCAB = Vocabulary({"a": 1, "person": 2, "opens": 3, "the": 4, "door": 5})


def _dataset(tmp_path, write_npy_features):
    write_npy_features(tmp_path, {"v1": (40, 3), "v2": (20, 3)})  # 40 windows of 0.5 s; 20 of 1 s
    queries = [Query("v1#1", "v1", "a person opens the door", 6.0, 9.5, 20.0),
               Query("v2#2", "v2", "the door", 0.0, 20.0, 20.0)]
    return GroundingDataset(queries, tmp_path, VOCAB, num_clips=8)


def test_a_crop_keeps_the_moment_and_shifts_the_times_into_it(tmp_path, write_npy_features):
    dataset = _dataset(tmp_path, write_npy_features)
    crops = RandomCrops(dataset, probability=1.0, min_fraction=0.5, seed=3)
    raw = dataset.source["v1"]
    seen = set()
    for epoch in range(20):
        crops.set_epoch(epoch)
        item = crops[0]
        duration = item["duration"]
        assert 10.0 <= duration <= 20.0  # at least half the video, on 0.5 s window boundaries
        shift = 6.0 - float(item["gt"][0])
        assert float(item["gt"][1]) == pytest.approx(9.5 - shift)  # the moment's length is kept
        assert 0.0 <= shift and 9.5 - shift <= duration  # and it lies inside the crop
        first = round(shift / 0.5)
        expected = resample_to_clips(raw[first:first + round(duration / 0.5)], 8)
        torch.testing.assert_close(item["features"], expected)  # the crop's own windows, resampled
        seen.add((round(shift, 3), round(duration, 3)))
    assert len(seen) > 5  # each epoch draws another crop


def test_the_crops_of_an_epoch_repeat_and_probability_zero_is_the_dataset(tmp_path, write_npy_features):
    dataset = _dataset(tmp_path, write_npy_features)
    crops = RandomCrops(dataset, probability=1.0, min_fraction=0.5, seed=3)
    crops.set_epoch(4)
    first = crops[0]
    crops.set_epoch(5)
    crops.set_epoch(4)
    torch.testing.assert_close(crops[0]["features"], first["features"])  # a resumed epoch crops alike
    untouched = RandomCrops(dataset, probability=0.0, min_fraction=0.5, seed=3)[0]
    torch.testing.assert_close(untouched["features"], dataset[0]["features"])
    assert untouched["duration"] == 20.0
    whole = RandomCrops(dataset, probability=1.0, min_fraction=0.5, seed=3)[1]  # the moment is the whole video
    assert whole["duration"] == 20.0 and whole["gt"].tolist() == [0.0, 20.0]


@pytest.mark.parametrize("seed", range(20))
def test_crop_bounds_hold_every_segment(seed):
    rng = np.random.default_rng(seed)
    segments = torch.tensor([[3.2, 4.0], [12.5, 13.1]])
    first, last = crop_bounds(rng, 60, 30.0, segments, min_fraction=0.3)
    assert first * 0.5 <= 3.2 and last * 0.5 >= 13.1
    assert last - first >= 18 and 0 <= first < last <= 60


def test_bad_settings_are_refused(tmp_path, write_npy_features):
    dataset = _dataset(tmp_path, write_npy_features)
    with pytest.raises(ValueError, match="min_fraction"):
        RandomCrops(dataset, probability=0.5, min_fraction=0.0, seed=0)
