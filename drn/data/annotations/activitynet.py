"""ActivityNet Captions reader.

Format: `{vid: {"duration": s, "timestamps": [[start, end], ...], "sentences": [...]}}`.

Times are in seconds. Segment quirks follow `drn.data.annotations.query.clean_segment`; a structural error
(timestamps and sentences of different lengths, a timestamp that is not a pair) raises an
`AnnotationFormatError` naming the file and the video.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from drn.data.annotations.query import Query, QuirkReport, clean_segment, load_json_videos, parse_number


def read_activitynet_captions(path: str | PathLike) -> tuple[list[Query], QuirkReport]:
    """Read an ActivityNet Captions split (`train.json`, `val_1.json`, `val_2.json`).

    Returns:
        The kept queries in file order (qid `f"{vid}#{index}"`, index of the segment within its
        video) and the quirk report. A missing or non-positive duration skips the video's queries.
    """
    path = Path(path)
    videos = load_json_videos(path, ("duration", "timestamps", "sentences"))
    report = QuirkReport(source=str(path))
    queries = []
    for vid, record in videos.items():
        duration = record["duration"]
        if duration is not None:
            duration = parse_number(duration, f"{path}: video {vid!r} duration")
        pairs = zip(record["timestamps"], record["sentences"])
        for index, ((start, end), sentence) in enumerate(pairs):
            qid = f"{vid}#{index}"
            where = f"{path}: video {vid!r} timestamp {index}"
            segment = clean_segment(
                qid, parse_number(start, where), parse_number(end, where), duration, report
            )
            if segment is not None:
                queries.append(Query(qid, vid, sentence.strip(), segment[0], segment[1], duration))
    return queries, report
