"""`tiny`: a small 3D conv net with fixed random weights, for tests and CPU demos only.

It is not trained on anything. Its weights come from a fixed seed, so every process builds the
same network and features extracted in one run match those extracted later. Random convolutions
with ReLU still keep colour, brightness and coarse layout and motion (a 2 x 2 spatial grid of
pooled channels, averaged over time), which is enough for synthetic videos of coloured shapes.
"""

from __future__ import annotations

import torch
from torch import nn

TINY_SEED = 0
TINY_CHANNELS = 32
TINY_GRID = 2  # pooled spatial cells per side
TINY_DIM = TINY_CHANNELS * TINY_GRID * TINY_GRID


class TinyVideoNet(nn.Module):
    """[N, 3, F, H, W] normalised frames -> [N, TINY_DIM] (3 strided 3D convs, ReLU, grid pooling)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3, 16, kernel_size=(3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2)),
            nn.ReLU(inplace=True),
            nn.Conv3d(16, 32, kernel_size=3, stride=(2, 2, 2), padding=1),
            nn.ReLU(inplace=True),
            nn.Conv3d(32, TINY_CHANNELS, kernel_size=3, stride=(2, 2, 2), padding=1),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool3d((1, TINY_GRID, TINY_GRID))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def build_tiny() -> TinyVideoNet:
    """The `tiny` network, its weights drawn from TINY_SEED without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        return TinyVideoNet()
