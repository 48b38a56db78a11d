"""The CPU benchmark suite's machinery: check first, then time; record; print the ratios.

Every benchmark calls the `bench` fixture, which runs the function once, checks its output, and
only then times it (pytest-benchmark's pedantic mode, rounds sized to a time budget; `min` is the
statistic, the robust one on a shared machine). With --benchmark-disable only the checks run, on
smaller inputs where a peer would take minutes. A full run writes .benchmarks/drn/cpu-latest.json,
which benchmarks/report.py turns into RESULTS.md and the plots, and prints ours-vs-peer ratios and
the issue's targets at the end.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import pytest
import torch

import drn.ops

RESULTS: list[dict] = []
_STARTED = {"time": None, "load": None}

# (op, workload, peer, kind, bound, what the issue asks). kind "ratio": peer time / ours >= bound;
# "copy": ours / time to copy the same bytes <= bound; "us": ours in microseconds < bound.
TARGETS = [
    ("batched_temporal_nms", "charades", "torchvision", "ratio", 50.0, "Charades-STA eval: >= 50x torchvision"),
    ("batched_temporal_nms", "activitynet", "torchvision", "ratio", 50.0, "ActivityNet eval: >= 50x torchvision"),
    ("temporal_nms", "proposals", "torchvision", "ratio", 1.0, "20k proposals, one group: faster than torchvision"),
    ("iou_loss fwd+bwd", "1M", "composite", "ratio", 4.0, "loss fwd+bwd, 1M pairs: >= 4x the composite"),
    ("iou_loss fwd+bwd", "1M", "copy", "copy", 2.0, "loss fwd+bwd, 1M pairs: within 2x of copying its bytes"),
    ("regression_targets", "4096x56", "composite", "ratio", 2.0, "targets, 4,096 x 56: >= 2x the composite"),
    ("qvhighlights_score", "val", None, "us", 1e6, "QVHighlights scoring, 1,550 queries x 10: < 1 s"),
    ("make_synthetic_dataset", "600x256", None, "us", 5e6, "the demo's synthetic data, 600 videos: < 5 s"),
] + [
    ("DRN evaluation", f"charades-test-{t}t", "official-style", "ratio", 2.5,
     f"Charades-STA test eval, {t} thread{'s' * (t > 1)}: >= 2.5x the official-style per-query path")
    for t in (1, 2)
] + [
    (op, "1x56", None, "us", 20.0, f"{op}, 1 query x 56: < 20 us per call")
    for op in ("batched_temporal_nms", "temporal_nms", "segment_iou", "regression_targets", "iou_loss",
               "iou_loss_backward")
]


def machine() -> dict:
    model, flags = platform.processor(), set()
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), model)
        flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    except OSError:
        pass
    # The path csrc/cpu/simd.h picks (DRN_CPU_ISA may cap it).
    isa = "AVX-512" if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags else "AVX2" if "avx2" in flags \
        else "baseline"
    cap = os.environ.get("DRN_CPU_ISA")
    if cap == "baseline" or (cap == "avx2" and isa == "AVX-512"):
        isa = {"baseline": "baseline", "avx2": "AVX2"}[cap]
    return {
        "cpu": model,
        "isa": isa,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "drn_backend_cpu": drn.ops.backend()["ops"]["batched_temporal_nms"]["cpu"],
    }


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class Bench:
    """bench(fn, op=..., workload=..., impl=..., size=..., check=...) -> fn's output."""

    def __init__(self, benchmark):
        self.benchmark = benchmark

    @property
    def disabled(self) -> bool:
        return bool(self.benchmark.disabled)

    def done(self) -> None:
        """Marks the fixture used without timing anything (--benchmark-disable: checks only)."""
        self.benchmark.pedantic(lambda: None)

    def record(self, *, op, workload, impl, size, seconds, rounds=1):
        """Records a time the test measured itself (e.g. interleaved with its peers' so that a
        shared machine's load drifts over all of them alike)."""
        RESULTS.append({"op": op, "workload": workload, "impl": impl, "size": size, "nbytes": None,
                        "min_s": seconds, "median_s": seconds, "rounds": rounds, "iterations": 1,
                        "test": self.benchmark.fullname})

    def __call__(self, fn, *, op, workload, impl, size, check=None, precheck=True, budget_s=None,
                 max_rounds=200, nbytes=None, yardstick=None):
        """Checks fn's output, then times fn; returns the output.

        precheck=False skips the untimed first call (for peers that take minutes: the caller checks
        them on a subset first); `check` then runs on the output of the timed call.
        yardstick=(impl, fn, nbytes): another function timed between the rounds (so under the same
        conditions) and recorded under that impl, e.g. a copy of the bytes fn moves.
        """
        budget_s = budget_s if budget_s is not None else float(os.environ.get("DRN_BENCH_BUDGET", "1.0"))
        self.benchmark.group = f"{op} | {workload}"
        self.benchmark.extra_info.update(op=op, workload=workload, impl=impl, size=size, nbytes=nbytes)
        first = None
        if precheck or self.disabled:
            t0 = time.perf_counter()
            out = fn()
            first = time.perf_counter() - t0
            if check is not None:
                check(out)
            if self.disabled:
                self.done()
                return out
        if first is None:
            rounds, iterations = 1, 1
        else:
            # Rounds of at least ~2 ms each (timer resolution and call noise), ~budget_s in all.
            iterations = max(1, min(10_000, int(2e-3 / max(first, 1e-7))))
            rounds = int(budget_s / max(first * iterations, 1e-9))
            rounds = max(1 if first > budget_s else 3, min(max_rounds, rounds))
        setup, yard_times = None, []
        if yardstick is not None:
            iterations = 1  # (pytest-benchmark runs a setup only with one iteration a round)

            def setup():
                t0 = time.perf_counter()
                yardstick[1]()
                yard_times.append(time.perf_counter() - t0)

        out = self.benchmark.pedantic(fn, rounds=rounds, iterations=iterations, setup=setup,
                                      warmup_rounds=1 if first is not None and first * iterations < 0.2 else 0)
        if not precheck and check is not None:
            check(out)
        stats = self.benchmark.stats.stats
        RESULTS.append({
            "op": op, "workload": workload, "impl": impl, "size": size, "nbytes": nbytes,
            "min_s": stats.min, "median_s": stats.median, "rounds": stats.rounds, "iterations": iterations,
            "test": self.benchmark.fullname,
        })
        if yard_times:
            yard_times.sort()
            RESULTS.append({
                "op": op, "workload": workload, "impl": yardstick[0], "size": size, "nbytes": yardstick[2],
                "min_s": yard_times[0], "median_s": yard_times[len(yard_times) // 2], "rounds": len(yard_times),
                "iterations": 1, "test": self.benchmark.fullname + " (between its rounds)",
            })
        return out


@pytest.fixture
def bench(benchmark):
    return Bench(benchmark)


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels():
    # Timing the pure-PyTorch fallback against itself would be meaningless.
    if drn.ops.backend()["ops"]["batched_temporal_nms"]["cpu"] != "cpu":
        pytest.exit(f"drn's compiled CPU kernels are not loaded: {drn.ops.backend()['why']['cpu']}", returncode=2)


def pytest_sessionstart(session):
    _STARTED["time"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    _STARTED["load"] = loadavg()


def _best(op, workload, impl):
    rows = [r for r in RESULTS if r["op"] == op and r["workload"] == workload and r["impl"] == impl]
    return min((r["min_s"] for r in rows), default=None)


def ratios() -> list[dict]:
    """Every (op, workload) measured for ours and a peer: times and peer / ours."""
    out = []
    seen = []
    for r in RESULTS:
        key = (r["op"], r["workload"])
        if key not in seen:
            seen.append(key)
    for op, workload in seen:
        ours = _best(op, workload, "ours")
        peers = sorted({r["impl"] for r in RESULTS if (r["op"], r["workload"]) == (op, workload)} - {"ours"})
        size = next(r["size"] for r in RESULTS if (r["op"], r["workload"]) == (op, workload))
        for peer in peers or [None]:
            theirs = _best(op, workload, peer) if peer else None
            out.append({"op": op, "workload": workload, "size": size, "ours_s": ours, "peer": peer, "peer_s": theirs,
                        "ratio": theirs / ours if ours and theirs else None})
    return out


def target_results() -> list[dict]:
    out = []
    for op, workload, peer, kind, bound, what in TARGETS:
        ours, theirs = _best(op, workload, "ours"), (_best(op, workload, peer) if peer else None)
        value = None
        if kind == "ratio" and ours and theirs:
            value = theirs / ours
        elif kind == "copy" and ours and theirs:
            value = ours / theirs
        elif kind == "us" and ours:
            value = ours * 1e6
        met = None if value is None else (value >= bound if kind == "ratio" else value < bound if kind == "us"
                                          else value <= bound)
        out.append({"op": op, "workload": workload, "kind": kind, "bound": bound, "target": what, "value": value,
                    "met": met})
    return out


def _fmt_time(s):
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("drn: ours vs peers (min time; ratio = peer / ours)")
    tr.write_line(f"{'op':22s} {'workload':14s} {'ours':>11s} {'peer':12s} {'peer time':>11s} {'ratio':>9s}")
    for r in ratios():
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] else "-"
        tr.write_line(f"{r['op']:22s} {r['workload']:14s} {_fmt_time(r['ours_s']):>11s} {r['peer'] or '-':12s} "
                      f"{_fmt_time(r['peer_s']):>11s} {ratio:>9s}")
    tr.section("drn: targets")
    for t in target_results():
        unit = {"ratio": "x", "copy": "x copy time", "us": " us"}[t["kind"]]
        value = "not measured" if t["value"] is None else f"{t['value']:.2f}{unit}"
        tr.write_line(f"[{'MET ' if t['met'] else 'MISS' if t['met'] is False else '----'}] {t['target']}: {value}")
    path = _write_json(config)
    if path:
        tr.write_line(f"results: {path}  (python benchmarks/report.py makes the tables and plots; --out benchmarks rewrites the committed ones)")


def _write_json(config) -> Path | None:
    out_dir = Path(str(config.rootpath)) / ".benchmarks" / "drn"
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "started": _STARTED["time"],
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_start": _STARTED["load"],
        "load_end": loadavg(),
        "command": "python -m pytest " + " ".join(sys.argv[1:]) if "pytest" in sys.argv[0] else " ".join(sys.argv),
        "machine": machine(),
        "results": RESULTS,
        "ratios": ratios(),
        "targets": target_results(),
    }
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in (f"cpu-{stamp}.json", "cpu-latest.json"):
        (out_dir / name).write_text(json.dumps(record, indent=1))
    return out_dir / "cpu-latest.json"
