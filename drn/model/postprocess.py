"""From dense DRN outputs to one ranked list of segments in seconds per query."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

from drn.model.config import DRNConfig
from drn.model.drn import DRNOutput
from drn.model.locations import decode_segments
from drn.ops import batched_temporal_nms

Prediction = tuple[float, float, float]


def inference_config(config: DRNConfig, eval_cfg: dict) -> DRNConfig:
    """The model config with the `eval` section's NMS threshold and top-k."""
    return dataclasses.replace(config, nms_threshold=float(eval_cfg["nms_threshold"]),
                               max_detections=int(eval_cfg["top_k"]))


@torch.no_grad()
def postprocess(output: DRNOutput, durations: Tensor | Sequence[float], config: DRNConfig, *,
                use_iou: bool = True) -> list[list[Prediction]]:
    """Rank segments for every query of a batch.

    Per level: keep locations with sigmoid(match) > `config.score_threshold`; score them
    sqrt(p_match * p_iou) (p_match alone when `use_iou` is False, i.e. after stage 1); keep the
    `config.pre_nms_top_k` best (ties to the earlier location); decode ((t - l) / T, (t + r) / T)
    clamped to [0, 1], times the duration. Then one `batched_temporal_nms` over the whole batch,
    grouped by query, at `config.nms_threshold`, keeping `config.max_detections` per query.

    Args:
        output: the model's `DRNOutput` for B queries.
        durations: [B] video durations in seconds.
        config: supplies the thresholds above.
        use_iou: multiply in the IoU head's probability (False after stage 1).

    Returns B lists of (start, end, score), seconds, best first (ties by candidate order: level,
    then rank). A query with no location above the threshold gets the whole video with score 1,
    [(0, duration, 1.0)], as in DRN's official code (`config.whole_video_fallback`), or an empty
    list when that is False.
    """
    return postprocess_per_nms(output, durations, config, (config.nms_threshold,), use_iou=use_iou)[0]


@torch.no_grad()
def postprocess_per_nms(output: DRNOutput, durations: Tensor | Sequence[float], config: DRNConfig,
                        nms_thresholds: Sequence[float], *, use_iou: bool = True) -> list[list[list[Prediction]]]:
    """`postprocess` once per NMS threshold, from one set of candidates: DRN's official evaluation
    ranks the list for each R@n, IoU=m with NMS at m - 0.05. Returns, per threshold in
    `nms_thresholds` order, B ranked lists as `postprocess` gives them (one object for repeats)."""
    candidates, candidate_scores, candidate_groups, durations = _candidates(output, durations, config, use_iou)
    ranked = {threshold: _rank(candidates, candidate_scores, candidate_groups, durations, config, threshold)
              for threshold in dict.fromkeys(nms_thresholds)}
    return [ranked[threshold] for threshold in nms_thresholds]


def _candidates(output: DRNOutput, durations: Tensor | Sequence[float], config: DRNConfig,
                use_iou: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(segments [K, 2] s, scores [K], query index [K], durations [B] s) of every kept location."""
    batch = output.match_logits[0].shape[0]
    device = output.match_logits[0].device
    durations = torch.as_tensor(durations, dtype=torch.float32, device=device)
    if durations.shape != (batch,):
        raise ValueError(f"durations must hold one duration per query, [B] = [{batch}], got {list(durations.shape)}")

    segments, scores, valid = [], [], []
    for match_prob, iou_prob, distances, points in zip(output.match_probs, output.iou_probs,
                                                       output.distances, output.points):
        score = torch.sqrt(match_prob * iou_prob) if use_iou else match_prob  # [B, T_l]
        passed = match_prob > config.score_threshold
        k = min(config.pre_nms_top_k, score.shape[1])
        # Stable sort, not topk: equal scores keep location order on every device and batch size.
        order = torch.sort(score.masked_fill(~passed, -1.0), dim=1, descending=True, stable=True).indices[:, :k]
        decoded = decode_segments(points, distances, output.num_clips)  # [B, T_l, 2]
        segments.append(decoded.gather(1, order[..., None].expand(-1, -1, 2)))
        scores.append(score.gather(1, order))
        valid.append(passed.gather(1, order))
    valid = torch.cat(valid, dim=1)  # [B, K]
    seconds = torch.cat(segments, dim=1) / output.num_clips * durations[:, None, None]  # [B, K, 2]
    groups = torch.arange(batch, device=device)[:, None].expand_as(valid)
    return seconds[valid], torch.cat(scores, dim=1)[valid], groups[valid], durations


def _rank(candidates: Tensor, scores: Tensor, groups: Tensor, durations: Tensor, config: DRNConfig,
          nms_threshold: float) -> list[list[Prediction]]:
    """Per query, its candidates after NMS at `nms_threshold`, best first, at most
    `config.max_detections`; the whole-video fallback for a query without candidates."""
    keep = batched_temporal_nms(candidates, scores, groups, nms_threshold, max_per_group=config.max_detections)
    ranked: list[list[Prediction]] = [[] for _ in range(durations.shape[0])]
    for group, (start, end), score in zip(groups[keep].tolist(), candidates[keep].tolist(), scores[keep].tolist()):
        ranked[group].append((start, end, score))
    if config.whole_video_fallback:
        for group, duration in enumerate(durations.tolist()):
            if not ranked[group]:
                ranked[group].append((0.0, duration, 1.0))
    return ranked
