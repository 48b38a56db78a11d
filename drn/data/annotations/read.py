"""One entry point for the three benchmarks' annotation readers.

`read_annotations(format, path, durations)` returns `(queries, quirk_report)`; the readers live in
`charades.py`, `activitynet.py`, `tacos.py` and `jsonl.py`, the `Query` record and the quirk policy in
`query.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike

from drn.data.annotations.activitynet import read_activitynet_captions
from drn.data.annotations.charades import DurationSource, read_charades_sta
from drn.data.annotations.jsonl import read_jsonl_annotations
from drn.data.annotations.query import AnnotationFormatError, Query, QuirkReport
from drn.data.annotations.tacos import read_tacos
from drn.errors import reading

# Accepted `format` names -> canonical name.
FORMAT_ALIASES = {
    "charades_sta": "charades_sta",
    "charades": "charades_sta",
    "synthetic": "charades_sta",  # the synthetic generator writes Charades-STA files
    "activitynet_captions": "activitynet_captions",
    "activitynet": "activitynet_captions",
    "tacos": "tacos",
    "jsonl": "jsonl",  # QVHighlights, lighthouse's Charades-STA / TACoS releases
    "qvhighlights": "jsonl",
}

_JSON_READERS: dict[str, Callable[[str | PathLike], tuple[list[Query], QuirkReport]]] = {
    "activitynet_captions": read_activitynet_captions,
    "tacos": read_tacos,
    "jsonl": read_jsonl_annotations,
}


def read_annotations(
    format: str, path: str | PathLike, durations: DurationSource | None = None
) -> tuple[list[Query], QuirkReport]:
    """Read one annotation split.

    Args:
        format: one of `FORMAT_ALIASES` ("charades_sta", "activitynet_captions", "tacos", "jsonl", ...).
        path: the annotation file.
        durations: video durations (seconds) for Charades-STA, see `read_durations`; the JSON
            formats carry their own and must not be given one.

    Returns:
        (queries in file order, the quirk report to log once).
    """
    name = FORMAT_ALIASES.get(format.lower())
    if name is None:
        raise ValueError(
            f"unknown annotation format {format!r}; expected one of {sorted(FORMAT_ALIASES)}"
        )
    if name == "charades_sta":
        if durations is None:
            raise ValueError(
                f"{path}: Charades-STA annotations need durations (the Charades CSVs, a JSON "
                "{video: seconds} or a mapping)"
            )
        with reading(path, "Charades-STA annotations ('VIDEO_ID START END##sentence' lines)", AnnotationFormatError):
            return read_charades_sta(path, durations)
    if durations is not None:
        raise ValueError(f"{path}: {name} files carry their own durations; pass durations=None")
    with reading(path, f"{name} annotations (a JSON object {{video_id: record}})", AnnotationFormatError):
        return _JSON_READERS[name](path)
