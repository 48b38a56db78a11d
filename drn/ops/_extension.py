"""Loads the compiled kernels (drn._C) and says which implementation serves each op on each device.

Without the extension every op falls back to its pure-PyTorch reference, with one warning;
DRN_REQUIRE_EXT=1 turns that fallback into an ImportError (CI sets it).
"""

from __future__ import annotations

import os
import warnings

import torch

OPS = ("segment_iou", "regression_targets", "iou_loss", "batched_temporal_nms")

_C = None
_missing_reason: str | None = None
try:
    from drn import _C  # noqa: F811  (registers torch.ops.drn.* as a side effect)
except ImportError as exc:  # not built, or built against another torch
    _missing_reason = f"the compiled extension drn._C could not be loaded ({exc})"

if _C is not None and _C.torch_version != torch.__version__:
    _missing_reason = (
        f"torch/CUDA version mismatch: drn._C was built against torch {_C.torch_version}, "
        f"running torch {torch.__version__}; reinstall drn"
    )

if _missing_reason is not None:
    if os.environ.get("DRN_REQUIRE_EXT") == "1":
        raise ImportError(f"DRN_REQUIRE_EXT=1 but {_missing_reason}")
    warnings.warn(
        f"drn.ops: {_missing_reason}; every op runs its pure-PyTorch reference instead "
        "(slower). Build it with `pip install --no-build-isolation .`",
        RuntimeWarning,
        stacklevel=2,
    )


def _cuda_reason() -> str | None:
    """Why the CUDA kernels cannot serve CUDA tensors, or None when they can."""
    if _missing_reason is not None:
        return _missing_reason
    if not _C.with_cuda:
        return "drn._C was built without CUDA (CPU-only torch, no nvcc, or FORCE_CPU=1)"
    if torch.version.cuda is None:
        return "the running torch is a CPU-only build"
    if _C.cuda_version.split(".")[0] != torch.version.cuda.split(".")[0]:
        return f"torch/CUDA version mismatch: built for CUDA {_C.cuda_version}, torch uses {torch.version.cuda}"
    return None


HAS_SCHEMAS = _C is not None  # torch.ops.drn.* exist (fake kernels can be registered)
_SERVES = {"cpu": _missing_reason is None, "cuda": _cuda_reason() is None}


def compiled(device: torch.device) -> bool:
    """True when the compiled kernels serve tensors on this device (else the reference does)."""
    return _SERVES.get(device.type, False)


def backend() -> dict:
    """Which implementation serves each op on each device, and why.

    Returns ``{"ops": {op: {"cpu": impl, "cuda": impl}}, "why": {"cpu": str, "cuda": str},
    "extension": {...build facts...}}`` where impl is "cpu", "cuda" or "reference".
    """
    cuda_reason = _cuda_reason()
    cuda_impl = "cuda" if cuda_reason is None else "reference"
    cpu_impl = "cpu" if _missing_reason is None else "reference"
    if cuda_reason is None and not torch.cuda.is_available():
        cuda_why = "CUDA kernels compiled; no CUDA device visible to run them"
    else:
        cuda_why = cuda_reason or "CUDA kernels compiled"
    return {
        "ops": {op: {"cpu": cpu_impl, "cuda": cuda_impl} for op in OPS},
        "why": {"cpu": _missing_reason or "compiled C++ kernels", "cuda": cuda_why},
        "extension": None
        if _C is None
        else {
            "path": _C.__file__,
            "with_cuda": bool(_C.with_cuda),
            "cuda_version": _C.cuda_version,
            "torch_version": _C.torch_version,
        },
    }
