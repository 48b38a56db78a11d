"""Suite-wide hooks: which kernels serve the ops (in the report header), and CUDA test skipping."""

from __future__ import annotations

import pytest
import torch


def _backend():
    """drn.ops.backend(), or the import error as a string (DRN_REQUIRE_EXT=1 without drn._C)."""
    try:
        import drn.ops
    except ImportError as exc:
        return None, f"import drn.ops failed: {exc}"
    return drn.ops.backend(), None


def pytest_report_header(config):
    info, error = _backend()
    if info is None:
        return [f"drn.ops: {error}"]
    per_op = ", ".join(f"{op} cpu={impl['cpu']} cuda={impl['cuda']}" for op, impl in info["ops"].items())
    ext = info["extension"]
    built = (
        "drn._C: not loaded"
        if ext is None
        else f"drn._C: {ext['path']} (with_cuda={ext['with_cuda']}, built for CUDA {ext['cuda_version']}, "
        f"torch {ext['torch_version']})"
    )
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
    return [
        f"drn.ops: {per_op}",
        f"drn.ops why: cpu: {info['why']['cpu']}; cuda: {info['why']['cuda']}",
        built,
        f"torch {torch.__version__} (CUDA {torch.version.cuda}), CUDA device: {device}",
    ]


def cuda_skip_reason() -> str | None:
    """Why tests marked `cuda` cannot run here, or None when the CUDA kernels serve a visible GPU."""
    if not torch.cuda.is_available():
        return "no CUDA device visible"
    info, error = _backend()
    if info is None:
        return error
    if any(impl["cuda"] != "cuda" for impl in info["ops"].values()):
        return f"CUDA kernels not in use: {info['why']['cuda']}"
    return None


def pytest_collection_modifyitems(config, items):
    reason = cuda_skip_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
