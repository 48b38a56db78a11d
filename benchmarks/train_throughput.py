"""Training throughput of the full DRN (DESIGN.md defaults: T = 32 clips, D = 4096) in queries/s.

Usage: python benchmarks/train_throughput.py [--videos 80] [--threads N] [--device cpu] [--out DIR]
(with drn installed; from an uninstalled checkout prefix PYTHONPATH=.)

Runs `drn.engine.train.train` (the real loop: data loading, forward, losses, backward, clipping, Adam)
for two epochs of stage 1 (the first includes the warm-up) and one of stages 2 and 3, batch 32, on a synthetic dataset with 4096-d features, and prints the
queries per second of each stage's training epoch (evaluation time excluded), from log.csv.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from drn.config import load_config
from drn.data import make_synthetic_dataset
from drn.engine.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=80, help="training videos (about 2.5 queries each)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", help="keep the data and run here (default: a temporary folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        paths = make_synthetic_dataset(root / "data", num_videos_train=args.videos, num_videos_val=1,
                                       num_videos_test=1, feature_dim=4096)
        cfg = load_config(None, [f"data.{s}={paths[s]}" for s in ("train", "val", "test")] + [
            f"data.durations={paths['durations']}", f"data.features={paths['features']}", "model.feature_dim=4096",
            "train.epochs=[2, 1, 1]", f"train.batch_size={args.batch}", f"train.device={args.device}"])
        began = time.perf_counter()
        result = train(cfg, root / "run", show_progress=False)
        seconds = time.perf_counter() - began
    print(f"DRN defaults (T=32, D=4096), batch {args.batch}, {args.device}, {torch.get_num_threads()} threads, "
          f"{args.videos} training videos:")
    for row in result.history:
        note = " (first epoch: includes warm-up)" if row["epochs_done"] == 1 else ""
        print(f"  stage {row['stage']} epoch {row['epoch']}: {row['train_queries_per_s']:.1f} queries/s "
              f"({row['train_seconds']:.1f} s){note}")
    print(f"  whole run incl. evaluation and checkpoints: {seconds:.1f} s")


if __name__ == "__main__":
    main()
