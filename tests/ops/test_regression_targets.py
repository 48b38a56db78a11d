"""regression_targets: the reference against hand-computed targets, the kernel against the reference."""

from __future__ import annotations

import math

import pytest
import torch

from drn.ops import regression_targets, regression_targets_reference

from .ops_testing import FLOATS, LAYOUTS, LOW_PRECISION, SEEDS, layout, random_segments, requires_ext


def _direct(points, segments, ranges=None, num_segments=None):
    return torch.ops.drn.regression_targets(points, segments, ranges, num_segments)


IMPLS = [
    pytest.param(regression_targets_reference, id="reference"),
    pytest.param(regression_targets, id="public"),
    pytest.param(_direct, id="direct", marks=requires_ext),
]
INF = math.inf

# One segment (1, 4) per query, DRN's case: (point, (lo, hi) range or None, l*, r*, positive).
ONE_SEGMENT = [
    (0.5, None, -0.5, 3.5, False),  # before the segment: targets still (p - start, end - p)
    (1.0, None, 0.0, 3.0, False),  # on the start: negative
    (2.0, None, 1.0, 2.0, True),
    (3.0, None, 2.0, 1.0, True),
    (4.0, None, 3.0, 0.0, False),  # on the end: negative
    (5.5, None, 4.5, -1.5, False),
    (2.0, (2.0, 2.0), 1.0, 2.0, True),  # max(l, r) = 2 on both range ends: inclusive
    (2.0, (0.0, 1.5), 1.0, 2.0, False),  # reach 2 above the range
    (2.0, (2.5, INF), 1.0, 2.0, False),  # reach 2 below the range
    (2.5, (1.5, 1.5), 1.5, 1.5, True),  # l == r == lo == hi
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_one_segment_table(impl, dtype):
    points = torch.tensor([row[0] for row in ONE_SEGMENT], dtype=dtype)
    ranges = torch.tensor([row[1] or (-INF, INF) for row in ONE_SEGMENT], dtype=dtype)
    segments = torch.tensor([[1.0, 4.0], [1.0, 4.0]], dtype=dtype)  # B = 2 identical queries, [B, 2]
    targets, positive, assigned = impl(points, segments, ranges)
    expected_targets = torch.tensor([[row[2], row[3]] for row in ONE_SEGMENT], dtype=dtype).expand(2, -1, -1)
    expected_positive = torch.tensor([row[4] for row in ONE_SEGMENT]).expand(2, -1)
    assert targets.shape == (2, len(ONE_SEGMENT), 2) and targets.dtype == dtype
    assert positive.dtype == torch.bool and assigned.dtype == torch.int64
    torch.testing.assert_close(targets, expected_targets, rtol=0, atol=0)
    assert torch.equal(positive, expected_positive)
    assert torch.equal(assigned, torch.where(expected_positive, 0, -1))


# Several segments per query: (0, 10), (2, 6), (3, 7), (9, 9.5); (2, 6) and (3, 7) tie in length.
SEGMENTS = [[0.0, 10.0], [2.0, 6.0], [3.0, 7.0], [9.0, 9.5]]
POINTS = [1.0, 4.0, 5.0, 6.5, 9.25, 2.0, 10.0]  # 2.0 is on (2, 6)'s start, 10.0 on (0, 10)'s end


def _several_case(num_segments, ranges):
    segments = torch.tensor([SEGMENTS], dtype=torch.float64)
    points = torch.tensor(POINTS, dtype=torch.float64)
    rng = None if ranges is None else torch.tensor([ranges] * len(POINTS), dtype=torch.float64)
    return points, segments, rng, torch.tensor([num_segments])


SEVERAL_TABLE = [
    # num_segments, ranges, assigned, targets (hand-computed)
    (4, None, [0, 1, 1, 2, 3, 0, -1],
     [(1, 9), (2, 2), (3, 1), (3.5, 0.5), (0.25, 0.25), (2, 8), (10, 0)]),
    (3, None, [0, 1, 1, 2, 0, 0, -1],
     [(1, 9), (2, 2), (3, 1), (3.5, 0.5), (9.25, 0.75), (2, 8), (10, 0)]),
    (2, None, [0, 1, 1, 0, 0, 0, -1],
     [(1, 9), (2, 2), (3, 1), (6.5, 3.5), (9.25, 0.75), (2, 8), (10, 0)]),
    (0, None, [-1] * 7,
     [(1, 9), (4, 6), (5, 5), (6.5, 3.5), (9.25, 0.75), (2, 8), (10, 0)]),
    # reach in [3, 10]: at 4, (2, 6) reaches 2 (out), (3, 7) reaches 3 (in, inclusive), (0, 10) 6;
    # at 5, (2, 6) reaches 3 (in) and (3, 7) 2 (out); at 9.25, (9, 9.5) reaches 0.25 (out).
    (4, (3.0, 10.0), [0, 2, 1, 2, 0, 0, -1],
     [(1, 9), (1, 3), (3, 1), (3.5, 0.5), (9.25, 0.75), (2, 8), (10, 0)]),
    # reach in [0, 2]: at 4, (2, 6) reaches exactly 2 (in); at 5, (2, 6) reaches 3 and (3, 7) 2.
    (4, (0.0, 2.0), [-1, 1, 2, -1, 3, -1, -1],
     [(1, 9), (2, 2), (2, 2), (6.5, 3.5), (0.25, 0.25), (2, 8), (10, 0)]),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("num_segments, ranges, assigned, targets", SEVERAL_TABLE)
def test_several_segments_table(impl, num_segments, ranges, assigned, targets):
    points, segments, rng, count = _several_case(num_segments, ranges)
    out_targets, out_positive, out_assigned = impl(points, segments, rng, count)
    assert torch.equal(out_assigned, torch.tensor([assigned]))
    assert torch.equal(out_positive, torch.tensor([assigned]) >= 0)
    torch.testing.assert_close(out_targets, torch.tensor([targets], dtype=torch.float64), rtol=0, atol=0)


@pytest.mark.parametrize("impl", IMPLS)
def test_batch_with_padding_and_different_counts(impl):
    # Query 0: two valid segments, padding (5, 1) has start > end and must be ignored, not rejected.
    # Query 1: one valid segment (3.0 is inside, 5.0 on its end); query 2: none.
    segments = torch.tensor(
        [
            [[0.0, 8.0], [2.0, 4.0], [5.0, 1.0]],
            [[1.0, 5.0], [0.0, 1.0], [0.0, 0.0]],
            [[4.0, 6.0], [-1.0, -2.0], [9.0, 3.0]],
        ]
    )
    points = torch.tensor([0.5, 3.0, 5.0])
    targets, positive, assigned = impl(points, segments, None, torch.tensor([2, 1, 0]))
    assert torch.equal(assigned, torch.tensor([[0, 1, 0], [-1, 0, -1], [-1, -1, -1]]))
    assert torch.equal(positive, assigned >= 0)
    expected = torch.tensor(
        [
            [[0.5, 7.5], [1.0, 1.0], [5.0, 3.0]],
            [[-0.5, 4.5], [2.0, 2.0], [4.0, 0.0]],
            [[-3.5, 5.5], [-1.0, 3.0], [1.0, 1.0]],  # negatives: segment 0's targets, even if invalid
        ]
    )
    torch.testing.assert_close(targets, expected, rtol=0, atol=0)


def _random_case(seed, dtype, with_ranges, with_counts, B=5, G=4, T=37):
    gen = torch.Generator().manual_seed(seed)
    segments = random_segments(B * G, gen, dtype, span=20).reshape(B, G, 2)
    if G > 1:
        segments[:, 1] = segments[:, 0]  # identical segments: a tie in length
    points = ((torch.rand(T, generator=gen, dtype=torch.float64) - 0.5) * 24).to(dtype)
    ends = segments[:2].reshape(-1)[:8]
    points[: ends.numel()] = ends  # points exactly on segment boundaries
    points[8:12] = points[8:12].round()  # and on the integer grid of some segments
    ranges = None
    if with_ranges:
        lo = torch.rand(T, generator=gen, dtype=torch.float64) * 4
        ranges = torch.stack([lo, lo + torch.rand(T, generator=gen, dtype=torch.float64) * 8], 1).to(dtype)
        ranges[::5, 1] = math.inf
    counts = torch.randint(0, G + 1, (B,), generator=gen) if with_counts else None
    return points, segments, ranges, counts


@requires_ext
@pytest.mark.parametrize("call", ["public", "direct"])
@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("with_ranges, with_counts", [(False, False), (True, True)], ids=["plain", "ranges+counts"])
def test_kernel_matches_reference(call, how, dtype, seed, with_ranges, with_counts):
    points, segments, ranges, counts = _random_case(seed, dtype, with_ranges, with_counts)
    expected = regression_targets_reference(points, segments, ranges, counts)
    args = (
        layout(points, "contiguous" if how == "contiguous" else "strided"),  # 1-D: no transpose
        layout(segments, how),
        None if ranges is None else layout(ranges, how),
        counts,
    )
    fn = regression_targets if call == "public" else _direct
    targets, positive, assigned = fn(*args)
    assert targets.dtype == dtype
    torch.testing.assert_close(targets, expected[0], rtol=0, atol=0)
    assert torch.equal(positive, expected[1])
    assert torch.equal(assigned, expected[2])
    assert bool(positive.any()) and not bool(positive.all())  # the case exercises both


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_one_segment_form(dtype):
    points, segments, ranges, _ = _random_case(4, dtype, True, False, G=1)
    expected = regression_targets_reference(points, segments, ranges)
    for out in (regression_targets(points, segments[:, 0], ranges), _direct(points, segments[:, 0], ranges)):
        assert out[0].shape == (5, 37, 2)
        for got, want in zip(out, expected):
            torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("call", ["public", pytest.param("direct", marks=requires_ext)])
@pytest.mark.parametrize(
    "B, G, T",
    [(0, 1, 5), (3, 2, 0), (0, 1, 0), (0, 0, 4)],
    ids=["B=0", "T=0", "B=T=0", "B=G=0"],
)
def test_empty(call, B, G, T):
    points = torch.linspace(0, 1, T)
    segments = torch.tensor([0.2, 0.8]).repeat(B, G, 1)
    ranges = torch.tensor([[0.0, 1.0]]).repeat(T, 1)
    counts = torch.full((B,), G, dtype=torch.long)
    fn = regression_targets if call == "public" else _direct
    targets, positive, assigned = fn(points, segments, ranges, counts)
    assert targets.shape == (B, T, 2) and targets.dtype == torch.float32
    assert positive.shape == (B, T) and positive.dtype == torch.bool
    assert assigned.shape == (B, T) and assigned.dtype == torch.int64


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_low_precision_computed_in_fp32(dtype):
    points, segments, ranges, counts = _random_case(5, dtype, True, True)
    targets, positive, assigned = regression_targets(points, segments, ranges, counts)
    assert targets.dtype == dtype
    expected = regression_targets_reference(points.float(), segments.float(), ranges.float(), counts)
    torch.testing.assert_close(targets, expected[0].to(dtype), rtol=0, atol=0)
    assert torch.equal(positive, expected[1]) and torch.equal(assigned, expected[2])


def test_int32_num_segments_accepted_by_wrapper():
    points, segments, _, counts = _random_case(6, torch.float32, False, True)
    a = regression_targets(points, segments, None, counts.int())
    b = regression_targets_reference(points, segments, None, counts)
    for got, want in zip(a, b):
        assert torch.equal(got, want)
