"""The dtype that DRN's numerically sensitive steps (exp, sigmoid, softmax, losses) compute in."""

from __future__ import annotations

import torch
from torch import Tensor


def at_least_fp32(x: Tensor) -> Tensor:
    """`x` in float32 when it is a narrower float (fp16/bf16 under autocast), else unchanged:
    a float64 model (`model.double()`) keeps float64 end to end."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
