"""A step's GEMM floor: the time of its matrix products and convolutions alone.

`record_gemms(fn)` runs `fn` once under a dispatch mode that notes every matmul, convolution and
fused RNN layer it dispatches (forward and backward, below autocast, so in the precision they ran
in): the op, and the shape, strides and dtype of each tensor argument. `GemmReplay` re-issues
exactly those calls on random tensors of the same layout (one tensor per distinct layout, made
once), so timing it gives what the step would take if everything but its GEMMs were free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

aten = torch.ops.aten
GEMM_OPS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default, aten.convolution.default,
            aten.convolution_backward.default, aten.mkldnn_rnn_layer.default,
            aten.mkldnn_rnn_layer_backward.default}


@dataclass(frozen=True)
class Layout:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


def _layout(item):
    return Layout(tuple(item.shape), tuple(item.stride()), item.dtype) if isinstance(item, torch.Tensor) else item


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in GEMM_OPS:
            self.calls.append((func, tree_map(_layout, args), tree_map(_layout, kwargs)))
        return func(*args, **kwargs)


def record_gemms(fn) -> list[tuple]:
    """(op, args, kwargs) of every GEMM `fn()` dispatches, tensors as their `Layout`."""
    with _Recorder() as recorder:
        fn()
    return recorder.calls


class GemmReplay:
    """Calling it runs the recorded GEMMs once, in order, on random data of the recorded layouts."""

    def __init__(self, calls: list[tuple], seed: int = 0, device: torch.device | str = "cpu"):
        gen = torch.Generator().manual_seed(seed)
        tensors: dict[Layout, torch.Tensor] = {}

        def make(item):
            if not isinstance(item, Layout):
                return item
            if item not in tensors:
                extent = 1 + sum((n - 1) * s for n, s in zip(item.shape, item.stride)) if all(item.shape) else 0
                storage = torch.randn(extent, generator=gen).to(device=device, dtype=item.dtype)
                tensors[item] = storage.as_strided(item.shape, item.stride)
            return tensors[item]

        self.calls = [(func, tree_map(make, args), tree_map(make, kwargs)) for func, args, kwargs in calls]

    def __call__(self) -> None:
        with torch.no_grad():
            for func, args, kwargs in self.calls:
                func(*args, **kwargs)


def timed(fn, rounds: int) -> list[float]:
    """Seconds of each of `rounds` calls of `fn`."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times
