"""GPU benchmarks of drn.ops against their peers, timed with CUDA events after warm-up.

Run by benchmarks/gpu_check.sh on a lent GPU machine; prints a table last and writes JSON to
$OUT/gpu_bench.json when OUT is set. Every row first checks that ours and the peer agree.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402

import drn.ops  # noqa: E402


def cuda_time(fn, budget_s: float = 1.0, max_repeats: int = 30, warmup: int = 2) -> float:
    """Median milliseconds of fn() over repeats that fit the budget, after warm-up calls."""
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    first = start.elapsed_time(end)
    repeats = max(1, min(max_repeats, int(budget_s * 1000 / max(first, 1e-3))))
    times = []
    for _ in range(repeats):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def copy_bandwidth() -> float:
    """Bytes per second of a device-to-device copy, counting bytes read plus bytes written."""
    src = torch.randn(512 * 1024 * 1024 // 4, device="cuda")  # 512 MiB
    dst = torch.empty_like(src)
    ms = cuda_time(lambda: dst.copy_(src), budget_s=0.5)
    return 2 * src.numel() * 4 / (ms / 1000)


def torchvision_nms(segments, scores, groups, thr):
    import torchvision

    boxes = torch.stack([segments[:, 0], torch.zeros_like(segments[:, 0]), segments[:, 1], torch.ones_like(segments[:, 0])], 1)
    return torchvision.ops.batched_nms(boxes, scores, groups, thr)


def bench_nms(rows, work):
    segments, scores, groups = work.segments.cuda(), work.scores.cuda(), work.groups.cuda()
    name, thr = f"NMS {work.name} @{work.iou_threshold}", work.iou_threshold
    ours = drn.ops.batched_temporal_nms(segments, scores, groups, thr)
    peer = torchvision_nms(segments, scores, groups, thr)
    assert torch.equal(ours.cpu(), peer.cpu()), f"{name}: keep lists differ from torchvision"
    t_ours = cuda_time(lambda: drn.ops.batched_temporal_nms(segments, scores, groups, thr))
    t_peer = cuda_time(lambda: torchvision_nms(segments, scores, groups, thr), budget_s=3.0, max_repeats=5, warmup=0)  # the equality check warmed it up
    rows.append((name, "torchvision.batched_nms", t_ours, t_peer, None))


def bench_large_group(rows, work):
    """One group past the CUDA bitmask's size (the sparse sweep) against drn's CPU sweep; torchvision's
    N x N mask does not fit at this size. The keep lists must be equal."""
    import time

    name, thr = f"NMS {work.name} @{work.iou_threshold}", work.iou_threshold
    cpu_times = []
    for _ in range(3):
        began = time.perf_counter()
        want = drn.ops.batched_temporal_nms(work.segments, work.scores, work.groups, thr)
        cpu_times.append((time.perf_counter() - began) * 1000)
    segments, scores, groups = work.segments.cuda(), work.scores.cuda(), work.groups.cuda()
    got = drn.ops.batched_temporal_nms(segments, scores, groups, thr)
    assert torch.equal(got.cpu(), want), f"{name}: the CUDA sweep keeps other segments than the CPU sweep"
    t_ours = cuda_time(lambda: drn.ops.batched_temporal_nms(segments, scores, groups, thr), budget_s=3.0, max_repeats=10)
    rows.append((name, f"drn CPU sweep ({torch.get_num_threads()} threads)", t_ours, min(cpu_times), None))


def bench_loss(rows, pairs, bandwidth):
    work = workloads.loss_pairs(pairs)
    pred, target = work.pred.cuda().requires_grad_(), work.target.cuda()

    def ours():
        drn.ops.iou_loss(pred, target).backward()

    def peer():
        drn.ops.iou_loss_reference(pred, target).backward()

    pred.grad = None
    ours()
    g_ours = pred.grad.clone()
    pred.grad = None
    peer()
    assert torch.allclose(g_ours, pred.grad, rtol=1e-4, atol=1e-9), "iou_loss gradients differ from the composite"
    t_ours, t_peer = cuda_time(ours), cuda_time(peer)
    # forward reads pred and target; backward reads them again and writes both gradients
    moved = 6 * pairs * 2 * 4
    floor_ms = moved / bandwidth * 1000
    rows.append((f"iou_loss fwd+bwd {pairs:,} pairs", "PyTorch composite + autograd", t_ours, t_peer, t_ours / floor_ms))


def bench_targets(rows, queries, bandwidth):
    work = workloads.training_targets(queries)
    points, segments, ranges = work.points.cuda(), work.segments.cuda(), work.ranges.cuda()
    ours = drn.ops.regression_targets(points, segments, ranges)
    peer = drn.ops.regression_targets_reference(points, segments, ranges)
    assert all(torch.equal(a, b) for a, b in zip(ours, peer)), "regression_targets differ from the reference"
    t_ours = cuda_time(lambda: drn.ops.regression_targets(points, segments, ranges))
    t_peer = cuda_time(lambda: drn.ops.regression_targets_reference(points, segments, ranges))
    moved = queries * 56 * (2 * 4 + 1 + 8) + queries * 2 * 4
    rows.append((f"regression_targets {queries:,} x 56", "PyTorch reference", t_ours, t_peer, t_ours / (moved / bandwidth * 1000)))


def main() -> int:
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, backend {drn.ops.backend()['ops']['batched_temporal_nms']}")
    bandwidth = copy_bandwidth()
    print(f"copy bandwidth: {bandwidth / 1e12:.2f} TB/s (read + write)")
    rows = []
    steps = [
        lambda: bench_nms(rows, workloads.charades_sta_eval()),
        lambda: bench_nms(rows, workloads.activitynet_eval()),
        lambda: bench_nms(rows, workloads.action_proposals()),
        lambda: bench_large_group(rows, workloads.sparse_proposals(1_000_000)),
        lambda: bench_large_group(rows, workloads.dense_proposals(1_000_000)),
        lambda: bench_targets(rows, 32, bandwidth),
        lambda: bench_targets(rows, 4096, bandwidth),
        lambda: bench_targets(rows, 1 << 20, bandwidth),
        lambda: bench_loss(rows, 1_000_000, bandwidth),
        lambda: bench_loss(rows, 32_000_000, bandwidth),
    ]
    failures = 0
    for step in steps:
        try:
            step()
        except Exception as exc:  # keep measuring the rest; the failure is reported
            failures += 1
            print(f"FAILED: {type(exc).__name__}: {exc}")
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu_bench.json"), "w") as f:
            json.dump({"device": torch.cuda.get_device_name(0), "copy_bandwidth": bandwidth, "rows": rows}, f, indent=1)
    print(f"\n{'workload':<58}{'peer':<30}{'ours ms':>10}{'peer ms':>11}{'speed-up':>10}{'x copy floor':>14}")
    for name, peer, t_ours, t_peer, frac in rows:
        floor = f"{frac:.2f}" if frac is not None else "-"
        print(f"{name:<58}{peer:<30}{t_ours:>10.3f}{t_peer:>11.3f}{t_peer / t_ours:>9.1f}x{floor:>14}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
