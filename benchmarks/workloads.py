"""Benchmark workloads that mirror how the temporal ops are used, generated from fixed seeds.

Every generator is deterministic (its own torch.Generator), works on the CPU, and returns plain
tensors; the benchmarks move them to the device they time. Scores are made distinct (a rank
mapped to (0, 1]) so that "the same keep list as torchvision" is a well-defined check.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# DRN's three FPN levels: strides 1, 2, 4 over T clips -> T + T/2 + T/4 locations.
STRIDES = (1, 2, 4)
NMS_THRESHOLD = 0.45  # DRN's evaluation threshold (eval.nms_threshold)


def fpn_points(num_clips: int) -> torch.Tensor:
    """Location centres of all levels, concatenated: t = i * stride + stride / 2, in clip units."""
    return torch.cat([torch.arange(num_clips // s, dtype=torch.float32) * s + s / 2 for s in STRIDES])


def fpn_ranges(num_clips: int) -> torch.Tensor:
    """DRN's per-level regression ranges [-1, 6], [5.6, 11], [11, inf] (for T = 32; scaled with T)."""
    k = num_clips / 32
    bounds = ((-1.0, 6.0 * k), (5.6 * k, 11.0 * k), (11.0 * k, float("inf")))
    return torch.cat([torch.tensor([b]).repeat(num_clips // s, 1) for s, b in zip(STRIDES, bounds)])


def distinct_scores(logits: torch.Tensor) -> torch.Tensor:
    """Scores in (0, 1] with the order of `logits` and no two equal in float32 (needs N < 2**23)."""
    n = logits.numel()
    assert n < 2**23, "rank / n is exact and distinct in float32 only below 2**23 elements"
    rank = torch.empty(n, dtype=torch.long)
    rank[logits.flatten().argsort()] = torch.arange(n)
    return ((rank + 1).to(torch.float64) / n).to(torch.float32).view_as(logits)


def ground_truth_moments(num_queries: int, num_clips: int, g: torch.Generator) -> torch.Tensor:
    """[Q, 2] (start, end) in clip units; lengths skewed short, as in Charades-STA and ActivityNet."""
    length = num_clips * (0.04 + 0.6 * torch.rand(num_queries, generator=g) ** 1.5)
    start = (num_clips - length) * torch.rand(num_queries, generator=g)
    return torch.stack([start, start + length], dim=1)


@dataclass
class NmsWorkload:
    name: str
    segments: torch.Tensor  # [N, 2]
    scores: torch.Tensor  # [N], distinct
    groups: torch.Tensor  # [N] int64
    iou_threshold: float

    @property
    def size(self) -> int:
        return self.segments.shape[0]

    def boxes(self) -> torch.Tensor:
        """The segments as torchvision boxes (start, 0, end, 1)."""
        s, e = self.segments[:, 0], self.segments[:, 1]
        return torch.stack([s, torch.zeros_like(s), e, torch.ones_like(s)], dim=1)


def grounding_candidates(num_queries: int, num_clips: int, seed: int, name: str = "") -> NmsWorkload:
    """DRN's evaluation input: every FPN location of every query decoded to a scored segment.

    A location inside the query's moment regresses the moment's boundaries with multiplicative noise
    and scores high; a location outside predicts a short segment around itself and scores low.
    Candidates of one query are side by side (groups = query index), as DRN's inference emits them.
    """
    g = torch.Generator().manual_seed(seed)
    T = float(num_clips)
    points = fpn_points(num_clips)[None, :]  # [1, C]
    stride = torch.cat([torch.full((num_clips // s,), float(s)) for s in STRIDES])[None, :]
    C = points.shape[1]
    gt = ground_truth_moments(num_queries, num_clips, g)
    start, end = gt[:, :1], gt[:, 1:]
    inside = (points > start) & (points < end)

    def jitter(scale: float) -> torch.Tensor:
        return torch.exp(scale * torch.randn(num_queries, C, generator=g))

    l_in, r_in = (points - start).clamp(min=0.5) * jitter(0.25), (end - points).clamp(min=0.5) * jitter(0.25)
    l_out, r_out = stride * jitter(0.8) * 1.6, stride * jitter(0.8) * 1.6
    left = torch.where(inside, l_in, l_out)
    right = torch.where(inside, r_in, r_out)
    segments = torch.stack([(points - left).clamp(0, T), (points + right).clamp(0, T)], dim=-1)
    logits = torch.where(inside, 1.0, -2.0) + torch.randn(num_queries, C, generator=g)
    return NmsWorkload(
        name or f"{num_queries} queries x {C} candidates",
        segments.reshape(-1, 2).contiguous(),
        distinct_scores(logits).reshape(-1),
        torch.arange(num_queries).repeat_interleave(C),
        NMS_THRESHOLD,
    )


def charades_sta_eval() -> NmsWorkload:
    """Workload (1): Charades-STA test, 3,720 queries x 56 candidates (T = 32)."""
    return grounding_candidates(3720, 32, seed=1, name="Charades-STA eval: 3,720 queries x 56")


def activitynet_eval() -> NmsWorkload:
    """Workload (2): ActivityNet Captions val_2, 17,031 queries x 224 candidates (T = 128)."""
    return grounding_candidates(17031, 128, seed=2, name="ActivityNet eval: 17,031 queries x 224")


def action_proposals(num: int = 20000, seed: int = 3, duration: float = 3600.0) -> NmsWorkload:
    """Workload (3): one large group, temporal action localisation proposals over an hour of video.

    Most proposals cluster around actions (jittered centre and length); the rest are background.
    Threshold 0.5, a common choice for proposal NMS.
    """
    g = torch.Generator().manual_seed(seed)
    actions = max(1, num // 50)
    centre = torch.rand(actions, generator=g) * duration
    length = torch.exp(torch.randn(actions, generator=g) * 0.8 + 3.0)  # median ~20 s
    near = int(num * 0.8)
    pick = torch.randint(0, actions, (near,), generator=g)
    c_near = centre[pick] + torch.randn(near, generator=g) * length[pick] * 0.3
    l_near = length[pick] * torch.exp(torch.randn(near, generator=g) * 0.3)
    c_far = torch.rand(num - near, generator=g) * duration
    l_far = torch.exp(torch.randn(num - near, generator=g) * 1.0 + 2.5)
    c, ln = torch.cat([c_near, c_far]), torch.cat([l_near, l_far])
    segments = torch.stack([(c - ln / 2).clamp(0, duration), (c + ln / 2).clamp(0, duration)], dim=1)
    logits = torch.cat([torch.randn(near, generator=g) + 1.0, torch.randn(num - near, generator=g) - 1.0])
    perm = torch.randperm(num, generator=g)  # proposals arrive in no particular order
    return NmsWorkload(
        f"one group: {num:,} action proposals",
        segments[perm].contiguous(),
        distinct_scores(logits[perm]),
        torch.zeros(num, dtype=torch.long),
        0.5,
    )


def sparse_proposals(num: int, seed: int = 11) -> NmsWorkload:
    """One group of `num` proposals that rarely overlap (about one neighbour in three), in no order.

    Starts uniform over num x 8 s, lengths log-normal around 3 s: the case where greedy NMS keeps
    almost everything, so an all-pairs kernel does O(N^2) work. Threshold 0.5.
    """
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(num, generator=g, dtype=torch.float64) * (num * 8.0)
    length = torch.exp(torch.randn(num, generator=g, dtype=torch.float64) * 0.5 + 1.1).clamp(0.2, 30.0)
    segments = torch.stack([start, start + length], dim=1).to(torch.float32)
    return NmsWorkload(f"one group: {num:,} sparse proposals", segments, distinct_scores(torch.randn(num, generator=g)),
                       torch.zeros(num, dtype=torch.long), 0.5)


def dense_proposals(num: int, seed: int = 12, per_action: int = 200) -> NmsWorkload:
    """One group of `num` proposals in dense clusters of `per_action` around actions, in no order.

    Each action (length log-normal around 20 s) gets proposals jittered in centre (0.3 x length)
    and length (x e^(0.3 N)), kept inside a window of 4 x its length; windows do not overlap. Most
    proposals are suppressed by a few kept ones per action. Threshold 0.5.
    """
    g = torch.Generator().manual_seed(seed)
    actions = max(1, num // per_action)
    length = torch.exp(torch.randn(actions, generator=g, dtype=torch.float64) * 0.5 + 3.0).clamp(2.0, 200.0)
    window = 4 * length
    centre = torch.cumsum(window, 0) - window / 2
    pick = torch.randint(0, actions, (num,), generator=g)
    c = centre[pick] + torch.randn(num, generator=g, dtype=torch.float64) * length[pick] * 0.3
    ln = length[pick] * torch.exp(torch.randn(num, generator=g, dtype=torch.float64) * 0.3)
    lo, hi = centre[pick] - window[pick] / 2, centre[pick] + window[pick] / 2
    start = torch.minimum(torch.maximum(c - ln / 2, lo), hi)
    end = torch.maximum(torch.minimum(c + ln / 2, hi), start)
    segments = torch.stack([start, end], dim=1).to(torch.float32)
    return NmsWorkload(f"one group: {num:,} dense proposals", segments, distinct_scores(torch.randn(num, generator=g)),
                       torch.zeros(num, dtype=torch.long), 0.5)


@dataclass
class TargetsWorkload:
    name: str
    points: torch.Tensor  # [T]
    segments: torch.Tensor  # [B, 2]
    ranges: torch.Tensor  # [T, 2]

    @property
    def size(self) -> int:
        return self.segments.shape[0] * self.points.shape[0]


def training_targets(batch: int, num_clips: int = 32, seed: int = 4) -> TargetsWorkload:
    """Workload (4a): one training step's targets, `batch` queries x (T + T/2 + T/4) locations."""
    g = torch.Generator().manual_seed(seed)
    points = fpn_points(num_clips)
    return TargetsWorkload(
        f"{batch:,} queries x {points.numel()} locations",
        points,
        ground_truth_moments(batch, num_clips, g),
        fpn_ranges(num_clips),
    )


@dataclass
class LossWorkload:
    name: str
    pred: torch.Tensor  # [N, 2] distances > 0
    target: torch.Tensor  # [N, 2] distances > 0

    @property
    def size(self) -> int:
        return self.pred.shape[0]


def loss_pairs(num: int = 1_000_000, seed: int = 5) -> LossWorkload:
    """Workload (4b): (l, r) predictions around their targets, the regression loss's input."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(num, 2, generator=g) * 16 + 0.05
    pred = target * torch.exp(0.4 * torch.randn(num, 2, generator=g))
    return LossWorkload(f"{num:,} (l, r) pairs", pred, target)


def iou_pairs(num_a: int, num_b: int = 100, seed: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """segment_iou's input: num_a predictions against num_b ground-truth segments on a 0..100 axis."""
    g = torch.Generator().manual_seed(seed)

    def segs(n: int) -> torch.Tensor:
        s = torch.rand(n, generator=g) * 90
        return torch.stack([s, s + torch.rand(n, generator=g) * 10 + 0.1], dim=1)

    return segs(num_a), segs(num_b)
