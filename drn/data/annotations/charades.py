"""Charades-STA: `VID START END##sentence` annotation lines and video durations (seconds).

Durations come from the Charades video list CSV (column `length`; the synthetic generator writes
the same `id,length` columns) or a JSON `{vid: seconds}` such as DRN's `Charades_duration.json`.
The two sources disagree for some videos; the counts in the data README (1,805 train and 562 test
lines ending after the duration) are those of the CSVs.

Policy for malformed lines: an `AnnotationFormatError` naming the file and the 1-based line
number (the real files have none, so a malformed line means a wrong or damaged file). Blank lines
are ignored. Segment quirks follow `drn.data.annotations.query.clean_segment`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Union

from drn.data.annotations.query import AnnotationFormatError, Query, QuirkReport, clean_segment, parse_number
from drn.errors import reading

# A mapping {vid: seconds}, one .csv/.json path, or several merged (a runtime alias: Python 3.9).
DurationSource = Union[Mapping[str, float], str, PathLike, Iterable[Union[str, PathLike]]]


def _read_duration_csv(path: Path) -> dict[str, float]:
    durations = {}
    # Quoted fields (scripts, descriptions) hold commas and may span lines: only a real CSV
    # parser reads the rows right. utf-8-sig: a BOM must not rename the `id` column.
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"id", "length"} <= set(reader.fieldnames):
            raise AnnotationFormatError(
                f"{path}: a duration CSV needs the columns 'id' and 'length', got {reader.fieldnames}"
            )
        for row in reader:
            durations[row["id"]] = parse_number(row["length"], f"{path}:{reader.line_num}: length")
    return durations


def _read_duration_json(path: Path) -> dict[str, float]:
    with path.open(encoding="utf-8") as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        raise AnnotationFormatError(f"{path}: expected a JSON object {{video: seconds}}")
    return {str(vid): parse_number(seconds, f"{path}: video {vid!r}") for vid, seconds in raw.items()}


def read_durations(source: DurationSource) -> dict[str, float]:
    """Video durations in seconds, `{vid: seconds}`.

    `source` is a mapping (returned as a dict), a `.csv` or `.json` path, or a list of such paths
    merged in order (a later file wins for a video listed twice).
    """
    if isinstance(source, Mapping):
        return {str(vid): float(seconds) for vid, seconds in source.items()}
    paths = [source] if isinstance(source, (str, PathLike)) else list(source)
    durations: dict[str, float] = {}
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".json"):
            raise AnnotationFormatError(f"{path}: durations must be a .csv (columns id, length) or a .json file")
        with reading(path, "video durations (a CSV with columns id, length or a JSON {video: seconds})",
                     AnnotationFormatError):
            durations.update(_read_duration_csv(path) if suffix == ".csv" else _read_duration_json(path))
    return durations


def read_charades_sta(
    path: str | PathLike, durations: DurationSource
) -> tuple[list[Query], QuirkReport]:
    """Read a Charades-STA annotation file.

    Args:
        path: text file of `VID START END##sentence` lines, times in seconds.
        durations: see `read_durations`.

    Returns:
        The kept queries in file order (qid `f"{vid}#{line_number}"`) and the quirk report.
    """
    path = Path(path)
    durations = read_durations(durations)
    report = QuirkReport(source=str(path))
    queries = []
    with path.open(encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            head, sep, sentence = line.partition("##")
            fields = head.split()
            if not sep or len(fields) != 3 or not sentence.strip():
                raise AnnotationFormatError(
                    f"{path}:{line_number}: expected 'VIDEO_ID START END##sentence', "
                    f"got {line.rstrip()!r}"
                )
            vid, start_text, end_text = fields
            start = parse_number(start_text, f"{path}:{line_number}: START")
            end = parse_number(end_text, f"{path}:{line_number}: END")
            qid = f"{vid}#{line_number}"
            duration = durations.get(vid)
            segment = clean_segment(qid, start, end, duration, report)
            if segment is not None:
                queries.append(Query(qid, vid, sentence.strip(), segment[0], segment[1], duration))
    return queries, report
