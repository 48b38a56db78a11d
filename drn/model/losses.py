"""DRN's training losses: focal matching, IoU regression and the IoU head's Smooth-L1, per stage."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from drn.model.config import DRNConfig
from drn.model.drn import STAGES, DRNOutput
from drn.model.locations import decode_segments, location_ranges
from drn.model.precision import at_least_fp32
from drn.ops import iou_loss, regression_targets, segment_iou

# Which losses make the total in each training stage ("saliency" only for a model with a
# saliency head and a batch with saliency annotations).
STAGE_LOSSES = {1: ("match", "regression", "saliency"), 2: ("iou",), 3: ("match", "regression", "iou", "saliency")}
SALIENCY_MARGIN = 1.0  # of the saliency head's pairwise hinge, in logits


def sigmoid_focal_loss(logits: Tensor, labels: Tensor, alpha: float, gamma: float) -> Tensor:
    """Element-wise sigmoid focal loss (Lin et al. 2017); logits and {0, 1} labels of one shape."""
    prob = torch.sigmoid(logits)
    cross_entropy = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p_true = prob * labels + (1 - prob) * (1 - labels)
    alpha_true = alpha * labels + (1 - alpha) * (1 - labels)
    return alpha_true * (1 - p_true) ** gamma * cross_entropy


def saliency_ranking_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Pairwise hinge over the clips of each annotated query, in two equal parts (as Moment-DETR
    weighs its two kinds of pairs): clips inside the moments against clips outside them, and more
    against less salient clips inside them. Each pair whose targets differ is ranked by a margin
    of SALIENCY_MARGIN logits, weighted by the targets' difference; each part is the weighted mean
    over its pairs, so the few pairs inside a moment count as much as the many across its edges.
    logits, targets: [B, T]; mask: [B] bool, the queries with annotations. A part without pairs
    adds 0."""
    targets = targets.to(logits.dtype)
    gap = targets[:, :, None] - targets[:, None, :]  # [B, T, T]: > 0 where clip i should outrank j
    weight = gap.clamp(min=0) * mask.to(logits.dtype)[:, None, None]  # a mask, not indexing: no host sync
    hinge = torch.relu(SALIENCY_MARGIN - (logits[:, :, None] - logits[:, None, :]))
    inside = (targets > 0).to(logits.dtype)[:, None, :]  # the lower clip j is inside a moment too
    total = logits.new_zeros(())
    for part in (weight * inside, weight * (1 - inside)):
        total = total + (part * hinge).sum() / part.sum().clamp(min=1e-6)
    return total


def video_ranking_loss(logits: Tensor, positive: Tensor) -> Tensor:
    """Mean over queries with a positive of -log(sum_pos e^z / sum_all e^z): a softmax over every
    location of the query's video (all levels), so the moment's locations must outscore the rest
    of the same video, the other events in it included. logits, positive: [B, N]."""
    has_positive = positive.any(dim=1)
    every = torch.logsumexp(logits, dim=1)
    inside = torch.logsumexp(logits.masked_fill(~positive, float("-inf")), dim=1)
    per_query = torch.where(has_positive, every - torch.where(has_positive, inside, every), 0.0)
    return per_query.sum() / has_positive.sum().clamp(min=1)


