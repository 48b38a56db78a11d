"""DRN's official evaluation protocol: R@n, IoU=m read from the list ranked with NMS at m - 0.05,
and the whole video (score 1) for a query with no candidate; the fixed-threshold variant."""

import math
import random

import pytest
import torch

from drn.metrics import grounding_metrics
from drn.metrics.protocol import metrics_per_iou, nms_thresholds_per_iou
from drn.model.config import DRNConfig
from drn.model.postprocess import postprocess_per_nms
from tests.model.test_losses import dense_output

LOW = -10.0  # sigmoid(-10) < 0.05: never a candidate


def logit(p):
    return math.log(p / (1 - p))


def three_candidates():
    """Query 0 (T = 32 clips = 32 s): j = (0, 10) 0.9, k = (5, 15) 0.8, c = (8, 18) 0.7, with
    IoU(j, k) = 1/3, IoU(k, c) = 7/13, IoU(j, c) = 1/9. Query 1: no location above 0.05."""
    out = dense_output(batch=2, match_logit=LOW)
    for t, p in ((5, 0.9), (10, 0.8), (13, 0.7)):  # level 0 centre t + 0.5, (l, r) = (5.5, 4.5)
        out.match_logits[0][0, t] = logit(p)
        out.distances[0][0, t] = torch.tensor([5.5, 4.5])
    return out


def test_official_thresholds_are_m_minus_0_05():
    assert nms_thresholds_per_iou("official") == pytest.approx({"0.3": 0.25, "0.5": 0.45, "0.7": 0.65})
    assert nms_thresholds_per_iou("fixed") == {}
    with pytest.raises(ValueError, match="protocol"):
        nms_thresholds_per_iou("best")


def test_hand_checked_lists_and_recalls_per_protocol():
    cfg = DRNConfig()  # the published inference settings: score > 0.05, 32 per level
    official = nms_thresholds_per_iou("official")
    fixed, *per_m = postprocess_per_nms(three_candidates(), [32.0, 32.0], cfg, [0.45, *official.values()],
                                        use_iou=False)
    j, k, c = (0.0, 10.0), (5.0, 15.0), (8.0, 18.0)
    segments = [[tuple(round(x, 4) for x in r[:2]) for r in ranked[0]] for ranked in per_m]
    assert segments == [[j, c], [j, k], [j, k, c]]  # NMS at 0.25 drops k (1/3 > 0.25), 0.45 drops c (7/13)
    # pytest.approx compares flat sequences only (pytest >= 9 refuses nested ones): flatten the pairs.
    assert [x for r in fixed[0] for x in r[:2]] == pytest.approx([*j, *k])
    for ranked in (fixed, *per_m):  # no candidate: the whole video with score 1
        assert ranked[1] == [(0.0, 32.0, 1.0)]

    truth = [(8.0, 18.0), (0.0, 24.0)]  # c; and 3/4 of the video for the query with no candidate
    got = metrics_per_iou(fixed, dict(zip(official, per_m)), truth)
    # R@5: 0.3 from c (IoU 1) in the 0.25 list, 0.5 from k (7/13) in the 0.45 list, 0.7 from c in
    # the 0.65 list; the fallback (IoU 0.75) hits every m. R@1 reads j (IoU 2/18) and the fallback.
    assert got == pytest.approx({"R1@0.3": 50.0, "R1@0.5": 50.0, "R1@0.7": 50.0, "R5@0.3": 100.0, "R5@0.5": 100.0,
                                 "R5@0.7": 100.0, "mIoU": 100 * (2 / 18 + 0.75) / 2})
    # The fixed protocol reads everything from the 0.45 list: c is gone, so R5@0.7 misses query 0.
    assert grounding_metrics(fixed, truth)["R5@0.7"] == 50.0
    # Without the fallback the empty query is a miss everywhere.
    no_fallback = postprocess_per_nms(three_candidates(), [32.0, 32.0], DRNConfig(whole_video_fallback=False),
                                      [0.45], use_iou=False)[0]
    assert no_fallback[1] == [] and grounding_metrics(no_fallback, truth)["R1@0.3"] == 0.0


def official_recall(candidates, truth, n, m):
    """The published rule, written out: greedy NMS over every candidate at m - 0.05 (a segment
    goes when its IoU with a kept, higher-scored one is > the threshold), first n kept, hit if
    one has IoU >= m with the ground truth."""
    def iou(a, b):
        inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
        union = (a[1] - a[0]) + (b[1] - b[0]) - inter
        return inter / union if union > 0 else 0.0
    kept = []
    for seg in sorted(candidates, key=lambda s: -s[2]):
        if all(iou(seg, other) <= m - 0.05 for other in kept):
            kept.append(seg)
    return any(iou(seg, truth) >= m for seg in kept[:n])


def test_random_candidates_match_the_published_rule():
    cfg = DRNConfig(score_threshold=0.0, pre_nms_top_k=12, max_detections=100)
    gen = torch.Generator().manual_seed(3)
    out = dense_output(batch=40)
    for level in range(3):
        out.match_logits[level].copy_(torch.randn(out.match_logits[level].shape, generator=gen))
        out.distances[level].copy_(torch.rand(out.distances[level].shape, generator=gen) * 8)
    durations = [30.0] * 40
    rnd = random.Random(0)
    truth = [(s, s + rnd.uniform(2, 15)) for s in (rnd.uniform(0, 14) for _ in range(40))]
    official = nms_thresholds_per_iou("official")
    everything, *per_m = postprocess_per_nms(out, durations, cfg, [1.0, *official.values()], use_iou=False)
    got = metrics_per_iou(per_m[1], dict(zip(official, per_m)), truth)
    for n in (1, 5):
        for m in (0.3, 0.5, 0.7):
            expected = sum(official_recall(c, t, n, m) for c, t in zip(everything, truth)) / len(truth) * 100
            assert got[f"R{n}@{m}"] == pytest.approx(expected), (n, m)
    assert got["R5@0.3"] != grounding_metrics(per_m[1], truth)["R5@0.3"]  # the protocols differ here


def test_unknown_iou_key_is_refused():
    with pytest.raises(ValueError, match="ranked_per_iou keys"):
        metrics_per_iou([[]], {"0.4": [[]]}, [(0.0, 1.0)])
