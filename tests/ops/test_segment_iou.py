"""segment_iou: the reference against hand-computed IoUs, the compiled kernel against the reference."""

from __future__ import annotations

import pytest
import torch

from drn.ops import segment_iou, segment_iou_reference

from .ops_testing import FLOATS, LAYOUTS, LOW_PRECISION, SEEDS, layout, random_segments, requires_ext


def _direct(a, b, aligned=False):
    return torch.ops.drn.segment_iou(a, b, aligned)


IMPLS = [
    pytest.param(segment_iou_reference, id="reference"),
    pytest.param(segment_iou, id="public"),
    pytest.param(_direct, id="direct", marks=requires_ext),
]

# (a, b, IoU as numerator / denominator): hand-computed.
HAND = [
    ((0, 10), (0, 10), 1, 1),  # identical
    ((0, 10), (2, 4), 2, 10),  # nested
    ((2, 4), (0, 10), 2, 10),  # nested, the other way round
    ((0, 2), (3, 5), 0, 1),  # disjoint
    ((0, 2), (2, 5), 0, 1),  # touching at a point
    ((0, 4), (2, 6), 2, 6),  # partial overlap
    ((0, 3), (1, 4), 2, 4),  # exactly 0.5
    ((-3, -1), (-2, 2), 1, 5),  # negative coordinates
    ((0, 0), (0, 0), 0, 1),  # two zero-length segments: union 0 -> 0
    ((5, 5), (5, 5), 0, 1),
    ((1, 1), (0, 2), 0, 1),  # zero-length inside a segment
    ((0, 2), (2, 2), 0, 1),  # zero-length on an end point
    ((0.25, 0.75), (0.5, 1.5), 0.25, 1.25),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_hand_table_aligned(impl, dtype):
    a = torch.tensor([row[0] for row in HAND], dtype=dtype)
    b = torch.tensor([row[1] for row in HAND], dtype=dtype)
    expected = torch.tensor([row[2] for row in HAND], dtype=dtype) / torch.tensor([row[3] for row in HAND], dtype=dtype)
    out = impl(a, b, aligned=True)
    assert out.shape == (len(HAND),) and out.dtype == dtype
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    # Every pair: the diagonal is the aligned result, and IoU is symmetric.
    full = impl(a, b)
    assert full.shape == (len(HAND), len(HAND))
    torch.testing.assert_close(full.diagonal(), expected, rtol=0, atol=0)
    torch.testing.assert_close(impl(b, a), full.t(), rtol=0, atol=0)


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_matrix(impl):
    a = torch.tensor([[0.0, 4.0], [2.0, 6.0], [5.0, 5.0]])
    b = torch.tensor([[0.0, 2.0], [4.0, 8.0], [3.0, 3.0]])
    expected = torch.tensor([[0.5, 0.0, 0.0], [0.0, 1 / 3, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(impl(a, b), expected, rtol=0, atol=0)


@requires_ext
@pytest.mark.parametrize("call", ["public", "direct"])
@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("aligned", [False, True], ids=["pairs", "aligned"])
def test_kernel_matches_reference(call, how, dtype, seed, aligned):
    gen = torch.Generator().manual_seed(seed)
    n = 41
    a = random_segments(n, gen, dtype)
    b = random_segments(n if aligned else 29, gen, dtype)
    b[:5] = a[:5]  # identical pairs
    expected = segment_iou_reference(a, b, aligned)
    a_, b_ = layout(a, how), layout(b, how)
    fn = segment_iou if call == "public" else _direct
    out = fn(a_, b_, aligned)
    assert out.dtype == dtype and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=0, atol=0)  # the same arithmetic, bit for bit
    assert not out.isnan().any()


@pytest.mark.parametrize("call", ["public", pytest.param("direct", marks=requires_ext)])
@pytest.mark.parametrize(
    "n, m, aligned, shape",
    [(0, 5, False, (0, 5)), (4, 0, False, (4, 0)), (0, 0, False, (0, 0)), (0, 0, True, (0,))],
)
def test_empty(call, n, m, aligned, shape):
    gen = torch.Generator().manual_seed(0)
    a, b = random_segments(n, gen, torch.float32), random_segments(m, gen, torch.float32)
    fn = segment_iou if call == "public" else _direct
    out = fn(a, b, aligned)
    assert out.shape == shape and out.dtype == torch.float32


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("aligned", [False, True], ids=["pairs", "aligned"])
def test_low_precision_computed_in_fp32(dtype, aligned):
    gen = torch.Generator().manual_seed(3)
    a = random_segments(23, gen, dtype)
    b = random_segments(23, gen, dtype)
    out = segment_iou(a, b, aligned)
    assert out.dtype == dtype
    expected = segment_iou_reference(a.float(), b.float(), aligned).to(dtype)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_mixed_dtypes_promote():
    a = torch.tensor([[0.0, 3.0]], dtype=torch.float16)
    b = torch.tensor([[1.0, 4.0]], dtype=torch.float64)
    out = segment_iou(a, b)
    assert out.dtype == torch.float64
    assert out.item() == 0.5
