"""Numeric precision: which dtype the GEMMs run in (`train.precision`, `eval.precision`), what the
hardware offers, and the dtype DRN's numerically sensitive steps (exp, sigmoid, softmax, losses)
compute in.

Precisions: "fp32" (no autocast), "bf16" (autocast to bfloat16 on CPU and CUDA), "fp16" (autocast
to float16, CUDA only; training adds a grad scaler) and "auto": bf16 where the hardware computes
it natively (a CPU with AMX or AVX512-BF16, a GPU that supports bf16), else fp32 (fp16 only when
asked: its accuracy is not measured here). Under autocast only the matrix products and
convolutions run in the low precision; losses, targets, NMS, the sigmoids and the exp of the
distances stay fp32.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from drn.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionError(UserError, ValueError):
    """A precision the device cannot run (fp16 on a CPU, bf16 on a GPU without it)."""


def at_least_fp32(x: Tensor) -> Tensor:
    """`x` in float32 when it is a narrower float (fp16/bf16 under autocast), else unchanged:
    a float64 model (`model.double()`) keeps float64 end to end."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def cpu_bf16_hardware() -> str | None:
    """The CPU's native bf16 instructions ("AMX" or "AVX512-BF16"), or None: bf16 would be emulated
    (slower than fp32)."""
    if torch.cpu._is_amx_tile_supported():
        return "AMX"
    if torch.cpu._is_avx512_bf16_supported():
        return "AVX512-BF16"
    return None


def resolve_precision(precision: str, device: torch.device, key: str = "precision") -> str:
    """`precision` ("auto", "fp32", "bf16", "fp16") as what runs on `device`: "fp32", "bf16" or
    "fp16". A precision the device cannot run is a `PrecisionError` naming `key`."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"{key} must be one of {PRECISIONS}, got {precision!r}")
    cuda = device.type == "cuda"
    if precision == "auto":
        native = torch.cuda.is_bf16_supported() if cuda else cpu_bf16_hardware() is not None
        return "bf16" if native else "fp32"
    if precision == "fp16" and not cuda:
        raise PrecisionError(f"{key} is fp16, which runs on CUDA only; on the CPU use bf16 or fp32")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise PrecisionError(f"{key} is bf16 but {torch.cuda.get_device_name(device)} does not support it; "
                             "use fp16 or fp32")
    return precision


def autocast(device: torch.device, precision: str):
    """Autocast to a resolved precision's dtype ("bf16", "fp16"); a no-op for "fp32"."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def lowered_weights(model: nn.Module, precision: str) -> dict[str, Tensor]:
    """The weights and biases of every Linear and Conv1d of `model`, cast to a resolved precision's
    dtype (empty for "fp32"): what autocast casts them to on every call, cast once."""
    dtype = DTYPES[precision]
    if dtype is None:
        return {}
    lowered = {}
    for prefix, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            for name, param in module.named_parameters(recurse=False):
                lowered[f"{prefix}.{name}" if prefix else name] = param.detach().to(dtype)
    return lowered


class InferencePrecision:
    """Calls a model for inference in a precision: under autocast, with the GEMM weights cast once
    (`lowered_weights`) instead of on every call. The outputs equal those of the model under plain
    autocast, bit for bit (the same casts, made earlier); build a new one when the weights change.

    Args:
        model: the model (its weights are read now, for the casts).
        precision: "auto", "fp32", "bf16" or "fp16" (resolved for `device`).
        device: where the model runs.
        key: the config key named in errors.
    """

    def __init__(self, model: nn.Module, precision: str, device: torch.device, key: str = "eval.precision"):
        self.model = model
        self.device = device
        self.precision = resolve_precision(precision, device, key)
        self.weights = lowered_weights(model, self.precision)

    def __call__(self, *args, **kwargs):
        with autocast(self.device, self.precision):
            if not self.weights:
                return self.model(*args, **kwargs)
            return torch.func.functional_call(self.model, self.weights, args, kwargs, strict=False)
