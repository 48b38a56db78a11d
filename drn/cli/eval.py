"""`drn eval CHECKPOINT --out DIR [--split test] [--set key=value ...]`: metrics and predictions of a
trained model on a split of its config's data."""

from __future__ import annotations

import json
import logging
import sys

from drn.cli.common import add_overrides, add_precision, add_threads, report_errors


def add_parser(sub):
    p = sub.add_parser("eval", help="evaluate a checkpoint: metrics.json and predictions.jsonl",
                       description="Evaluate a checkpoint on a split of the data its config names (change paths "
                                   "or inference settings with --set; the model's own settings cannot change).")
    p.add_argument("checkpoint", help="a checkpoint written by drn train (RUN/checkpoints/last.pt, or best.pt "
                                      "when the run had a validation split)")
    p.add_argument("--out", required=True, help="folder for metrics.json and predictions.jsonl")
    p.add_argument("--split", choices=("test", "val", "train"), default="test", help="split to evaluate (test)")
    add_overrides(p)
    add_precision(p)
    add_threads(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


@report_errors
def run(args) -> int:
    from pathlib import Path

    from drn.engine.evaluate import evaluate_to_folder
    from drn.engine.experiment import build_split, open_feature_source
    from drn.engine.runlock import FolderLock
    from drn.inference.grounder import load_trained_model
    from drn.metrics.protocol import describe as describe_protocol
    from drn.model.precision import resolve_precision
    from drn.utils.io import check_output_folder, remove_stale_temporaries
    from drn.utils.threads import set_threads

    out = check_output_folder(args.out)  # before the evaluation, not after it
    threads, why = set_threads(args.threads)
    logging.getLogger("drn").info("%d CPU thread(s) (%s)", threads, why)
    progress = not args.no_progress and sys.stderr.isatty()
    model, vocab, cfg, payload = load_trained_model(args.checkpoint, args.overrides)
    device = next(model.parameters()).device
    resolve_precision(cfg["eval"]["precision"], device, "eval.precision")  # before the lock file is written
    dataset = build_split(cfg, args.split, vocab, open_feature_source(cfg), show_progress=progress)
    with FolderLock(out):
        remove_stale_temporaries(out)  # of an evaluation killed while writing
        metrics, count = evaluate_to_folder(model, dataset, device, cfg, out, use_iou=payload["stage"] > 1,
                                            show_progress=progress)
    protocol = describe_protocol(cfg["eval"]["protocol"], cfg["eval"]["nms_threshold"])
    drn_keys = [key for key in metrics if not key.startswith(("MR-", "HL-"))]
    print(f"{args.split} metrics ({count} queries, {Path(args.checkpoint).name}, stage {payload['stage']}; "
          f"{protocol}; a hit is IoU >= m, DRN's rule; against the best-matching ground-truth window):")
    print(json.dumps({k: round(metrics[k], 2) for k in drn_keys}))
    standard = {k: v for k, v in metrics.items() if k not in drn_keys}
    if standard:
        print("QVHighlights metrics (the official evaluator's brief keys; null: no query in that length range):")
        print(json.dumps({k: None if v is None else round(v, 2) for k, v in standard.items()}))
    print(f"wrote {out / 'metrics.json'} and {out / 'predictions.jsonl'}")
    return 0
