"""Workload (4): one training step's targets and regression loss.

regression_targets at batch 32 and 4,096 queries x 56 locations (T = 32, DRN's ranges) against its
PyTorch composite; iou_loss forward + backward on 1M (l, r) pairs (and at batch 32) against the
composite with autograd; and the machine's copy bandwidth on the loss's bytes, timed between the
loss's rounds: the loss's forward reads pred and target (16 B a pair), its backward reads them again
and writes both gradients (32 B), 48 B a pair in all, and `copy` moves exactly as many bytes.
"""

from __future__ import annotations

import functools

import pytest
import torch
import workloads as W
from peers import close_loss, loss_step, same_targets

import drn.ops as ops

TARGET_BATCHES = {"32x56": 32, "4096x56": 4096}
LOSS_SIZES = {"1M": 1_000_000, "32x56": 32 * 56}
LOSS_BYTES_PER_PAIR = 48
TARGET_BYTES_PER_LOCATION = 2 * 4 + 1 + 8  # targets (2 floats), positive (bool), assigned (int64) written
LOSS_BUDGET_S = 3.0  # 1M pairs: more rounds (and copies between them), a steadier minimum on a shared machine


@functools.lru_cache(maxsize=None)
def targets_case(batch: int):
    return W.training_targets(batch)


@functools.lru_cache(maxsize=None)
def loss_case(num: int):
    w = W.loss_pairs(num)
    return w, loss_step(ops.iou_loss_reference, w.pred, w.target)()


@pytest.mark.parametrize("workload", list(TARGET_BATCHES))
@pytest.mark.parametrize("impl", ["ours", "composite"])
def test_regression_targets(bench, workload, impl):
    w = targets_case(TARGET_BATCHES[workload])
    expected = ops.regression_targets_reference(w.points, w.segments, w.ranges)
    fn = ops.regression_targets if impl == "ours" else ops.regression_targets_reference
    bench(lambda: fn(w.points, w.segments, w.ranges), op="regression_targets", workload=workload, impl=impl,
          size=w.size, nbytes=w.size * TARGET_BYTES_PER_LOCATION,
          check=lambda out: same_targets(out, expected, f"{impl} on {w.name}"))


@pytest.mark.parametrize("workload", list(LOSS_SIZES))
@pytest.mark.parametrize("impl", ["ours", "composite"])
def test_iou_loss_forward_backward(bench, workload, impl):
    w, expected = loss_case(LOSS_SIZES[workload])
    step = loss_step(ops.iou_loss if impl == "ours" else ops.iou_loss_reference, w.pred, w.target)
    nbytes = w.size * LOSS_BYTES_PER_PAIR
    yardstick = None
    if impl == "ours" and workload == "1M":
        # The machine's streaming speed, between ours' rounds: dst.copy_(src) moving as many bytes
        # (24 MB read, 24 MB written). Memory bandwidth on a shared host drifts; interleaving is fair.
        src = torch.rand(nbytes // 8)
        dst = torch.zeros_like(src)
        dst.copy_(src)
        assert torch.equal(dst, src)
        yardstick = ("copy", lambda: dst.copy_(src), nbytes)
    bench(step, op="iou_loss fwd+bwd", workload=workload, impl=impl, size=w.size, nbytes=nbytes,
          check=lambda out: close_loss(out, expected, f"{impl} on {w.name}"),
          budget_s=LOSS_BUDGET_S if workload == "1M" else None, max_rounds=1000, yardstick=yardstick)


