"""The heads normalise each FPN level on its own (one shared BatchNorm, called per level), as the
published DRN does."""

import math

import pytest
import torch

from drn.model.drn import DRN
from drn.model.heads import SharedLevelConv


def identity_level_conv():
    block = SharedLevelConv(1, 1, 1)
    with torch.no_grad():
        block.conv.weight.fill_(1.0)  # y = x before the normalisation
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


def test_in_training_a_levels_head_output_ignores_the_other_levels(small_config, make_batch):
    cfg = small_config()
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
