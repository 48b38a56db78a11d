"""The QVHighlights MR/HL metrics: hand-computed cases, the vectorised module against the per-query
reference on random predictions over real and generated annotations, and perfect predictions."""

from __future__ import annotations

import json
import math
import random

import pytest

from drn.metrics import qvhighlights_metrics
from drn.metrics.qvhighlights import qvhighlights_report
from tests.helpers.jsonl import read_jsonl
from tests.helpers.paths import shared_file
from tests.helpers.qvhighlights_reference import qvhighlights_report_reference

THRESHOLDS = ["0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9", "0.95"]


def report(windows, gt_windows, **gt):
    return qvhighlights_report([{"qid": 1, "pred_relevant_windows": windows}],
                               [{"qid": 1, "relevant_windows": gt_windows, **gt}])


def test_first_ranked_hit_gives_ap_one():
    full = report([[0, 10, 0.9], [20, 30, 0.8]], [[0, 10]])["full"]
    assert set(full["MR-mAP"].values()) == {100.0}
    assert set(full["MR-R1"].values()) == {100.0}


def test_hit_at_rank_two_gives_ap_half_and_r1_reads_the_first_listed_window():
    # sorted by score the hit is second (AP 0.5); R1 takes the first window as listed, the miss
    full = report([[20, 30, 0.9], [0, 10, 0.8]], [[0, 10]])["full"]
    assert set(full["MR-mAP"].values()) == {50.0} and set(full["MR-R1"].values()) == {0.0}
    # listed first but scored lower: R1 hits, AP still 0.5
    full = report([[0, 10, 0.1], [20, 30, 0.9]], [[0, 10]])["full"]
    assert set(full["MR-mAP"].values()) == {50.0} and set(full["MR-R1"].values()) == {100.0}


def test_a_matched_window_is_not_matched_twice():
    # rank 1 takes gt 0; rank 2 overlaps gt 0 (IoU 0.9) but it is taken: a false positive; rank 3 takes gt 1.
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3
    full = report([[0, 10, 0.9], [1, 10, 0.8], [20, 30, 0.7]], [[0, 10], [20, 30]])["full"]
    assert full["MR-mAP"]["0.5"] == pytest.approx(83.33) and full["MR-mAP"]["average"] == pytest.approx(83.33)


def test_iou_equal_to_the_threshold_is_a_hit():
    r1 = report([[0, 7, 1.0]], [[0, 10]])["full"]["MR-R1"]  # IoU exactly 0.7
    assert r1["0.7"] == 100.0 and r1["0.75"] == 0.0


def test_only_the_first_ten_windows_count():
    windows = [[20 + i, 21 + i, 1.0 - i / 100] for i in range(10)] + [[0, 10, 0.5]]
    assert report(windows, [[0, 10]])["full"]["MR-mAP"]["average"] == 0.0
    windows[9] = [0, 10, 0.5]  # the tenth window hits: precision 1/10
    assert report(windows, [[0, 10]])["full"]["MR-mAP"]["average"] == 10.0


def test_length_ranges_keep_the_windows_of_their_length():
    result = report([[0, 4, 0.9], [10, 45, 0.8]], [[0, 4], [10, 45]])
    assert result["short"]["MR-mAP"]["average"] == 100.0  # [0, 4] alone: the first prediction hits it
    assert result["long"]["MR-mAP"]["average"] == 50.0    # [10, 45] alone: hit at rank 2
    assert result["full"]["MR-mAP"]["average"] == 100.0
    assert all(math.isnan(v) for v in result["middle"]["MR-mAP"].values())  # no 10-30 s window: NaN
    assert list(result["brief"]) == sorted(result["brief"])


def test_a_query_without_windows_scores_zero():
    result = qvhighlights_report(
        [{"qid": 1, "pred_relevant_windows": []}, {"qid": 2, "pred_relevant_windows": [[0, 10, 1.0]]}],
        [{"qid": 1, "relevant_windows": [[0, 10]]}, {"qid": 2, "relevant_windows": [[0, 10]]}])
    assert result["brief"]["MR-full-mAP"] == 50.0 and result["brief"]["MR-full-R1@0.5"] == 50.0


