"""Accuracy of DRN's options on held-out synthetic benchmarks, trained as a new user trains.

`PYTHONPATH=. python benchmarks/grounding_benchmark.py --bench hard --seeds 1 2 \
    --variant published:model.head_norm=published --variant defaults [--out DIR] [--inspect]`

For each benchmark, seed and variant: writes the benchmark's data (`--bench`: `easy`, the demo's
generator at D = 256 and noise std 6; `hard`, `long`, `jsonl` (hard, with saliency) and `saliency`
(JSONL with saliency and a clear signal, so that the moments are found and ranking the clips
inside them is what differs) from `grounding_generators`),
trains `configs/charades_sta.yaml` (JSONL: `configs/charades_sta_jsonl.yaml`) at the issue's
narrow widths (feature_dim 256, level_channels [64, 128, 128], fpn_channels 128, the rest DRN's
defaults, DRN's schedule) with the variant's `--set` overrides, exactly what

    drn train configs/charades_sta.yaml --out RUN --threads 1 --set data.train=... (the data paths)
        --set data.vocab=null --set data.glove=null --set model.feature_dim=256
        --set "model.level_channels=[64,128,128]" --set model.fpn_channels=128 [variant overrides]

runs, and breaks the test metrics down (`grounding_report.breakdown`); JSONL benchmarks also score
highlight detection (HL-min-VeryGood) of the model's saliency and of its matching read-out. Every result is appended
as one JSON line to OUT/results.jsonl (with its overrides and seed) as soon as it exists; the end
prints the markdown tables of `grounding_tables` (mean over the seeds). `--inspect` adds, per run, which
level's location wins and how far its edges are (`grounding_report.inspect_model`).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grounding_generators import GeneratorSettings, make_composition_dataset  # noqa: E402
from grounding_report import SUMMARY_KEYS, breakdown, inspect_model, read_meta, summarise_inspection  # noqa: E402
from grounding_tables import print_tables  # noqa: E402

from drn.config import load_config  # noqa: E402
from drn.data import make_synthetic_dataset  # noqa: E402
from drn.engine.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NARROW = ["model.feature_dim=256", "model.level_channels=[64,128,128]", "model.fpn_channels=128"]
BENCHES = ("easy", "hard", "long", "jsonl", "saliency")
EASY_NOISE = 6.0  # the demo's generator at D = 256; std 2 and 4 left every option above 95 R1@0.7


def make_bench(bench: str, seed: int, root: Path, train_videos: int | None) -> dict:
    """Write benchmark `bench` of `seed` under `root` (reused when already there); returns its paths."""
    done = root / "done.json"
    if done.exists():
        return {k: Path(v) if v else None for k, v in json.loads(done.read_text()).items()}
    if root.exists():
        shutil.rmtree(root)
    if bench == "easy":
        paths = make_synthetic_dataset(root, num_videos_train=train_videos or 400, feature_dim=256, seed=seed,
                                       noise_std=EASY_NOISE)
        paths["meta_test"] = None
    else:
        settings = GeneratorSettings()
        if bench == "long":
            settings = GeneratorSettings(duration_range=(60.0, 180.0))
        if bench == "jsonl":
            settings = GeneratorSettings(saliency_bump=0.6)
        if bench == "saliency":  # moments found well (clear signal), so ranking inside them is what differs
            settings = GeneratorSettings(signal=1.0, noise_std=1.0, noise_rho=0.7, saliency_bump=0.6)
        paths = make_composition_dataset(root, seed=seed, num_videos_train=train_videos or 500, settings=settings,
                                         jsonl=bench in ("jsonl", "saliency"))
    done.write_text(json.dumps({k: str(v) if v else None for k, v in paths.items()}))
    return paths


def bench_overrides(bench: str, paths: dict) -> list[str]:
    sets = [f"data.{split}={paths[split]}" for split in ("train", "test")]
    sets += [f"data.features={paths['features']}", "data.vocab=null", "data.glove=null", "train.device=cpu"]
    if bench in ("jsonl", "saliency"):
        sets += ["data.format=jsonl", "data.durations=null", "eval.saliency_clip_seconds=2"]
    else:
        sets += [f"data.durations={paths['durations']}"]
    return sets


def run_one(bench: str, seed: int, name: str, overrides: list[str], out: Path, train_videos: int | None,
            inspect: bool) -> dict:
    paths = make_bench(bench, seed, out / "data" / f"{bench}-{seed}-{train_videos or 'default'}", train_videos)
    jsonl = bench in ("jsonl", "saliency")
    config = ROOT / "configs" / ("charades_sta_jsonl.yaml" if jsonl else "charades_sta.yaml")
    presets = [o for o in overrides if o.startswith("config=")]  # a variant may name another configs/ file
    if presets:
        config = ROOT / "configs" / presets[-1].partition("=")[2]
    sets = bench_overrides(bench, paths) + NARROW + [f"train.seed={seed}"] + [o for o in overrides if o not in presets]
    cfg = load_config(config, sets)
    run_dir = out / "runs" / f"{bench}-{seed}-{name}"
    began = time.perf_counter()
    result = train(cfg, run_dir, overwrite=True, show_progress=False)
    seconds = time.perf_counter() - began
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    meta = read_meta(paths["meta_test"]) if paths.get("meta_test") else None
    record = {"bench": bench, "seed": seed, "variant": name, "overrides": overrides, "seconds": round(seconds, 1),
              "metrics": result.test_metrics, "breakdown": breakdown(rows, meta)}
    if inspect or jsonl:
        from drn.engine.experiment import build_split, open_feature_source
        from drn.inference.grounder import load_trained_model

        model, vocab, cfg, payload = load_trained_model(result.checkpoint, device="cpu")
        test = build_split(cfg, "test", vocab, open_feature_source(cfg))
        if inspect:
            info = inspect_model(model, test, use_iou=payload["stage"] > 1)
            lengths = np.array([q.end - q.start for q in test.queries])
            record["inspection"] = summarise_inspection(info, lengths)
        if jsonl:
            record["saliency"] = score_saliency(model, test, rows, paths["test"], run_dir)
    return record


HL_KEYS = ("HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1")


@torch.no_grad()
def score_saliency(model, test, rows: list[dict], gt_path: Path, run_dir: Path) -> dict:
    """HL-min-VeryGood mAP and HIT@1 through `drn score` of the run's own pred_saliency_scores
    (the head when the model has one) and of the matching read-out of the same model; the
    predictions files are written to RUN/saliency_*.jsonl."""
    from drn.data import collate
    from drn.model.saliency import matching_readout, to_native_clips

    readout = []
    for batch in torch.utils.data.DataLoader(test, batch_size=64, collate_fn=collate):
        readout += list(matching_readout(model(batch["features"], batch["words"], batch["lengths"])))
    files = {"shipped": rows, "matching read-out": [
        {**row, "pred_saliency_scores": to_native_clips(s, row["duration"], 2.0).tolist()}
        for row, s in zip(rows, readout)]}
    out = {"has_head": model.saliency_head is not None}
    for name, predictions in files.items():
        pred = run_dir / f"saliency_{name.split()[0]}.jsonl"
        pred.write_text("".join(json.dumps(row) + "\n" for row in predictions))
        report = run_dir / f"score_{name.split()[0]}.json"
        subprocess.run([sys.executable, "-m", "drn.cli", "score", "--gt", str(gt_path), "--pred", str(pred),
                        "--out", str(report)], check=True, capture_output=True)
        brief = json.loads(report.read_text())["brief"]
        out[name] = {key: brief[key] for key in HL_KEYS}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", choices=BENCHES, action="append", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME or NAME:key=value;key=value (--set overrides; config=FILE.yaml picks configs/FILE.yaml; several allowed)")
    parser.add_argument("--out", default="/tmp/drn_grounding_bench")
    parser.add_argument("--train-videos", type=int, default=None)
    parser.add_argument("--inspect", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    variants = []
    for text in args.variant or ["defaults"]:
        name, _, sets = text.partition(":")
        variants.append((name, [s for s in sets.split(";") if s] if sets else []))
    records = []
    for bench in args.bench:
        for seed in args.seeds:
            for name, overrides in variants:
                record = run_one(bench, seed, name, overrides, out, args.train_videos, args.inspect)
                records.append(record)
                with (out / "results.jsonl").open("a") as f:
                    f.write(json.dumps(record) + "\n")
                b = record["breakdown"]
                print(f"{bench} seed {seed} {name} ({record['seconds']} s): "
                      + ", ".join(f"{k} {b['all'][k]}" for k in SUMMARY_KEYS)
                      + " | R1@0.7 per length " + " ".join(f"{k}:{b[k].get('R1@0.7', '-')}"
                                                          for k in ("<3s", "3-6s", "6-10s", ">=10s"))
                      + (f" | novel R1@0.7 {b['novel'].get('R1@0.7')}" if "novel" in b else ""), flush=True)
                if "inspection" in record:
                    print(json.dumps(record["inspection"]), flush=True)
                if "saliency" in record:
                    print("saliency:", json.dumps(record["saliency"]), flush=True)
    print_tables(records)


if __name__ == "__main__":
    main()
