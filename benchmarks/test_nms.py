"""Workloads (1)-(3): batched temporal NMS at evaluation scale, and one large group.

Peer: torchvision on the boxes (start, 0, end, 1): batched_nms for the grouped workloads (above
4,000 coordinates on the CPU it loops over the groups in Python), nms for the single group.
"""

from __future__ import annotations

import functools

import pytest
import torchvision
import workloads as W
from peers import first_groups, per_group_nms, same_keep, torchvision_batched_nms

import drn.ops as ops

GROUPED = {"charades": W.charades_sta_eval, "activitynet": W.activitynet_eval}
CHECK_GROUPS = 50  # groups on which a slow peer is checked before its full, timed run


@functools.lru_cache(maxsize=None)
def case(name: str):
    w = W.action_proposals() if name == "proposals" else GROUPED[name]()
    return w, per_group_nms(w)


@pytest.mark.parametrize("name", list(GROUPED))
def test_batched_nms_ours(bench, name):
    w, expected = case(name)
    bench(lambda: ops.batched_temporal_nms(w.segments, w.scores, w.groups, w.iou_threshold),
          op="batched_temporal_nms", workload=name, impl="ours", size=w.size,
          check=lambda out: same_keep(out, expected, f"ours on {w.name}"))


@pytest.mark.parametrize("name", list(GROUPED))
def test_batched_nms_torchvision(bench, name):
    w, expected = case(name)
    sub = first_groups(w, CHECK_GROUPS)
    same_keep(torchvision_batched_nms(sub)(),
              ops.batched_temporal_nms(sub.segments, sub.scores, sub.groups, sub.iou_threshold),
              f"torchvision on the first {CHECK_GROUPS} groups of {w.name}")
    if bench.disabled:
        bench.done()
        return
    # One timed run on the full workload (ActivityNet's takes minutes), checked after it.
    bench(torchvision_batched_nms(w), op="batched_temporal_nms", workload=name, impl="torchvision", size=w.size,
          check=lambda out: same_keep(out, expected, f"torchvision on {w.name}"), precheck=name != "activitynet",
          budget_s=3.0, max_rounds=3)


def test_single_group_ours(bench):
    w, expected = case("proposals")
    bench(lambda: ops.temporal_nms(w.segments, w.scores, w.iou_threshold),
          op="temporal_nms", workload="proposals", impl="ours", size=w.size,
          check=lambda out: same_keep(out, expected, f"ours on {w.name}"))


def test_single_group_torchvision(bench):
    w, _ = case("proposals")
    boxes = w.boxes()
    ours = ops.temporal_nms(w.segments, w.scores, w.iou_threshold)
    bench(lambda: torchvision.ops.nms(boxes, w.scores, w.iou_threshold),
          op="temporal_nms", workload="proposals", impl="torchvision", size=w.size,
          check=lambda out: same_keep(ours, out, f"ours against torchvision on {w.name}"))
