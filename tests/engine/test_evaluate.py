"""Inference rows and metrics: every query gets a row (even with no prediction), and the metrics
are those of the rows; the plot and the training schedule helpers."""

from __future__ import annotations

import pytest
import torch

from drn.config import load_config
from drn.data import build_dataset, make_synthetic_dataset
from drn.engine.evaluate import evaluate, metrics_from_rows
from drn.engine.experiment import build_model
from drn.engine.train import schedule
from drn.metrics import grounding_metrics
from drn.metrics.protocol import PER_IOU_KEY
from drn.utils.plots import plot_grounding

TINY = ["model.feature_dim=8", "model.embedding_dim=4", "model.lstm_hidden=4", "model.attention_dim=4",
        "model.position_dim=4", "model.level_channels=[4, 8, 8]", "model.fpn_channels=8"]


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory):
    paths = make_synthetic_dataset(tmp_path_factory.mktemp("syn"), num_videos_train=4, num_videos_val=1,
                                   num_videos_test=3, feature_dim=8)
    return build_dataset("charades_sta", paths["test"], paths["durations"], paths["features"], None, 32)


@pytest.mark.parametrize("protocol", ["official", "fixed"])
@pytest.mark.parametrize("score_threshold", [0.0, 1.0])
def test_every_query_gets_one_row_and_the_metrics_are_the_rows(tiny_split, score_threshold, protocol):
    cfg = load_config(None, TINY + [f"model.score_threshold={score_threshold}", "eval.batch_size=2", "eval.top_k=4",
                                    f"eval.protocol={protocol}", "model.whole_video_fallback=false"])
    torch.manual_seed(0)
    model = build_model(cfg, tiny_split.vocab).train()
    metrics, rows = evaluate(model, tiny_split, torch.device("cpu"), cfg["eval"], use_iou=True)
    assert [row["qid"] for row in rows] == [q.qid for q in tiny_split.queries]
    assert metrics == metrics_from_rows(rows)
    assert model.training  # evaluation restores the mode it found
    lengths = {len(row["pred_relevant_windows"]) for row in rows}
    if score_threshold == 1.0:
        assert lengths == {0} and metrics["R5@0.3"] == 0.0  # empty lists are misses, not dropped rows
    else:
        assert max(lengths) == 4
    if protocol == "official":  # the list behind each R@n, IoU=m is in the row
        assert all(set(row[PER_IOU_KEY]) == {"0.3", "0.5", "0.7"} for row in rows)
        assert all(row[PER_IOU_KEY]["0.5"] == row["pred_relevant_windows"] for row in rows)  # both NMS at 0.45
    else:
        assert not any(PER_IOU_KEY in row for row in rows)
        truth = [row["relevant_windows"][0] for row in rows]
        assert metrics == grounding_metrics([row["pred_relevant_windows"] for row in rows], truth)


def test_a_query_without_candidates_gets_the_whole_video_by_default(tiny_split):
    cfg = load_config(None, TINY + ["model.score_threshold=1.0"])
    torch.manual_seed(0)
    metrics, rows = evaluate(build_model(cfg, tiny_split.vocab), tiny_split, torch.device("cpu"), cfg["eval"],
                             use_iou=True)
    for row in rows:
        whole = [[0.0, row["duration"], 1.0]]
        assert row["pred_relevant_windows"] == whole
        assert row[PER_IOU_KEY] == {"0.3": whole, "0.5": whole, "0.7": whole}
    assert metrics == metrics_from_rows(rows) and metrics["mIoU"] > 0


def test_schedule_skips_stages_without_epochs():
    assert schedule([2, 0, 1]) == [(1, 0), (1, 1), (3, 0)]
    assert schedule([0, 0, 0]) == []


def test_plot_writes_an_image_with_and_without_dense_scores(tmp_path):
    results = [{"query": "a person opens the door", "duration": 30.0, "pred_relevant_windows": [[2.0, 8.0, 0.9]],
                "relevant_windows": [[3.0, 9.0]],
                "dense": {"time": [[1.0, 3.0], [2.0]], "match": [[0.1, 0.8], [0.5]], "iou": [[0.4, 0.7], [0.6]]}},
               {"query": "no scores", "duration": 10.0, "pred_relevant_windows": []}]
    path = plot_grounding(results, tmp_path / "plot.png", title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="at least one"):
        plot_grounding([], tmp_path / "empty.png")
