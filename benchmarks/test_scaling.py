"""Workload (5): each op as its size grows in 10x steps, against its peers (plotted log-log).

One group of 10k to 5M sparse or dense proposals (issue 12's sub-quadratic NMS) is checked against
torchvision run over the group's overlap components (peers.nms_by_components) before it is timed.

A peer is left out above the size where one call would take many seconds (torchvision's
batched_nms scans every segment once per group; the NMS references build N x N matrices).
"""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision
import workloads as W
from peers import boxes_of, close_loss, loss_step, nms_by_components, per_group_nms, same_keep, same_targets

import drn.ops as ops

BUDGET_S = 0.5
TORCHVISION_MAX_QUERIES = 1000
REFERENCE_MAX_QUERIES = 100
REFERENCE_MAX_SINGLE = 1000
# One group of sparse / dense proposals up to 5M (issue 12): torchvision's nms compares every kept
# segment with every later one, minutes on sparse input past these sizes.
SINGLE_GROUP_SIZES = (10_000, 100_000, 1_000_000, 5_000_000)
TORCHVISION_MAX_SINGLE = {"sparse": 10_000, "dense": 100_000}
CHECK_ONLY_MAX = 100_000  # with --benchmark-disable (CI: checks only) the larger cases run at this size


def cases():
    for q in (1, 10, 100, 1000, 10000):
        yield "batched_temporal_nms", q, "ours"
        if q <= TORCHVISION_MAX_QUERIES:
            yield "batched_temporal_nms", q, "torchvision"
        if q <= REFERENCE_MAX_QUERIES:
            yield "batched_temporal_nms", q, "reference"
    for n in (100, 1000, 10000, 100000):
        yield "temporal_nms", n, "ours"
        yield "temporal_nms", n, "torchvision"
        if n <= REFERENCE_MAX_SINGLE:
            yield "temporal_nms", n, "reference"
    for kind in ("sparse", "dense"):
        for n in SINGLE_GROUP_SIZES:
            yield f"temporal_nms {kind}", n, "ours"
            if n <= TORCHVISION_MAX_SINGLE[kind]:
                yield f"temporal_nms {kind}", n, "torchvision"
    for n in (10, 100, 1000, 10000, 100000):
        for impl in ("ours", "reference", "torchvision"):
            yield "segment_iou", n, impl
    for b in (1, 10, 100, 1000, 10000):
        for impl in ("ours", "composite"):
            yield "regression_targets", b, impl
    for n in (100, 1000, 10000, 100000, 1000000):
        for impl in ("ours", "composite"):
            yield "iou_loss fwd+bwd", n, impl


@functools.lru_cache(maxsize=None)
def nms_batched_case(queries: int):
    w = W.grounding_candidates(queries, 32, seed=7)
    return w, per_group_nms(w)


@functools.lru_cache(maxsize=None)
def nms_single_case(num: int):
    w = W.action_proposals(num, seed=8, duration=num * 0.18)  # the density of workload (3)
    return w, per_group_nms(w)


@functools.lru_cache(maxsize=None)
def loss_case(num: int):
    w = W.loss_pairs(num, seed=9)
    return w, loss_step(ops.iou_loss_reference, w.pred, w.target)()


def _nms_batched(bench, q, impl):
    w, expected = nms_batched_case(q)
    fn = {
        "ours": lambda: ops.batched_temporal_nms(w.segments, w.scores, w.groups, w.iou_threshold),
        "torchvision": lambda b=w.boxes(): torchvision.ops.batched_nms(b, w.scores, w.groups, w.iou_threshold),
        "reference": lambda: ops.batched_temporal_nms_reference(w.segments, w.scores, w.groups, w.iou_threshold),
    }[impl]
    return fn, w.size, lambda out: same_keep(out, expected, f"{impl} on {w.name}"), None


def _nms_single(bench, n, impl):
    w, expected = nms_single_case(n)
    fn = {
        "ours": lambda: ops.temporal_nms(w.segments, w.scores, w.iou_threshold),
        "torchvision": lambda b=w.boxes(): torchvision.ops.nms(b, w.scores, w.iou_threshold),
        "reference": lambda: ops.batched_temporal_nms_reference(w.segments, w.scores, w.groups, w.iou_threshold),
    }[impl]
    return fn, n, lambda out: same_keep(out, expected, f"{impl} on {w.name}"), None


@functools.lru_cache(maxsize=None)
def nms_sparse_dense_case(kind: str, num: int):
    w = (W.sparse_proposals if kind == "sparse" else W.dense_proposals)(num)
    return w, nms_by_components(w)  # torchvision, split where NMS cannot cross


def _nms_sparse_dense(kind):
    def make(bench, n, impl):
        w, expected = nms_sparse_dense_case(kind, min(n, CHECK_ONLY_MAX) if bench.disabled else n)
        fn = {
            "ours": lambda: ops.temporal_nms(w.segments, w.scores, w.iou_threshold),
            "torchvision": lambda b=w.boxes(): torchvision.ops.nms(b, w.scores, w.iou_threshold),
        }[impl]
        return fn, w.size, lambda out: same_keep(out, expected, f"{impl} on {w.name}"), None

    return make


def _segment_iou(bench, n, impl):
    a, b = W.iou_pairs(n)
    expected = ops.segment_iou_reference(a, b)
    fn = {
        "ours": lambda: ops.segment_iou(a, b),
        "reference": lambda: ops.segment_iou_reference(a, b),
        "torchvision": lambda ba=boxes_of(a), bb=boxes_of(b): torchvision.ops.box_iou(ba, bb),
    }[impl]
    return fn, a.shape[0] * b.shape[0], lambda out: torch.testing.assert_close(out, expected), 4 * a.shape[0] * b.shape[0]


def _regression_targets(bench, batch, impl):
    w = W.training_targets(batch, seed=10)
    expected = ops.regression_targets_reference(w.points, w.segments, w.ranges)
    fn = ops.regression_targets if impl == "ours" else ops.regression_targets_reference
    return (lambda: fn(w.points, w.segments, w.ranges)), w.size, \
        lambda out: same_targets(out, expected, f"{impl} on {w.name}"), None


def _iou_loss(bench, n, impl):
    w, expected = loss_case(n)
    step = loss_step(ops.iou_loss if impl == "ours" else ops.iou_loss_reference, w.pred, w.target)
    return step, n, lambda out: close_loss(out, expected, f"{impl} on {w.name}"), 48 * n


MAKERS = {
    "batched_temporal_nms": _nms_batched,
    "temporal_nms": _nms_single,
    "temporal_nms sparse": _nms_sparse_dense("sparse"),
    "temporal_nms dense": _nms_sparse_dense("dense"),
    "segment_iou": _segment_iou,
    "regression_targets": _regression_targets,
    "iou_loss fwd+bwd": _iou_loss,
}


def case_id(op: str, n: int, impl: str) -> str:
    name = op.replace(" ", "_") if op.startswith("temporal_nms ") else op.split()[0]
    return f"{name}-{n}-{impl}"


@pytest.mark.parametrize("op,n,impl", list(cases()), ids=[case_id(*c) for c in cases()])
def test_scaling(bench, op, n, impl):
    fn, size, check, nbytes = MAKERS[op](bench, n, impl)
    bench(fn, op=op, workload=f"scale:{size}", impl=impl, size=size, check=check, budget_s=BUDGET_S, nbytes=nbytes)
