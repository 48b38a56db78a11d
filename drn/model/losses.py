"""DRN's training losses: focal matching, IoU regression and the IoU head's Smooth-L1, per stage."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from drn.model.config import DRNConfig
from drn.model.drn import STAGES, DRNOutput
from drn.model.locations import decode_segments, location_ranges
from drn.ops import iou_loss, regression_targets, segment_iou

# Which losses make the total in each training stage.
STAGE_LOSSES = {1: ("match", "regression"), 2: ("iou",), 3: ("match", "regression", "iou")}


def sigmoid_focal_loss(logits: Tensor, labels: Tensor, alpha: float, gamma: float) -> Tensor:
    """Element-wise sigmoid focal loss (Lin et al. 2017); logits and {0, 1} labels of one shape."""
    prob = torch.sigmoid(logits)
    cross_entropy = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p_true = prob * labels + (1 - prob) * (1 - labels)
    alpha_true = alpha * labels + (1 - alpha) * (1 - labels)
    return alpha_true * (1 - p_true) ** gamma * cross_entropy


def to_clip_units(segments: Tensor, durations: Tensor, num_clips: int) -> Tensor:
    """[B, 2] segments in seconds and [B] durations in seconds -> [B, 2] fp32 clip units."""
    return segments.float() / durations.float()[:, None] * num_clips


def drn_losses(output: DRNOutput, segments: Tensor, durations: Tensor, config: DRNConfig, stage: int) -> dict[str, Tensor]:
    """The losses of one batch, computed in fp32 (autocast is switched off inside).

    Args:
        output: the model's `DRNOutput` for B queries.
        segments: [B, 2] ground-truth (start, end) in seconds, one segment per query.
        durations: [B] video durations in seconds.
        config: the model's `DRNConfig` (ranges, focal and IoU-head settings).
        stage: 1, 2 or 3; decides which losses make "total" (`STAGE_LOSSES`).

    Returns a dict of scalar fp32 tensors:
        "match": focal loss summed over all locations / (positives + B).
        "regression": -log IoU of (l, r) with the targets, mean over positive locations.
        "iou": Smooth-L1 between the IoU head's sigmoid and the true IoU of each location's
            decoded segment (clamped to [0, T]) with the ground truth, mean over locations whose
            true IoU > `config.iou_loss_threshold`.
        "total": the sum of the stage's losses; the others are returned detached, for logging.
    Each loss is 0 (never NaN) when no location qualifies.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    batch = output.match_logits[0].shape[0]
    if segments.shape != (batch, 2):
        raise ValueError(f"segments must be [B, 2] = [{batch}, 2] (start, end) in seconds, got {list(segments.shape)}")
    if durations.shape != (batch,):
        raise ValueError(f"durations must be [B] = [{batch}] seconds, got {list(durations.shape)}")
    device = output.match_logits[0].device
    num_clips = output.num_clips

    with torch.autocast(device_type=device.type, enabled=False):
        logits = torch.cat(output.match_logits, dim=1).float()  # [B, N]
        distances = torch.cat(output.distances, dim=1).float()  # [B, N, 2]
        iou_logits = torch.cat(output.iou_logits, dim=1).float()  # [B, N]
        points = torch.cat(output.points)  # [N]
        ranges = location_ranges(config.scaled_regression_ranges(), tuple(p.numel() for p in output.points), device)
        truth = to_clip_units(segments.to(device), durations.to(device), num_clips)  # [B, 2]

        targets, positive, _ = regression_targets(points, truth, ranges)
        weight = positive.float()
        num_positive = weight.sum()
        losses = {"match": sigmoid_focal_loss(logits, weight, config.focal_alpha, config.focal_gamma).sum()
                  / (num_positive + batch)}

        # Masks as weights, not boolean indexing: no data-dependent shape, so no host sync on a GPU.
        # A negative location's target is its own (detached) prediction, an IoU of 1 and a loss of 0
        # (its own targets may be negative distances); iou_loss's mean over no positives is 0.
        targets = torch.where(positive[..., None], targets, distances.detach())
        losses["regression"] = iou_loss(distances, targets, weight, loss_type="iou", reduction="mean")

        decoded = decode_segments(points, distances.detach(), num_clips)  # [B, N, 2]
        true_iou = segment_iou(decoded.reshape(-1, 2), truth[:, None, :].expand_as(decoded).reshape(-1, 2),
                               aligned=True).view_as(iou_logits)
        selected = (true_iou > config.iou_loss_threshold).float()
        smooth_l1 = F.smooth_l1_loss(torch.sigmoid(iou_logits), true_iou, reduction="none", beta=config.smooth_l1_beta)
        losses["iou"] = (smooth_l1 * selected).sum() / selected.sum().clamp(min=1)

    used = STAGE_LOSSES[stage]
    total = sum(losses[name] for name in used)
    result = {name: (loss if name in used else loss.detach()) for name, loss in losses.items()}
    result["total"] = total
    return result
