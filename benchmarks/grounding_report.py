"""Where grounding accuracy goes: metrics of prediction rows broken down by moment length, by novel
composition and by distractor, and a look inside a trained model (which level's candidate wins,
how far the regressed edges are, the best IoU any location regresses).

Used by `grounding_benchmark.py`; the query metadata comes from `grounding_generators`
(`{split}_meta.jsonl`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from drn.engine.evaluate import metrics_from_rows
from drn.model.locations import decode_segments

LENGTH_BUCKETS = (("<3s", 0.0, 3.0), ("3-6s", 3.0, 6.0), ("6-10s", 6.0, 10.0), (">=10s", 10.0, float("inf")))
SUMMARY_KEYS = ("R1@0.5", "R1@0.7", "R5@0.5", "R5@0.7", "mIoU")


def read_meta(path: str | Path) -> dict:
    """{qid: metadata} of a generator's `{split}_meta.jsonl`."""
    return {row["qid"]: row for row in map(json.loads, Path(path).read_text().splitlines())}


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def _subset(rows: list[dict], keep: Callable[[dict], bool]) -> dict:
    chosen = [row for row in rows if keep(row)]
    if not chosen:
        return {"n": 0}
    return {"n": len(chosen), **{k: round(v, 2) for k, v in metrics_from_rows(chosen).items()}}


def _best_gt_iou(row: dict, window: Sequence[float]) -> float:
    return max(iou(window, gt) for gt in row["relevant_windows"])


def breakdown(rows: list[dict], meta: dict | None) -> dict:
    """{"all", "<3s", ..., "novel", "seen", "distractor_hit"...}: metrics (percent) of the rows and
    of subsets. Without metadata (the demo's generator) lengths come from the ground truth."""
    def length(row):
        if meta is not None:
            return meta[row["qid"]]["length"]
        return float(np.mean([end - start for start, end in row["relevant_windows"]]))

    out = {"all": _subset(rows, lambda r: True)}
    for name, lo, hi in LENGTH_BUCKETS:
        out[name] = _subset(rows, lambda r, lo=lo, hi=hi: lo <= length(r) < hi)
    if meta is None:
        return out
    out["novel"] = _subset(rows, lambda r: meta[r["qid"]]["novel"])
    out["seen"] = _subset(rows, lambda r: not meta[r["qid"]]["novel"])
    out["repeated"] = _subset(rows, lambda r: meta[r["qid"]]["repeated"])
    out["relation"] = _subset(rows, lambda r: meta[r["qid"]]["kind"] != "plain")
    # Where the top-1 lands when it misses: on another event of the video (a distractor sharing the
    # verb, the object, or neither) or elsewhere.
    for name, lo, hi in (("all", 0.0, float("inf")), ("<3s", 0.0, 3.0)):
        chosen = [r for r in rows if lo <= length(r) < hi and r["pred_relevant_windows"]]
        counts = dict.fromkeys(("same_verb", "same_object", "other_events"), 0)
        for row in chosen:
            top = row["pred_relevant_windows"][0][:2]
            if _best_gt_iou(row, top) >= 0.5:
                continue
            info = meta[row["qid"]]
            for key in counts:
                if any(iou(top, w) >= 0.5 for w in info[key]):
                    counts[key] += 1
                    break
        out[f"top1_on_distractor_{name}"] = {key: round(100.0 * value / max(len(chosen), 1), 2)
                                             for key, value in counts.items()}
    return out


@torch.no_grad()
def inspect_model(model, dataset, use_iou: bool, batch_size: int = 64) -> dict:
    """Per query, where the best-scored location is and how good the regression is:
    {"winner_level": [Q], "winner_iou": [Q], "start_error_clips", "end_error_clips": [Q] (signed,
    prediction - truth, of the winner), "oracle_iou": [Q] (best IoU of any location's segment),
    "positives_per_query": [Q] (locations strictly inside the moment, any level)}."""
    from drn.data import collate

    model.eval()
    out = {k: [] for k in ("winner_level", "winner_iou", "start_error_clips", "end_error_clips", "oracle_iou",
                           "gt_length_clips")}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    for batch in loader:
        output = model(batch["features"], batch["words"], batch["lengths"])
        num_clips = output.num_clips
        scores, segments, levels = [], [], []
        for level, (match, iou_prob, dist, points) in enumerate(zip(output.match_probs, output.iou_probs,
                                                                    output.distances, output.points)):
            scores.append(torch.sqrt(match * iou_prob) if use_iou else match)
            segments.append(decode_segments(points, dist, num_clips))
            levels.append(torch.full_like(match, level, dtype=torch.long))
        scores, segments, levels = torch.cat(scores, 1), torch.cat(segments, 1), torch.cat(levels, 1)
        truth = batch["gt"] / batch["duration"][:, None] * num_clips  # [B, 2] clip units
        inter = (torch.minimum(segments[..., 1], truth[:, None, 1]) - torch.maximum(segments[..., 0], truth[:, None, 0])
                 ).clamp(min=0)
        union = torch.maximum(segments[..., 1], truth[:, None, 1]) - torch.minimum(segments[..., 0], truth[:, None, 0])
        ious = inter / union.clamp(min=1e-9)
        best = scores.argmax(1)
        rows = torch.arange(len(best))
        out["winner_level"] += levels[rows, best].tolist()
        out["winner_iou"] += ious[rows, best].tolist()
        out["start_error_clips"] += (segments[rows, best, 0] - truth[:, 0]).tolist()
        out["end_error_clips"] += (segments[rows, best, 1] - truth[:, 1]).tolist()
        out["oracle_iou"] += ious.amax(1).tolist()
        out["gt_length_clips"] += (truth[:, 1] - truth[:, 0]).tolist()
    return {k: np.asarray(v) for k, v in out.items()}


def summarise_inspection(info: dict, lengths_seconds: np.ndarray) -> dict:
    """Per length bucket: the share of winners per level, mean |edge error| (clips), the winner's
    IoU >= 0.7 rate and the oracle's (best location) IoU >= 0.7 rate, in percent."""
    out = {}
    for name, lo, hi in (("all", 0.0, float("inf")),) + LENGTH_BUCKETS:
        keep = (lengths_seconds >= lo) & (lengths_seconds < hi)
        if not keep.any():
            continue
        level = info["winner_level"][keep]
        out[name] = {
            "n": int(keep.sum()),
            "level_share": [round(100.0 * float((level == i).mean()), 1) for i in range(3)],
            "edge_error_clips": round(float(np.mean(np.abs(np.concatenate(
                [info["start_error_clips"][keep], info["end_error_clips"][keep]])))), 3),
            "winner_iou>=0.7": round(100.0 * float((info["winner_iou"][keep] >= 0.7).mean()), 1),
            "oracle_iou>=0.7": round(100.0 * float((info["oracle_iou"][keep] >= 0.7).mean()), 1),
            "gt_length_clips": round(float(info["gt_length_clips"][keep].mean()), 2),
        }
    return out
