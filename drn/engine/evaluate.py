"""Inference over a dataset: ranked segments per query -> prediction rows -> metrics.

A prediction row (one per query, the JSON-lines format of Moment-DETR / Lighthouse):
    {"qid", "vid", "query", "duration", "pred_relevant_windows": [[start, end, score], ...],
     "relevant_windows": [[start, end]]}
in seconds, best first. The metrics are computed from the rows themselves (after rounding), so a
metrics file always agrees with the predictions file written beside it.

Queries are batched by video (`drn.data.video_batches`), so the model's query-independent part
runs once per video; the rows come out in dataset order. Under DDP each rank ranks a strided share
of the videos and the rows are gathered, in dataset order, on every rank: no query is lost or
counted twice.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch.utils.data import DataLoader

from drn.data import GroundingDataset
from drn.data.video_batches import VideoBatches, video_batches
from drn.engine.distributed import all_gather_objects, get_rank, get_world_size
from drn.metrics import grounding_metrics
from drn.model import DRN, DRNConfig, postprocess

# Rounding of the rows: 0.1 ms and 1e-6 are far below what any metric resolves.
SECONDS_DECIMALS = 4
SCORE_DECIMALS = 6


def inference_config(config: DRNConfig, eval_cfg: dict) -> DRNConfig:
    """The model config with the `eval` section's NMS threshold and top-k."""
    return dataclasses.replace(config, nms_threshold=float(eval_cfg["nms_threshold"]),
                               max_detections=int(eval_cfg["top_k"]))


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CPU and on GPUs that have it, fp16 on older GPUs; a no-op when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, dtype=torch.bfloat16)


def rounded_windows(ranked) -> list[list[float]]:
    """A ranked (start, end, score) list as the rows write it: [[start, end, score], ...], rounded."""
    return [[round(s, SECONDS_DECIMALS), round(e, SECONDS_DECIMALS), round(p, SCORE_DECIMALS)] for s, e, p in ranked]


def prediction_row(query, ranked) -> dict:
    """One row of the predictions file for a `Query` and its ranked (start, end, score) list."""
    return {
        "qid": query.qid,
        "vid": query.vid,
        "query": query.sentence,
        "duration": query.duration,
        "pred_relevant_windows": rounded_windows(ranked),
        "relevant_windows": [[query.start, query.end]],
    }


def metrics_from_rows(rows: list[dict]) -> dict[str, float]:
    """R@n, IoU=m and mIoU (percent) of prediction rows against their first relevant window."""
    return grounding_metrics([row["pred_relevant_windows"] for row in rows],
                             [row["relevant_windows"][0] for row in rows])


@torch.no_grad()
def predict_dataset(model: DRN, dataset: GroundingDataset, device: torch.device, eval_cfg: dict, *,
                    use_iou: bool, amp: bool = False, num_workers: int = 0) -> list[dict]:
    """Prediction rows for every query of `dataset`, in dataset order (all ranks' shares gathered).

    `use_iou`: score with sqrt(p_match * p_iou) (after stage 2) or p_match alone (after stage 1).
    """
    config = inference_config(model.config, eval_cfg)
    # Whole videos per batch: each video's query-independent part runs once for all its queries.
    batches = video_batches([query.vid for query in dataset.queries], eval_cfg["batch_size"],
                            get_rank(), get_world_size())
    loader = DataLoader(VideoBatches(dataset, batches), batch_size=None, shuffle=False, num_workers=num_workers)
    was_training = model.training
    model.eval()
    rows: list[tuple[int, dict]] = []
    for batch in loader:
        with autocast(device, amp):
            output = model(batch["features"].to(device), batch["words"].to(device), batch["lengths"],
                           batch["video_index"].to(device))
        ranked = postprocess(output, batch["duration"], config, use_iou=use_iou)
        for index, item_ranked in zip(batch["index"], ranked):
            rows.append((index, prediction_row(dataset.queries[index], item_ranked)))
    model.train(was_training)
    gathered = sorted((pair for part in all_gather_objects(rows) for pair in part), key=lambda pair: pair[0])
    return [row for _, row in gathered]


def evaluate(model: DRN, dataset: GroundingDataset, device: torch.device, eval_cfg: dict, *, use_iou: bool,
             amp: bool = False, num_workers: int = 0) -> tuple[dict[str, float], list[dict]]:
    """(metrics in percent, prediction rows) of `model` on `dataset`; see `predict_dataset`."""
    rows = predict_dataset(model, dataset, device, eval_cfg, use_iou=use_iou, amp=amp, num_workers=num_workers)
    return metrics_from_rows(rows), rows
