"""How well DRN's own outputs rank clips for highlight detection, on synthetic data with saliency.

`PYTHONPATH=. python benchmarks/saliency_synthetic.py [--out DIR]`: writes the demo's synthetic
dataset as QVHighlights JSONL (each query's 2 s clips that overlap its moment are annotated, three
annotators scoring 4 x the overlapped fraction plus noise, rounded to 0-4), trains the demo's
narrow DRN on it (`drn.demo.synthetic` settings), and scores the test split's per-clip saliency from several
readings of the same outputs with the QVHighlights highlight-detection metrics, next to random
scores. Prints a markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from drn.config import load_config
from drn.data import collate, make_synthetic_dataset, read_charades_sta
from drn.demo.synthetic import DemoSettings, demo_overrides
from drn.engine.evaluate import ground_truth_rows, predict_dataset
from drn.engine.experiment import build_split, open_feature_source
from drn.engine.train import train
from drn.inference.grounder import load_trained_model
from drn.metrics.qvhighlights import qvhighlights_metrics
from drn.model.saliency import clip_saliency, per_clip_by_level, to_native_clips

CLIP_SECONDS = 2.0
HL_KEYS = ("HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1", "HL-min-Good-mAP", "HL-min-Fair-mAP")


def write_jsonl_with_saliency(paths: dict, split: str, out: Path, rng: np.random.Generator) -> Path:
    """The split's Charades-format queries as QVHighlights JSONL lines with saliency."""
    queries, _ = read_charades_sta(paths[split], paths["durations"])
    lines = []
    for qid, q in enumerate(queries):
        clips = int(q.duration / CLIP_SECONDS)
        starts = np.arange(clips) * CLIP_SECONDS
        overlap = np.clip(np.minimum(starts + CLIP_SECONDS, q.end) - np.maximum(starts, q.start), 0, None) / CLIP_SECONDS
        ids = np.flatnonzero(overlap > 0)
        scores = np.clip(np.rint(4 * overlap[ids, None] + rng.normal(0, 0.5, (len(ids), 3))), 0, 4).astype(int)
        lines.append({"qid": qid, "query": q.sentence, "vid": q.vid, "duration": q.duration,
                      "relevant_windows": [[q.start, q.end]], "relevant_clip_ids": ids.tolist(),
                      "saliency_scores": scores.tolist()})
    path = out / f"{split}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


# Readings of one DRNOutput as [B, T] per-clip scores.
READINGS = {
    "mean over levels of p_match (shipped)": clip_saliency,
    "max over levels of p_match": lambda out: per_clip_by_level(out, out.match_probs).amax(0),
    "finest level's p_match": lambda out: out.match_probs[0],
    "mean over levels of sqrt(p_match p_iou)": lambda out: per_clip_by_level(
        out, [torch.sqrt(m * i) for m, i in zip(out.match_probs, out.iou_probs)]).mean(0),
}


def ranked_window_saliency(row: dict) -> list[float]:
    """Per native clip, the best score of the ranked predictions covering its centre."""
    clips = int(row["duration"] / CLIP_SECONDS)
    centres = (np.arange(clips) + 0.5) * CLIP_SECONDS
    scores = np.zeros(clips)
    for start, end, score in row["pred_relevant_windows"]:
        inside = (centres >= start) & (centres < end)
        scores[inside] = np.maximum(scores[inside], score)
    return scores.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="working folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out or tempfile.mkdtemp(prefix="drn_saliency_"))
    settings = DemoSettings()
    paths = make_synthetic_dataset(out / "data", num_videos_train=settings.train_videos,
                                   num_videos_val=settings.eval_videos, num_videos_test=settings.eval_videos,
                                   feature_dim=settings.model["feature_dim"], seed=settings.seed,
                                   noise_std=settings.noise_std)
    rng = np.random.default_rng(0)
    overrides = demo_overrides(paths, settings)
    for split in ("train", "val", "test"):
        overrides.append(f"data.{split}={write_jsonl_with_saliency(paths, split, out / 'data', rng)}")
    overrides += ["data.format=jsonl", "data.durations=null", f"eval.saliency_clip_seconds={CLIP_SECONDS}"]
    began = time.perf_counter()
    result = train(load_config(None, overrides), out / "run", show_progress=False)
    trained = time.perf_counter() - began

    model, vocab, cfg, payload = load_trained_model(result.checkpoint, device="cpu")
    test = build_split(cfg, "test", vocab, open_feature_source(cfg))
    truth = ground_truth_rows(test)
    rows = predict_dataset(model, test, torch.device("cpu"), cfg["eval"], use_iou=payload["stage"] > 1)
    table = {}
    with torch.no_grad():
        for name, reading in READINGS.items():
            scores = []
            for batch in DataLoader(test, batch_size=64, collate_fn=collate):
                output = model(batch["features"], batch["words"], batch["lengths"])
                scores += list(reading(output))
            table[name] = [{**row, "pred_saliency_scores": to_native_clips(s, row["duration"], CLIP_SECONDS).tolist()}
                           for row, s in zip(rows, scores)]
    table["max score of the ranked windows covering the clip"] = [
        {**row, "pred_saliency_scores": ranked_window_saliency(row)} for row in rows]
    table["random scores (baseline)"] = [
        {**row, "pred_saliency_scores": rng.random(int(row["duration"] / CLIP_SECONDS)).tolist()} for row in rows]

    print(f"synthetic test split: {len(rows)} queries; training {trained:.0f} s; {settings.describe()}")
    print("| saliency from | " + " | ".join(HL_KEYS) + " |")
    print("| --- |" + " --- |" * len(HL_KEYS))
    for name, predictions in table.items():
        metrics = qvhighlights_metrics(predictions, truth)
        print(f"| {name} | " + " | ".join(f"{metrics[key]:.2f}" for key in HL_KEYS) + " |")


if __name__ == "__main__":
    main()