HL_GT = {"qid": 1, "relevant_windows": [[2, 6]], "duration": 10.0, "relevant_clip_ids": [1, 2],
         "saliency_scores": [[4, 4, 4], [2, 0, 3]]}


def highlight(scores, gt=HL_GT):
    return qvhighlights_metrics([{"qid": 1, "pred_saliency_scores": scores}], [gt])


def test_highlight_hand_computed():
    # clips by score: 2, 1, 4, 3, 0. Clip 1 scored 4/4/4 and clip 2 2/0/3 by the three annotators.
    metrics = highlight([0.1, 0.5, 0.9, 0.2, 0.3])
    # Fair (>= 2): annotators see {1, 2}, {1}, {1, 2} -> AP 1, 1/2, 1
    assert metrics["HL-min-Fair-mAP"] == pytest.approx(83.33) and metrics["HL-min-Fair-Hit1"] == 100.0
    # Good (>= 3): {1}, {1}, {1, 2} -> AP 1/2, 1/2, 1; the top clip 2 is Good for annotator 3
    assert metrics["HL-min-Good-mAP"] == pytest.approx(66.67) and metrics["HL-min-Good-Hit1"] == 100.0
    # VeryGood (>= 4): {1} for all -> AP 1/2 each; clip 2 is not VeryGood for anyone
    assert metrics["HL-min-VeryGood-mAP"] == 50.0 and metrics["HL-min-VeryGood-Hit1"] == 0.0
    assert "MR-full-mAP" not in metrics  # no windows predicted: moment retrieval is not scored


def test_highlight_ties_form_one_threshold():
    # all five clips tie: one threshold with precision 1/5 (VeryGood: clip 1 only)
    assert highlight([0.5] * 5)["HL-min-VeryGood-mAP"] == 20.0


def test_highlight_scores_are_cut_or_padded_to_the_clip_count():
    # duration 10 s -> 5 clips; the 6th score is cut (its clip does not exist), so the top clip is 1
    assert highlight([0.0, 0.9, 0.1, 0.1, 0.1, 5.0])["HL-min-VeryGood-Hit1"] == 0.0  # argmax of all: clip 5, outside
    assert highlight([0.0, 0.9, 0.1, 0.1, 0.1, 5.0])["HL-min-VeryGood-mAP"] == 100.0
    # two scores for five clips: the rest count as 0 and tie below clip 1
    assert highlight([0.0, 0.9])["HL-min-VeryGood-mAP"] == 100.0


def test_highlight_all_negative_is_zero_and_all_positive_is_one():
    gt = {**HL_GT, "duration": 4.0, "relevant_clip_ids": [0, 1], "saliency_scores": [[4, 4, 4], [4, 4, 4]]}
    assert highlight([0.2, 0.1], gt)["HL-min-VeryGood-mAP"] == 100.0
    gt = {**HL_GT, "relevant_clip_ids": [], "saliency_scores": []}
    assert highlight([0.2, 0.1, 0.3, 0.4, 0.5], gt)["HL-min-Fair-mAP"] == 0.0


def test_mismatched_qids_are_refused():
    with pytest.raises(ValueError, match="qids of predictions and ground truth must match"):
        qvhighlights_metrics([{"qid": 2, "pred_relevant_windows": [[0, 1, 1.0]]}],
                             [{"qid": 1, "relevant_windows": [[0, 1]]}])


def random_predictions(ground_truth, seed, grid, ties):
    """Windows near and far from the ground truth, on a grid, with distinct or tied scores; clip
    scores shorter and longer than the video."""
    rng = random.Random(seed)
    rows = []
    for g in ground_truth:
        duration = g["duration"]
        windows = []
        for _ in range(rng.randint(0, 12)):
            if rng.random() < 0.4:
                s, e = rng.choice(g["relevant_windows"])
                s, e = s + rng.choice([0, grid, -grid]), e + rng.choice([0, grid, -grid])
            else:
                s = round(rng.uniform(0, duration) / grid) * grid
                e = s + round(rng.uniform(0, duration / 2) / grid) * grid
            s = min(max(0.0, s), duration)
            windows.append([s, min(duration, max(s, e)), rng.choice([0.25, 0.5, 0.75]) if ties else rng.random()])
        row = {"qid": g["qid"], "pred_relevant_windows": windows}
        if "saliency_scores" in g:
            count = max(1, int(duration / 2) + rng.choice([-3, 0, 0, 2]))
            row["pred_saliency_scores"] = [rng.choice([0.0, 0.5, 1.0]) if ties else rng.random() for _ in range(count)]
        rows.append(row)
    return rows


