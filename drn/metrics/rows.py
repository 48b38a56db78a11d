"""Reading and checking the JSON-lines files that `drn score` compares: predictions in the
Moment-DETR format and QVHighlights-style ground truth. Every problem is one `file:line` message."""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

from drn.errors import UserError
from drn.utils.json_lines import json_objects

# Rounding of the rows: 0.1 ms and 1e-6 are far below what any metric resolves.
SECONDS_DECIMALS = 4
SCORE_DECIMALS = 6


def rounded_windows(ranked) -> list[list[float]]:
    """A ranked (start, end, score) list as the rows write it: [[start, end, score], ...], rounded."""
    return [[round(s, SECONDS_DECIMALS), round(e, SECONDS_DECIMALS), round(p, SCORE_DECIMALS)] for s, e, p in ranked]


class ScoreInputError(UserError, ValueError):
    """A predictions or ground-truth file that cannot be scored; the message names file and line."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_jsonl_rows(path: str | PathLike, what: str) -> list[tuple[str, dict]]:
    """("PATH:LINE", object) for every non-blank line of `path`."""
    path = Path(path)
    if not path.is_file():
        raise ScoreInputError(f"{what} file {path} does not exist or is not a file")
    try:
        rows = list(json_objects(path, ScoreInputError))
    except UnicodeDecodeError:
        raise ScoreInputError(f"{path}: not UTF-8 text; expected one JSON object a line") from None
    if not rows:
        raise ScoreInputError(f"{what} file {path} holds no rows")
    return rows


def _windows(where: str, key: str, value, width: int) -> None:
    shape = "[start, end, score]" if width == 3 else "[start, end]"
    if not isinstance(value, list):
        raise ScoreInputError(f"{where}: `{key}` must be a list of {shape}, got {type(value).__name__}")
    for window in value:
        if (not isinstance(window, list) or len(window) < width
                or not all(_is_number(v) for v in window[:width])):
            raise ScoreInputError(f"{where}: `{key}` must hold {shape} with finite numbers, got {window!r}")
        if window[0] > window[1]:
            raise ScoreInputError(f"{where}: `{key}` has a window that ends before it starts: {window!r}")


def _unique_qids(rows: list[tuple[str, dict]]) -> None:
    seen: dict = {}
    for where, row in rows:
        if "qid" not in row:
            raise ScoreInputError(f"{where}: missing key `qid`")
        qid = row["qid"]
        if not isinstance(qid, (int, str)) or isinstance(qid, bool):
            raise ScoreInputError(f"{where}: `qid` must be an integer or a string, got {qid!r}")
        if qid in seen:
            raise ScoreInputError(f"{where}: qid {qid!r} appears again (first at {seen[qid]})")
        seen[qid] = where


def read_predictions(path: str | PathLike) -> list[dict]:
    """Prediction rows: `qid`, and `pred_relevant_windows` [[start, end, score], ...] and/or
    `pred_saliency_scores` [score per 2 s clip]."""
    path = Path(path)
    rows = read_jsonl_rows(path, "predictions")
    _unique_qids(rows)
    for where, row in rows:
        if "pred_relevant_windows" not in row and "pred_saliency_scores" not in row:
            raise ScoreInputError(f"{where}: a prediction needs `pred_relevant_windows` or `pred_saliency_scores`")
        if "pred_relevant_windows" in row:
            _windows(where, "pred_relevant_windows", row["pred_relevant_windows"], 3)
        scores = row.get("pred_saliency_scores", [])
        if not isinstance(scores, list) or not all(_is_number(s) for s in scores):
            raise ScoreInputError(f"{where}: `pred_saliency_scores` must be a list of finite numbers")
    return [row for _, row in rows]


def read_ground_truth(path: str | PathLike) -> list[dict]:
    """Ground-truth rows: `qid`, `relevant_windows` [[start, end], ...] (at least one), and for
    highlight detection `duration`, `relevant_clip_ids` and `saliency_scores` (3 scores a clip)."""
    path = Path(path)
    rows = read_jsonl_rows(path, "ground-truth")
    _unique_qids(rows)
    for where, row in rows:
        if "relevant_windows" not in row:
            raise ScoreInputError(f"{where}: missing key `relevant_windows`")
        _windows(where, "relevant_windows", row["relevant_windows"], 2)
        if not row["relevant_windows"]:
            raise ScoreInputError(f"{where}: `relevant_windows` is empty; a query needs at least one window")
        if "duration" in row and not (_is_number(row["duration"]) and row["duration"] > 0):
            raise ScoreInputError(f"{where}: `duration` must be a positive number, got {row['duration']!r}")
        if "saliency_scores" in row or "relevant_clip_ids" in row:
            ids, scores = row.get("relevant_clip_ids"), row.get("saliency_scores")
            if "duration" not in row:
                raise ScoreInputError(f"{where}: saliency needs `duration` to place its clips")
            if not (isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                  for i in ids)):
                raise ScoreInputError(f"{where}: `relevant_clip_ids` must be a list of clip indices >= 0")
            if not (isinstance(scores, list) and len(scores) == len(ids) and all(
                    isinstance(s, list) and len(s) == 3 and all(_is_number(v) for v in s) for s in scores)):
                raise ScoreInputError(f"{where}: `saliency_scores` must hold 3 numbers (one per annotator) for "
                                      f"each of the {len(ids)} relevant_clip_ids")
    return [row for _, row in rows]
