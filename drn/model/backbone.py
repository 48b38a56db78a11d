"""Query-video fusion: the three conv levels C1, C2, C3 of DRN, each modulated by a query command."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from drn.model.config import DRNConfig
from drn.model.temporal_conv import temporal_conv


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Conv1d (same padding for odd kernels) + BatchNorm1d + ReLU on [B, C, T]."""
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
    )


def clip_positions(num_clips: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """[T, 3] normalised (start, end, end - start) of each of T equal clips of a video in [0, 1]."""
    starts = torch.arange(num_clips, device=device, dtype=dtype) / num_clips
    ends = starts + 1.0 / num_clips
    return torch.stack([starts, ends, ends - starts], dim=-1)


class FusionBackbone(nn.Module):
    """Clip features and query commands -> C1 [B, 256, T], C2 [B, 512, T/2], C3 [B, 1024, T/4].

    x = Linear(D, D)(features). C1 = ConvBNReLU_k3s1(cat(cmd_0 * x, Linear(3, 256)(positions))),
    C2 = ConvBNReLU_k3s2(cmd_1 * C1), C3 = ConvBNReLU_k3s2(cmd_2 * C2); `*` is the element-wise
    product of a [B, C] command broadcast over time. Channel widths are the config's
    (position_dim, level_channels).

    x and the position embedding depend on the video alone: `encode_video` computes them once per
    video and `fuse` expands them over that video's queries (`video_index`), so a video with Q
    queries pays for its Linear(D, D) once instead of Q times. The product is the same either way,
    bit for bit: a row of a matrix product does not depend on the other rows.
    """

    def __init__(self, config: DRNConfig) -> None:
        super().__init__()
        c1, c2, c3 = config.level_channels
        self.num_clips = config.num_clips
        # Training-time dropout of the clip features' dimensions (off in evaluation): the model
        # otherwise memorises the training videos' noise (see docs/accuracy.md).
        self.feature_dropout = nn.Dropout(config.feature_dropout)
        self.center_features = config.center_features
        self.feature_proj = nn.Linear(config.feature_dim, config.feature_dim)
        self.position_embedding = nn.Linear(3, config.position_dim)
        self.levels = nn.ModuleList([
            conv_bn_relu(config.feature_dim + config.position_dim, c1, 3, stride=1),
            conv_bn_relu(c1, c2, 3, stride=2),
            conv_bn_relu(c2, c3, 3, stride=2),
        ])

    def encode_video(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """features: [V, T, D] clip features of V videos. Returns (x [V, T, D] = Linear(D, D) of
        the features, positions [T, P] = the clips' position embedding, in the features' dtype):
        the query-independent part."""
        positions = self.position_embedding(clip_positions(features.shape[1], features.device, features.dtype))
        if self.center_features:  # what every clip of the video shares tells nothing about where
            features = features - features.mean(dim=1, keepdim=True)
        return self.feature_proj(self.feature_dropout(features)), positions

    def fuse(self, video: Tensor, positions: Tensor, commands: list[Tensor],
             video_index: Tensor | None = None) -> list[Tensor]:
        """video: [V, T, D] and positions: [T, P] from `encode_video`; commands: [B, D], [B, C1],
        [B, C2] from the `QueryEncoder`; video_index: [B] int64, the row of `video` each query
        grounds in (None: query b in video b, V = B). Returns [C1, C2, C3], each [B, C_l, T / stride_l]."""
        x = video if video_index is None else video.index_select(0, video_index)
        x = x * commands[0][:, None, :]  # [B, T, D]
        conv, norm, relu = self.levels[0]
        # C1 = conv(cat(x, positions)): the widest convolution, as GEMMs on the [B, T, C] layout
        # (drn.model.temporal_conv), split at the concatenation: the positions' part is the same for
        # every query, computed once, and the [B, T, D + P] concatenation is never built.
        if isinstance(conv, nn.Conv1d):
            width = x.shape[-1]
            fused = temporal_conv(x, conv.weight[:, :width]) + temporal_conv(positions[None].to(x.dtype),
                                                                             conv.weight[:, width:])
        else:  # a convolution replaced by one of its own kind (drn.inference.invariant's) runs as itself
            fused = conv(torch.cat([x, positions.to(x.dtype).expand(x.shape[0], -1, -1)], dim=-1).transpose(1, 2))
        outputs = [relu(norm(fused))]
        for level in (1, 2):
            outputs.append(self.levels[level](outputs[-1] * commands[level][:, :, None]))
        return outputs

    def forward(self, features: Tensor, commands: list[Tensor], video_index: Tensor | None = None) -> list[Tensor]:
        """features: [V, T, D] clip features (V = B when video_index is None); see `fuse`."""
        return self.fuse(*self.encode_video(features), commands, video_index)
