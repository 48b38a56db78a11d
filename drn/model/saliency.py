"""Highlight detection: a saliency score per clip, and on the video's native clip grid
(QVHighlights: 2 s clips).

A model with a saliency head (`DRNConfig.saliency_head`, trained on the saliency annotations)
gives the sigmoid of its per-clip logits. Without one, saliency is read off the matching head: a
clip's score is the mean, over the three levels, of the matching probability of the location
whose stride covers the clip (level l's location i covers clips [i * s_l, (i + 1) * s_l)). The
matching head fires inside the queried moments, so that read-out ranks the moments' clips first,
but it knows nothing of how salient each clip inside a moment is. benchmarks/RESULTS.md records
how well each ranks on synthetic data with saliency.
"""

from __future__ import annotations

import torch
from torch import Tensor

from drn.model.drn import DRNOutput
from drn.model.precision import at_least_fp32


def per_clip_by_level(output: DRNOutput, scores: list[Tensor]) -> Tensor:
    """Per-location scores of each level ([B, T_l] each) spread onto the T clips each location
    covers: [levels, B, T]."""
    return torch.stack([score.repeat_interleave(output.num_clips // score.shape[1], dim=1) for score in scores])


def clip_saliency(output: DRNOutput) -> Tensor:
    """[B, T] fp32 saliency of each of the T model clips: the saliency head's probability, or
    without a head the mean over levels of the matching probability of the location covering the
    clip."""
    if output.saliency_logits is not None:
        return torch.sigmoid(at_least_fp32(output.saliency_logits))
    return matching_readout(output)


def matching_readout(output: DRNOutput) -> Tensor:
    """[B, T] fp32 the mean over levels of the matching probability of the location covering
    each clip (the saliency of a model without a saliency head)."""
    return per_clip_by_level(output, output.match_probs).mean(dim=0)


def native_clip_count(duration: float, clip_seconds: float) -> int:
    """Clips of the native grid: int(duration / clip_seconds), QVHighlights' evaluator's count
    (at least 1)."""
    return max(1, int(duration / clip_seconds))


def to_native_clips(saliency: Tensor, duration: float, clip_seconds: float) -> Tensor:
    """Map [T] saliency of T equal model clips onto the native grid: native clip j (seconds
    [j * clip_seconds, (j + 1) * clip_seconds)) takes the score of the model clip holding its
    centre. Returns [int(duration / clip_seconds)] fp32."""
    num_clips = saliency.shape[-1]
    count = native_clip_count(duration, clip_seconds)
    centres = (torch.arange(count, dtype=torch.float64, device=saliency.device) + 0.5) * clip_seconds
    index = (centres / duration * num_clips).floor().long().clamp(0, num_clips - 1)
    return saliency[..., index].float()