def generated_ground_truth(num_queries=300, seed=0):
    rng = random.Random(seed)
    rows = []
    for qid in range(num_queries):
        duration = rng.choice([30.0, 60.0, 150.0])
        windows = []
        for _ in range(rng.randint(1, 4)):
            start = 2 * rng.randrange(int(duration / 2) - 1)
            windows.append([float(start), float(min(duration, start + 2 * rng.randint(1, 25)))])
        clips = sorted({c for s, e in windows for c in range(int(s / 2), int(e / 2))})
        rows.append({"qid": qid, "duration": duration, "relevant_windows": windows, "relevant_clip_ids": clips,
                     "saliency_scores": [[rng.randint(0, 4) for _ in range(3)] for _ in clips]})
    return rows


def assert_reports_equal(ours, reference):
    assert json.dumps(ours) == json.dumps(reference)  # same keys, order and values (NaN included)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_equals_the_per_query_reference_on_generated_data(seed, ties):
    gt = generated_ground_truth(seed=seed)
    pred = random_predictions(gt, seed, grid=2.0, ties=ties)
    assert_reports_equal(qvhighlights_report(pred, gt), qvhighlights_report_reference(pred, gt))


REAL_FILES = [("qvhighlights/highlight_val_release.jsonl", 2.0), ("lighthouse_jsonl/charades_test_release.jsonl", 0.1),
              ("lighthouse_jsonl/tacos_test_release.jsonl", 0.5)]


@pytest.mark.parametrize("name,grid", REAL_FILES)
def test_vectorised_equals_the_per_query_reference_on_real_annotations(name, grid):
    path = shared_file(name)
    gt = read_jsonl(path)
    half = len(gt) // 2  # distinct scores on one half, tied scores on the other
    pred = random_predictions(gt[:half], 0, grid, ties=False) + random_predictions(gt[half:], 1, grid, ties=True)
    assert_reports_equal(qvhighlights_report(pred, gt), qvhighlights_report_reference(pred, gt))


def test_ground_truth_as_predictions_scores_100_on_real_annotations():
    path = shared_file("qvhighlights/highlight_val_release.jsonl")
    # at most 10 predictions count, so queries with more ground-truth windows cannot reach 100
    gt = [g for g in read_jsonl(path) if len(g["relevant_windows"]) <= 10]
    assert len(gt) > 1500
    pred = [{"qid": g["qid"], "pred_relevant_windows": [[s, e, 1.0 - i / 100] for i, (s, e) in
                                                         enumerate(g["relevant_windows"])]} for g in gt]
    full = qvhighlights_report(pred, gt)["full"]
    assert set(full["MR-mAP"].values()) == {100.0} and set(full["MR-R1"].values()) == {100.0}
    # one window moved off its ground truth costs exactly that query's share of R1
    pred[0]["pred_relevant_windows"][0][:2] = [-10.0, -5.0]
    expected = 100.0 * (len(gt) - 1) / len(gt)
    assert qvhighlights_report(pred, gt)["full"]["MR-R1"]["0.5"] == pytest.approx(expected, abs=0.005)


def test_published_prediction_metric_pair_when_present():
    """Moment-DETR's released sample predictions on QVHighlights val and the metrics its official
    evaluator printed for them (`sample_val_preds.jsonl`, `sample_val_preds_metrics_raw.json`)."""
    folder = shared_file("qvhighlights")
    preds = shared_file("qvhighlights/sample_val_preds.jsonl")
    metrics = shared_file("qvhighlights/sample_val_preds_metrics_raw.json")
    published = json.loads(metrics.read_text())
    assert_reports_equal(qvhighlights_report(read_jsonl(preds), read_jsonl(folder / "highlight_val_release.jsonl")),
                         published)
