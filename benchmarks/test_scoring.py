"""Scoring a QVHighlights val-sized prediction file (1,550 queries x 10 windows + 75 clip scores):
drn.metrics.qvhighlights (vectorised over queries) against the official evaluator's approach, per-query
and per-threshold Python loops (tests.helpers.qvhighlights_reference, the same definitions)."""

from __future__ import annotations

import functools
import json
import random

from drn.metrics.qvhighlights import qvhighlights_report
from tests.helpers.paths import shared_data_dir
from tests.helpers.qvhighlights_reference import qvhighlights_report_reference

VAL = shared_data_dir() / "qvhighlights" / "highlight_val_release.jsonl"


def _ground_truth() -> list[dict]:
    """The real QVHighlights val annotations, or 1,550 generated ones of the same shape."""
    if VAL.is_file():
        return [json.loads(line) for line in VAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(0)
    rows = []
    for qid in range(1550):
        windows = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            start = 2 * rng.randrange(70)
            windows.append([float(start), float(min(150, start + 2 * rng.randint(1, 20)))])
        clips = sorted({c for s, e in windows for c in range(int(s / 2), int(e / 2))})
        rows.append({"qid": qid, "duration": 150.0, "relevant_windows": windows, "relevant_clip_ids": clips,
                     "saliency_scores": [[rng.randint(0, 4) for _ in range(3)] for _ in clips]})
    return rows


@functools.lru_cache(maxsize=None)
def workload() -> tuple[list[dict], list[dict]]:
    gt = _ground_truth()
    rng = random.Random(1)
    predictions = []
    for g in gt:
        windows = []
        for _ in range(10):
            s = 2.0 * rng.randrange(int(g["duration"] / 2))
            windows.append([s, min(g["duration"], s + 2.0 * rng.randint(1, 30)), round(rng.random(), 4)])
        predictions.append({"qid": g["qid"], "pred_relevant_windows": windows,
                            "pred_saliency_scores": [round(rng.random(), 4) for _ in range(int(g["duration"] / 2))]})
    return predictions, gt


@functools.lru_cache(maxsize=None)
def expected() -> str:
    return json.dumps(qvhighlights_report_reference(*workload()))


def same_report(out) -> None:
    assert json.dumps(out) == expected(), "the vectorised and per-query QVHighlights reports differ"


def test_score_ours(bench):
    predictions, gt = workload()
    bench(lambda: qvhighlights_report(predictions, gt), op="qvhighlights_score", workload="val", impl="ours",
          size=len(gt), check=same_report, budget_s=3.0)


def test_score_per_query(bench):
    predictions, gt = workload()
    bench(lambda: qvhighlights_report_reference(predictions, gt), op="qvhighlights_score", workload="val",
          impl="per-query", size=len(gt), check=same_report, budget_s=3.0, max_rounds=5)
