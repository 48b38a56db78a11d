"""Argument checks of the Python wrappers, shared by the compiled path and the reference path.

Messages name the argument, what was expected and what came. Shape, dtype and device errors are
raised here; value errors (start > end, NaN scores) are raised by the kernels and the references.
"""

from __future__ import annotations

import torch

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def floating(t: torch.Tensor, op: str, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got {t.dtype}")


def segments(t: torch.Tensor, op: str, name: str) -> None:
    """A [N, 2] tensor of (start, end) pairs."""
    floating(t, op, name)
    if t.dim() != 2 or t.shape[1] != 2:
        raise ValueError(f"{op}: {name} must have shape [N, 2] of (start, end) pairs, got {list(t.shape)}")


def same_device(op: str, **tensors: torch.Tensor) -> None:
    first_name, first = None, None
    for name, t in tensors.items():
        if t is None:
            continue
        if first is None:
            first_name, first = name, t
        elif t.device != first.device:
            raise ValueError(
                f"{op}: {first_name} and {name} must be on the same device, got {first.device} and {t.device}"
            )


def as_dtype(t: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """t in dtype; t itself when it already is (Tensor.to costs a dispatch even then)."""
    return t if t is None or t.dtype == dtype else t.to(dtype)


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The dtype the kernels compute in: the promoted input dtype, fp16/bf16 raised to fp32."""
    dtype = result_dtype(*tensors)
    return torch.float32 if dtype in _LOW_PRECISION else dtype


def result_dtype(*tensors: torch.Tensor) -> torch.dtype:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        if t is not None and t.dtype != dtype:  # promote_types only when they differ: it is a dispatch
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def integer(t: torch.Tensor, op: str, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{op}: {name} must be an integer tensor (int64), got {t.dtype}")


def ordered(t: torch.Tensor, op: str, name: str) -> None:
    """Raises when a segment of t [..., 2] has start > end (the references' value check)."""
    flat = t.reshape(-1, 2)
    bad = flat[:, 0] > flat[:, 1]
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{op}: {name} must have start <= end, but segment {i} is "
            f"({float(flat[i, 0])}, {float(flat[i, 1])})"
        )
