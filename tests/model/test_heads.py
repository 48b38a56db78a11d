"""The heads normalise each FPN level on its own: `published` (one shared BatchNorm called per
level, as the published DRN does), `per_level` (one BatchNorm per level) or `group` (GroupNorm)."""

import math

import pytest
import torch

from drn.model.drn import DRN
from drn.model.heads import SharedLevelConv, group_count


def identity_level_conv(norm="published", channels=1):
    block = SharedLevelConv(channels, channels, 1, norm=norm)
    with torch.no_grad():
        block.conv.weight.copy_(torch.eye(channels)[..., None])  # y = x before the normalisation
    return block.train()


def test_each_level_is_normalised_with_its_own_statistics():
    block = identity_level_conv()
    level0 = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])  # [B=1, C=1, T=4]: mean 2.5, biased var 1.25
    level1 = torch.tensor([[[10.0, 20.0]]])          # [1, 1, 2]: mean 15, biased var 25
    out0, out1 = block([level0, level1])
    eps = block.norm.eps
    expected0 = [max(0.0, (x - 2.5) / math.sqrt(1.25 + eps)) for x in (1, 2, 3, 4)]
    expected1 = [max(0.0, (x - 15.0) / math.sqrt(25.0 + eps)) for x in (10, 20)]
    assert out0.flatten().tolist() == pytest.approx(expected0, rel=1e-6)
    assert out1.flatten().tolist() == pytest.approx(expected1, rel=1e-6)
    # One momentum-0.1 update per level, finest first; running_var takes the unbiased variance.
    assert block.norm.running_mean.item() == pytest.approx(0.9 * (0.1 * 2.5) + 0.1 * 15.0)
    assert block.norm.running_var.item() == pytest.approx(0.9 * (0.9 * 1.0 + 0.1 * 5 / 3) + 0.1 * 50.0)
    assert block.norm.num_batches_tracked.item() == 2


def test_per_level_norm_keeps_each_levels_statistics_apart():
    block = identity_level_conv("per_level")
    gen = torch.Generator().manual_seed(0)
    # Many values per level, so the running (unbiased) variance is within 1% of the batch's.
    levels = [torch.randn(8, 1, n, generator=gen) * scale + shift for n, scale, shift in ((64, 1, 2.5), (32, 5, 15), (16, 2, 1))]
    for _ in range(200):  # running statistics converge to each level's own
        block(levels)
    assert [bn.running_mean.item() for bn in block.norms] == pytest.approx([x.mean().item() for x in levels], rel=1e-4)
    assert [bn.num_batches_tracked.item() for bn in block.norms] == [200, 200, 200]
    # So evaluation normalises each level as training did; the published norm's mixed statistics do not.
    trained = block(levels)
    evaluated = block.eval()(levels)
    for a, b in zip(trained, evaluated):
        torch.testing.assert_close(b, a, rtol=1e-2, atol=1e-2)
    published = identity_level_conv("published")
    for _ in range(200):
        published(levels)
    mixed = published.eval()(levels)
    assert not torch.allclose(mixed[1], published.train()(levels)[1], atol=0.1)


def test_group_norm_normalises_each_sample_and_level_alone():
    block = identity_level_conv("group", channels=4)
    assert isinstance(block.norm, torch.nn.GroupNorm) and block.norm.num_groups == 4
    x = torch.randn(3, 4, 8) * 5 + 2
    alone = block([x[:1]])[0]
    together = block([x])[0][:1]
    torch.testing.assert_close(alone, together)  # no batch statistics
    torch.testing.assert_close(block.eval()([x])[0], block.train()([x])[0])  # no running statistics
    per_channel = (x[0] - x[0].mean(dim=1, keepdim=True)) / torch.sqrt(x[0].var(dim=1, unbiased=False, keepdim=True)
                                                                       + block.norm.eps)
    torch.testing.assert_close(alone[0], per_channel.clamp(min=0))  # a group of one channel


@pytest.mark.parametrize(("channels", "groups"), [(128, 32), (64, 32), (48, 24), (30, 30), (2, 2), (33, 11)])
def test_group_count_divides_the_channels(channels, groups):
    assert group_count(channels) == groups


def test_an_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm must be one of"):
        SharedLevelConv(4, 4, 1, norm="layer")


@pytest.mark.parametrize("norm", ["published", "per_level", "group"])
def test_in_training_a_levels_head_output_ignores_the_other_levels(small_config, make_batch, norm):
    cfg = small_config(head_norm=norm)
    torch.manual_seed(0)
    model = DRN(cfg).train()
    levels = [torch.randn(3, cfg.fpn_channels, n) * (1 + 4 * i) + i for i, n in enumerate(cfg.level_lengths())]
    with torch.no_grad():
        logits, distances, cls_feats, box_feats = model.heads(levels)
        alone_logits, alone_distances, alone_cls, alone_box = model.heads(levels[:1])
        iou = model.iou_head(cls_feats, box_feats)
        alone_iou = model.iou_head(alone_cls, alone_box)
    torch.testing.assert_close(alone_logits[0], logits[0])
    torch.testing.assert_close(alone_distances[0], distances[0])
    torch.testing.assert_close(alone_iou[0], iou[0])
