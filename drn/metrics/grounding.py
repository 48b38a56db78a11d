"""Temporal grounding metrics: R@n, IoU=m and the mean IoU of the top-1 segment."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from drn.ops import segment_iou

RECALL_AT = (1, 5)
IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def grounding_metrics(ranked: Sequence[Sequence[Sequence[float]]],
                      ground_truth: Sequence[Sequence[float]]) -> dict[str, float]:
    """R@n, IoU=m for n in {1, 5}, m in {0.3, 0.5, 0.7}, and mIoU of the top-1, in percent.

    Args:
        ranked: per query, its predictions best first, each (start, end[, score]) in seconds.
        ground_truth: per query, its (start, end) in seconds.

    A query counts for R@n, IoU=m when one of its first n predictions has IoU >= m with the
    ground truth; IoU exactly m is a hit (DRN's rule; some papers use > m). IoUs are computed in
    float64 so the boundary case is exact. An empty list is a miss and has IoU 0.

    Returns {"R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"}.
    """
    if len(ranked) != len(ground_truth):
        raise ValueError(f"ranked and ground_truth must hold one entry per query, got {len(ranked)} and "
                         f"{len(ground_truth)}")
    if not ranked:
        raise ValueError("grounding_metrics needs at least one query, got none")
    depth = max(RECALL_AT)
    num_queries = len(ranked)
    predictions = torch.zeros(num_queries, depth, 2, dtype=torch.float64)
    present = torch.zeros(num_queries, depth, dtype=torch.bool)
    for i, segments in enumerate(ranked):
        top = [tuple(s[:2]) for s in segments[:depth]]
        if top:
            predictions[i, :len(top)] = torch.tensor(top, dtype=torch.float64)
            present[i, :len(top)] = True
    truth = torch.as_tensor(ground_truth, dtype=torch.float64).reshape(num_queries, 2)
    ious = segment_iou(predictions.reshape(-1, 2), truth.repeat_interleave(depth, dim=0), aligned=True)
    ious = ious.view(num_queries, depth).masked_fill(~present, 0.0)

    metrics = {}
    for n in RECALL_AT:
        for m in IOU_THRESHOLDS:
            hit = ((ious[:, :n] >= m) & present[:, :n]).any(dim=1)
            metrics[f"R{n}@{m}"] = 100.0 * hit.double().mean().item()
    metrics["mIoU"] = 100.0 * ious[:, 0].mean().item()
    return metrics
