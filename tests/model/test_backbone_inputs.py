"""The fusion backbone's input options: centring each video's clip features, and feature dropout."""

import torch

from drn.model.drn import DRN


def test_centred_features_ignore_what_every_clip_of_a_video_shares(small_config, make_batch):
    torch.manual_seed(0)
    model = DRN(small_config(center_features=True)).eval()
    features, words, lengths = make_batch(model.config, 2)
    offset = torch.randn(2, 1, model.config.feature_dim) * 5  # a per-video "scene"
    with torch.no_grad():
        plain, shifted = model(features, words, lengths), model(features + offset, words, lengths)
    for a, b in zip(plain.match_logits + plain.distances, shifted.match_logits + shifted.distances):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    published = DRN(small_config(center_features=False)).eval()
    with torch.no_grad():
        moved = published(features + offset, words, lengths).match_logits[0]
    assert not torch.allclose(moved, published(features, words, lengths).match_logits[0], atol=1e-3)


def test_feature_dropout_acts_in_training_only(small_config, make_batch):
    torch.manual_seed(0)
    model = DRN(small_config(feature_dropout=0.5))
    features, words, lengths = make_batch(model.config, 2)
    with torch.no_grad():
        model.train()
        clips_a, clips_b = model.encode_video(features).clips, model.encode_video(features).clips
        model.eval()
        clips_c, clips_d = model.encode_video(features).clips, model.encode_video(features).clips
    assert not torch.equal(clips_a, clips_b)  # a new mask each call
    torch.testing.assert_close(clips_c, clips_d, rtol=0, atol=0)
    centred = features - features.mean(dim=1, keepdim=True)  # center_features is on by default
    torch.testing.assert_close(clips_c, model.backbone.feature_proj(centred), rtol=0, atol=0)
