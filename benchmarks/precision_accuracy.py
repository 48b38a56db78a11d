"""Does bf16 cost accuracy? DRN trained in fp32 and in bf16 on held-out synthetic data (the demo's
dataset and widths), each checkpoint evaluated in fp32 and in bf16: R1@0.5 / R1@0.7 over the test
split and per moment length, same seeds for every cell.

Usage: PYTHONPATH=. python benchmarks/precision_accuracy.py --out DIR [--seeds 0 1 2] [--threads 1]
        [--train-precision fp32 bf16] [--compile]

For each seed s: `make_synthetic_dataset(seed=s)` (400 / 100 / 100 videos, noise std 2, 64-d
features) and the demo's schedule with train.seed = s; model selection on the validation split in
fp32 (eval.precision=fp32 during training, so both runs choose by the same arithmetic); then the
chosen checkpoint's predictions on the test split with eval.precision fp32 and bf16. Moment length
is the ground truth's fraction of its video: short < 0.25 <= medium < 0.4 <= long.
Prints the table and writes DIR/accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from drn.config import load_config
from drn.data import make_synthetic_dataset
from drn.demo.synthetic import DemoSettings, demo_overrides
from drn.engine.evaluate import metrics_from_rows, predict_dataset
from drn.engine.experiment import build_split, open_feature_source
from drn.engine.train import train
from drn.inference.grounder import load_trained_model

BUCKETS = (("short", 0.0, 0.25), ("medium", 0.25, 0.4), ("long", 0.4, 1.01))
SHOWN = ("R1@0.5", "R1@0.7")


def length_bucket(row: dict) -> str:
    start, end = row["relevant_windows"][0]
    fraction = (end - start) / row["duration"]
    return next(name for name, lo, hi in BUCKETS if lo <= fraction < hi)


def scores(rows: list[dict]) -> dict:
    out = {"all": {k: metrics_from_rows(rows)[k] for k in SHOWN} | {"queries": len(rows)}}
    for name, _, _ in BUCKETS:
        part = [row for row in rows if length_bucket(row) == name]
        out[name] = ({k: metrics_from_rows(part)[k] for k in SHOWN} if part else {}) | {"queries": len(part)}
    return out


def run_cell(paths: dict, seed: int, train_precision: str, out: Path, compiled: bool) -> dict:
    overrides = demo_overrides(paths, DemoSettings(seed=seed)) + [
        f"train.precision={train_precision}", "eval.precision=fp32", f"train.compile={str(compiled).lower()}"]
    cfg = load_config(None, overrides)
    began = time.perf_counter()
    result = train(cfg, out / f"seed{seed}-{train_precision}", show_progress=False, overwrite=True)
    seconds = time.perf_counter() - began
    model, vocab, cfg, payload = load_trained_model(result.checkpoint, device="cpu")
    test = build_split(cfg, "test", vocab, open_feature_source(cfg))
    cell = {"train_seconds": round(seconds, 1), "checkpoint": str(result.checkpoint)}
    for eval_precision in ("fp32", "bf16"):
        rows = predict_dataset(model, test, torch.device("cpu"), {**cfg["eval"], "precision": eval_precision},
                               use_iou=payload["stage"] > 1)
        cell[f"eval {eval_precision}"] = scores(rows)
    return cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--compile", action="store_true", help="train with train.compile=true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = DemoSettings()
    results = {}
    for seed in args.seeds:
        paths = make_synthetic_dataset(args.out / f"data{seed}", num_videos_train=settings.train_videos,
                                       num_videos_val=settings.eval_videos, num_videos_test=settings.eval_videos,
                                       feature_dim=settings.model["feature_dim"], seed=seed,
                                       noise_std=settings.noise_std)
        for precision in args.train_precision:
            cell = run_cell(paths, seed, precision, args.out, args.compile)
            results[f"seed {seed}, train {precision}"] = cell
            for eval_precision in ("fp32", "bf16"):
                s = cell[f"eval {eval_precision}"]
                line = "  ".join(f"{b}: " + "/".join(f"{s[b].get(k, float('nan')):.2f}" for k in SHOWN)
                                 + f" ({s[b]['queries']})" for b in ("all", *[n for n, _, _ in BUCKETS]))
                print(f"seed {seed} train {precision} ({cell['train_seconds']} s) eval {eval_precision}: {line}",
                      flush=True)
    (args.out / "accuracy.json").write_text(json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1))


if __name__ == "__main__":
    main()
