"""A 1-D convolution over time as one matrix product, on features laid out [B, T, C].

Conv1d(C -> O, kernel k, stride 1, padding k // 2) of x is sum_j x[t + j - k // 2] W_j. Computed
as one GEMM of the [B * T, C] rows with all k taps at once ([C, k * O]), then the k shifted
[B, T, O] slices summed: the same products as the convolution, with no im2col copy and no
transpose of the wide input. For DRN's first fusion level (C = D + 256 = 4,352 channels into 256)
oneDNN's convolution runs several times slower than this GEMM in bf16 on AMX.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def temporal_conv(x: Tensor, weight: Tensor) -> Tensor:
    """x: [B, T, C]; weight: [O, C, k] (a Conv1d's, k odd, stride 1, zero padding k // 2, no bias).
    Returns [B, O, T], what `F.conv1d(x.transpose(1, 2), weight, padding=k // 2)` returns, to float
    rounding."""
    out_channels, in_channels, k = weight.shape
    batch, length, _ = x.shape
    taps = torch.matmul(x, weight.permute(1, 2, 0).reshape(in_channels, k * out_channels))  # [B, T, k * O]
    taps = F.pad(taps.view(batch, length, k, out_channels), (0, 0, 0, 0, k // 2, k // 2))  # zero rows at both ends
    out = taps[:, 0:length, 0]
    for j in range(1, k):
        out = out + taps[:, j:j + length, j]
    return out.transpose(1, 2)
