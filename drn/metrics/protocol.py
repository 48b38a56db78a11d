"""DRN's evaluation protocols: which NMS threshold ranks the list each R@n, IoU=m is read from.

- "official" (the default; DRN's released evaluation code): R@n, IoU=m is read from the list
  ranked with NMS at m - 0.05 (0.25, 0.45, 0.65 for m = 0.3, 0.5, 0.7). A prediction row then
  also holds those lists, under `PER_IOU_KEY`, keyed by m ("0.3", "0.5", "0.7").
- "fixed": every metric is read from the row's one list, ranked with NMS at `eval.nms_threshold`.

R@1 is the same under both (NMS always keeps the best-scored candidate first), and so is the mIoU
of the top-1; only R@5 (any n > 1) can differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drn.metrics import IOU_THRESHOLDS, RECALL_AT, grounding_metrics

PROTOCOLS = ("official", "fixed")
# The official code ranks the list for IoU = m with NMS at m minus this.
OFFICIAL_NMS_MARGIN = 0.05
# The prediction-row key of the per-m lists (official protocol).
PER_IOU_KEY = "pred_relevant_windows_per_iou"


def nms_thresholds_per_iou(protocol: str) -> dict[str, float]:
    """{m as written in metric names ("0.3"): the NMS threshold of its list}; empty for "fixed"."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "fixed":
        return {}
    # m - 0.05 in float arithmetic, as the official code computes it (0.7 - 0.05 = 0.6499999999999999).
    return {str(m): m - OFFICIAL_NMS_MARGIN for m in IOU_THRESHOLDS}


def metrics_per_iou(ranked: Sequence[Sequence[Sequence[float]]],
                    ranked_per_iou: Mapping[str, Sequence[Sequence[Sequence[float]]]],
                    ground_truth: Sequence[Sequence[float] | Sequence[Sequence[float]]]) -> dict[str, float]:
    """`grounding_metrics` (percent) with each R@n, IoU=m read from the lists of m instead.

    Args:
        ranked: per query, the list every other metric (mIoU) is read from.
        ranked_per_iou: {m as in the metric names ("0.3", "0.5", "0.7"): per query, its list for
            R@n, IoU=m}; an m missing here is read from `ranked`.
        ground_truth: per query, its (start, end), or several: the best-matching one counts.
    """
    unknown = set(ranked_per_iou) - {str(m) for m in IOU_THRESHOLDS}
    if unknown:
        raise ValueError(f"ranked_per_iou keys must be among {[str(m) for m in IOU_THRESHOLDS]}, got {sorted(unknown)}")
    metrics = grounding_metrics(ranked, ground_truth)
    for m, lists in ranked_per_iou.items():
        of_m = grounding_metrics(lists, ground_truth)
        metrics.update({f"R{n}@{m}": of_m[f"R{n}@{m}"] for n in RECALL_AT})
    return metrics


def describe(protocol: str, nms_threshold: float) -> str:
    """One line that says how the lists behind R@n, IoU=m were ranked."""
    if protocol == "official":
        return "NMS at m - 0.05 for each IoU=m (DRN's official protocol)"
    return f"NMS at {nms_threshold:g} for every IoU=m (fixed protocol)"
