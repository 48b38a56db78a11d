"""TACoS (2D-TAN split): `{vid: {"timestamps": [[start_frame, end_frame], ...], "sentences": [...],
"fps": f, "num_frames": n}}`.

Timestamps are frame indices: seconds = frame / fps and the duration is num_frames / fps. Segment
quirks follow `drn.data.annotations.query.clean_segment` (the train split has 43 segments and the test split 5
that end after the last frame; they are clipped). The video id is the JSON key (`s13-d21.avi`).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from drn.data.annotations.query import (
    AnnotationFormatError,
    Query,
    QuirkReport,
    clean_segment,
    load_json_videos,
    parse_number,
)


def read_tacos(path: str | PathLike) -> tuple[list[Query], QuirkReport]:
    """Read a TACoS split (`train.json`, `val.json`, `test.json`).

    Returns:
        The kept queries in file order (qid `f"{vid}#{index}"`, times in seconds) and the quirk
        report.
    """
    path = Path(path)
    videos = load_json_videos(path, ("timestamps", "sentences", "fps", "num_frames"))
    report = QuirkReport(source=str(path))
    queries = []
    for vid, record in videos.items():
        fps = parse_number(record["fps"], f"{path}: video {vid!r} fps")
        if fps <= 0:
            raise AnnotationFormatError(f"{path}: video {vid!r} has fps {fps}, expected > 0")
        duration = parse_number(record["num_frames"], f"{path}: video {vid!r} num_frames") / fps
        pairs = zip(record["timestamps"], record["sentences"])
        for index, ((start, end), sentence) in enumerate(pairs):
            qid = f"{vid}#{index}"
            where = f"{path}: video {vid!r} timestamp {index}"
            start_s = parse_number(start, where) / fps
            end_s = parse_number(end, where) / fps
            segment = clean_segment(qid, start_s, end_s, duration, report)
            if segment is not None:
                queries.append(Query(qid, vid, sentence.strip(), segment[0], segment[1], duration))
    return queries, report
