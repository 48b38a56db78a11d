import math

import pytest
import torch

from drn.model.drn import DRN, DRNOutput
from drn.model.postprocess import postprocess

from .test_losses import dense_output

LOW = -10.0  # sigmoid(-10) < 0.05: never kept


def logit(p):
    return math.log(p / (1 - p))


def test_hand_computed_decoding_scores_and_clamp(small_config):
    cfg = small_config()
    out = dense_output(batch=1, match_logit=LOW)
    out.match_logits[0][0, 5] = logit(0.8)   # t = 5.5, (2.5, 3.5) -> (3, 9) clips
    out.distances[0][0, 5] = torch.tensor([2.5, 3.5])
    out.iou_logits[0][0, 5] = logit(0.5)
    out.match_logits[2][0, 7] = logit(0.6)   # t = 30, (4, 10) -> (26, 40) clamped to (26, 32)
    out.distances[2][0, 7] = torch.tensor([4.0, 10.0])
    out.iou_logits[2][0, 7] = logit(0.9)
    (ranked,) = postprocess(out, [64.0], cfg)
    assert len(ranked) == 2
    expected = [(52.0, 64.0, math.sqrt(0.6 * 0.9)), (6.0, 18.0, math.sqrt(0.8 * 0.5))]
    for got, want in zip(ranked, expected):
        assert got == pytest.approx(want, rel=1e-5)
    (ranked,) = postprocess(out, [64.0], cfg, use_iou=False)
    assert [r[2] for r in ranked] == pytest.approx([0.8, 0.6], rel=1e-5)


def test_threshold_nms_and_top_k(small_config):
    cfg = small_config(max_detections=2)
    out = dense_output(batch=2, match_logit=LOW)
    # Query 0: three nearly identical segments and one apart; query 1: nothing above 0.05.
    for i, p in zip((4, 5, 6), (0.7, 0.9, 0.8)):
        out.match_logits[0][0, i] = logit(p)
        out.distances[0][0, i] = torch.tensor([i - 1.5, 7.5 - i])  # t = i + 0.5: all (2, 8)
    out.match_logits[0][0, 20] = logit(0.3)
    out.distances[0][0, 20] = torch.tensor([1.0, 1.0])
    out.match_logits[1][1, 3] = logit(0.04)
    ranked = postprocess(out, torch.tensor([32.0, 40.0]), cfg, use_iou=False)
    assert ranked[1] == [(0.0, 40.0, 1.0)]  # DRN's official fallback: the whole video, score 1
    assert postprocess(out, torch.tensor([32.0, 40.0]), small_config(max_detections=2, whole_video_fallback=False),
                       use_iou=False)[1] == []
    assert [c for r in ranked[0] for c in r[:2]] == pytest.approx([2.0, 8.0, 19.5, 21.5])
    assert [r[2] for r in ranked[0]] == pytest.approx([0.9, 0.3], rel=1e-5)


def select(out, i):
    return DRNOutput([x[i:i + 1] for x in out.match_logits], [x[i:i + 1] for x in out.distances],
                     [x[i:i + 1] for x in out.iou_logits], out.points, out.attention[i:i + 1], out.num_clips)


@pytest.mark.parametrize("use_iou", [True, False])
def test_batch_equals_per_query(small_config, make_batch, use_iou):
    cfg = small_config(score_threshold=0.0, pre_nms_top_k=8)
    torch.manual_seed(0)
    model = DRN(cfg).eval()
    with torch.no_grad():
        for p in model.heads.parameters():  # spread the predictions so NMS has work to do
            p.normal_(0, 0.3)
        out = model(*make_batch(cfg, 6))
    durations = torch.tensor([30.0, 12.5, 80.0, 30.0, 7.0, 45.0])
    batched = postprocess(out, durations, cfg, use_iou=use_iou)
    assert any(len(r) > 1 for r in batched)
    for i in range(6):
        (single,) = postprocess(select(out, i), durations[i:i + 1], cfg, use_iou=use_iou)
        # Same segments in the same order; scores may differ in the last bit (vectorised sigmoid tails).
        assert len(single) == len(batched[i])
        for got, want in zip(single, batched[i]):
            assert got == pytest.approx(want, rel=1e-6, abs=0)
        scores = [r[2] for r in batched[i]]
        assert scores == sorted(scores, reverse=True) and len(scores) <= cfg.max_detections
        assert all(0.0 <= s <= e <= float(durations[i]) for s, e, _ in batched[i])


def test_durations_must_match_the_batch(small_config):
    with pytest.raises(ValueError, match="one duration per query"):
        postprocess(dense_output(batch=2), [10.0], small_config())
