"""DRN's heads, shared across pyramid levels: semantic matching, location regression, IoU."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from drn.model.config import HEAD_NORMS
from drn.model.precision import at_least_fp32

MAX_LOG_DISTANCE = math.log(torch.finfo(torch.float16).max)  # about 11.09
GROUP_NORM_GROUPS = 32  # FCOS's and ActionFormer's count; fewer when the channels do not divide


def group_count(channels: int) -> int:
    """Groups of the head GroupNorm: the largest divisor of `channels` up to GROUP_NORM_GROUPS."""
    return next(g for g in range(min(GROUP_NORM_GROUPS, channels), 0, -1) if channels % g == 0)


class SharedLevelConv(nn.Module):
    """Conv1d + normalisation + ReLU applied to every level with the same convolution weights.

    Each level is convolved and normalised on its own; `norm` decides how:
        "published": one BatchNorm1d (`self.norm`) called per level, as in the published DRN. In
            training a level is normalised with its own batch statistics, while the running
            statistics take one momentum update per level per call, in level order (finest
            first), so in evaluation every level is normalised with statistics that mix them all.
        "per_level": one BatchNorm1d per level (`self.norms`): training and evaluation agree.
        "group": one GroupNorm (`self.norm`, `group_count` groups), per sample and level, no
            running statistics (FCOS, ActionFormer).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_levels: int = 3,
                 norm: str = "published") -> None:
        super().__init__()
        if norm not in HEAD_NORMS:
            raise ValueError(f"norm must be one of {HEAD_NORMS}, got {norm!r}")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        if norm == "per_level":
            self.norms = nn.ModuleList(nn.BatchNorm1d(out_channels) for _ in range(num_levels))
        elif norm == "group":
            self.norm = nn.GroupNorm(group_count(out_channels), out_channels)
        else:
            self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, levels: list[Tensor]) -> list[Tensor]:
        """levels: [B, C_in, T_l] per level -> [B, C_out, T_l] per level."""
        norms = self.norms if hasattr(self, "norms") else [self.norm] * len(levels)
        return [torch.relu(norm(self.conv(x))) for norm, x in zip(norms, levels)]


def init_head_convs(module: nn.Module, std: float) -> None:
    """N(0, std) weights and zero biases for every Conv1d inside `module`."""
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class DenseHeads(nn.Module):
    """Matching and regression heads on the pyramid levels [B, F, T_l].

    A cls tower and a box tower (ConvBNReLU k3 F -> F each) feed a k3 conv to one matching logit
    (bias -log((1 - prior) / prior)) and a k3 conv to two distances, exp(scale_l * x) with a
    learnable scale per level (init 1). The distances (l, r) from each location are in clip units
    on every level (no stride factor: the per-level scale absorbs it, as in DRN).
    """

    def __init__(self, channels: int, num_levels: int, prior_prob: float, init_std: float,
                 norm: str = "published") -> None:
        super().__init__()
        self.cls_tower = SharedLevelConv(channels, channels, 3, num_levels, norm)
        self.box_tower = SharedLevelConv(channels, channels, 3, num_levels, norm)
        self.match = nn.Conv1d(channels, 1, 3, padding=1)
        self.regression = nn.Conv1d(channels, 2, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(num_levels))
        init_head_convs(self, init_std)
        nn.init.constant_(self.match.bias, -math.log((1.0 - prior_prob) / prior_prob))

    def forward(self, levels: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """Returns (match logits [B, T_l], distances [B, T_l, 2] fp32 clip units, cls tower
        [B, F, T_l], box tower [B, F, T_l]) per level."""
        cls_feats = self.cls_tower(levels)
        box_feats = self.box_tower(levels)
        logits = [self.match(x).squeeze(1) for x in cls_feats]
        # exp in fp32 (fp64 in a float64 model), of an exponent clamped at log(fp16 max): a distance
        # never overflows fp16, and no distance that long (65,504 clips) can matter (segments are
        # clamped to [0, T]).
        distances = [torch.exp((at_least_fp32(self.scales[i]) * at_least_fp32(self.regression(x)))
                               .clamp(max=MAX_LOG_DISTANCE)).transpose(1, 2) for i, x in enumerate(box_feats)]
        return logits, distances, cls_feats, box_feats


class IoUHead(nn.Module):
    """Predicts the IoU of each location's decoded segment with the ground truth.

    cat(cls tower, box tower) [B, 2F, T_l] -> 1x1 ConvBNReLU 2F -> F (the mixing conv) -> k3
    ConvBNReLU F -> F/2 -> 1x1 conv -> one logit per location [B, T_l]; sigmoid gives the IoU.
    """

    def __init__(self, channels: int, init_std: float, num_levels: int = 3, norm: str = "published") -> None:
        super().__init__()
        self.mix = SharedLevelConv(2 * channels, channels, 1, num_levels, norm)
        self.conv = SharedLevelConv(channels, channels // 2, 3, num_levels, norm)
        self.logit = nn.Conv1d(channels // 2, 1, 1)
        init_head_convs(self, init_std)

    def forward(self, cls_feats: list[Tensor], box_feats: list[Tensor]) -> list[Tensor]:
        x = self.conv(self.mix([torch.cat(pair, dim=1) for pair in zip(cls_feats, box_feats)]))
        return [self.logit(level).squeeze(1) for level in x]


class SaliencyHead(nn.Module):
    """Highlight detection: one saliency logit per clip from the finest level's cls tower
    [B, F, T] (stride 1, query-conditioned): k3 conv F -> F/2, ReLU, 1x1 conv -> [B, T]."""

    def __init__(self, channels: int, init_std: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels // 2, 3, padding=1)
        self.logit = nn.Conv1d(channels // 2, 1, 1)
        init_head_convs(self, init_std)

    def forward(self, finest: Tensor) -> Tensor:
        return self.logit(torch.relu(self.conv(finest))).squeeze(1)
