"""Input makers and comparisons shared by the ops tests (imported as tests.ops.ops_testing)."""

from __future__ import annotations

import pytest
import torch

import drn.ops

HAS_EXT = all(impl["cpu"] == "cpu" for impl in drn.ops.backend()["ops"].values())
requires_ext = pytest.mark.skipif(
    not HAS_EXT, reason=f"compiled CPU kernels not loaded: {drn.ops.backend()['why']['cpu']}"
)

SEEDS = (0, 1, 2)


def _dtypes(*dtypes):
    return [pytest.param(d, id=str(d).removeprefix("torch.")) for d in dtypes]


FLOATS = _dtypes(torch.float32, torch.float64)
LOW_PRECISION = _dtypes(torch.float16, torch.bfloat16)
LAYOUTS = ("contiguous", "transposed", "strided")


def layout(t: torch.Tensor, how: str) -> torch.Tensor:
    """The same values as t in another memory layout: contiguous, last dim moved to the front in
    memory ("transposed"), or every other element of a wider buffer ("strided")."""
    if how == "contiguous":
        return t.contiguous()
    if how == "transposed":
        out = t.movedim(-1, 0).contiguous().movedim(0, -1)
    elif how == "strided":
        out = torch.stack([t, torch.full_like(t, 1234)], dim=-1)[..., 0]
    else:
        raise ValueError(how)
    assert torch.equal(out, t)
    if t.dim() >= 1 and t.numel() > 2 and t.shape[-1] > 1:
        assert not out.is_contiguous(), (how, t.shape)
    return out


def random_segments(n: int, gen: torch.Generator, dtype=torch.float64, span: float = 40.0) -> torch.Tensor:
    """[n, 2] segments with start <= end: mixed lengths, about 1 in 8 zero-length, some on an
    integer grid (so touching and identical segments occur)."""
    start = (torch.rand(n, generator=gen, dtype=torch.float64) - 0.5) * span
    length = torch.rand(n, generator=gen, dtype=torch.float64).pow(2) * span / 2
    grid = torch.rand(n, generator=gen) < 0.3
    start = torch.where(grid, start.round(), start)
    length = torch.where(grid, length.round(), length)
    length = torch.where(torch.rand(n, generator=gen) < 0.125, torch.zeros_like(length), length)
    return torch.stack([start, start + length], dim=1).to(dtype)


def random_distances(shape, gen: torch.Generator, dtype=torch.float64, ties: bool = True) -> tuple:
    """(pred, target) [*shape, 2] distances >= 0; with ties, some pairs are equal (both or l only)."""
    pred = torch.rand(*shape, 2, generator=gen, dtype=torch.float64) * 5
    target = torch.rand(*shape, 2, generator=gen, dtype=torch.float64) * 5
    if ties:
        which = torch.rand(shape, generator=gen)
        target = torch.where((which < 0.2)[..., None], pred, target)  # l == l*, r == r*
        target[..., 0] = torch.where((which > 0.8), pred[..., 0], target[..., 0])  # l == l* only
    return pred.to(dtype), target.to(dtype)


def boxes(segments: torch.Tensor) -> torch.Tensor:
    """(start, 0, end, 1) boxes, whose IoU is the segments' IoU."""
    zeros, ones = torch.zeros_like(segments[:, 0]), torch.ones_like(segments[:, 0])
    return torch.stack([segments[:, 0], zeros, segments[:, 1], ones], dim=1)


def torchvision_nms(segments: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, thr: float) -> list:
    """torchvision's NMS on (start, 0, end, 1) boxes, run group by group and merged by score
    descending: what torchvision.ops.batched_nms computes, without its coordinate-offset trick
    (which loses float32 precision and overflows with large group ids)."""
    tv = pytest.importorskip("torchvision")
    keep = [torch.zeros(0, dtype=torch.long)]
    for g in groups.unique():
        idx = (groups == g).nonzero()[:, 0]
        keep.append(idx[tv.ops.nms(boxes(segments[idx]), scores[idx], thr)])
    keep = torch.cat(keep)
    return keep[torch.sort(-scores[keep], stable=True).indices].tolist()


SWEEP_KINDS = ("touching", "zero-length", "equal starts", "nested", "chain", "grid")
# (IoU threshold, max_per_group) pairs every sweep case runs.
SWEEP_SETTINGS = ((0.0, -1), (0.3, -1), (0.5, 25), (1.0, -1))


def sweep_case(kind: str, scores_kind: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(segments, scores, groups) of one group of n: `sweep_edge_case` segments, and scores all
    distinct ("distinct") or from 4 values ("ties")."""
    gen = torch.Generator().manual_seed(seed)
    segments = sweep_edge_case(kind, n, gen)
    if scores_kind == "distinct":
        scores = torch.randperm(n, generator=gen).to(torch.float64) / n
    else:
        scores = torch.randint(0, 4, (n,), generator=gen).to(torch.float64)
    return segments, scores, torch.full((n,), 7, dtype=torch.long)


def sweep_edge_case(kind: str, n: int, gen: torch.Generator) -> torch.Tensor:
    """[n, 2] float64 segments of one shape the large-group sweeps (CPU and CUDA) must get right."""
    k = torch.arange(n, dtype=torch.float64)
    if kind == "touching":  # each ends where the next starts: overlap 0, never suppressed
        return torch.stack([k, k + 1], 1)
    if kind == "zero-length":  # points, many at one place, some inside long segments
        start = (k % 37).floor()
        return torch.stack([start, start + torch.where(k % 3 == 0, 0.0, 5.0)], 1)
    if kind == "equal starts":  # a few starts shared by many, lengths on a grid
        start = (k % 5) * 3
        return torch.stack([start, start + 1 + (k % 7)], 1)
    if kind == "nested":  # long segments holding many short ones: overlap without suppression
        start = torch.where(k % 10 == 0, k - 40, k)
        return torch.stack([start, start + torch.where(k % 10 == 0, 90.0, 1.5)], 1)
    if kind == "chain":  # a long run of neighbours: suppression decided down the chain
        return torch.stack([k * 0.5, k * 0.5 + 1], 1)
    return random_segments(n, gen, torch.float64, span=80).round()
