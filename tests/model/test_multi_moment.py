"""Several ground-truth moments per query in the losses, and text features as the query input."""

import pytest
import torch

from drn.model.drn import DRN
from drn.model.locations import location_points, location_ranges
from drn.model.losses import best_window_iou, drn_losses, sigmoid_focal_loss
from drn.model.postprocess import postprocess
from drn.model.saliency import clip_saliency
from drn.ops import regression_targets, segment_iou
from tests.model.test_losses import T, dense_output


def _losses(out, segments, cfg, stage=3, num_segments=None):
    return drn_losses(out, segments, torch.tensor([64.0] * segments.shape[0]), cfg, stage, num_segments=num_segments)


def test_one_window_in_g_form_equals_the_single_segment_losses(small_config):
    cfg = small_config(num_clips=T, iou_loss_threshold=0.0)
    out = dense_output(batch=2, distance=3.0, match_logit=0.3)
    single = torch.tensor([[6.0, 18.0], [30.0, 50.0]])
    a = _losses(out, single, cfg)
    b = _losses(out, single[:, None, :], cfg)
    # Padding rows beyond num_segments change nothing.
    padded = torch.cat([single[:, None, :], torch.tensor([[[0.0, 64.0]], [[1.0, 2.0]]])], dim=1)
    c = _losses(out, padded, cfg, num_segments=torch.tensor([1, 1]))
    for name in ("match", "regression", "iou", "total"):
        assert a[name].item() == pytest.approx(b[name].item(), rel=1e-6)
        assert a[name].item() == pytest.approx(c[name].item(), rel=1e-6)


def test_two_windows_make_the_union_of_positives_and_the_shortest_wins(small_config):
    cfg = small_config(num_clips=T)
    out = dense_output(batch=1, match_logit=-1.0)
    # Seconds with duration 64 -> clip units / 2: (3, 9) and (20, 30) do not overlap; (4, 6) lies inside (3, 9).
    windows = torch.tensor([[[6.0, 18.0], [40.0, 60.0], [8.0, 12.0]]])
    losses = _losses(out, windows, cfg, stage=1)
    points = torch.cat(location_points(T, (1, 2, 4)))
    ranges = location_ranges(cfg.scaled_regression_ranges(), tuple(p.numel() for p in location_points(T, (1, 2, 4))))
    each = [regression_targets(points, windows[:, g] / 2, ranges)[1] for g in range(3)]
    union = each[0] | each[1] | each[2]
    assert each[1].any() and (each[0] & ~each[2]).any()
    logits = torch.cat(out.match_logits, dim=1)
    expected_match = sigmoid_focal_loss(logits, union.float(), cfg.focal_alpha, cfg.focal_gamma).sum() / (union.sum() + 1)
    assert losses["match"].item() == pytest.approx(expected_match.item(), rel=1e-6)
    # A location inside both (3, 9) and (4, 6) regresses to the shorter one.
    _, _, assigned = regression_targets(points, windows / 2, ranges)
    both = each[0] & each[2]
    assert both.any() and (assigned[both] == 2).all()


def test_iou_head_learns_the_best_matching_window(small_config):
    cfg = small_config(num_clips=T, iou_loss_threshold=0.9)
    out = dense_output(batch=1)
    out.distances[0][0, 25] = torch.tensor([5.5, 4.5])  # t = 25.5 -> (20, 30): the second window exactly
    windows = torch.tensor([[[6.0, 18.0], [40.0, 60.0]]])  # (3, 9) and (20, 30) in clips
    losses = _losses(out, windows, cfg, stage=2)
    # sigmoid(0) = 0.5 against IoU 1 (only that location passes 0.9): 0.5 * 0.5^2.
    assert losses["iou"].item() == pytest.approx(0.125, rel=1e-5)
    assert _losses(out, windows[:, :1], cfg, stage=2)["iou"].item() == 0.0


