"""A three-level 1-D feature pyramid over the fusion levels C1, C2, C3."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from drn.model.backbone import conv_bn_relu


class FeaturePyramid(nn.Module):
    """[C1, C2, C3] of lengths T, T/2, T/4 -> [P1, P2, P3] with `channels` each, same lengths.

    Lateral 1x1 ConvBNReLU to `channels`, top-down: a level's lateral plus its coarser merged
    level upsampled x2 (nearest), then a 3x3 ConvBNReLU per level.
    """

    def __init__(self, in_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(conv_bn_relu(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(conv_bn_relu(channels, channels, 3) for _ in in_channels)

    def forward(self, levels: list[Tensor]) -> list[Tensor]:
        merged = [lateral(x) for lateral, x in zip(self.lateral, levels)]
        for i in range(len(merged) - 2, -1, -1):
            merged[i] = merged[i] + F.interpolate(merged[i + 1], size=merged[i].shape[-1], mode="nearest")
        return [conv(x) for conv, x in zip(self.output, merged)]
