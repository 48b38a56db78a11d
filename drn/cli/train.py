"""`drn train CONFIG --out DIR [--set key=value ...] [--resume]`: the three training stages."""

from __future__ import annotations

import json
import logging
import os
import sys

from drn.cli.common import add_overrides, add_threads, report_errors
from drn.engine import distributed as dist


def add_parser(sub):
    p = sub.add_parser("train", help="train DRN's three stages, evaluate, write checkpoints, metrics and predictions",
                       description="Train DRN's three stages on the data of CONFIG. Under torchrun the same command "
                                   "trains with DDP (NCCL on GPUs, gloo on CPU); train.batch_size is per process.")
    p.add_argument("config", help="experiment YAML (see configs/); only what differs from the defaults")
    p.add_argument("--out", required=True, help="run folder: checkpoints/, log.csv, tensorboard/, metrics.json, "
                                                "predictions.jsonl")
    add_overrides(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    mode.add_argument("--overwrite", action="store_true", help="replace the run files in --out (checkpoints, logs, "
                                                                "results) with a new run")
    add_threads(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


@report_errors
def run(args) -> int:
    from drn.config import load_config
    from drn.engine.train import train
    from drn.utils.threads import set_threads

    cfg = load_config(args.config, args.overrides)
    threads, why = set_threads(args.threads)
    logging.getLogger("drn").info("%d CPU thread(s) (%s)", threads, why)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 speaks for all
        logging.getLogger().setLevel(logging.WARNING)
    try:
        result = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                       show_progress=not args.no_progress and sys.stderr.isatty())
        main = dist.is_main_process()
    finally:
        dist.cleanup()
    if not main:
        return 0
    if result.test_metrics is None:
        print(f"trained; no test split configured. Checkpoint: {result.checkpoint}")
        return 0
    print(f"test metrics ({result.num_test_queries} queries, model {result.checkpoint.name}; "
          "a hit is IoU >= m, DRN's rule):")
    print(json.dumps({k: None if v is None else round(v, 2) for k, v in result.test_metrics.items()}))
    print(f"wrote {result.out_dir / 'metrics.json'} and {result.out_dir / 'predictions.jsonl'}")
    return 0
