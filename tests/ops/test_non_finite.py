"""NaN and +-Inf inputs in every op: the compiled kernels against the references, and the rules of
the contract (README "Non-finite input"): a segment with a NaN or infinite coordinate has IoU 0
with every segment, so NMS never suppresses it nor by it; regression_targets follows IEEE
comparisons; iou_loss gives NaN (loss and gradients) for a pair with a non-finite distance."""

from __future__ import annotations

import pytest
import torch

import drn.ops as ops

from .ops_testing import FLOATS, SEEDS, random_distances, random_segments, requires_ext, torchvision_nms

NAN, INF = float("nan"), float("inf")
# Segments no finite arithmetic makes: NaN anywhere, infinite ends, both ends infinite.
NON_FINITE = [(NAN, 1.0), (0.0, NAN), (NAN, NAN), (-INF, 2.0), (1.0, INF), (-INF, INF), (INF, INF), (-INF, -INF)]


def _poison(segments: torch.Tensor, gen: torch.Generator, every: int = 5) -> torch.Tensor:
    """segments with about one row in `every` replaced by a NON_FINITE segment."""
    out = segments.clone()
    rows = (torch.rand(len(out), generator=gen) < 1 / every).nonzero()[:, 0]
    picks = torch.randint(0, len(NON_FINITE), (len(rows),), generator=gen)
    out[rows] = torch.tensor([NON_FINITE[int(k)] for k in picks], dtype=out.dtype).reshape(-1, 2)
    return out