def to_clip_units(segments: Tensor, durations: Tensor, num_clips: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """[B, 2] or [B, G, 2] segments in seconds and [B] durations in seconds -> the same shape in clip
    units (fp32 by default)."""
    scale = (num_clips / durations.to(dtype)).view(-1, *([1] * (segments.dim() - 1)))
    return segments.to(dtype) * scale


def best_window_iou(segments: Tensor, windows: Tensor, num_windows: Tensor | None) -> Tensor:
    """IoU of each segment with the best-matching ground-truth window of its query.

    segments: [B, N, 2]; windows: [B, G, 2] (first `num_windows[b]` valid, all when None), one
    unit. Returns [B, N] in the segments' dtype, the max over the valid windows.
    """
    batch, count, _ = segments.shape
    groups = windows.shape[1]
    ious = segment_iou(segments[:, :, None, :].expand(-1, -1, groups, -1).reshape(-1, 2),
                       windows[:, None, :, :].expand(-1, count, -1, -1).reshape(-1, 2),
                       aligned=True).view(batch, count, groups)
    if num_windows is not None:
        valid = torch.arange(groups, device=windows.device)[None, :] < num_windows.to(windows.device)[:, None]
        ious = ious.masked_fill(~valid[:, None, :], 0.0)
    return ious.amax(dim=2)


def drn_losses(output: DRNOutput, segments: Tensor, durations: Tensor, config: DRNConfig, stage: int,
               num_segments: Tensor | None = None, saliency: Tensor | None = None,
               saliency_mask: Tensor | None = None) -> dict[str, Tensor]:
    """The losses of one batch, computed in fp32 (fp64 for a float64 model; autocast is off inside).

    Args:
        output: the model's `DRNOutput` for B queries.
        segments: [B, 2] ground-truth (start, end) in seconds, one segment per query; or
            [B, G, 2] several moments per query (padded; the first `num_segments[b]` valid): a
            location is assigned to the shortest moment that makes it positive
            (`regression_targets`), and the IoU head learns the IoU with the best-matching one.
        durations: [B] video durations in seconds.
        config: the model's `DRNConfig` (ranges, focal and IoU-head settings).
        stage: 1, 2 or 3; decides which losses make "total" (`STAGE_LOSSES`).
        num_segments: [B] int64 valid moments per query of a [B, G, 2] `segments` (None: all G).
        saliency: [B, T] per-clip saliency targets in [0, 1] (the batch's "saliency"); with
            `saliency_mask` they train a model's saliency head (None: no saliency loss).
        saliency_mask: [B] bool, the queries that have saliency targets (the batch's "saliency_mask").

    Returns a dict of scalar fp32 (fp64) tensors:
        "match": focal loss summed over all locations / (positives + B), plus
            `config.rank_loss_weight` x `video_ranking_loss` when that weight is > 0.
        "regression": -log IoU of (l, r) with the targets, mean over positive locations.
        "iou": Smooth-L1 between the IoU head's sigmoid and the true IoU of each location's
            decoded segment (clamped to [0, T]) with the ground truth, mean over locations whose
            true IoU > `config.iou_loss_threshold`.
        "saliency" (a model with a saliency head, given saliency targets): `saliency_ranking_loss`.
        "total": the sum of the stage's losses; the others are returned detached, for logging.
    Each loss is 0 (never NaN) when no location qualifies.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    batch = output.match_logits[0].shape[0]
    if segments.dim() == 2:
        segments = segments[:, None, :]
    if segments.dim() != 3 or segments.shape[0] != batch or segments.shape[2] != 2 or segments.shape[1] < 1:
        raise ValueError(f"segments must be [B, 2] or [B, G, 2] with B = {batch}, (start, end) in seconds, "
                         f"got {list(segments.shape)}")
    if num_segments is not None and num_segments.shape != (batch,):
        raise ValueError(f"num_segments must be [B] = [{batch}], got {list(num_segments.shape)}")
    if durations.shape != (batch,):
        raise ValueError(f"durations must be [B] = [{batch}] seconds, got {list(durations.shape)}")
    device = output.match_logits[0].device
    num_clips = output.num_clips

    with torch.autocast(device_type=device.type, enabled=False):
        logits = at_least_fp32(torch.cat(output.match_logits, dim=1))  # [B, N]
        distances = at_least_fp32(torch.cat(output.distances, dim=1))  # [B, N, 2]
        iou_logits = at_least_fp32(torch.cat(output.iou_logits, dim=1))  # [B, N]
        dtype = distances.dtype  # fp32, or fp64 for a float64 model
        points = torch.cat(output.points).to(dtype)  # [N]
        ranges = location_ranges(config.scaled_regression_ranges(), tuple(p.numel() for p in output.points), device,
                                 dtype)
        truth = to_clip_units(segments.to(device), durations.to(device), num_clips, dtype)  # [B, G, 2]
        if num_segments is not None:
            num_segments = num_segments.to(device)

        if truth.shape[1] == 1:  # DRN's case: the single-segment op
            targets, positive, _ = regression_targets(points, truth[:, 0], ranges)
        else:
            targets, positive, _ = regression_targets(points, truth, ranges, num_segments)
        weight = positive.to(dtype)
        num_positive = weight.sum()
        losses = {"match": sigmoid_focal_loss(logits, weight, config.focal_alpha, config.focal_gamma).sum()
                  / (num_positive + batch)}
        if config.rank_loss_weight > 0:
            losses["match"] = losses["match"] + config.rank_loss_weight * video_ranking_loss(logits, positive)

        # Masks as weights, not boolean indexing: no data-dependent shape, so no host sync on a GPU.
        # A negative location's target is its own (detached) prediction, an IoU of 1 and a loss of 0
        # (its own targets may be negative distances); iou_loss's mean over no positives is 0.
        targets = torch.where(positive[..., None], targets, distances.detach())
        losses["regression"] = iou_loss(distances, targets, weight, loss_type="iou", reduction="mean")

        decoded = decode_segments(points, distances.detach(), num_clips)  # [B, N, 2]
        true_iou = best_window_iou(decoded, truth, num_segments)  # [B, N]
        selected = (true_iou > config.iou_loss_threshold).to(dtype)
        smooth_l1 = F.smooth_l1_loss(torch.sigmoid(iou_logits), true_iou, reduction="none", beta=config.smooth_l1_beta)
        losses["iou"] = (smooth_l1 * selected).sum() / selected.sum().clamp(min=1)
        if output.saliency_logits is not None and saliency is not None and saliency_mask is not None:
            losses["saliency"] = saliency_ranking_loss(at_least_fp32(output.saliency_logits), saliency.to(device),
                                                       saliency_mask.to(device))

    used = [name for name in STAGE_LOSSES[stage] if name in losses]
    total = sum(losses[name] for name in used)
    result = {name: (loss if name in used else loss.detach()) for name, loss in losses.items()}
    result["total"] = total
    return result
