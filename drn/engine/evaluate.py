"""Inference over a dataset: ranked segments per query -> prediction rows -> metrics.

A prediction row (one per query, the JSON-lines format of Moment-DETR / Lighthouse):
    {"qid", "vid", "query", "duration", "pred_relevant_windows": [[start, end, score], ...],
     "relevant_windows": [[start, end], ...]}
in seconds, best first; "relevant_windows" lists every ground-truth window of the query. Under the
official protocol (`eval.protocol`, drn/metrics/protocol.py) a row also holds
{"pred_relevant_windows_per_iou": {"0.3": [...], "0.5": [...], "0.7": [...]}}, the list each
R@n, IoU=m is read from. With `eval.saliency_clip_seconds` set, rows also carry
"pred_saliency_scores": one score per clip of that length (`drn.model.saliency`). The metrics are
computed from the rows themselves (after rounding), so a metrics file always agrees with the
predictions file written beside it; R@n and mIoU count the best-matching ground-truth window of
each query.

Queries are batched by video (`drn.data.video_batches`), so the model's query-independent part
runs once per video; the rows come out in dataset order. Under DDP each rank ranks a strided share
of the videos and the rows are gathered, in dataset order, on every rank: no query is lost or
counted twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from drn.data import GroundingDataset
from drn.data.video_batches import VideoBatches, video_batches
from drn.engine.distributed import all_gather_objects, get_rank, get_world_size
from drn.metrics.protocol import PER_IOU_KEY, metrics_per_iou, nms_thresholds_per_iou
from drn.metrics.qvhighlights import nan_to_none, qvhighlights_metrics
from drn.metrics.rows import SCORE_DECIMALS, rounded_windows
from drn.model import DRN
from drn.model.postprocess import inference_config, postprocess_per_nms
from drn.model.precision import InferencePrecision
from drn.model.saliency import clip_saliency, to_native_clips
from drn.utils.io import write_metrics, write_predictions

logger = logging.getLogger(__name__)

def prediction_row(query, ranked, saliency: list[float] | None = None) -> dict:
    """One row of the predictions file for a `Query`, its ranked (start, end, score) list and,
    when given, its saliency per native clip."""
    row = {
        "qid": query.qid,
        "vid": query.vid,
        "query": query.sentence,
        "duration": query.duration,
        "pred_relevant_windows": rounded_windows(ranked),
        "relevant_windows": [list(window) for window in query.segments],
    }
    if saliency is not None:
        row["pred_saliency_scores"] = [round(score, SCORE_DECIMALS) for score in saliency]
    return row


def metrics_from_rows(rows: list[dict]) -> dict[str, float]:
    """R@n, IoU=m and mIoU (percent) of prediction rows against their relevant windows (the
    best-matching one of each query); each R@n, IoU=m from the row's list for m when the rows hold
    them (official protocol), else every metric from `pred_relevant_windows`."""
    per_iou = {m: [row[PER_IOU_KEY][m] for row in rows] for m in (rows[0].get(PER_IOU_KEY, {}) if rows else {})}
    return metrics_per_iou([row["pred_relevant_windows"] for row in rows], per_iou,
                           [row["relevant_windows"] for row in rows])


def ground_truth_rows(dataset: GroundingDataset) -> list[dict]:
    """The dataset's queries as QVHighlights ground-truth rows (qid, vid, query, duration,
    relevant_windows and, where annotated, relevant_clip_ids and saliency_scores)."""
    rows = []
    for query in dataset.queries:
        row = {"qid": query.qid, "vid": query.vid, "query": query.sentence, "duration": query.duration,
               "relevant_windows": [list(window) for window in query.segments]}
        if query.clip_ids:
            row["relevant_clip_ids"] = list(query.clip_ids)
            row["saliency_scores"] = [list(scores) for scores in query.saliency]
        rows.append(row)
    return rows


@torch.no_grad()
def predict_dataset(model: DRN, dataset: GroundingDataset, device: torch.device, eval_cfg: dict, *,
                    use_iou: bool, num_workers: int = 0, show_progress: bool = False) -> list[dict]:
    """Prediction rows for every query of `dataset`, in dataset order (all ranks' shares gathered).

    `eval_cfg`: the config's `eval` section (its `precision`: fp32 when absent).
    `use_iou`: score with sqrt(p_match * p_iou) (after stage 2) or p_match alone (after stage 1).
    `show_progress`: a progress bar over the batches (rank 0 only).
    """
    config = inference_config(model.config, eval_cfg)
    per_iou = nms_thresholds_per_iou(eval_cfg["protocol"])
    thresholds = [config.nms_threshold, *per_iou.values()]
    clip_seconds = eval_cfg.get("saliency_clip_seconds")
    rank = get_rank()
    # Whole videos per batch: each video's query-independent part runs once for all its queries.
    batches = video_batches([query.vid for query in dataset.queries], eval_cfg["batch_size"], rank,
                            get_world_size())
    loader = DataLoader(VideoBatches(dataset, batches), batch_size=None, shuffle=False, num_workers=num_workers)
    was_training = model.training
    model.eval()
    forward = InferencePrecision(model, eval_cfg.get("precision", "fp32"), device)
    rows: list[tuple[int, dict]] = []
    bar = tqdm(loader, desc="evaluating", unit="batch", leave=False, dynamic_ncols=True,
               disable=not show_progress or rank != 0)
    for batch in bar:
        output = forward(batch["features"].to(device), batch["words"].to(device), batch["lengths"],
                         batch["video_index"].to(device))
        ranked, *ranked_per_iou = postprocess_per_nms(output, batch["duration"], config, thresholds, use_iou=use_iou)
        saliency = clip_saliency(output).cpu() if clip_seconds else None
        for item, (index, item_ranked) in enumerate(zip(batch["index"], ranked)):
            query = dataset.queries[index]
            native = (to_native_clips(saliency[item], query.duration, clip_seconds).tolist()
                      if saliency is not None else None)
            row = prediction_row(query, item_ranked, native)
            if per_iou:
                row[PER_IOU_KEY] = {m: rounded_windows(lists[item]) for m, lists in zip(per_iou, ranked_per_iou)}
            rows.append((index, row))
    model.train(was_training)
    gathered = sorted((pair for part in all_gather_objects(rows) for pair in part), key=lambda pair: pair[0])
    return [row for _, row in gathered]


def evaluate(model: DRN, dataset: GroundingDataset, device: torch.device, eval_cfg: dict, *, use_iou: bool,
             num_workers: int = 0, show_progress: bool = False) -> tuple[dict[str, float], list[dict]]:
    """(metrics in percent, prediction rows) of `model` on `dataset`; see `predict_dataset`."""
    rows = predict_dataset(model, dataset, device, eval_cfg, use_iou=use_iou, num_workers=num_workers,
                           show_progress=show_progress)
    return metrics_from_rows(rows), rows


def evaluate_to_folder(model: DRN, dataset: GroundingDataset, device: torch.device, cfg: dict, out_dir: Path, *,
                       use_iou: bool, write: bool = True, show_progress: bool = False) -> tuple[dict, int]:
    """Rank every query of `dataset` with an experiment config's settings and write
    `out_dir/predictions.jsonl`, then score the rows and write `out_dir/metrics.json` (`write`:
    rank 0 under DDP). The predictions are written before any metric is computed, so no metric can
    cost a run its predictions. Returns (metrics, number of rows): DRN's R@n and mIoU, plus the
    QVHighlights brief metrics for JSONL data, where a length range without queries is None (and
    said in one log line)."""
    rows = predict_dataset(model, dataset, device, cfg["eval"], use_iou=use_iou, num_workers=cfg["data"]["num_workers"],
                           show_progress=show_progress)
    if write:
        explain_empty_rankings(rows, cfg["model"]["score_threshold"])
        write_predictions(out_dir, rows)
    metrics = metrics_from_rows(rows)
    if cfg["data"]["format"] == "jsonl":
        standard = nan_to_none(qvhighlights_scores(rows, dataset))
        empty = [key for key, value in standard.items() if value is None]
        if empty and write:
            logger.info("%s: no ground-truth window in that length range, so no value (null in metrics.json)",
                        ", ".join(empty))
        metrics.update(standard)
    if write:
        write_metrics(out_dir, metrics)
    return metrics, len(rows)


def format_metrics(metrics: dict) -> str:
    """`R1@0.5 45.20, ...` for a log line; a metric without a value shows as n/a."""
    return ", ".join(f"{key} {'n/a' if value is None else f'{value:.2f}'}" for key, value in metrics.items())


def qvhighlights_scores(rows: list[dict], dataset: GroundingDataset) -> dict[str, float]:
    """The QVHighlights moment-retrieval metrics of prediction rows (and highlight detection when
    the rows carry pred_saliency_scores and the dataset saliency annotations), keyed as the
    official evaluator's brief block ("MR-full-R1@0.5", "MR-full-mAP", "HL-min-VeryGood-mAP", ...)."""
    return qvhighlights_metrics(rows, ground_truth_rows(dataset))


def explain_empty_rankings(rows: list[dict], score_threshold: float) -> int:
    """Warn when queries got no segment at all (no location's matching probability passed
    `model.score_threshold`: an untrained or diverged model, or features unlike its training
    ones); returns how many."""
    empty = sum(1 for row in rows if not row["pred_relevant_windows"])
    if empty:
        logger.warning("%d of %d queries have no predicted segment: no location's matching probability is above "
                       "model.score_threshold=%g (an undertrained model, or features unlike its training features); "
                       "they count as misses", empty, len(rows), score_threshold)
    return empty
