"""Per-clip saliency from the matching probabilities, and its mapping onto the native 2 s grid."""

import math

import torch

from drn.model.drn import DRN
from drn.model.saliency import clip_saliency, matching_readout, native_clip_count, to_native_clips
from tests.model.test_losses import T, dense_output


def test_clip_saliency_is_the_level_mean_of_the_covering_locations():
    out = dense_output(batch=1, match_logit=-50.0)  # probabilities ~0 everywhere
    out.match_logits[0][0, 5] = 0.0  # level 0, location 5 covers clip 5: p = 0.5
    out.match_logits[1][0, 3] = math.log(3.0)  # level 1, location 3 covers clips 6, 7: p = 0.75
    out.match_logits[2][0, 1] = 50.0  # level 2, location 1 covers clips 4..7: p = 1
    saliency = clip_saliency(out)
    assert saliency.shape == (1, T)
    expected = torch.zeros(T)
    expected[4] = 1 / 3
    expected[5] = (0.5 + 1) / 3
    expected[6] = expected[7] = (0.75 + 1) / 3
    torch.testing.assert_close(saliency[0], expected, atol=1e-6, rtol=0)


def test_native_grid_takes_the_model_clip_holding_each_centre():
    scores = torch.arange(8, dtype=torch.float32)  # T = 8 model clips over 20 s: 2.5 s each
    native = to_native_clips(scores, duration=20.0, clip_seconds=2.0)
    # Native clip j spans [2j, 2j + 2): centre 2j + 1 lies in model clip floor((2j + 1) / 2.5).
    assert native.tolist() == [0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0, 7.0]
    # QVHighlights' evaluator counts int(duration / 2) clips: 149 s -> 74.
    assert native_clip_count(149.0, 2.0) == 74 and native_clip_count(1.0, 2.0) == 1
    assert to_native_clips(torch.ones(76), 149.0, 2.0).shape == (74,)
    # A batch maps row by row.
    assert to_native_clips(torch.stack([scores, -scores]), 20.0, 2.0).shape == (2, 10)


def test_a_model_with_a_saliency_head_reads_its_head(small_config, make_batch):
    torch.manual_seed(0)
    model = DRN(small_config(saliency_head=True)).eval()
    features, words, lengths = make_batch(model.config, 2)
    with torch.no_grad():
        out = model(features, words, lengths)
    assert out.saliency_logits.shape == (2, model.config.num_clips)
    torch.testing.assert_close(clip_saliency(out), torch.sigmoid(out.saliency_logits))
    # The matching read-out stays available, and is what a model without a head gives.
    out.saliency_logits = None
    torch.testing.assert_close(clip_saliency(out), matching_readout(out))
    assert DRN(small_config()).saliency_head is None
