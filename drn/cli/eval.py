"""`drn eval CHECKPOINT --out DIR [--split test] [--set key=value ...]`: metrics and predictions of a
trained model on a split of its config's data."""

from __future__ import annotations

import json

from drn.cli.common import add_overrides, report_errors


def add_parser(sub):
    p = sub.add_parser("eval", help="evaluate a checkpoint: metrics.json and predictions.jsonl",
                       description="Evaluate a checkpoint on a split of the data its config names (change paths "
                                   "or inference settings with --set; the model's own settings cannot change).")
    p.add_argument("checkpoint", help="a checkpoint written by drn train (e.g. RUN/checkpoints/best.pt)")
    p.add_argument("--out", required=True, help="folder for metrics.json and predictions.jsonl")
    p.add_argument("--split", choices=("test", "val", "train"), default="test", help="split to evaluate (test)")
    add_overrides(p)
    return p


@report_errors
def run(args) -> int:
    from pathlib import Path

    from drn.engine.evaluate import evaluate, qvhighlights_scores
    from drn.engine.protocol import describe as describe_protocol
    from drn.engine.experiment import build_split, open_feature_source
    from drn.inference import load_trained_model
    from drn.engine.io import write_json, write_jsonl

    model, vocab, cfg, payload = load_trained_model(args.checkpoint, args.overrides)
    dataset = build_split(cfg, args.split, vocab, open_feature_source(cfg))
    device = next(model.parameters()).device
    metrics, rows = evaluate(model, dataset, device, cfg["eval"], use_iou=payload["stage"] > 1,
                             amp=bool(cfg["train"]["amp"]), num_workers=cfg["data"]["num_workers"])
    standard = qvhighlights_scores(rows, dataset) if cfg["data"]["format"] == "jsonl" else {}
    out = Path(args.out)
    write_jsonl(out / "predictions.jsonl", rows)
    write_json(out / "metrics.json", {**metrics, **standard})
    protocol = describe_protocol(cfg["eval"]["protocol"], cfg["eval"]["nms_threshold"])
    print(f"{args.split} metrics ({len(rows)} queries, {Path(args.checkpoint).name}, stage {payload['stage']}; "
          f"{protocol}; a hit is IoU >= m, DRN's rule; against the best-matching ground-truth window):")
    print(json.dumps({k: round(v, 2) for k, v in metrics.items()}))
    if standard:
        print("QVHighlights metrics (the official evaluator's brief keys):")
        print(json.dumps({k: round(v, 2) for k, v in standard.items()}))
    print(f"wrote {out / 'metrics.json'} and {out / 'predictions.jsonl'}")
    return 0
