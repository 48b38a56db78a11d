"""Bad inputs: each raises the right error type with a message that names the argument, through the
public wrappers and directly through torch.ops.drn.* (the C++ checks)."""

from __future__ import annotations

import pytest
import torch

from drn.ops import (
    batched_temporal_nms,
    iou_loss,
    regression_targets,
    regression_targets_reference,
    segment_iou,
    segment_iou_reference,
    temporal_nms,
)

from .ops_testing import requires_ext

NAN = float("nan")
SEG = torch.tensor([[0.0, 2.0], [1.0, 3.0], [2.0, 5.0]])
BAD = torch.tensor([[0.0, 2.0], [3.0, 1.0], [2.0, 5.0]])  # segment 1 has start > end
SCORES = torch.tensor([0.9, 0.5, 0.7])
GROUPS = torch.tensor([0, 0, 1])
POINTS = torch.tensor([0.5, 1.5, 2.5, 4.0])
PAIRS = torch.tensor([[1.0, 2.0], [0.5, 0.5], [2.0, 1.0]])
META = torch.device("meta")


# (id, call, error type, text the message must contain)
WRAPPER_CASES = [
    # segment_iou
    ("iou a rank 1", lambda: segment_iou(SEG[:, 0], SEG), ValueError, "a must have shape [N, 2]"),
    ("iou a last dim 3", lambda: segment_iou(torch.zeros(3, 3), SEG), ValueError, "a must have shape [N, 2]"),
    ("iou b last dim 1", lambda: segment_iou(SEG, torch.zeros(3, 1)), ValueError, "b must have shape [N, 2]"),
    ("iou a integer", lambda: segment_iou(SEG.long(), SEG), TypeError, "a must be a floating-point"),
    ("iou b not a tensor", lambda: segment_iou(SEG, [[0.0, 1.0]]), TypeError, "b must be a torch.Tensor"),
    ("iou a start > end", lambda: segment_iou(BAD, SEG), ValueError, "a must have start <= end"),
    ("iou b start > end", lambda: segment_iou(SEG, BAD), ValueError, "b must have start <= end"),
    ("iou aligned lengths", lambda: segment_iou(SEG, SEG[:2], aligned=True), ValueError, "aligned=True"),
    ("iou devices", lambda: segment_iou(SEG, SEG.to(META)), ValueError, "a and b must be on the same device"),
    # regression_targets
    ("targets points rank 2", lambda: regression_targets(POINTS[:, None], SEG), ValueError, "points must have shape [T]"),
    ("targets segments last dim 3", lambda: regression_targets(POINTS, torch.zeros(2, 3)), ValueError, "segments must have shape"),
    ("targets segments rank 4", lambda: regression_targets(POINTS, torch.zeros(1, 1, 1, 2)), ValueError, "segments must have shape"),
    ("targets no segment per query", lambda: regression_targets(POINTS, torch.zeros(2, 0, 2)), ValueError, "segments needs at least one"),
    ("targets points integer", lambda: regression_targets(POINTS.long(), SEG), TypeError, "points must be a floating-point"),
    ("targets segments integer", lambda: regression_targets(POINTS, SEG.long()), TypeError, "segments must be a floating-point"),
    ("targets ranges integer", lambda: regression_targets(POINTS, SEG, torch.zeros(4, 2, dtype=torch.long)), TypeError, "ranges"),
    ("targets ranges length", lambda: regression_targets(POINTS, SEG, torch.zeros(3, 2)), ValueError, "ranges must have shape [T, 2]"),
    ("targets ranges last dim", lambda: regression_targets(POINTS, SEG, torch.zeros(4, 3)), ValueError, "ranges must have shape [T, 2]"),
    ("targets counts float", lambda: regression_targets(POINTS, SEG[:, None], None, torch.ones(3)), TypeError, "num_segments must be an integer"),
    ("targets counts length", lambda: regression_targets(POINTS, SEG[:, None], None, torch.ones(2, dtype=torch.long)), ValueError, "num_segments must have shape [B]"),
    ("targets counts above G", lambda: regression_targets(POINTS, SEG[:, None], None, torch.tensor([1, 2, 1])), ValueError, "num_segments must lie in [0, G]"),
    ("targets counts negative", lambda: regression_targets(POINTS, SEG[:, None], None, torch.tensor([1, -1, 1])), ValueError, "num_segments must lie in [0, G]"),
    ("targets start > end", lambda: regression_targets(POINTS, BAD), ValueError, "segments must have start <= end"),
    ("targets devices", lambda: regression_targets(POINTS.to(META), SEG), ValueError, "must be on the same device"),
    # iou_loss
    ("loss pred last dim 3", lambda: iou_loss(torch.zeros(3, 3), torch.zeros(3, 3)), ValueError, "pred must have shape [..., 2]"),
    ("loss pred scalar", lambda: iou_loss(torch.tensor(1.0), torch.tensor(1.0)), ValueError, "pred must have shape [..., 2]"),
    ("loss target shape", lambda: iou_loss(PAIRS, PAIRS[:2]), ValueError, "target must have the shape of pred"),
    ("loss weight shape", lambda: iou_loss(PAIRS, PAIRS, torch.ones(2)), ValueError, "weight must have shape pred.shape[:-1]"),
    ("loss pred integer", lambda: iou_loss(PAIRS.long(), PAIRS), TypeError, "pred must be a floating-point"),
    ("loss target integer", lambda: iou_loss(PAIRS, PAIRS.long()), TypeError, "target must be a floating-point"),
    ("loss weight integer", lambda: iou_loss(PAIRS, PAIRS, torch.ones(3, dtype=torch.long)), TypeError, "weight must be a floating-point"),
    ("loss loss_type", lambda: iou_loss(PAIRS, PAIRS, loss_type="diou"), ValueError, "loss_type must be one of"),
    ("loss reduction", lambda: iou_loss(PAIRS, PAIRS, reduction="max"), ValueError, "reduction must be one of"),
    ("loss devices", lambda: iou_loss(PAIRS, PAIRS.to(META)), ValueError, "pred and target must be on the same device"),
    # batched_temporal_nms / temporal_nms
    ("nms segments last dim", lambda: batched_temporal_nms(torch.zeros(3, 3), SCORES, GROUPS, 0.5), ValueError, "segments must have shape [N, 2]"),
    ("nms scores length", lambda: batched_temporal_nms(SEG, SCORES[:2], GROUPS, 0.5), ValueError, "scores must have shape [N] = [3]"),
    ("nms scores rank", lambda: batched_temporal_nms(SEG, SCORES[:, None], GROUPS, 0.5), ValueError, "scores must have shape [N]"),
    ("nms groups length", lambda: batched_temporal_nms(SEG, SCORES, GROUPS[:1], 0.5), ValueError, "groups must have shape [N] = [3]"),
    ("nms segments integer", lambda: batched_temporal_nms(SEG.long(), SCORES, GROUPS, 0.5), TypeError, "segments must be a floating-point"),
    ("nms scores integer", lambda: batched_temporal_nms(SEG, SCORES.long(), GROUPS, 0.5), TypeError, "scores must be a floating-point"),
    ("nms groups float", lambda: batched_temporal_nms(SEG, SCORES, GROUPS.float(), 0.5), TypeError, "groups must be an integer"),
    ("nms groups bool", lambda: batched_temporal_nms(SEG, SCORES, GROUPS.bool(), 0.5), TypeError, "groups must be an integer"),
    ("nms NaN score", lambda: batched_temporal_nms(SEG, torch.tensor([0.9, NAN, 0.7]), GROUPS, 0.5), ValueError, "scores[1] is NaN"),
    ("nms start > end", lambda: batched_temporal_nms(BAD, SCORES, GROUPS, 0.5), ValueError, "segments must have start <= end"),
    ("nms threshold < 0", lambda: batched_temporal_nms(SEG, SCORES, GROUPS, -0.1), ValueError, "iou_threshold must lie in [0, 1]"),
    ("nms threshold > 1", lambda: batched_temporal_nms(SEG, SCORES, GROUPS, 1.5), ValueError, "iou_threshold must lie in [0, 1]"),
    ("nms threshold NaN", lambda: batched_temporal_nms(SEG, SCORES, GROUPS, NAN), ValueError, "iou_threshold must lie in [0, 1]"),
    ("nms max_per_group", lambda: batched_temporal_nms(SEG, SCORES, GROUPS, 0.5, -2), ValueError, "max_per_group must be -1"),
    ("nms devices", lambda: batched_temporal_nms(SEG, SCORES.to(META), GROUPS, 0.5), ValueError, "segments and scores must be on the same device"),
    ("temporal NaN score", lambda: temporal_nms(SEG, torch.tensor([NAN, 0.5, 0.7]), 0.5), ValueError, "scores[0] is NaN"),
    ("temporal start > end", lambda: temporal_nms(BAD, SCORES, 0.5), ValueError, "segments must have start <= end"),
    ("temporal threshold", lambda: temporal_nms(SEG, SCORES, 2.0), ValueError, "iou_threshold must lie in [0, 1]"),
    ("temporal segments rank", lambda: temporal_nms(SEG[:, 0], SCORES, 0.5), ValueError, "segments must have shape [N, 2]"),
]


