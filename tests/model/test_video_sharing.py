"""The forward split: a video's part once (`encode_video`), then its queries (`forward_queries`)."""

from __future__ import annotations

import pytest
import torch

from drn.model import DRN

FIELDS = ("match_logits", "distances", "iou_logits")


def assert_same_outputs(a, b) -> None:
    for name in FIELDS:
        for level in range(3):
            assert torch.equal(getattr(a, name)[level], getattr(b, name)[level]), (name, level)
    assert torch.equal(a.attention, b.attention)


@pytest.mark.parametrize("train", [False, True])
def test_video_rows_give_the_per_query_outputs_bit_for_bit(small_config, make_batch, train):
    cfg = small_config()
    torch.manual_seed(0)
    model = DRN(cfg).train(train)
    videos, words, lengths = make_batch(cfg, 7, lengths=[7, 2, 5, 1, 3, 7, 4])
    videos = videos[:3]
    video_index = torch.tensor([2, 0, 0, 1, 2, 2, 0])
    with torch.no_grad():
        shared = model(videos, words, lengths, video_index)
        plain = model(videos[video_index], words, lengths)
        split = model.forward_queries(model.encode_video(videos), words, lengths, video_index)
    assert_same_outputs(shared, plain)
    assert_same_outputs(split, plain)


def test_gradients_of_the_shared_projection_match_the_per_query_ones(small_config, make_batch):
    cfg = small_config()
    torch.manual_seed(0)
    model = DRN(cfg).train()
    videos, words, lengths = make_batch(cfg, 5)
    video_index = torch.tensor([1, 1, 0, 1, 0])
    grads = []
    for inputs in ((videos[:2], words, lengths, video_index), (videos[:2][video_index], words, lengths)):
        model.zero_grad()
        sum(x.sum() for x in model(*inputs).match_logits).backward()
        grads.append(model.backbone.feature_proj.weight.grad.clone())
    # The same sum over rows in another order: equal up to float rounding, relative to the gradient's scale.
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5 * float(grads[1].abs().max()))
    assert grads[1].abs().max() > 0


def test_video_index_errors_name_the_argument(small_config, make_batch):
    cfg = small_config()
    model = DRN(cfg)
    videos, words, lengths = make_batch(cfg, 3)
    with pytest.raises(ValueError, match=r"video_index must be a \[B\] int64 tensor, got shape \[3\] dtype torch.int32"):
        model(videos[:1], words, lengths, torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="words must be .* B = 2"):
        model(videos[:1], words, lengths, torch.zeros(2, dtype=torch.int64))


def test_video_rows_with_text_features_give_the_per_query_outputs_bit_for_bit(small_config):
    cfg = small_config(text_feature_dim=12)
    torch.manual_seed(0)
    model = DRN(cfg).eval()
    videos = torch.randn(2, cfg.num_clips, cfg.feature_dim)
    tokens = torch.randn(3, 5, 12)  # float token features: the encoder has no embedding
    lengths = torch.tensor([5, 3, 4])
    video_index = torch.tensor([1, 0, 1])
    with torch.no_grad():
        assert_same_outputs(model(videos, tokens, lengths, video_index), model(videos[video_index], tokens, lengths))


def test_a_float64_model_shares_the_video_part_in_float64(small_config, make_batch):
    cfg = small_config()
    torch.manual_seed(0)
    model = DRN(cfg).double().eval()
    videos, words, lengths = make_batch(cfg, 3)
    videos = videos[:2].double()
    video_index = torch.tensor([0, 1, 0])
    with torch.no_grad():
        encoded = model.encode_video(videos)
        shared = model.forward_queries(encoded, words, lengths, video_index)
        plain = model(videos[video_index], words, lengths)
    assert encoded.clips.dtype == encoded.positions.dtype == torch.float64
    assert shared.distances[0].dtype == shared.points[0].dtype == torch.float64
    assert_same_outputs(shared, plain)
