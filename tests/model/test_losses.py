import math

import pytest
import torch

from drn.model.drn import DRN, DRNOutput
from drn.model.locations import location_points
from drn.model.losses import drn_losses, saliency_ranking_loss, sigmoid_focal_loss, video_ranking_loss

T = 32


def dense_output(batch=1, distance=0.01, match_logit=-5.0):
    """A hand-made DRNOutput for T = 32: every location predicts (distance, distance)."""
    points = location_points(T, (1, 2, 4))
    return DRNOutput(
        match_logits=[torch.full((batch, p.numel()), match_logit) for p in points],
        distances=[torch.full((batch, p.numel(), 2), distance) for p in points],
        iou_logits=[torch.zeros(batch, p.numel()) for p in points],
        points=points, attention=torch.ones(batch, 3, 1), num_clips=T)


def test_iou_head_target_matches_a_hand_computed_case(small_config):
    out = dense_output()
    out.distances[0][0, 5] = torch.tensor([2.5, 3.5])   # t = 5.5 -> (3, 9): IoU 1
    out.distances[1][0, 2] = torch.tensor([2.0, 4.5])   # t = 5   -> (3, 9.5): IoU 6 / 6.5
    out.distances[2][0, 0] = torch.tensor([3.0, 10.0])  # t = 2   -> (-1, 12) clamped to (0, 12): IoU 0.5
    truth, durations = torch.tensor([[6.0, 18.0]]), torch.tensor([64.0])  # seconds; (3, 9) in clips
    cfg = small_config(num_clips=T, iou_loss_threshold=0.4)
    losses = drn_losses(out, truth, durations, cfg, stage=2)
    # sigmoid(0) = 0.5 against the true IoUs; Smooth-L1 with beta 1 is 0.5 d^2 for |d| < 1.
    expected = (0.5 * 0.5 ** 2 + 0.5 * (0.5 - 6 / 6.5) ** 2 + 0.0) / 3
    assert losses["iou"].item() == pytest.approx(expected, rel=1e-5)
    assert losses["total"].item() == pytest.approx(expected, rel=1e-5)
    # At the default threshold 0.9 only the first two count.
    losses = drn_losses(out, truth, durations, small_config(num_clips=T), stage=2)
    assert losses["iou"].item() == pytest.approx((0.5 * 0.5 ** 2 + 0.5 * (0.5 - 6 / 6.5) ** 2) / 2, rel=1e-5)


def test_focal_loss_matches_its_definition():
    logits = torch.tensor([-2.0, 0.0, 3.0, 1.0])
    labels = torch.tensor([0.0, 1.0, 1.0, 0.0])
    p = torch.sigmoid(logits)
    expected = torch.where(labels > 0, -0.25 * (1 - p) ** 2 * torch.log(p), -0.75 * p ** 2 * torch.log(1 - p))
    torch.testing.assert_close(sigmoid_focal_loss(logits, labels, 0.25, 2.0), expected)


def test_matching_loss_is_normalised_by_positives_plus_batch(small_config):
    out = dense_output(batch=2, match_logit=0.0)
    truth, durations = torch.tensor([[0.0, 32.0], [0.0, 32.0]]), torch.tensor([32.0, 32.0])
    losses = drn_losses(out, truth, durations, small_config(num_clips=T), stage=1)
    # (0, 32) contains every location; each level's range admits max(l*, r*) in its own band.
    points = torch.cat(location_points(T, (1, 2, 4)))
    reach = torch.maximum(points, T - points)
    bounds = torch.tensor([[-1, 6]] * 32 + [[5.6, 11]] * 16 + [[11, math.inf]] * 8)
    num_positive = 2 * int(((reach >= bounds[:, 0]) & (reach <= bounds[:, 1])).sum())
    assert num_positive > 0
    per_location_pos = 0.25 * 0.5 ** 2 * math.log(2)
    per_location_neg = 0.75 * 0.5 ** 2 * math.log(2)
    total = num_positive * per_location_pos + (2 * 56 - num_positive) * per_location_neg
    assert losses["match"].item() == pytest.approx(total / (num_positive + 2), rel=1e-5)


def test_losses_are_finite_without_positives(small_config, make_batch):
    cfg = small_config()
    model = DRN(cfg)
    features, words, lengths = make_batch(cfg, 3)
    # (0.6, 1.4) clips contains no location centre (0.5, 1.5, ...): no positive anywhere.
    truth = torch.tensor([[0.6, 1.4]] * 3) * 2.0
    durations = torch.full((3,), 64.0)
    for stage in (1, 2, 3):
        model.set_stage(stage).zero_grad()
        losses = drn_losses(model(features, words, lengths), truth, durations, cfg, stage)
        assert set(losses) == {"match", "regression", "iou", "total"}
        assert all(torch.isfinite(v) and v.dtype == torch.float32 for v in losses.values())
        assert losses["regression"].item() == 0.0 and losses["iou"].item() == 0.0
        losses["total"].backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_stage_totals(small_config, make_batch):
    cfg = small_config()
    model = DRN(cfg)
    features, words, lengths = make_batch(cfg, 4)
    truth, durations = torch.tensor([[2.0, 20.0], [0.0, 8.0], [10.0, 30.0], [5.0, 6.0]]), torch.full((4,), 30.0)
    for stage, names in ((1, ("match", "regression")), (2, ("iou",)), (3, ("match", "regression", "iou"))):
        model.set_stage(stage)
        losses = drn_losses(model(features, words, lengths), truth, durations, cfg, stage)
        assert losses["total"].item() == pytest.approx(sum(losses[n].item() for n in names), rel=1e-6)
        assert losses["total"].requires_grad
        assert all(not losses[n].requires_grad for n in {"match", "regression", "iou"} - set(names))
    assert losses["regression"].item() > 0
    with pytest.raises(ValueError, match="segments must be"):
        drn_losses(model(features, words, lengths), truth[:2], durations, cfg, 1)


