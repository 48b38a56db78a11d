"""Evaluation grouped by video gives what the per-query forward gives, bit for bit (CPU, float32).

The set is realistic: the first videos of the real Charades-STA test annotation (their queries per
video, sentences and durations), random C3D-sized features (D = 4,096, T = 32), DRN at its
defaults with trained-looking BatchNorm statistics (every location ranked: score threshold 0).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from drn.data import GroundingDataset, Vocabulary, collate, read_charades_sta
from drn.data.video_batches import VideoBatches, video_batches
from drn.engine.evaluate import predict_dataset, prediction_row
from drn.metrics.protocol import PER_IOU_KEY, nms_thresholds_per_iou
from drn.metrics.rows import rounded_windows
from drn.model import DRN, DRNConfig
from drn.model.postprocess import inference_config, postprocess_per_nms
from tests.helpers.paths import shared_file

NUM_VIDEOS = 10
EVAL = {"batch_size": 8, "nms_threshold": 0.45, "top_k": 5, "protocol": "official", "precision": "fp32"}


@pytest.fixture(scope="module")
def charades_slice(tmp_path_factory):
    folder = shared_file("charades_sta")
    shared_file("charades_sta/charades_sta_test.txt")
    queries, _ = read_charades_sta(folder / "charades_sta_test.txt",
                                   [folder / "Charades_v1_train.csv", folder / "Charades_v1_test.csv"])
    vids = list(dict.fromkeys(q.vid for q in queries))[:NUM_VIDEOS]
    queries = [q for q in queries if q.vid in vids]
    features = tmp_path_factory.mktemp("c3d")
    rng = np.random.default_rng(0)
    for vid in vids:  # a window per 8 frames of a ~30 s video, as C3D features come
        np.save(features / f"{vid}.npy", rng.standard_normal((int(rng.integers(40, 120)), 4096)).astype(np.float32))
    vocab = Vocabulary.from_sentences(q.sentence for q in queries)
    return GroundingDataset(queries, features, vocab, num_clips=32)


@pytest.fixture(scope="module")
def model(charades_slice):
    torch.manual_seed(0)
    model = DRN(DRNConfig(vocab_size=charades_slice.vocab.num_embeddings, score_threshold=0.0)).set_stage(3)
    with torch.no_grad():  # BatchNorm running statistics that are not the identity
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_the_set_has_videos_with_several_queries(charades_slice):
    per_video = [sum(q.vid == vid for q in charades_slice.queries) for vid in {q.vid for q in charades_slice.queries}]
    assert len(per_video) == NUM_VIDEOS and max(per_video) >= 3 and len(charades_slice) > NUM_VIDEOS


@pytest.mark.slow
@torch.no_grad()
def test_forward_on_video_rows_equals_forward_per_query_bit_for_bit(charades_slice, model, one_thread):
    batch = VideoBatches(charades_slice, video_batches([q.vid for q in charades_slice.queries], 64))[0]
    assert batch["features"].shape[0] < len(batch["index"])  # videos shared by queries
    per_query = collate([charades_slice[i] for i in batch["index"]])
    assert torch.equal(batch["features"][batch["video_index"]], per_query["features"])
    grouped = model(batch["features"], batch["words"], batch["lengths"], batch["video_index"])
    plain = model(per_query["features"], per_query["words"], per_query["lengths"])
    for name in ("match_logits", "distances", "iou_logits"):
        for level in range(3):
            assert torch.equal(getattr(grouped, name)[level], getattr(plain, name)[level]), (name, level)
    assert torch.equal(grouped.attention, plain.attention)


@pytest.mark.slow
def test_grouped_evaluation_rows_equal_the_per_query_loop(charades_slice, model):
    """predict_dataset (batches of whole videos) against the loop it replaced (batches of queries
    in dataset order, each with its own copy of its video's features)."""
    config = inference_config(model.config, EVAL)
    per_iou = nms_thresholds_per_iou(EVAL["protocol"])
    assert per_iou  # the official protocol's per-m lists are part of what is compared
    expected = []
    with torch.no_grad():
        for batch in DataLoader(charades_slice, batch_size=EVAL["batch_size"], collate_fn=collate):
            output = model(batch["features"], batch["words"], batch["lengths"])
            ranked, *lists = postprocess_per_nms(output, batch["duration"], config,
                                                 [config.nms_threshold, *per_iou.values()])
            for i, r in enumerate(ranked):
                row = prediction_row(charades_slice.queries[len(expected)], r)
                row[PER_IOU_KEY] = {m: rounded_windows(of_m[i]) for m, of_m in zip(per_iou, lists)}
                expected.append(row)
    rows = predict_dataset(model, charades_slice, torch.device("cpu"), EVAL, use_iou=True)
    assert rows == expected
    assert sum(len(row["pred_relevant_windows"]) for row in rows) > len(rows)  # something was ranked
