"""DRN's published initialisation: Xavier-uniform W_q, W_t, w_a with zero biases; Kaiming-uniform
(a = 1) backbone and FPN convolutions; PyTorch defaults elsewhere."""

import math

import pytest
import torch
from torch import nn

from drn.model.drn import DRN

# Wide enough that a uniform init's extremes come within a few percent of its bound.
WIDE = dict(lstm_hidden=64, attention_dim=64)


def assert_uniform_with_bound(weight, bound):
    """All |w| <= bound, the largest within 5% of it, and the std that of U(-bound, bound)."""
    w = weight.detach().abs()
    assert w.max() <= bound * (1 + 1e-6)
    assert w.max() >= 0.95 * bound
    assert weight.detach().std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


def test_attention_projections_are_xavier_uniform_with_zero_bias(small_config):
    torch.manual_seed(0)
    cfg = small_config(**WIDE)
    encoder = DRN(cfg).query_encoder
    word_dim = 2 * cfg.lstm_hidden
    # W_q: 4H -> A, each W_t: A -> 2H, w_a: 2H -> 1; bound sqrt(6 / (fan_in + fan_out)).
    cases = [(encoder.sentence_proj, 2 * word_dim, cfg.attention_dim)]
    cases += [(proj, cfg.attention_dim, word_dim) for proj in encoder.level_proj]
    cases += [(encoder.attention_score, word_dim, 1)]
    for linear, fan_in, fan_out in cases:
        assert tuple(linear.weight.shape) == (fan_out, fan_in)
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert linear.weight.abs().max() <= bound * (1 + 1e-6)
        if fan_out > 1:  # w_a has too few weights for its extremes to reach the bound reliably
            assert_uniform_with_bound(linear.weight, bound)
        assert torch.equal(linear.bias, torch.zeros_like(linear.bias))


def test_backbone_and_fpn_convolutions_are_kaiming_uniform_a1(small_config):
    torch.manual_seed(0)
    cfg = small_config()
    model = DRN(cfg)
    convs = [m for part in (model.backbone, model.fpn) for m in part.modules() if isinstance(m, nn.Conv1d)]
    assert len(convs) == 3 + 2 * 3  # C1, C2, C3; a lateral and an output conv per FPN level
    for conv in convs:
        fan_in = conv.in_channels * conv.kernel_size[0]
        # kaiming_uniform_(a=1): gain sqrt(2 / (1 + a^2)) = 1, bound sqrt(3 / fan_in); PyTorch's
        # default (a = sqrt(5)) would give 1 / sqrt(fan_in), sqrt(3) times smaller.
        assert_uniform_with_bound(conv.weight, math.sqrt(3 / fan_in))
        assert conv.bias is None  # BatchNorm follows


def test_other_layers_keep_their_own_init(small_config):
    torch.manual_seed(0)
    cfg = small_config()
    model = DRN(cfg)
    for linear in model.query_encoder.command_proj:  # PyTorch's default Linear: U(+-1/sqrt(fan_in)) for weights and bias
        bound = 1 / math.sqrt(linear.in_features)
        assert linear.weight.abs().max() <= bound and linear.bias.abs().max() <= bound
        assert linear.bias.abs().max() > 0
    for conv in [m for m in model.heads.modules() if isinstance(m, nn.Conv1d)]:  # N(0, 0.01)
        assert conv.weight.std().item() == pytest.approx(cfg.head_init_std, rel=0.2)
