"""Per-clip saliency targets from QVHighlights-style annotations, and their batching."""

import pytest
import torch

from drn.data import Query, collate
from drn.data.saliency_targets import saliency_targets

# Clips 1-3 of 2 s annotated ([2, 8) s): mean scores 4, 2 and 1 (of 4).
QUERY = Query(7, "v", "a dog", 2.0, 8.0, 10.0, clip_ids=(1, 2, 3), saliency=((4, 4, 4), (2, 2, 2), (0, 1, 2)))


def test_each_model_clip_takes_the_overlap_weighted_mean_of_the_annotated_clips():
    # T = 5 clips of 2 s: the native grid itself.
    assert saliency_targets(QUERY, 5).tolist() == [0.0, 1.0, 0.5, 0.25, 0.0]
    # T = 4 clips of 2.5 s: clip 1 spans [2.5, 5): 1.5 s of native clip 1 (1.0) and 1 s of clip 2 (0.5).
    assert saliency_targets(QUERY, 4).tolist() == pytest.approx([0.2, (1.5 * 1.0 + 1.0 * 0.5) / 2.5,
                                                                 (1.0 * 0.5 + 1.5 * 0.25) / 2.5, 0.5 * 0.25 / 2.5])
    # A stretch of the video (a training crop): [2, 8) in 3 clips.
    assert saliency_targets(QUERY, 3, start=2.0, span=6.0).tolist() == [1.0, 0.5, 0.25]


def test_collate_batches_saliency_with_a_mask():
    words = torch.tensor([1])
    plain = {"words": words, "gt": torch.tensor([0.0, 1.0]), "duration": 10.0, "qid": 1, "vid": "v", "query": "a"}
    annotated = {**plain, "qid": 2, "saliency": saliency_targets(QUERY, 5)}
    batch = collate([plain, annotated])
    assert batch["saliency_mask"].tolist() == [False, True]
    assert batch["saliency"].tolist() == [[0.0] * 5, [0.0, 1.0, 0.5, 0.25, 0.0]]
    assert "saliency" not in collate([plain, plain])
