"""What the benchmarks compare against, and the checks that outputs agree.

Peers: torchvision's NMS on the boxes (start, 0, end, 1); each op's pure-PyTorch reference; for the
loss, the same composite with autograd. `per_group_nms` is torchvision.ops.nms run group by group:
the answer of batched_nms without its cost, used as the expected output of the large workloads.
"""

from __future__ import annotations

import torch
import torchvision
from workloads import NmsWorkload

import drn.ops as ops


def group_bounds(groups: torch.Tensor) -> list[int]:
    """Start offsets of the runs of equal ids in a sorted groups tensor, plus its length."""
    assert bool((groups[1:] >= groups[:-1]).all()), "the workloads' groups are contiguous and sorted"
    change = torch.nonzero(groups[1:] != groups[:-1]).flatten() + 1
    return [0] + change.tolist() + [groups.numel()]


def per_group_nms(w: NmsWorkload) -> torch.Tensor:
    """torchvision.ops.nms inside each group, merged by score (the scores are distinct)."""
    boxes = w.boxes()
    bounds = group_bounds(w.groups)
    kept = [torchvision.ops.nms(boxes[a:b], w.scores[a:b], w.iou_threshold) + a for a, b in zip(bounds, bounds[1:])]
    keep = torch.cat(kept) if kept else torch.empty(0, dtype=torch.long)
    return keep[torch.sort(w.scores[keep], descending=True, stable=True).indices]


def nms_by_components(w: NmsWorkload, chunk: int = 256) -> torch.Tensor:
    """torchvision.ops.nms on a single-group workload, split where NMS cannot cross: sorted by start,
    a new overlap component begins where a start reaches every earlier end (IoU 0 across it).
    Whole components are run together in chunks of about `chunk` segments, so the cost is linear
    in N when the components are small, where one torchvision call on sparse input is O(N^2).
    """
    assert bool((w.groups == w.groups[0]).all()), "one group"
    order = torch.sort(w.segments[:, 0], stable=True).indices
    start, end = w.segments[order, 0], w.segments[order, 1]
    new = torch.ones(len(order), dtype=torch.bool)
    new[1:] = start[1:] >= torch.cummax(end, 0).values[:-1]
    firsts = new.nonzero()[:, 0]
    bucket = firsts // chunk  # a chunk starts at the first component of each bucket
    cuts = firsts[torch.cat([torch.ones(1, dtype=torch.bool), bucket[1:] != bucket[:-1]])].tolist() + [len(order)]
    boxes = w.boxes()
    kept = [torch.empty(0, dtype=torch.long)]
    for a, b in zip(cuts, cuts[1:]):
        idx = order[a:b]
        kept.append(idx[torchvision.ops.nms(boxes[idx], w.scores[idx], w.iou_threshold)])
    keep = torch.cat(kept)
    return keep[torch.sort(w.scores[keep], descending=True, stable=True).indices]


def first_groups(w: NmsWorkload, count: int) -> NmsWorkload:
    """The workload cut to its first `count` groups (a check that a slow peer agrees, in seconds)."""
    bounds = group_bounds(w.groups)
    n = bounds[min(count, len(bounds) - 1)]
    return NmsWorkload(w.name, w.segments[:n], w.scores[:n], w.groups[:n], w.iou_threshold)


def torchvision_batched_nms(w: NmsWorkload, device="cpu"):
    boxes, scores, groups = w.boxes().to(device), w.scores.to(device), w.groups.to(device)
    return lambda: torchvision.ops.batched_nms(boxes, scores, groups, w.iou_threshold)


def same_keep(out: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    out, expected = out.cpu(), expected.cpu()
    if not torch.equal(out, expected):
        k = min(out.numel(), expected.numel())
        differ = (out[:k] != expected[:k]).nonzero()
        first = int(differ[0, 0]) if differ.numel() else k
        raise AssertionError(f"{what}: keep differs from the expected ({out.numel()} vs {expected.numel()} kept; "
                             f"first difference at position {first})")


def loss_step(loss_fn, pred: torch.Tensor, target: torch.Tensor):
    """One training step's loss work: forward (mean) and backward to pred. Returns (loss, grad)."""
    pred = pred.detach().requires_grad_(True)

    def step():
        pred.grad = None
        loss = loss_fn(pred, target)
        loss.backward()
        return loss.detach(), pred.grad

    return step


def close_loss(out, expected, what: str) -> None:
    (loss, grad), (loss_ref, grad_ref) = out, expected
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=1e-7, msg=lambda m: f"{what} loss: {m}")
    scale = float(grad_ref.abs().max()) if grad_ref.numel() else 1.0
    torch.testing.assert_close(grad, grad_ref, rtol=1e-4, atol=1e-4 * scale, msg=lambda m: f"{what} grad: {m}")


def same_targets(out, expected, what: str) -> None:
    targets, positive, assigned = out
    t_ref, p_ref, a_ref = expected
    torch.testing.assert_close(targets, t_ref, msg=lambda m: f"{what} targets: {m}")
    assert torch.equal(positive, p_ref), f"{what}: positive differs"
    assert torch.equal(assigned, a_ref), f"{what}: assigned differs"


def boxes_of(segments: torch.Tensor) -> torch.Tensor:
    s, e = segments[:, 0], segments[:, 1]
    return torch.stack([s, torch.zeros_like(s), e, torch.ones_like(s)], dim=1)


__all__ = [
    "boxes_of", "close_loss", "first_groups", "group_bounds", "loss_step", "ops", "per_group_nms", "same_keep",
    "same_targets", "torchvision_batched_nms",
]