def test_best_window_iou_ignores_padding():
    segments = torch.tensor([[[0.0, 2.0], [5.0, 7.0]]])
    windows = torch.tensor([[[0.0, 2.0], [5.0, 7.0]]])
    assert best_window_iou(segments, windows, torch.tensor([2])).tolist() == [[1.0, 1.0]]
    assert best_window_iou(segments, windows, torch.tensor([1])).tolist() == [[1.0, 0.0]]


def test_bad_segment_shapes_are_named(small_config):
    out = dense_output(batch=2)
    with pytest.raises(ValueError, match="segments must be"):
        _losses(out, torch.zeros(3, 2), small_config(num_clips=T))
    with pytest.raises(ValueError, match="num_segments must be"):
        _losses(out, torch.zeros(2, 2, 2), small_config(num_clips=T), num_segments=torch.tensor([1]))


def test_text_features_replace_the_word_embeddings(small_config):
    cfg = small_config(text_feature_dim=12)
    model = DRN(cfg).eval()
    assert model.query_encoder.embedding is None
    assert model.query_encoder.lstm.input_size == 12
    features = torch.randn(2, cfg.num_clips, cfg.feature_dim)
    tokens = torch.randn(2, 5, 12)
    lengths = torch.tensor([5, 3])
    out = model(features, tokens, lengths)
    assert out.match_logits[0].shape == (2, cfg.num_clips)
    # Padded tokens beyond a query's length do not change its output.
    noisy = tokens.clone()
    noisy[1, 3:] = 100.0
    torch.testing.assert_close(model(features, noisy, lengths).match_logits[0], out.match_logits[0])
    with pytest.raises(ValueError, match=r"float text features \[B, L, 12\]"):
        model(features, torch.ones(2, 5, dtype=torch.int64), lengths)
    with pytest.raises(ValueError, match="text_feature_dim must be an integer >= 0"):
        small_config(text_feature_dim=-1)


@pytest.mark.slow
def test_overfits_queries_with_two_moments_and_their_saliency(small_config, make_batch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on a shared CPU
    try:
        cfg = small_config()
        torch.manual_seed(0)
        model = DRN(cfg)
        features, words, lengths = make_batch(cfg, 4, seed=2)
        durations = torch.tensor([30.0, 40.0, 24.0, 60.0])
        fractions = torch.tensor([[[0.05, 0.25], [0.6, 0.85]], [[0.1, 0.3], [0.5, 0.7]],
                                  [[0.0, 0.3], [0.7, 1.0]], [[0.35, 0.55], [0.35, 0.55]]])
        windows = fractions * durations[:, None, None]
        num_windows = torch.tensor([2, 2, 2, 1])
        optimizer = torch.optim.Adam(model.parameter_groups(1), lr=3e-3)
        model.set_stage(1).train()
        for _ in range(200):
            losses = drn_losses(model(features, words, lengths), windows, durations, cfg, 1, num_segments=num_windows)
            optimizer.zero_grad()
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            output = model(features, words, lengths)
            ranked = postprocess(output, durations, cfg, use_iou=False)
            saliency = clip_saliency(output)
    finally:
        torch.set_num_threads(threads)
    centres = (torch.arange(cfg.num_clips) + 0.5) / cfg.num_clips
    for b in range(4):
        # Every moment is found among the top 5 ...
        top = torch.tensor([[s, e] for s, e, _ in ranked[b][:5]])
        found = segment_iou(top, windows[b, :num_windows[b]]).amax(dim=0)
        assert (found >= 0.5).all(), (b, found, ranked[b][:5])
        # ... and the clips inside the moments are more salient than those outside.
        inside = torch.zeros(cfg.num_clips, dtype=torch.bool)
        for start, end in (windows[b, :num_windows[b]] / durations[b]).tolist():
            inside |= (centres > start) & (centres < end)
        assert saliency[b, inside].mean() > 2 * saliency[b, ~inside].mean(), (b, saliency[b])
