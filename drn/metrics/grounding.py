"""Temporal grounding metrics: R@n, IoU=m and the mean IoU of the top-1 segment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from drn.ops import segment_iou

RECALL_AT = (1, 5)
IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def _windows_tensor(ground_truth, num_queries: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query (start, end) or a list of them -> windows [Q, G, 2] float64 (zero-padded) and the
    valid mask [Q, G]."""
    per_query = [torch.as_tensor(np.asarray(truth, dtype=np.float64)).reshape(-1, 2) for truth in ground_truth]
    empty = [i for i, windows in enumerate(per_query) if len(windows) == 0]
    if empty:
        raise ValueError(f"ground_truth of query {empty[0]} holds no window; every query needs at least one")
    groups = max(len(windows) for windows in per_query)
    truth = torch.zeros(num_queries, groups, 2, dtype=torch.float64)
    valid = torch.zeros(num_queries, groups, dtype=torch.bool)
    for i, windows in enumerate(per_query):
        truth[i, :len(windows)] = windows
        valid[i, :len(windows)] = True
    return truth, valid


def grounding_metrics(ranked: Sequence[Sequence[Sequence[float]]],
                      ground_truth: Sequence[Sequence[float] | Sequence[Sequence[float]]]) -> dict[str, float]:
    """R@n, IoU=m for n in {1, 5}, m in {0.3, 0.5, 0.7}, and mIoU of the top-1, in percent.

    Args:
        ranked: per query, its predictions best first, each (start, end[, score]) in seconds.
        ground_truth: per query, its (start, end) in seconds, or a list of several (start, end):
            a prediction's IoU is then its IoU with the best-matching window.

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
    truth, valid = _windows_tensor(ground_truth, num_queries)  # [Q, G, 2], [Q, G]
    groups = truth.shape[1]
    ious = segment_iou(predictions[:, :, None, :].expand(-1, -1, groups, -1).reshape(-1, 2),
                       truth[:, None, :, :].expand(-1, depth, -1, -1).reshape(-1, 2), aligned=True)
    ious = ious.view(num_queries, depth, groups).masked_fill(~valid[:, None, :], 0.0).amax(dim=2)
    ious = ious.masked_fill(~present, 0.0)

    metrics = {}
    for n in RECALL_AT:
        for m in IOU_THRESHOLDS:
            hit = ((ious[:, :n] >= m) & present[:, :n]).any(dim=1)
            metrics[f"R{n}@{m}"] = 100.0 * hit.double().mean().item()
    metrics["mIoU"] = 100.0 * ious[:, 0].mean().item()
    return metrics
