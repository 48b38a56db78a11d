"""Per-clip saliency targets for training a highlight-detection head, from QVHighlights-style
annotations (`Query.clip_ids`, `Query.saliency`: 0-4 per annotator for the listed 2 s clips)."""

from __future__ import annotations

import numpy as np
import torch

from drn.data.annotations.jsonl import SALIENCY_CLIP_SECONDS
from drn.data.annotations.query import Query

MAX_SALIENCY = 4.0  # QVHighlights' top score


def saliency_targets(query: Query, num_clips: int, start: float = 0.0, span: float | None = None) -> torch.Tensor:
    """float32 [num_clips] in [0, 1]: for each of the T equal model clips of the stretch [start,
    start + span) seconds of the video (the whole video by default), the mean annotator score / 4 of
    the annotated 2 s clips it overlaps, weighted by the overlap; clips that are not annotated
    count as 0 (QVHighlights lists every clip of the query's moments)."""
    span = query.duration - start if span is None else span
    native = np.zeros(max(int(np.ceil(query.duration / SALIENCY_CLIP_SECONDS)), 1))
    for clip, scores in zip(query.clip_ids, query.saliency):
        if 0 <= clip < len(native):
            native[clip] = float(np.mean(scores)) / MAX_SALIENCY
    native_start = np.arange(len(native)) * SALIENCY_CLIP_SECONDS
    native_end = np.minimum(native_start + SALIENCY_CLIP_SECONDS, query.duration)
    edges = start + np.arange(num_clips + 1) * span / num_clips
    overlap = np.clip(np.minimum(edges[1:, None], native_end[None]) - np.maximum(edges[:-1, None], native_start[None]),
                      0.0, None)  # [T, native clips] seconds
    return torch.from_numpy((overlap @ native) / np.maximum(overlap.sum(1), 1e-9)).float()