def test_video_ranking_loss_is_a_softmax_over_the_videos_locations():
    logits = torch.tensor([[1.0, 2.0, 3.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    positive = torch.tensor([[False, True, True, False], [False, False, False, False]])
    loss = video_ranking_loss(logits, positive)
    # Only the first query has a positive: -log((e^2 + e^3) / (e^1 + e^2 + e^3 + e^0.5)).
    expected = -math.log((math.e ** 2 + math.e ** 3) / (math.e + math.e ** 2 + math.e ** 3 + math.e ** 0.5))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    logits.requires_grad_(True)
    video_ranking_loss(logits, positive).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[1].abs().sum() == 0  # no positive: no gradient
    assert video_ranking_loss(logits, torch.zeros_like(positive)).item() == 0.0


def test_rank_loss_weight_adds_the_ranking_loss_to_matching(small_config, make_batch):
    torch.manual_seed(0)
    model = DRN(small_config())
    features, words, lengths = make_batch(model.config, 3)
    truth, durations = torch.tensor([[2.0, 20.0], [0.0, 8.0], [10.0, 30.0]]), torch.full((3,), 30.0)
    output = model(features, words, lengths)
    plain = drn_losses(output, truth, durations, small_config(), 1)
    ranked = drn_losses(output, truth, durations, small_config(rank_loss_weight=0.5), 1)
    logits = torch.cat(output.match_logits, dim=1)
    points = torch.cat(output.points)
    clips = truth / durations[:, None] * 32
    ranges = small_config().scaled_regression_ranges()
    level = torch.cat([torch.full((p.numel(),), i) for i, p in enumerate(output.points)])
    far = torch.maximum(points[None] - clips[:, :1], clips[:, 1:] - points[None])
    low, high = torch.tensor([r[0] for r in ranges])[level], torch.tensor([r[1] for r in ranges])[level]
    positive = (points[None] > clips[:, :1]) & (points[None] < clips[:, 1:]) & (far >= low) & (far <= high)
    extra = 0.5 * video_ranking_loss(logits, positive)
    assert ranked["match"].item() == pytest.approx(plain["match"].item() + extra.item(), rel=1e-5)
    assert extra.item() > 0


def test_saliency_ranking_loss_orders_every_pair_by_the_targets():
    logits = torch.tensor([[0.0, 2.0, 0.5], [5.0, 0.0, 0.0]])
    targets = torch.tensor([[0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    mask = torch.tensor([True, False])  # the second query has no annotations
    loss = saliency_ranking_loss(logits, targets, mask)
    # Pairs (i above j, weight t_i - t_j). Across the moment's edge (j outside): (1, 0) w 1, logit
    # gap 2 -> hinge 0; (2, 0) w 0.5, gap 0.5 -> hinge 0.5. Inside it: (1, 2) w 0.5, gap 1.5 -> 0.
    assert loss.item() == pytest.approx(0.5 * 0.5 / 1.5 + 0.0)
    inside_wrong = saliency_ranking_loss(torch.tensor([[0.0, 0.5, 2.0]]), targets[:1], mask[:1])
    # Across: (1, 0) gap 0.5 -> hinge 0.5, (2, 0) gap 2 -> 0. Inside: (1, 2) gap -1.5 -> hinge 2.5 with
    # weight 0.5: alone in its part, it counts in full.
    assert inside_wrong.item() == pytest.approx((1 * 0.5 + 0.5 * 0.0) / 1.5 + 2.5)
    assert saliency_ranking_loss(logits, targets, torch.tensor([False, False])).item() == 0.0


def test_a_saliency_head_trains_in_stages_one_and_three(small_config, make_batch):
    cfg = small_config(saliency_head=True)
    torch.manual_seed(0)
    model = DRN(cfg)
    features, words, lengths = make_batch(cfg, 2)
    truth, durations = torch.tensor([[2.0, 20.0], [0.0, 8.0]]), torch.full((2,), 30.0)
    targets = torch.rand(2, cfg.num_clips)
    mask = torch.tensor([True, False])
    for stage in (1, 2, 3):
        model.set_stage(stage)
        losses = drn_losses(model(features, words, lengths), truth, durations, cfg, stage, saliency=targets,
                            saliency_mask=mask)
        assert losses["saliency"].item() > 0
        counted = sum(losses[n].item() for n in losses if n != "total" and losses[n].requires_grad)
        assert losses["total"].item() == pytest.approx(counted, rel=1e-6)
        assert losses["saliency"].requires_grad == (stage != 2)
    assert "saliency_head" in [g["name"] for g in model.parameter_groups(1)]
    no_head = DRN(small_config())
    assert "saliency" not in drn_losses(no_head(features, words, lengths), truth, durations, small_config(), 1,
                                        saliency=targets, saliency_mask=mask)
