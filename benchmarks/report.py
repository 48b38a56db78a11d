"""Turns a CPU benchmark run into benchmarks/RESULTS.md tables and benchmarks/plots/scaling.png.

    python -m pytest benchmarks --benchmark-only     # writes .benchmarks/drn/cpu-latest.json
    python benchmarks/report.py [RUN.json]           # .benchmarks/report/RESULTS.md + plots/scaling.png
    python benchmarks/report.py benchmarks/results/cpu.json --out benchmarks   # the committed ones

By default the report goes to `.benchmarks/report/` (not tracked), starting from a copy of the
committed RESULTS.md, so a run on another machine never overwrites the recorded figures; `--out
benchmarks` rewrites the committed files. The run behind them is kept as benchmarks/results/cpu.json
(copy cpu-latest.json there when re-recording). Only the part of RESULTS.md between the CPU-ops
markers is rewritten; the rest is left as it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- cpu-ops: begin (written by benchmarks/report.py) -->", "<!-- cpu-ops: end -->"

WORKLOADS = [
    ("charades", "(1) Charades-STA evaluation: 3,720 queries x 56 candidates, NMS at 0.45 grouped by query"),
    ("activitynet", "(2) ActivityNet evaluation: 17,031 queries x 224 candidates (T = 128), NMS at 0.45"),
    ("proposals", "(3) One large group: 20,000 action proposals over an hour of video, NMS at 0.5"),
    ("4096x56", "(4) Training step, 4,096 queries x 56 locations"),
    ("32x56", "(4) Training step, batch 32 x 56 locations"),
    ("1M", "(4) iou_loss forward + backward (mean) on 1M (l, r) pairs"),
    ("1x56", "Small sizes: 1 query x 56 candidates / locations / pairs (per-call cost)"),
]
PEER_NAMES = {
    ("batched_temporal_nms", "torchvision"): "torchvision.ops.batched_nms",
    ("temporal_nms", "torchvision"): "torchvision.ops.nms",
    ("segment_iou", "torchvision"): "torchvision.ops.box_iou",
    ("iou_loss fwd+bwd", "copy"): "tensor.copy_ of the same 48 B/pair",
}
UNITS = {
    "batched_temporal_nms": "segments (queries x 56)",
    "temporal_nms": "segments in one group",
    "segment_iou": "pairs (N x 100)",
    "regression_targets": "locations (queries x 56)",
    "iou_loss fwd+bwd": "(l, r) pairs",
}


def impl_name(op: str, impl: str) -> str:
    if impl == "ours":
        return f"drn.ops ({op})"
    if impl in ("reference", "composite"):
        if op.startswith("iou_loss"):
            return "PyTorch composite + autograd"
        return f"PyTorch reference ({'batched_temporal_nms' if op == 'temporal_nms' else op}_reference)"
    return PEER_NAMES.get((op, impl), impl)


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def best(run: dict, op: str, workload: str, impl: str) -> float | None:
    times = [r["min_s"] for r in run["results"] if (r["op"], r["workload"], r["impl"]) == (op, workload, impl)]
    return min(times, default=None)


def workload_tables(run: dict) -> list[str]:
    lines = []
    for key, title in WORKLOADS:
        rows = [r for r in run["results"] if r["workload"] == key]
        if not rows:
            continue
        lines += [f"### {title}", "", "| op | implementation | time (min) | ratio: this / ours | calls timed |",
                  "| --- | --- | --- | --- | --- |"]
        ops = list(dict.fromkeys(r["op"] for r in rows))
        for op in ops:
            ours = best(run, op, key, "ours")
            impls = ["ours"] + sorted({r["impl"] for r in rows if r["op"] == op} - {"ours"})
            for impl in impls:
                t = best(run, op, key, impl)
                rounds = next(r["rounds"] * r["iterations"] for r in rows if (r["op"], r["impl"]) == (op, impl))
                ratio = "1" if impl == "ours" else (f"**{t / ours:.1f}x**" if ours and t else "-")
                if impl == "copy" and ours and t:
                    nbytes = next(r["nbytes"] for r in rows if (r["op"], r["impl"]) == (op, impl))
                    ratio = (f"{t / ours:.2f}x: ours takes {ours / t:.2f}x the copy's time (copy {nbytes / t / 1e9:.1f} GB/s; "
                             f"ours moves the same bytes at {nbytes / ours / 1e9:.1f} GB/s)")
                lines.append(f"| {op} | {impl_name(op, impl)} | {fmt_time(t)} | {ratio} | {rounds} |")
        lines.append("")
    return lines


def scaling_table(run: dict) -> list[str]:
    rows = [r for r in run["results"] if r["workload"].startswith("scale:")]
    if not rows:
        return []
    lines = ["### (5) Scaling: each op as its size grows 10x a step", "",
             "![time against size, log-log](plots/scaling.png)", ""]
    for op in dict.fromkeys(r["op"] for r in rows):
        impls = ["ours"] + sorted({r["impl"] for r in rows if r["op"] == op} - {"ours"})
        sizes = sorted({r["size"] for r in rows if r["op"] == op})
        lines += [f"**{op}** (size: {UNITS.get(op, 'elements')})", "",
                  "| size | " + " | ".join(impl_name(op, i) for i in impls) + " |",
                  "| --- |" + " --- |" * len(impls)]
        for size in sizes:
            ours = best(run, op, f"scale:{size}", "ours")
            cells = []
            for impl in impls:
                t = best(run, op, f"scale:{size}", impl)
                cell = fmt_time(t)
                if impl != "ours" and t and ours:
                    cell += f" ({t / ours:.1f}x)"
                cells.append(cell)
            lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def section(run: dict, command: str) -> str:
    m = run["machine"]
    lines = [
        BEGIN,
        "## CPU ops: drn.ops against their peers",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m.get('isa', '?')} kernels), torch {m['torch']} "
        f"({m['torch_threads']} threads), Python {m['python']}, {m['platform']}.",
        f"Run: {run['started']} to {run['finished']}, load average (1, 5, 15 min) {run['load_start']} at the start "
        f"and {run['load_end']} at the end (a shared machine: while another job holds a core, a two-thread "
        "parallel region can stall for milliseconds, ours and the peers' alike).",
        f"Command: `{command}` (about 2 minutes here, most of it torchvision on ActivityNet), then "
        "`python benchmarks/report.py`. The checks alone, without timing (CI, about 30 s): "
        "`python -m pytest benchmarks --benchmark-disable`.",
        "",
        "Every benchmark first checks that its output agrees (NMS: the same keep list, in order, as torchvision; "
        "targets: equal; loss and gradients: within 1e-5 / 1e-4 of the composite), then times it. "
        "Times are the minimum over rounds (pytest-benchmark), through the public `drn.ops` wrappers; "
        "ratio = the peer's time / ours.",
        "",
        "### Targets",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    for t in run["targets"]:
        unit = {"ratio": "x", "copy": "x the copy time", "us": " us"}[t["kind"]]
        value = "not measured" if t["value"] is None else f"{t['value']:.2f}{unit}"
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {value} | {met} |")
    lines.append("")
    lines += workload_tables(run)
    lines += scaling_table(run)
    lines.append(END)
    return "\n".join(lines) + "\n"


def plot(run: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in run["results"] if r["workload"].startswith("scale:")]
    ops = list(dict.fromkeys(r["op"] for r in rows))
    if not ops:
        return
    cols = 3
    # Legends go under their panels, so none covers a curve.
    fig, axes = plt.subplots(2, cols, figsize=(5.2 * cols, 10.0), squeeze=False, layout="constrained")
    flat = list(axes.flat)
    for ax, op in zip(flat, ops):
        impls = ["ours"] + sorted({r["impl"] for r in rows if r["op"] == op} - {"ours"})
        for impl in impls:
            pts = sorted((r["size"], best(run, op, r["workload"], impl)) for r in rows
                         if r["op"] == op and r["impl"] == impl)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", lw=2.2 if impl == "ours" else 1.4,
                    label=impl_name(op, impl))
        ax.set_title(op, fontsize=10)
        ax.set_xlabel(UNITS.get(op, "size"), fontsize=8)
        ax.set_ylabel("seconds per call (min)", fontsize=8)
    ratio_ax = flat[len(ops)] if len(flat) > len(ops) else None
    if ratio_ax is not None:  # ours against each op's main peer
        for op in ops:
            peer = "torchvision" if any(r["op"] == op and r["impl"] == "torchvision" for r in rows) else "composite"
            sizes = sorted({r["size"] for r in rows if r["op"] == op and r["impl"] == peer})
            pts = [(n, best(run, op, f"scale:{n}", peer) / best(run, op, f"scale:{n}", "ours")) for n in sizes
                   if best(run, op, f"scale:{n}", "ours")]
            ratio_ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{op} vs {impl_name(op, peer)}")
        ratio_ax.axhline(1.0, color="gray", lw=0.8)
        ratio_ax.set_title("speed-up: peer time / ours", fontsize=10)
        ratio_ax.set_xlabel("size (each op's unit)", fontsize=8)
        ratio_ax.set_ylabel("x", fontsize=8)
    for ax in flat[: len(ops) + (ratio_ax is not None)]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    for ax in flat[len(ops) + (ratio_ax is not None):]:
        ax.set_visible(False)
    m = run["machine"]
    fig.suptitle(f"drn.ops vs peers on the CPU: {m['cpu']}, {m['torch_threads']} threads, torch {m['torch']}",
                 fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default=str(HERE.parent / ".benchmarks" / "drn" / "cpu-latest.json"))
    parser.add_argument("--out", default=str(HERE.parent / ".benchmarks" / "report"),
                        help="folder for RESULTS.md and plots/scaling.png (default: .benchmarks/report, untracked; "
                             "'benchmarks' rewrites the committed ones)")
    args = parser.parse_args()
    run = json.loads(Path(args.run).read_text())
    out = Path(args.out)
    results = out / "RESULTS.md"
    source = results if results.exists() else HERE / "RESULTS.md"
    text = source.read_text() if source.exists() else "# Benchmark results\n"
    new = section(run, run["command"])
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + new + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + new
    out.mkdir(parents=True, exist_ok=True)
    results.write_text(text)
    plot(run, out / "plots" / "scaling.png")
    print(f"wrote {results} and {out / 'plots' / 'scaling.png'}")


if __name__ == "__main__":
    main()
