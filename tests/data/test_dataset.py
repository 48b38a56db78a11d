"""GroundingDataset, collate, build_dataset and DataLoader workers over HDF5."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from drn.data import (
    GroundingDataset,
    HDF5Features,
    Query,
    Vocabulary,
    build_dataset,
    collate,
    read_charades_sta,
    resample_to_clips,
)

VOCAB = Vocabulary({"a": 1, "person": 2, "opens": 3, "the": 4, "door": 5, "sits": 6})


def _queries() -> list[Query]:
    return [
        Query("v1#1", "v1", "A person opens the door.", 1.0, 4.5, 10.0),
        Query("v1#2", "v1", "Zebras gallop!", 2.0, 3.0, 10.0),  # no known word: skipped
        Query("v2#3", "v2", "the person sits", 0.0, 8.0, 8.0),
        Query("v3#4", "v3", "a person", 0.5, 1.0, 5.0),  # no features: skipped
        Query("v2#5", "v2", "", 1.0, 2.0, 8.0),  # empty sentence: skipped
    ]


def test_item_contents_and_counted_skips(tmp_path, write_npy_features, caplog):
    arrays = write_npy_features(tmp_path, {"v1": (20, 6), "v2": (5, 6)})
    with caplog.at_level(logging.WARNING, logger="drn.data"):
        dataset = GroundingDataset(_queries(), tmp_path, VOCAB, num_clips=8, pooling="max", feature_dim=6)
    assert [q.qid for q in dataset.queries] == ["v1#1", "v2#3"]
    assert dataset.quirks["no_known_words"] == 2 and dataset.quirks.examples["no_known_words"] == ["v1#2", "v2#5"]
    assert dataset.quirks["missing_features"] == 1
    assert len(caplog.records) == 1 and "v3" in caplog.records[0].getMessage()

    item = dataset[0]
    assert set(item) == {"features", "words", "gt", "windows", "duration", "qid", "vid", "query"}
    assert item["windows"].tolist() == [[1.0, 4.5]]
    torch.testing.assert_close(item["features"], resample_to_clips(arrays["v1"], 8, "max"))
    assert item["words"].dtype == torch.int64 and item["words"].tolist() == [1, 2, 3, 4, 5]
    assert item["gt"].dtype == torch.float32 and item["gt"].tolist() == [1.0, 4.5]
    assert (item["duration"], item["qid"], item["vid"], item["query"]) == (10.0, "v1#1", "v1", "A person opens the door.")


def test_missing_features_one_warning_lists_count_and_first_ids(tmp_path, write_npy_features, caplog):
    write_npy_features(tmp_path, {"have": (4, 3)})
    queries = [Query(f"m{i}#{j}", f"m{i}", "a person", 0.0, 1.0, 2.0) for i in range(8) for j in range(2)]
    queries.append(Query("have#0", "have", "a person", 0.0, 1.0, 2.0))
    with caplog.at_level(logging.WARNING, logger="drn.data"):
        dataset = GroundingDataset(queries, tmp_path, VOCAB, num_clips=4)
    assert len(dataset) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("16 queries skipped: 8 videos have no features")
    assert "m0, m1, m2, m3, m4 and 3 more" in warnings[0]


def test_collate_pads_words_and_stacks(tmp_path, write_npy_features):
    write_npy_features(tmp_path, {"v1": (20, 6), "v2": (5, 6)})
    dataset = GroundingDataset(_queries(), tmp_path, VOCAB, num_clips=8)
    batch = collate([dataset[1], dataset[0]])
    assert batch["features"].shape == (2, 8, 6) and batch["features"].dtype == torch.float32
    assert batch["words"].dtype == torch.int64
    assert batch["words"].tolist() == [[4, 2, 6, 0, 0], [1, 2, 3, 4, 5]]
    assert batch["lengths"].dtype == torch.int64 and batch["lengths"].tolist() == [3, 5]
    assert batch["gt"].dtype == torch.float32 and batch["gt"].tolist() == [[0.0, 8.0], [1.0, 4.5]]
    assert batch["duration"].dtype == torch.float32 and batch["duration"].tolist() == [8.0, 10.0]
    assert batch["qid"] == ["v2#3", "v1#1"] and batch["vid"] == ["v2", "v1"]
    assert batch["query"] == ["the person sits", "A person opens the door."]


def test_feature_dim_mismatch_surfaces_when_the_dataset_is_built(tmp_path, write_npy_features):
    write_npy_features(tmp_path, {"v1": (20, 6), "v2": (5, 6)})
    with pytest.raises(ValueError, match=r"v1\.npy: expected feature dimension 1024, got 6"):
        GroundingDataset(_queries(), tmp_path, VOCAB, num_clips=8, feature_dim=1024)


class _WorkerProbe(Dataset):
    """Reads through a GroundingDataset and reports which process opened the HDF5 handle."""

    def __init__(self, dataset: GroundingDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        return item["qid"], item["features"], os.getpid(), self.dataset.source._file_pid


def test_dataloader_workers_over_hdf5(tmp_path, write_hdf5_features):
    shapes = {f"v{i}": (3 + i, 4) for i in range(6)}
    arrays = write_hdf5_features(tmp_path / "f.h5", shapes)
    queries = [Query(f"v{i}#{j}", f"v{i}", "a person opens the door", 0.0, 1.0, 3.0) for i in range(6) for j in range(3)]
    # No cache, so every item is read from the file by the worker that serves it.
    dataset = GroundingDataset(queries, HDF5Features(tmp_path / "f.h5", cache_size=0), VOCAB, num_clips=5)
    dataset[0]  # the parent opens a handle before the workers fork: they must not share it
    assert dataset.source._file_pid == os.getpid()
    loader = DataLoader(_WorkerProbe(dataset), batch_size=None, num_workers=2, shuffle=False)
    seen_pids = set()
    for qid, features, pid, file_pid in loader:
        assert pid != os.getpid() and file_pid == pid
        seen_pids.add(pid)
        torch.testing.assert_close(features, resample_to_clips(arrays[qid.split("#")[0]], 5, "mean"))
    assert len(seen_pids) == 2

    batches = list(DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=collate))
    assert sum(len(b["qid"]) for b in batches) == 18
    assert batches[0]["features"].shape == (4, 5, 4)


def test_build_dataset_on_real_charades_annotations(shared_data, charades_csvs, tmp_path, write_npy_features, caplog):
    annotation = shared_data / "charades_sta" / "charades_sta_test.txt"
    queries, _ = read_charades_sta(annotation, charades_csvs)
    vids = sorted({q.vid for q in queries})
    absent = vids[:3]
    write_npy_features(tmp_path / "feats", {vid: (6, 4) for vid in vids[3:]})
    vocab_path = shared_data / "charades_sta" / "drn_extras" / "Charades_word2id.json"
    with caplog.at_level(logging.INFO, logger="drn.data"):
        dataset = build_dataset("charades_sta", annotation, charades_csvs, tmp_path / "feats", vocab_path, 32, "mean", 4)
    expected_skips = sum(q.vid in absent for q in queries)
    assert len(dataset) == 3720 - expected_skips - dataset.quirks["no_known_words"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and all(vid in warnings[0] for vid in absent)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and "562 end after the video duration, clipped" in infos[0]
    batch = collate([dataset[i] for i in range(3)])
    assert batch["features"].shape == (3, 32, 4)
    assert bool((batch["gt"][:, 1] <= batch["duration"]).all())


def test_build_dataset_builds_a_vocabulary_when_none(tmp_path, write_npy_features):
    (tmp_path / "a.txt").write_text("v1 0.0 2.0##Person opens door.\nv1 1.0 3.0##person sits\n")
    (tmp_path / "d.json").write_text('{"v1": 5.0}')
    write_npy_features(tmp_path / "f", {"v1": (10, 2)})
    dataset = build_dataset("charades", tmp_path / "a.txt", tmp_path / "d.json", tmp_path / "f", None, 4)
    assert dataset.vocab.word2id == {"person": 1, "door": 2, "opens": 3, "sits": 4}
    assert dataset[1]["words"].tolist() == [1, 4]
    assert np.isclose(dataset[0]["duration"], 5.0)
