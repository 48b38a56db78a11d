"""Temporal ops for grounding and localisation, compiled (C++ / CUDA) with PyTorch references.

Segments are (start, end) pairs in the last dimension, in any one unit. Every op validates its
arguments with errors that name them, accepts non-contiguous input, returns empty outputs for
empty inputs, traces under torch.compile, and falls back to its ``*_reference`` when the
compiled extension is missing (with one warning; DRN_REQUIRE_EXT=1 makes that an ImportError).
"""

from ._extension import backend
from .batched_temporal_nms import batched_temporal_nms, batched_temporal_nms_reference, temporal_nms
from .iou_loss import iou_loss, iou_loss_reference
from .regression_targets import regression_targets, regression_targets_reference
from .segment_iou import segment_iou, segment_iou_reference

__all__ = [
    "backend",
    "batched_temporal_nms",
    "batched_temporal_nms_reference",
    "iou_loss",
    "iou_loss_reference",
    "regression_targets",
    "regression_targets_reference",
    "segment_iou",
    "segment_iou_reference",
    "temporal_nms",
]
