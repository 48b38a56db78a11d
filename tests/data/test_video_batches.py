"""Query batches grouped by video: every query once, whole videos per batch, each video loaded once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drn.data import GroundingDataset, Query, Vocabulary
from drn.data.video_batches import VideoBatches, video_batches


def test_batches_hold_whole_videos_in_order_of_first_appearance():
    vids = list("aabbbcddddde")
    assert video_batches(vids, 3) == [[0, 1], [2, 3, 4], [5], [6, 7, 8], [9, 10, 11]]  # d (5 queries) is cut
    assert video_batches(vids, 64) == [list(range(12))]
    assert video_batches(["x", "y", "x"], 1) == [[0], [2], [1]]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_ranks_share_whole_videos_and_every_query_once(world):
    vids = [f"v{i % 7}" for i in range(40)]
    shares = [sorted(i for batch in video_batches(vids, 5, rank, world) for i in batch) for rank in range(world)]
    assert sorted(i for share in shares for i in share) == list(range(40))
    for a in range(world):
        for b in range(a + 1, world):
            assert not {vids[i] for i in shares[a]} & {vids[i] for i in shares[b]}


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        video_batches(["a"], 0)


def test_a_batch_loads_each_video_once_and_indexes_it(tmp_path):
    rng = np.random.default_rng(0)
    for vid, windows in (("a", 5), ("b", 9)):
        np.save(tmp_path / f"{vid}.npy", rng.standard_normal((windows, 6)).astype(np.float32))
    queries = [Query(f"q{i}", vid, s, 0.0, 1.0, 10.0) for i, (vid, s) in enumerate(
        [("b", "open door"), ("a", "sit down"), ("b", "close the door now")])]
    dataset = GroundingDataset(queries, tmp_path, Vocabulary.from_sentences(q.sentence for q in queries), num_clips=4)
    batch = VideoBatches(dataset, [[0, 1, 2]])[0]
    assert batch["features"].shape == (2, 4, 6) and batch["video_index"].tolist() == [0, 1, 0]
    assert batch["index"] == [0, 1, 2] and batch["vid"] == ["b", "a", "b"]
    for row, index in enumerate(batch["index"]):
        item = dataset[index]
        assert torch.equal(batch["features"][batch["video_index"][row]], item["features"])
        assert torch.equal(batch["words"][row, :batch["lengths"][row]], item["words"])
    assert dataset.source.cache_misses == 2  # each video read once
