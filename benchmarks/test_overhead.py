"""Small sizes: one query x 56 candidates (or locations, or pairs), where the per-call overhead
(Python checks, dispatch, allocation) is the cost. Measured through the public drn.ops wrappers;
iou_loss_backward is the registered backward op, called as autograd calls it, and the full
autograd step (forward + loss.backward()) is timed too.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
import workloads as W
from peers import close_loss, loss_step, per_group_nms, same_keep, same_targets

import drn.ops as ops

SMALL = "1x56"


def nms_case():
    w = W.grounding_candidates(1, 32, seed=11)
    return w, per_group_nms(w)


@pytest.mark.parametrize("impl", ["ours", "torchvision", "reference"])
def test_batched_nms_small(bench, impl):
    w, expected = nms_case()
    boxes = w.boxes()
    fn = {
        "ours": lambda: ops.batched_temporal_nms(w.segments, w.scores, w.groups, w.iou_threshold),
        "torchvision": lambda: torchvision.ops.batched_nms(boxes, w.scores, w.groups, w.iou_threshold),
        "reference": lambda: ops.batched_temporal_nms_reference(w.segments, w.scores, w.groups, w.iou_threshold),
    }[impl]
    bench(fn, op="batched_temporal_nms", workload=SMALL, impl=impl, size=w.size,
          check=lambda out: same_keep(out, expected, impl))


@pytest.mark.parametrize("impl", ["ours", "torchvision"])
def test_temporal_nms_small(bench, impl):
    w, expected = nms_case()
    boxes = w.boxes()
    fn = {
        "ours": lambda: ops.temporal_nms(w.segments, w.scores, w.iou_threshold),
        "torchvision": lambda: torchvision.ops.nms(boxes, w.scores, w.iou_threshold),
    }[impl]
    bench(fn, op="temporal_nms", workload=SMALL, impl=impl, size=w.size, check=lambda out: same_keep(out, expected, impl))


@pytest.mark.parametrize("impl", ["ours", "reference"])
def test_segment_iou_small(bench, impl):
    w, _ = nms_case()
    gt = W.ground_truth_moments(1, 32, torch.Generator().manual_seed(12))
    expected = ops.segment_iou_reference(w.segments, gt)
    fn = ops.segment_iou if impl == "ours" else ops.segment_iou_reference
    bench(lambda: fn(w.segments, gt), op="segment_iou", workload=SMALL, impl=impl, size=w.size,
          check=lambda out: torch.testing.assert_close(out, expected))


@pytest.mark.parametrize("impl", ["ours", "reference"])
def test_regression_targets_small(bench, impl):
    w = W.training_targets(1, seed=13)
    expected = ops.regression_targets_reference(w.points, w.segments, w.ranges)
    fn = ops.regression_targets if impl == "ours" else ops.regression_targets_reference
    bench(lambda: fn(w.points, w.segments, w.ranges), op="regression_targets", workload=SMALL, impl=impl,
          size=w.size, check=lambda out: same_targets(out, expected, impl))


@pytest.mark.parametrize("impl", ["ours", "reference"])
def test_iou_loss_forward_small(bench, impl):
    w = W.loss_pairs(56, seed=14)
    expected = ops.iou_loss_reference(w.pred, w.target)
    fn = ops.iou_loss if impl == "ours" else ops.iou_loss_reference
    bench(lambda: fn(w.pred, w.target), op="iou_loss", workload=SMALL, impl=impl, size=56,
          check=lambda out: torch.testing.assert_close(out, expected))


def test_iou_loss_backward_op_small(bench):
    w = W.loss_pairs(56, seed=14)
    _, grad_ref = loss_step(ops.iou_loss_reference, w.pred, w.target)()
    grad = torch.ones(())
    bench(lambda: torch.ops.drn.iou_loss_backward(grad, w.pred, w.target, None, "iou", "mean", 1e-6),
          op="iou_loss_backward", workload=SMALL, impl="ours", size=56,
          check=lambda out: torch.testing.assert_close(out[0], grad_ref))


@pytest.mark.parametrize("impl", ["ours", "composite"])
def test_iou_loss_step_small(bench, impl):
    w = W.loss_pairs(56, seed=14)
    expected = loss_step(ops.iou_loss_reference, w.pred, w.target)()
    step = loss_step(ops.iou_loss if impl == "ours" else ops.iou_loss_reference, w.pred, w.target)
    bench(step, op="iou_loss fwd+bwd", workload=SMALL, impl=impl, size=56,
          check=lambda out: close_loss(out, expected, impl))
