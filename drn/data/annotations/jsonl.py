"""JSONL annotations, one query per line: QVHighlights (Moment-DETR) and lighthouse's
Charades-STA / TACoS releases.

A line is a JSON object:
    qid                int or str, unique in the file (kept as written: predictions echo it)
    query              the sentence
    vid                video id, the key of the video's features
    duration           seconds
    relevant_windows   one or more [start, end] in seconds
    relevant_clip_ids  optional: indices of the annotated 2 s clips (QVHighlights)
    saliency_scores    optional: per listed clip, one 0-4 score per annotator

Policy: a line that is not such an object (bad JSON, a missing key, a window that is not a pair
of numbers) is an `AnnotationFormatError` naming the file and the 1-based line, as for the other
readers (a wrong or damaged file). Data quirks are counted, logged by the caller, never fatal:
each window goes through `drn.data.annotations.query.clean_segment` (there the counts are of windows), a
query left with no window is dropped (`no_windows`), a repeated qid is dropped
(`duplicate_qid`), and saliency whose clip ids and scores disagree in length, or name a clip
outside the video, is ignored with the query kept (`saliency_mismatch`).
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

from drn.data.annotations.query import AnnotationFormatError, Query, QuirkReport, clean_segment, parse_number
from drn.utils.json_lines import json_objects

REQUIRED_KEYS = ("qid", "query", "vid", "duration")
# QVHighlights annotates saliency on 2 s clips: clip i spans [2i, 2i + 2) seconds.
SALIENCY_CLIP_SECONDS = 2.0


def _windows(raw: object, where: str) -> list[tuple[float, float]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AnnotationFormatError(f"{where}: relevant_windows must be a list of [start, end], got {raw!r}")
    windows = []
    for window in raw:
        if not isinstance(window, (list, tuple)) or len(window) != 2:
            raise AnnotationFormatError(f"{where}: relevant window {window!r} is not [start, end]")
        windows.append((parse_number(window[0], f"{where}: window start"),
                        parse_number(window[1], f"{where}: window end")))
    return windows


def _saliency(record: dict, duration: float) -> tuple[tuple[int, ...], tuple[tuple[float, ...], ...]] | None:
    """(clip ids, scores) of the record, () when it has none, None when they are inconsistent."""
    ids, scores = record.get("relevant_clip_ids"), record.get("saliency_scores")
    if ids is None and scores is None:
        return (), ()
    num_clips = math.ceil(duration / SALIENCY_CLIP_SECONDS)
    if not isinstance(ids, list) or not isinstance(scores, list) or len(ids) != len(scores):
        return None
    try:
        clip_ids = tuple(int(i) for i in ids)
        rows = tuple(tuple(float(x) for x in (row if isinstance(row, list) else [row])) for row in scores)
    except (TypeError, ValueError):
        return None
    if any(not 0 <= i < num_clips for i in clip_ids) or len({len(row) for row in rows}) > 1:
        return None
    return clip_ids, rows


def read_jsonl_annotations(path: str | PathLike) -> tuple[list[Query], QuirkReport]:
    """Read one JSONL split (QVHighlights `highlight_*_release.jsonl`, lighthouse
    `charades_*_release.jsonl` / `tacos_*_release.jsonl`).

    Returns:
        The kept queries in file order (qid as written, all windows in `Query.windows`, in file
        order and clipped to the duration; `start, end` is the first) and the quirk report.
    """
    path = Path(path)
    report = QuirkReport(source=str(path))
    queries: list[Query] = []
    seen: set = set()
    for where, record in json_objects(path, AnnotationFormatError):
        missing = [key for key in REQUIRED_KEYS if key not in record]
        if missing:
            raise AnnotationFormatError(f"{where}: missing {missing}; a line needs {list(REQUIRED_KEYS)} "
                                        "and relevant_windows")
        qid, vid = record["qid"], str(record["vid"])
        if not isinstance(qid, (int, str)) or isinstance(qid, bool):
            raise AnnotationFormatError(f"{where}: qid must be an int or a string, got {qid!r}")
        duration = parse_number(record["duration"], f"{where}: duration")
        raw_windows = _windows(record.get("relevant_windows"), where)
        if not raw_windows:
            report.total += 1
            report.add("no_windows", qid)
            continue
        if qid in seen:
            report.total += 1
            report.add("duplicate_qid", qid)
            continue
        seen.add(qid)
        kept = [clean_segment(qid, start, end, duration, report, count_query=index == 0)
                for index, (start, end) in enumerate(raw_windows)]
        windows = tuple(window for window in kept if window is not None)
        if not windows:
            continue  # each window was counted under the rule that dropped it
        saliency = _saliency(record, duration)
        if saliency is None:
            report.add("saliency_mismatch", qid)
            saliency = (), ()
        queries.append(Query(qid, vid, str(record["query"]).strip(), windows[0][0], windows[0][1], duration,
                             windows=windows if len(windows) > 1 else (), clip_ids=saliency[0],
                             saliency=saliency[1]))
    return queries, report
