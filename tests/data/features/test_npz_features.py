"""The npz feature layout (one folder per type, concatenated), text features, and datasets over them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drn.data import GroundingDataset, Query, Vocabulary, collate, open_features
from drn.data.features.npz import ConcatenatedFeatures, NpzFolderFeatures, TextFeatures
from drn.data.features.open import open_feature_types


def write_npz_type(folder, shapes: dict, seed: int = 0, key: str = "features") -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {vid: rng.standard_normal(shape).astype(np.float32) for vid, shape in shapes.items()}
    for vid, array in arrays.items():
        np.savez(folder / f"{vid}.npz", **{key: array})
    return arrays


def test_npz_folder_is_opened_and_read(tmp_path):
    arrays = write_npz_type(tmp_path / "clip", {"a": (5, 4), "b_1.0_3.0": (3, 4)})
    source = open_features(tmp_path / "clip")
    assert isinstance(source, NpzFolderFeatures)
    assert source.video_ids() == {"a", "b_1.0_3.0"}
    torch.testing.assert_close(source["a"], torch.from_numpy(arrays["a"]))


def test_npz_without_the_features_key_names_file_and_keys(tmp_path):
    write_npz_type(tmp_path / "clip", {"a": (5, 4)}, key="feats")
    with pytest.raises(ValueError, match=r"a\.npz: expected the key 'features' in the \.npz archive, got \['feats'\]"):
        open_features(tmp_path / "clip")["a"]


def test_types_are_l2_normalised_truncated_and_concatenated(tmp_path):
    clip = write_npz_type(tmp_path / "clip", {"a": (5, 3), "b": (2, 3), "only_clip": (2, 3)}, seed=1)
    slowfast = write_npz_type(tmp_path / "slowfast", {"a": (4, 2), "b": (2, 2)}, seed=2)
    source = open_feature_types([tmp_path / "clip", tmp_path / "slowfast"], feature_dim=5)
    assert isinstance(source, ConcatenatedFeatures)
    assert source.video_ids() == {"a", "b"}  # a video needs every type
    got = source["a"]
    assert got.shape == (4, 5)  # truncated to the shorter type (4 rows)
    expected_clip = clip["a"][:4] / np.linalg.norm(clip["a"][:4], axis=1, keepdims=True)
    expected_sf = slowfast["a"] / np.linalg.norm(slowfast["a"], axis=1, keepdims=True)
    np.testing.assert_allclose(got.numpy(), np.concatenate([expected_clip, expected_sf], axis=1), rtol=1e-6)
    assert "clip/a.npz + " in source.describe("a")


def test_text_features_by_qid(tmp_path):
    folder = tmp_path / "text"
    folder.mkdir()
    np.savez(folder / "qid7.npz", last_hidden_state=np.ones((4, 6), np.float32), pooler_output=np.ones(6))
    np.savez(folder / "qid8.npz", last_hidden_state=np.ones((1, 3, 6), np.float32))  # a batch of one
    text = TextFeatures(folder, feature_dim=6)
    assert 7 in text and "8" in text and 9 not in text
    assert text[7].shape == (4, 6) and text[8].shape == (3, 6)
    with pytest.raises(ValueError, match="expected text feature dimension 5, got 6"):
        TextFeatures(folder, feature_dim=5)[7]


def test_dataset_with_text_features_and_several_windows(tmp_path):
    write_npz_type(tmp_path / "clip", {"v1": (10, 4), "v2": (6, 4)})
    folder = tmp_path / "text"
    folder.mkdir()
    for qid, tokens in ((1, 3), (2, 5)):
        np.savez(folder / f"qid{qid}.npz", last_hidden_state=np.full((tokens, 6), float(qid), np.float32))
    queries = [Query(1, "v1", "zebras", 2.0, 4.0, 20.0, windows=((2.0, 4.0), (8.0, 12.0))),
               Query(2, "v2", "zebras gallop", 0.0, 6.0, 12.0),
               Query(3, "v2", "no text file", 0.0, 6.0, 12.0)]
    dataset = GroundingDataset(queries, tmp_path / "clip", Vocabulary({"a": 1}), num_clips=4,
                               text_features=TextFeatures(folder, feature_dim=6))
    assert [q.qid for q in dataset.queries] == [1, 2]  # no vocabulary check; qid 3 has no file
    assert dataset.quirks["missing_text_features"] == 1
    batch = collate([dataset[0], dataset[1]])
    assert batch["words"].shape == (2, 5, 6) and batch["words"].dtype == torch.float32
    assert batch["words"][0, 3:].abs().sum() == 0 and batch["lengths"].tolist() == [3, 5]
    assert batch["windows"].tolist() == [[[2.0, 4.0], [8.0, 12.0]], [[0.0, 6.0], [0.0, 0.0]]]
    assert batch["num_windows"].tolist() == [2, 1] and batch["gt"].tolist() == [[2.0, 4.0], [0.0, 6.0]]
    assert batch["qid"] == [1, 2]