def _non_finite_rows(segments: torch.Tensor) -> torch.Tensor:
    return ~torch.isfinite(segments[:, 1] - segments[:, 0])


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
def test_segment_iou_non_finite_is_zero(dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    a = _poison(random_segments(40, gen, dtype), gen)
    b = _poison(random_segments(30, gen, dtype), gen)
    got = ops.segment_iou(a, b)
    torch.testing.assert_close(got, ops.segment_iou_reference(a, b), rtol=0, atol=0)
    assert not got.isnan().any()
    assert (got[_non_finite_rows(a)] == 0).all() and (got[:, _non_finite_rows(b)] == 0).all()
    b40 = b.repeat(2, 1)[:40]
    aligned = ops.segment_iou(a, b40, aligned=True)
    torch.testing.assert_close(aligned, ops.segment_iou_reference(a, b40, aligned=True), rtol=0, atol=0)
    # A segment meets nothing, itself included.
    self_iou = ops.segment_iou(a, a, aligned=True)
    assert (self_iou[_non_finite_rows(a)] == 0).all()


@requires_ext
def test_segment_iou_length_overflow_is_zero():
    """float32 (-3e38, 3e38) has a finite start and end but an infinite length: IoU 0 too."""
    a = torch.tensor([[-3e38, 3e38], [0.0, 1.0], [-3e38, 0.0]])
    got = ops.segment_iou(a, a)
    torch.testing.assert_close(got, ops.segment_iou_reference(a, a), rtol=0, atol=0)
    assert got[0].tolist() == [0.0, 0.0, 0.0] and got[1, 1] == 1.0


@requires_ext
@pytest.mark.parametrize("impl", [ops.segment_iou, ops.segment_iou_reference])
def test_segment_iou_reversed_check_with_non_finite(impl):
    """start > end is checked as written: NaN never compares greater, while (inf, 5) is reversed."""
    impl(torch.tensor([[NAN, 5.0], [5.0, NAN], [-INF, INF]]), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"a must have start <= end, but segment 1 is \(inf, 5"):
        impl(torch.tensor([[0.0, 1.0], [INF, 5.0]]), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"b must have start <= end, but segment 0 is \(2(\.0)?, -inf\)"):
        impl(torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, -INF]]))


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
def test_regression_targets_non_finite_matches_reference(dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    B, G, T = 6, 4, 30
    points = torch.linspace(-5, 35, T, dtype=dtype)
    points[::7] = torch.tensor([NAN, INF, -INF, NAN, INF], dtype=dtype)[: len(points[::7])]
    segments = _poison(random_segments(B * G, gen, dtype, span=30) + 15, gen, every=3).reshape(B, G, 2)
    segments[0, 0] = torch.tensor([NAN, 10.0])  # never positive
    segments[0, 1] = torch.tensor([-INF, INF])  # ties with segment 3 in length (inf): 1 wins
    segments[0, 2] = torch.tensor([0.0, NAN])
    segments[0, 3] = torch.tensor([-INF, INF])
    ranges = torch.tensor([[-1.0, 6.0]] * 10 + [[5.0, INF]] * 10 + [[NAN, INF]] * 5 + [[0.0, NAN]] * 5, dtype=dtype)
    counts = torch.tensor([4, 3, 4, 2, 4, 1])
    for args in ((points, segments), (points, segments, ranges), (points, segments, ranges, counts),
                 (points, segments[:, 0])):
        got, want = ops.regression_targets(*args), ops.regression_targets_reference(*args)
        torch.testing.assert_close(got[0], want[0], rtol=0, atol=0, equal_nan=True)
        assert torch.equal(got[1], want[1]) and torch.equal(got[2], want[2])
    positive, assigned = ops.regression_targets(points, segments)[1:]
    finite_points = torch.isfinite(points)
    assert positive[0, finite_points].all() and (assigned[0, finite_points] == 1).all()  # first of the tie
    assert not positive[:, points.isnan()].any()


def _loss_inputs(dtype, gen, n=64):
    pred, target = random_distances((n,), gen, dtype)
    bad = torch.zeros(n, dtype=torch.bool)
    for k, (which, col, value) in enumerate(
        [(pred, 0, NAN), (pred, 1, INF), (target, 0, NAN), (target, 1, INF), (pred, 0, -INF), (target, 0, -INF)]
    ):
        which[5 + 9 * k, col] = value
        bad[5 + 9 * k] = True
    pred[60] = torch.tensor([INF, INF], dtype=dtype)
    target[60] = torch.tensor([INF, INF], dtype=dtype)
    bad[60] = True
    return pred, target, bad


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("loss_type", ["iou", "linear_iou", "giou"])
def test_iou_loss_non_finite_is_nan(dtype, loss_type):
    gen = torch.Generator().manual_seed(3)
    pred, target, bad = _loss_inputs(dtype, gen)
    weight = torch.rand(len(pred), generator=gen, dtype=torch.float64).to(dtype)
    weight[5] = 0.0  # a zero weight does not hide a NaN
    for w in (None, weight):
        each = ops.iou_loss(pred, target, w, loss_type, "none")
        torch.testing.assert_close(each, ops.iou_loss_reference(pred, target, w, loss_type, "none"), equal_nan=True)
        assert each[bad].isnan().all() and torch.isfinite(each[~bad]).all()
        for reduction in ("sum", "mean"):
            assert ops.iou_loss(pred, target, w, loss_type, reduction).isnan()
    nan_weight = weight.clone()
    nan_weight[0] = NAN
    each = ops.iou_loss(pred[~bad], target[~bad], nan_weight[~bad], loss_type, "none")
    assert each.isnan().tolist() == [True] + [False] * (len(each) - 1)


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("loss_type", ["iou", "linear_iou", "giou"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_iou_loss_non_finite_gradients_match_reference(dtype, loss_type, reduction):
    gen = torch.Generator().manual_seed(4)
    pred, target, bad = _loss_inputs(dtype, gen)
    weight = torch.rand(len(pred), generator=gen, dtype=torch.float64).to(dtype)

    def grads(fn):
        p, t = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
        out = fn(p, t, weight, loss_type, reduction)
        out.backward(torch.ones_like(out))
        return p.grad, t.grad

    got, want = grads(ops.iou_loss), grads(ops.iou_loss_reference)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, equal_nan=True)
        assert g[bad].isnan().all() and torch.isfinite(g[~bad]).all()


def _nms_case(n, groups_count, dtype, seed, every=6):
    gen = torch.Generator().manual_seed(seed)
    segments = _poison(random_segments(n, gen, torch.float64, span=60), gen, every).to(dtype)
    scores = (torch.randperm(n, generator=gen).to(torch.float64) / n).to(dtype)
    groups = torch.randint(0, groups_count, (n,), generator=gen)
    return segments, scores, groups


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("size", ["small groups", "groups > 256"])
def test_nms_non_finite_overlaps_nothing(dtype, size):
    """The issue's case: NaN/Inf coordinates in groups larger than 256 (the sweep) and smaller."""
    segments, scores, groups = _nms_case(700 if size == "groups > 256" else 300, 2 if size == "groups > 256" else 6,
                                         dtype, seed=11)
    odd = _non_finite_rows(segments)
    for thr in (0.0, 0.3, 0.7):
        keep = ops.batched_temporal_nms(segments, scores, groups, thr)
        assert keep.tolist() == torchvision_nms(segments, scores, groups, thr), thr
        assert set(odd.nonzero()[:, 0].tolist()) <= set(keep.tolist())  # never suppressed
        kept = segments[keep]
        iou = ops.segment_iou(kept, kept) * (groups[keep][:, None] == groups[keep][None, :])
        assert (iou.triu(1) <= thr).all()  # no two kept segments of a group overlap above thr
        if thr == 0.3:  # the reference is a slow Python loop: once
            want = ops.batched_temporal_nms_reference(segments, scores, groups, thr)
            assert keep.tolist() == want.tolist()


@requires_ext
@pytest.mark.parametrize("limit", [1, 5, 40])
def test_nms_non_finite_counts_toward_max_per_group(limit):
    segments, scores, groups = _nms_case(600, 1, torch.float64, seed=12, every=3)
    scores[_non_finite_rows(segments)] = INF  # they come first in score order (ties by index)
    for thr in (0.0, 0.5):
        want = ops.batched_temporal_nms_reference(segments, scores, groups, thr, limit)
        assert ops.batched_temporal_nms(segments, scores, groups, thr, limit).tolist() == want.tolist()
    assert ops.temporal_nms(segments, scores, 0.5, limit).tolist() == want.tolist()


@pytest.mark.parametrize("impl", [ops.batched_temporal_nms, ops.batched_temporal_nms_reference])
def test_nms_nan_scores_are_an_error(impl):
    segments = torch.tensor([[0.0, 1.0]] * 300)
    scores = torch.rand(300)
    scores[257] = NAN
    with pytest.raises(ValueError, match=r"scores must not be NaN, but scores\[257\] is NaN"):
        impl(segments, scores, torch.zeros(300, dtype=torch.long), 0.5)
