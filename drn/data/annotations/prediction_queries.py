"""The queries file of `drn predict --queries`: JSON lines `{"qid", "vid", "query"[, "duration"]}`
(the QVHighlights / Moment-DETR field names, without ground truth).

Policy: a line that is not such an object is an `AnnotationFormatError` naming `file:line`, found
before any prediction runs (a malformed line means a wrong file, not a quirk of real data).
Blank lines are ignored; other fields (e.g. relevant_windows) are ignored too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from drn.data.annotations.query import AnnotationFormatError
from drn.utils.json_lines import json_objects


@dataclass(frozen=True)
class PredictionQuery:
    """One line of a queries file. `duration` is seconds or None (taken from the video);
    `where` is `file:line`, for messages."""

    qid: str
    vid: str
    query: str
    duration: float | None
    where: str


def _field(row: dict, key: str, where: str, optional: bool = False):
    if key not in row:
        if optional:
            return None
        raise AnnotationFormatError(f"{where}: missing field {key!r}; each line needs qid, vid and query "
                                    f"(and optionally duration), got fields {sorted(row)}")
    return row[key]


def read_prediction_queries(path: str | PathLike) -> list[PredictionQuery]:
    """Every query of a queries file, in file order; duplicate qids are an error."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationFormatError(f"queries file {path} does not exist")
    queries: list[PredictionQuery] = []
    seen: dict[str, str] = {}
    for where, row in json_objects(path, AnnotationFormatError):
        qid, vid, query = (_field(row, key, where) for key in ("qid", "vid", "query"))
        if not isinstance(query, str) or not query.strip():
            raise AnnotationFormatError(f"{where}: 'query' must be a non-empty string, got {query!r}")
        if not isinstance(vid, str) or not vid:
            raise AnnotationFormatError(f"{where}: 'vid' must be a non-empty string, got {vid!r}")
        duration = _field(row, "duration", where, optional=True)
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not math.isfinite(duration) or duration <= 0):
            raise AnnotationFormatError(f"{where}: 'duration' must be a number of seconds > 0, got {duration!r}")
        qid = str(qid)
        if qid in seen:
            raise AnnotationFormatError(f"{where}: qid {qid!r} repeats the qid of {seen[qid]}")
        seen[qid] = where
        queries.append(PredictionQuery(qid, vid, query, None if duration is None else float(duration), where))
    if not queries:
        raise AnnotationFormatError(f"queries file {path} holds no query")
    return queries
