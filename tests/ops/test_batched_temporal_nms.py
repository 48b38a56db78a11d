"""batched_temporal_nms / temporal_nms: hand cases (threshold boundaries, score ties, groups,
max_per_group), the kernel against the reference and torchvision, and the large-group path."""

from __future__ import annotations

import pytest
import torch

from drn.ops import batched_temporal_nms, batched_temporal_nms_reference, temporal_nms

from .ops_testing import (
    FLOATS,
    LAYOUTS,
    LOW_PRECISION,
    SEEDS,
    SWEEP_KINDS,
    SWEEP_SETTINGS,
    boxes,
    layout,
    random_segments,
    requires_ext,
    sweep_case,
    torchvision_nms,
)


def _direct(segments, scores, groups, iou_threshold, max_per_group=-1):
    return torch.ops.drn.batched_temporal_nms(segments, scores, groups, iou_threshold, max_per_group)


IMPLS = [
    pytest.param(batched_temporal_nms_reference, id="reference"),
    pytest.param(batched_temporal_nms, id="public"),
    pytest.param(_direct, id="direct", marks=requires_ext),
]

# (segments, scores, groups, iou_threshold, max_per_group, keep): hand-computed.
HAND = {
    "iou 0.5 at threshold 0.5 is kept": ([(0, 3), (1, 4)], [0.9, 0.8], [0, 0], 0.5, -1, [0, 1]),
    "iou 0.5 above threshold 0.49": ([(0, 3), (1, 4)], [0.9, 0.8], [0, 0], 0.49, -1, [0]),
    "iou 0.25 at threshold 0.25 is kept": ([(0, 4), (0, 1)], [0.8, 0.9], [0, 0], 0.25, -1, [1, 0]),
    "lower score suppressed, order by score": ([(0, 4), (1, 4)], [0.2, 0.9], [0, 0], 0.5, -1, [1]),
    "touching at threshold 0": ([(0, 2), (2, 5)], [0.9, 0.8], [0, 0], 0.0, -1, [0, 1]),
    "any overlap at threshold 0": ([(0, 2), (1.999, 5)], [0.9, 0.8], [0, 0], 0.0, -1, [0]),
    "identical at threshold 1": ([(0, 2), (0, 2)], [0.9, 0.8], [0, 0], 1.0, -1, [0, 1]),
    "zero-length never suppressed": ([(1, 1), (1, 1), (0, 2)], [0.9, 0.8, 0.7], [0, 0, 0], 0.0, -1, [0, 1, 2]),
    "tied scores: lowest index first and suppresses": (
        [(0, 1), (0, 1), (0, 1)], [1.0, 1.0, 1.0], [0, 0, 0], 0.5, -1, [0],
    ),
    "tied scores, disjoint: index order": ([(4, 5), (0, 1), (2, 3)], [1.0, 1.0, 1.0], [0, 0, 0], 0.5, -1, [0, 1, 2]),
    "tie broken by index across groups": ([(0, 1), (0, 1), (0, 1)], [0.5, 0.7, 0.5], [3, 1, 2], 0.5, -1, [1, 0, 2]),
    "suppressed segments do not suppress": (
        [(0, 4), (2, 6), (4, 8)], [0.9, 0.8, 0.7], [0, 0, 0], 0.3, -1, [0, 2],  # IoUs 1/3, 1/3, 0
    ),
    "groups are independent": ([(0, 1), (0, 1)], [0.5, 0.9], [0, 1], 0.0, -1, [1, 0]),
    "max_per_group 1": (
        [(0, 1), (2, 3), (4, 5), (0, 1), (2, 3)], [0.1, 0.5, 0.3, 0.4, 0.2], [7, 7, 7, -2, -2], 0.5, 1, [1, 3],
    ),
    "max_per_group 2 counts kept, not candidates": (
        [(0, 2), (0, 2), (3, 4), (5, 6)], [0.9, 0.8, 0.7, 0.6], [0, 0, 0, 0], 0.5, 2, [0, 2],
    ),
    "max_per_group 0 keeps nothing": ([(0, 1), (2, 3)], [0.9, 0.8], [0, 1], 0.5, 0, []),
    "signed zeros tie": ([(0, 1), (2, 3), (4, 5)], [-0.0, 0.0, -0.0], [2, 1, 0], 0.5, -1, [0, 1, 2]),
    "negative scores and -inf": ([(0, 1), (2, 3), (4, 5)], [-1.0, float("-inf"), -0.5], [0, 0, 0], 0.5, -1, [2, 0, 1]),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", list(HAND))
def test_hand_cases(impl, dtype, case):
    segments, scores, groups, thr, limit, keep = HAND[case]
    out = impl(
        torch.tensor(segments, dtype=dtype).reshape(-1, 2),
        torch.tensor(scores, dtype=dtype),
        torch.tensor(groups, dtype=torch.long),
        thr,
        limit,
    )
    assert out.dtype == torch.int64
    assert out.tolist() == keep


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("thr", [0.3, 0.1, 0.7])
def test_float32_threshold_boundary_agrees_with_torchvision(impl, thr):
    """IoU 3/10 (1/10, 7/10) equals the threshold in real numbers, but its float32 rounding lies above
    the float64 threshold: the kernel (float64 compare, as torchvision) suppresses it; every path
    must agree with torchvision's batched_nms."""
    tv = pytest.importorskip("torchvision")
    length = round(thr * 10)
    segments = torch.tensor([[0.0, 10.0], [0.0, float(length)]])
    scores = torch.tensor([0.9, 0.8])
    groups = torch.zeros(2, dtype=torch.long)
    want = tv.ops.batched_nms(boxes(segments), scores, groups, thr)
    assert impl(segments, scores, groups, thr).tolist() == want.tolist()


def _random_case(seed, n, num_groups, dtype, grouping):
    gen = torch.Generator().manual_seed(seed)
    segments = random_segments(n, gen, dtype, span=30)
    scores = (torch.randperm(n, generator=gen).to(torch.float64) / n + 0.01).to(dtype)  # distinct
    if grouping == "contiguous":
        groups = torch.sort(torch.randint(0, num_groups, (n,), generator=gen)).values
    elif grouping == "shuffled":
        groups = torch.randint(0, num_groups, (n,), generator=gen)
    else:  # sparse ids far apart, negative and extreme: the kernel's sort path
        ids = torch.tensor([-(2**63), -(10**12), -3, 0, 5, 10**15, 2**63 - 1])
        groups = ids[torch.randint(0, len(ids), (n,), generator=gen)]
    return segments, scores, groups


THRESHOLDS = [0.0, 0.2, 0.5, 0.7, 1.0]


@pytest.mark.parametrize("grouping", ["contiguous", "shuffled", "sparse"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_matches_torchvision(grouping, seed, dtype):
    segments, scores, groups = _random_case(seed, 300, 9, dtype, grouping)
    for thr in THRESHOLDS:
        want = torchvision_nms(segments, scores, groups, thr)
        assert batched_temporal_nms(segments, scores, groups, thr).tolist() == want, thr
        assert thr == 1.0 or len(want) < len(segments)  # something was suppressed
        # The reference too (a slow loop: two thresholds; float32 boundaries: see above).
        if dtype == torch.float64 and thr in (0.0, 0.5):
            assert batched_temporal_nms_reference(segments, scores, groups, thr).tolist() == want, thr


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_torchvision_batched_nms(seed):
    """torchvision.ops.batched_nms itself, where its offset trick is exact (float64, small ids)."""
    tv = pytest.importorskip("torchvision")
    segments, scores, groups = _random_case(seed, 300, 9, torch.float64, "shuffled")
    for thr in THRESHOLDS:
        want = tv.ops.batched_nms(boxes(segments), scores, groups, thr).tolist()
        assert batched_temporal_nms(segments, scores, groups, thr).tolist() == want, thr


@requires_ext
@pytest.mark.parametrize("call", ["public", "direct"])
@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("limit", [-1, 2])
def test_kernel_matches_reference_with_ties(call, how, seed, limit):
    """Coarse scores (many ties) and grid segments (identical and touching ones), float64."""
    gen = torch.Generator().manual_seed(seed)
    n = 120
    segments = random_segments(n, gen, torch.float64, span=20).round()
    segments[:, 1] = torch.maximum(segments[:, 0], segments[:, 1])
    scores = torch.randint(0, 6, (n,), generator=gen).to(torch.float64)
    groups = torch.randint(0, 5, (n,), generator=gen) * 3
    fn = batched_temporal_nms if call == "public" else _direct
    args = (layout(segments, how), layout(scores, how if how != "transposed" else "strided"), groups)
    for thr in (0.0, 0.5, 1.0):
        want = batched_temporal_nms_reference(segments, scores, groups, thr, limit)
        assert fn(*args, thr, limit).tolist() == want.tolist(), thr


@requires_ext
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("limit", [-1, 1, 3])
def test_max_per_group_matches_reference(seed, limit):
    segments, scores, groups = _random_case(seed, 150, 7, torch.float64, "shuffled")
    for thr in (0.0, 0.5, 1.0):
        keep = batched_temporal_nms(segments, scores, groups, thr, limit)
        assert keep.tolist() == batched_temporal_nms_reference(segments, scores, groups, thr, limit).tolist()
        if limit > 0:
            assert torch.bincount(groups[keep]).max() <= limit


@requires_ext
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spread", ["uniform", "long-tailed"])
def test_large_group_sweep(dtype, spread):
    """One group of 3000 (> 256: the kernel's sweep) against the reference and torchvision."""
    gen = torch.Generator().manual_seed(17)
    n = 3000
    start = torch.rand(n, generator=gen, dtype=torch.float64) * 500
    if spread == "uniform":
        length = torch.rand(n, generator=gen, dtype=torch.float64) * 30
    else:  # mostly short, a few very long: long kept segments overlap many later candidates
        length = torch.rand(n, generator=gen, dtype=torch.float64).pow(6) * 400
    length[::50] = 0.0
    segments = torch.stack([start, start + length], 1).to(dtype)
    scores = (torch.randperm(n, generator=gen).to(torch.float64) / n).to(dtype)
    groups = torch.full((n,), 42, dtype=torch.long)
    for thr in (0.0, 0.05, 0.3, 0.5, 0.9, 1.0):
        keep = batched_temporal_nms(segments, scores, groups, thr)
        assert keep.tolist() == torchvision_nms(segments, scores, groups, thr), thr
        assert temporal_nms(segments, scores, thr).tolist() == keep.tolist()
        if dtype == torch.float64 and thr == 0.3:  # the reference is a slow Python loop: once
            assert keep.tolist() == batched_temporal_nms_reference(segments, scores, groups, thr).tolist()


@requires_ext
def test_large_group_with_ties_matches_reference():
    gen = torch.Generator().manual_seed(23)
    n = 1500
    segments = random_segments(n, gen, torch.float64, span=300).round()
    segments[:, 1] = torch.maximum(segments[:, 0], segments[:, 1])
    scores = torch.randint(0, 20, (n,), generator=gen).to(torch.float64)
    groups = torch.zeros(n, dtype=torch.long)
    for thr in (0.0, 0.4, 1.0):
        want = batched_temporal_nms_reference(segments, scores, groups, thr, 50)
        assert batched_temporal_nms(segments, scores, groups, thr, 50).tolist() == want.tolist()


@requires_ext
@pytest.mark.parametrize("kind", SWEEP_KINDS)
@pytest.mark.parametrize("scores_kind", ["distinct", "ties"])
def test_large_group_sweep_edge_cases(kind, scores_kind):
    """One group of 400 (> 256: the sweep) against the reference, and torchvision where scores differ."""
    n = 400
    segments, scores, groups = sweep_case(kind, scores_kind, n, seed=29)
    for thr, limit in SWEEP_SETTINGS:
        keep = batched_temporal_nms(segments, scores, groups, thr, limit)
        want = batched_temporal_nms_reference(segments, scores, groups, thr, limit)
        assert keep.tolist() == want.tolist(), (thr, limit)
        if scores_kind == "distinct" and limit < 0:
            assert keep.tolist() == torchvision_nms(segments, scores, groups, thr), thr
    if kind == "touching":
        assert len(batched_temporal_nms(segments, scores, groups, 0.0)) == n


@requires_ext
def test_large_groups_in_parallel_with_small_ones():
    """Groups of 300-900 (sweep) beside groups of 20 (all pairs), shuffled, two threads."""
    gen = torch.Generator().manual_seed(31)
    sizes = [900, 20, 300, 20, 20, 600, 257, 256]
    groups = torch.cat([torch.full((s,), g, dtype=torch.long) for g, s in enumerate(sizes)])
    n = len(groups)
    groups = groups[torch.randperm(n, generator=gen)]
    segments = random_segments(n, gen, torch.float32, span=200)
    scores = torch.randperm(n, generator=gen).float() / n  # distinct: torchvision's order is defined
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for thr in (0.0, 0.5):
            assert batched_temporal_nms(segments, scores, groups, thr).tolist() == torchvision_nms(
                segments, scores, groups, thr), thr
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("thr", [0.0, 0.5])
def test_temporal_nms_is_one_group(impl, thr):
    segments, scores, _ = _random_case(3, 120, 1, torch.float64, "contiguous")
    keep = temporal_nms(segments, scores, thr)
    assert keep.tolist() == impl(segments, scores, torch.zeros(120, dtype=torch.long), thr).tolist()
    assert temporal_nms(segments, scores, thr, 4).tolist() == keep[:4].tolist()


@pytest.mark.parametrize("call", ["public", pytest.param("direct", marks=requires_ext), "temporal"])
def test_empty(call):
    segments, scores, groups = torch.zeros(0, 2), torch.zeros(0), torch.zeros(0, dtype=torch.long)
    if call == "temporal":
        keep = temporal_nms(segments, scores, 0.5)
    else:
        keep = (batched_temporal_nms if call == "public" else _direct)(segments, scores, groups, 0.5)
    assert keep.shape == (0,) and keep.dtype == torch.int64


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_low_precision_computed_in_fp32(dtype):
    segments, scores, groups = _random_case(8, 150, 4, dtype, "shuffled")
    for thr in (0.0, 0.5):
        want = batched_temporal_nms(segments.float(), scores.float(), groups, thr)
        assert batched_temporal_nms(segments, scores, groups, thr).tolist() == want.tolist()


def test_int32_groups_accepted_by_wrapper():
    segments, scores, groups = _random_case(1, 80, 4, torch.float32, "shuffled")
    want = batched_temporal_nms(segments, scores, groups, 0.5)
    assert batched_temporal_nms(segments, scores, groups.int(), 0.5).tolist() == want.tolist()