@pytest.mark.parametrize("call, error, text", [c[1:] for c in WRAPPER_CASES], ids=[c[0] for c in WRAPPER_CASES])
def test_wrapper_errors(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


D = torch.ops.drn  # resolved at call time; the direct cases need the extension
F64 = torch.float64

DIRECT_CASES = [
    # segment_iou
    ("iou a rank 1", lambda: D.segment_iou(SEG[:, 0], SEG), ValueError, "segment_iou: a must have shape [N, 2]"),
    ("iou b last dim 3", lambda: D.segment_iou(SEG, torch.zeros(2, 3)), ValueError, "segment_iou: b must have shape [N, 2]"),
    ("iou a integer", lambda: D.segment_iou(SEG.long(), SEG), TypeError, "segment_iou: a must be float32 or float64"),
    ("iou a float16", lambda: D.segment_iou(SEG.half(), SEG.half()), TypeError, "a must be float32 or float64"),
    ("iou dtypes differ", lambda: D.segment_iou(SEG, SEG.double()), TypeError, "a and b must have the same dtype"),
    ("iou a start > end", lambda: D.segment_iou(BAD, SEG), ValueError, "a must have start <= end, but segment 1"),
    ("iou b start > end", lambda: D.segment_iou(SEG, BAD, True), ValueError, "b must have start <= end, but segment 1"),
    ("iou aligned lengths", lambda: D.segment_iou(SEG, SEG[:2], True), ValueError, "aligned=True"),
    # regression_targets
    ("targets points rank 2", lambda: D.regression_targets(POINTS[:, None], SEG), ValueError, "points must have shape [T]"),
    ("targets segments last dim", lambda: D.regression_targets(POINTS, torch.zeros(2, 3)), ValueError, "segments must have shape [B, 2] or [B, G, 2]"),
    ("targets no segment per query", lambda: D.regression_targets(POINTS, torch.zeros(2, 0, 2)), ValueError, "segments needs at least one"),
    ("targets segments integer", lambda: D.regression_targets(POINTS, SEG.long()), TypeError, "segments must be float32 or float64"),
    ("targets points dtype", lambda: D.regression_targets(POINTS.double(), SEG), TypeError, "segments and points must have the same dtype"),
    ("targets ranges shape", lambda: D.regression_targets(POINTS, SEG, torch.zeros(3, 2)), ValueError, "ranges must have shape [T, 2] = [4, 2]"),
    ("targets ranges dtype", lambda: D.regression_targets(POINTS, SEG, torch.zeros(4, 2, dtype=F64)), TypeError, "segments and ranges must have the same dtype"),
    ("targets counts int32", lambda: D.regression_targets(POINTS, SEG, None, torch.ones(3, dtype=torch.int32)), TypeError, "num_segments must be int64"),
    ("targets counts length", lambda: D.regression_targets(POINTS, SEG, None, torch.ones(2, dtype=torch.long)), ValueError, "num_segments must have shape [B] = [3]"),
    ("targets counts above G", lambda: D.regression_targets(POINTS, SEG, None, torch.tensor([1, 2, 1])), ValueError, "num_segments must lie in [0, G] = [0, 1]"),
    ("targets counts negative", lambda: D.regression_targets(POINTS, SEG, None, torch.tensor([0, -1, 1])), ValueError, "num_segments must lie in [0, G]"),
    ("targets start > end", lambda: D.regression_targets(POINTS, BAD), ValueError, "segments must have start <= end, but segment [1, 0]"),
    # iou_loss / iou_loss_backward
    ("loss pred last dim", lambda: D.iou_loss(torch.zeros(3, 3), torch.zeros(3, 3), None, "iou", "mean", 1e-6), ValueError, "pred must have shape [..., 2]"),
    ("loss target shape", lambda: D.iou_loss(PAIRS, PAIRS[:2], None, "iou", "mean", 1e-6), ValueError, "target must have the shape of pred"),
    ("loss weight shape", lambda: D.iou_loss(PAIRS, PAIRS, torch.ones(2), "iou", "mean", 1e-6), ValueError, "weight must have shape pred.shape[:-1]"),
    ("loss pred integer", lambda: D.iou_loss(PAIRS.long(), PAIRS.long(), None, "iou", "mean", 1e-6), TypeError, "pred must be float32 or float64"),
    ("loss target dtype", lambda: D.iou_loss(PAIRS, PAIRS.double(), None, "iou", "mean", 1e-6), TypeError, "pred and target must have the same dtype"),
    ("loss weight dtype", lambda: D.iou_loss(PAIRS, PAIRS, torch.ones(3, dtype=F64), "iou", "mean", 1e-6), TypeError, "pred and weight must have the same dtype"),
    ("loss loss_type", lambda: D.iou_loss(PAIRS, PAIRS, None, "diou", "mean", 1e-6), ValueError, "loss_type must be one of"),
    ("loss reduction", lambda: D.iou_loss(PAIRS, PAIRS, None, "iou", "max", 1e-6), ValueError, "reduction must be one of"),
    ("backward grad shape", lambda: D.iou_loss_backward(torch.ones(2), PAIRS, PAIRS, None, "iou", "none", 1e-6), ValueError, "grad must have shape"),
    ("backward grad not scalar", lambda: D.iou_loss_backward(torch.ones(3), PAIRS, PAIRS, None, "iou", "sum", 1e-6), ValueError, "grad must have shape"),
    ("backward loss_type", lambda: D.iou_loss_backward(torch.ones(()), PAIRS, PAIRS, None, "x", "sum", 1e-6), ValueError, "loss_type must be one of"),
    ("backward weight shape", lambda: D.iou_loss_backward(torch.ones(()), PAIRS, PAIRS, torch.ones(4), "iou", "sum", 1e-6), ValueError, "weight must have shape"),
    # batched_temporal_nms
    ("nms segments last dim", lambda: D.batched_temporal_nms(torch.zeros(3, 3), SCORES, GROUPS, 0.5), ValueError, "segments must have shape [N, 2]"),
    ("nms scores length", lambda: D.batched_temporal_nms(SEG, SCORES[:2], GROUPS, 0.5), ValueError, "scores must have shape [N] = [3]"),
    ("nms groups length", lambda: D.batched_temporal_nms(SEG, SCORES, GROUPS[:2], 0.5), ValueError, "groups must have shape [N] = [3]"),
    ("nms segments integer", lambda: D.batched_temporal_nms(SEG.long(), SCORES, GROUPS, 0.5), TypeError, "segments must be float32 or float64"),
    ("nms scores dtype", lambda: D.batched_temporal_nms(SEG, SCORES.double(), GROUPS, 0.5), TypeError, "segments and scores must have the same dtype"),
    ("nms groups int32", lambda: D.batched_temporal_nms(SEG, SCORES, GROUPS.int(), 0.5), TypeError, "groups must be int64"),
    ("nms NaN score", lambda: D.batched_temporal_nms(SEG, torch.tensor([0.9, 0.5, NAN]), GROUPS, 0.5), ValueError, "scores[2] is NaN"),
    ("nms start > end", lambda: D.batched_temporal_nms(BAD, SCORES, GROUPS, 0.5), ValueError, "segments must have start <= end, but segment 1"),
    ("nms threshold < 0", lambda: D.batched_temporal_nms(SEG, SCORES, GROUPS, -1e-9), ValueError, "iou_threshold must lie in [0, 1]"),
    ("nms threshold NaN", lambda: D.batched_temporal_nms(SEG, SCORES, GROUPS, NAN), ValueError, "iou_threshold must lie in [0, 1]"),
    ("nms max_per_group", lambda: D.batched_temporal_nms(SEG, SCORES, GROUPS, 0.5, -5), ValueError, "max_per_group must be -1"),
    ("nms NaN score, large group", lambda: D.batched_temporal_nms(
        torch.zeros(200, 2), torch.arange(200.0).index_fill(0, torch.tensor([150]), NAN), torch.zeros(200, dtype=torch.long), 0.5),
     ValueError, "scores[150] is NaN"),
]


@requires_ext
@pytest.mark.parametrize("call, error, text", [c[1:] for c in DIRECT_CASES], ids=[c[0] for c in DIRECT_CASES])
def test_direct_op_errors(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: regression_targets(POINTS, BAD, None, torch.tensor([1, 0, 1])), id="public"),
        pytest.param(lambda: regression_targets_reference(POINTS, BAD[:, None], None, torch.tensor([1, 0, 1])), id="reference"),
        pytest.param(lambda: D.regression_targets(POINTS, BAD, None, torch.tensor([1, 0, 1])), id="direct", marks=requires_ext),
    ],
)
def test_masked_padding_is_not_validated(call):
    """A start > end segment beyond num_segments is padding, not an error."""
    targets, positive, assigned = call()
    assert assigned[1].tolist() == [-1] * 4 and not positive[1].any()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: regression_targets_reference(POINTS[:0], BAD[:, None]), id="reference"),
        pytest.param(lambda: regression_targets(POINTS[:0], BAD), id="public"),
        pytest.param(lambda: D.regression_targets(POINTS[:0], BAD), id="direct", marks=requires_ext),
    ],
)
def test_start_after_end_rejected_without_locations(call):
    """T = 0 must not skip the start <= end check: the reference raises, so must the kernel."""
    with pytest.raises(ValueError, match="segments must have start <= end"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: segment_iou_reference(BAD, SEG[:0]), id="reference"),
        pytest.param(lambda: segment_iou(BAD, SEG[:0]), id="public"),
        pytest.param(lambda: D.segment_iou(SEG[:0], BAD), id="direct", marks=requires_ext),
    ],
)
def test_segment_iou_start_after_end_rejected_with_empty_other_side(call):
    with pytest.raises(ValueError, match="must have start <= end"):
        call()
