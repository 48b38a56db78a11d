"""The dtype that DRN's numerically sensitive steps (exp, sigmoid, softmax, losses) compute in."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor


def at_least_fp32(x: Tensor) -> Tensor:
    """`x` in float32 when it is a narrower float (fp16/bf16 under autocast), else unchanged:
    a float64 model (`model.double()`) keeps float64 end to end."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CPU and on GPUs that have it, fp16 on older GPUs; a no-op when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, dtype=torch.bfloat16)
