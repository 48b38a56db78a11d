import math

import pytest
import torch

from drn.model.drn import DRN


@pytest.mark.parametrize("num_clips", [32, 64, 128])
@pytest.mark.parametrize("batch", [1, 3, 5])
def test_output_shapes(small_config, make_batch, num_clips, batch):
    cfg = small_config(num_clips=num_clips)
    torch.manual_seed(0)
    model = DRN(cfg)
    out = model(*make_batch(cfg, batch))
    lengths = [num_clips, num_clips // 2, num_clips // 4]
    assert [tuple(x.shape) for x in out.match_logits] == [(batch, n) for n in lengths]
    assert [tuple(x.shape) for x in out.distances] == [(batch, n, 2) for n in lengths]
    assert [tuple(x.shape) for x in out.iou_logits] == [(batch, n) for n in lengths]
    assert [tuple(p.shape) for p in out.iou_probs] == [(batch, n) for n in lengths]
    assert out.attention.shape == (batch, 3, 7) and out.num_clips == num_clips
    assert all(d.dtype == torch.float32 and bool((d > 0).all()) for d in out.distances)
    for points, stride, n in zip(out.points, (1, 2, 4), lengths):
        assert torch.equal(points, torch.arange(n) * stride + stride / 2)


def test_initialisation(small_config):
    model = DRN(small_config())
    assert math.isclose(model.heads.match.bias.item(), -math.log(99), rel_tol=1e-6)
    assert torch.equal(model.heads.scales.detach(), torch.ones(3))
    assert 0.005 < model.heads.regression.weight.std().item() < 0.015


def test_batch_of_one_equals_the_sample_inside_a_padded_batch(small_config, make_batch):
    cfg = small_config()
    torch.manual_seed(0)
    model = DRN(cfg)
    model.train()
    features, words, lengths = make_batch(cfg, 4, lengths=[7, 2, 5, 1])
    for _ in range(2):  # give the BN layers non-trivial running statistics
        model(features, words, lengths)
    model.eval()
    with torch.no_grad():
        batched = model(features, words, lengths)
        for i in range(4):
            single = model(features[i:i + 1], words[i:i + 1, :lengths[i]], lengths[i:i + 1])
            for name in ("match_logits", "distances", "iou_logits"):
                for level in range(3):
                    torch.testing.assert_close(getattr(single, name)[level][0], getattr(batched, name)[level][i],
                                               rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(single.attention[0], batched.attention[i, :, :lengths[i]])


def test_shape_errors_name_the_argument(small_config, make_batch):
    cfg = small_config()
    model = DRN(cfg)
    features, words, lengths = make_batch(cfg, 2)
    with pytest.raises(ValueError, match="num_clips = 32"):
        model(features[:, :16], words, lengths)
    with pytest.raises(ValueError, match="feature_dim = 64"):
        model(features[..., :10], words, lengths)
    with pytest.raises(ValueError, match="words must be"):
        model(features, words[:1], lengths)
