"""DRN's published initialisation of the query attention, the fusion backbone and the FPN.

The official code initialises
- the query attention's projections W_q, W_t and w_a like TensorFlow's xavier_initializer:
  U(-sqrt(3 / fan_avg), +sqrt(3 / fan_avg)) with fan_avg = (fan_in + fan_out) / 2, which is
  `xavier_uniform_` with gain 1, and zero biases;
- every convolution of the fusion backbone (C1, C2, C3) and of the FPN with `kaiming_uniform_(a=1)`,
  U(-sqrt(3 / fan_in), +sqrt(3 / fan_in)) (those convolutions have no bias: BatchNorm follows).
Everything else keeps PyTorch's defaults there too (embeddings, the BiLSTM, the per-level command
projections, the clip feature and position Linears); the heads' N(0, 0.01) lives in heads.py.
"""

from __future__ import annotations

from torch import nn


def init_attention_projections(query_encoder: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for W_q (`sentence_proj`), every W_t (`level_proj`)
    and w_a (`attention_score`) of a `QueryEncoder`."""
    linears = [query_encoder.sentence_proj, *query_encoder.level_proj, query_encoder.attention_score]
    for linear in linears:
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)


def init_convolutions_kaiming(module: nn.Module) -> None:
    """`kaiming_uniform_(a=1)` for every Conv1d inside `module`, zero for any bias."""
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            nn.init.kaiming_uniform_(m.weight, a=1)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_as_published(model: nn.Module) -> None:
    """Apply the published initialisation to a `DRN`'s query encoder, backbone and FPN in place."""
    init_attention_projections(model.query_encoder)
    init_convolutions_kaiming(model.backbone)
    init_convolutions_kaiming(model.fpn)
