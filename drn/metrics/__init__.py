"""Evaluation metrics: DRN's R@n, IoU=m and mIoU (`grounding`), and the QVHighlights moment-retrieval
and highlight-detection metrics (`qvhighlights`, the keys of the official evaluator)."""

from drn.metrics.grounding import IOU_THRESHOLDS, RECALL_AT, grounding_metrics
from drn.metrics.qvhighlights import qvhighlights_metrics

__all__ = ["IOU_THRESHOLDS", "RECALL_AT", "grounding_metrics", "qvhighlights_metrics"]
