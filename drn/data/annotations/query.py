"""The query record every annotation reader returns, the report of quirks met on the way, and
the parsing helpers the readers share.

All times are in seconds. A reader validates each raw segment with `clean_segment`, which applies
one policy for every dataset:

- the video has no known (positive) duration: the query is skipped, counted `missing_duration`;
- start >= end: the query is dropped, counted `start_ge_end`;
- start < 0: start is clipped to 0, counted `start_before_zero`;
- end > duration: end is clipped to the duration, counted `end_after_duration`. Ends past the
  duration by at most `DURATION_TOLERANCE` (float noise: ActivityNet's JSON has durations such as
  70.28999999999999 with segments ending at 70.29) are clipped too but not counted;
- a segment that is empty after clipping (it starts at or after the duration): dropped, counted
  `empty_after_clipping`.

The checks run in that order: a dropped query counts once, for the rule that dropped it; a kept
query may count both a clipped start and a clipped end.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from drn.errors import UserError

# Ends within this many seconds past the duration are float noise, not annotation errors.
DURATION_TOLERANCE = 1e-6

# Quirk name -> what happened to the query; the order is the order of `QuirkReport.summary`.
QUIRK_DESCRIPTIONS = {
    "missing_duration": "skipped, video duration unknown",
    "start_ge_end": "dropped, start >= end",
    "start_before_zero": "start < 0, clipped to 0",
    "end_after_duration": "end after the video duration, clipped",
    "empty_after_clipping": "dropped, empty after clipping to the duration",
    "missing_features": "skipped, no feature file for the video",
    "nonfinite_features": "skipped, the video's features hold NaN or infinite values",
    "no_known_words": "skipped, no in-vocabulary word in the sentence",
    "unknown_words": "kept, with words outside the vocabulary (read as the unknown word)",
    # JSONL (QVHighlights / lighthouse) only; window quirks above count windows there, not queries.
    "no_windows": "dropped, no usable relevant window",
    "duplicate_qid": "dropped, qid seen before in the file",
    "saliency_mismatch": "saliency ignored, relevant_clip_ids and saliency_scores disagree or leave the video",
    "missing_text_features": "skipped, no text feature file for the query",
}

# Each quirk keeps this many example ids for the report.
MAX_EXAMPLES = 5


class AnnotationFormatError(UserError, ValueError):
    """An annotation file does not follow its format; the message names the file and place."""


@dataclass(frozen=True)
class Query:
    """One sentence grounded in one video.

    Attributes:
        qid: unique and stable id within its annotation file, `f"{vid}#{n}"` where n is the
            1-based line number (Charades-STA) or the 0-based index of the segment within its
            video (ActivityNet Captions, TACoS); the file's own qid, as written (int or str), for
            JSONL files, so prediction rows match their ground truth.
        vid: video id, the key of the video's features.
        sentence: the query text as written in the annotation (surrounding spaces stripped).
        start, end: ground-truth moment in seconds, 0 <= start < end <= duration (the first of
            `windows` when the query has several).
        duration: video duration in seconds (> 0).
        windows: every ground-truth moment (seconds, as `start, end`) of a query with several
            (JSONL); () means the one (start, end). Use `segments`.
        clip_ids: indices of the annotated 2 s clips (QVHighlights' relevant_clip_ids), or ().
        saliency: per clip of `clip_ids`, one 0-4 score per annotator, or ().
    """

    qid: str | int
    vid: str
    sentence: str
    start: float
    end: float
    duration: float
    windows: tuple[tuple[float, float], ...] = ()
    clip_ids: tuple[int, ...] = ()
    saliency: tuple[tuple[float, ...], ...] = ()

    @property
    def segments(self) -> tuple[tuple[float, float], ...]:
        """Every ground-truth (start, end) in seconds; at least one."""
        return self.windows or ((self.start, self.end),)


@dataclass
class QuirkReport:
    """Counts of the quirks met while reading one source; logged once per run by the caller.

    `report["start_ge_end"]` is that quirk's count (0 when never met). `examples` keeps the first
    `MAX_EXAMPLES` ids of each quirk (query ids, or video ids for `missing_features`).
    """

    source: str
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, quirk: str, example: str | int | list[str] | None = None, count: int = 1) -> None:
        """Count `count` occurrences of `quirk` (a key of `QUIRK_DESCRIPTIONS`), keeping the
        example id(s) while fewer than `MAX_EXAMPLES` are kept."""
        if quirk not in QUIRK_DESCRIPTIONS:
            raise KeyError(f"unknown quirk {quirk!r}; known: {sorted(QUIRK_DESCRIPTIONS)}")
        self.counts[quirk] = self.counts.get(quirk, 0) + count
        kept = self.examples.setdefault(quirk, [])
        new = [] if example is None else [str(e) for e in example] if isinstance(example, list) else [str(example)]
        kept.extend(new[: MAX_EXAMPLES - len(kept)])

    def __getitem__(self, quirk: str) -> int:
        return self.counts.get(quirk, 0)

    def __bool__(self) -> bool:
        return any(self.counts.values())

    def summary(self) -> str:
        """One line: the source, how many queries were read, and each non-zero quirk."""
        parts = []
        for quirk, description in QUIRK_DESCRIPTIONS.items():
            if self.counts.get(quirk):
                examples = self.examples.get(quirk)
                example_text = f" (e.g. {', '.join(examples)})" if examples else ""
                parts.append(f"{self.counts[quirk]} {description}{example_text}")
        quirks = "; ".join(parts) if parts else "no quirks"
        return f"{self.source}: {self.total} queries read; {quirks}"

    def log(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        """Log `summary()` once at `level`."""
        logger.log(level, "%s", self.summary())


def parse_number(value: object, where: str) -> float:
    """`value` as a finite float, else an `AnnotationFormatError` that starts with `where`."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise AnnotationFormatError(f"{where}: expected a finite number, got {value!r}")
    return number


def clean_segment(
    qid: str,
    start: float,
    end: float,
    duration: float | None,
    report: QuirkReport,
    count_query: bool = True,
) -> tuple[float, float] | None:
    """Apply the module's quirk policy to one raw segment (seconds).

    Returns the (start, end) to keep, clipped to [0, duration], or None when the query is
    dropped. Every call adds 1 to `report.total` unless `count_query` is False (the second and
    later windows of one query).
    """
    report.total += int(count_query)
    if duration is None or not duration > 0:
        report.add("missing_duration", qid)
        return None
    if start >= end:
        report.add("start_ge_end", qid)
        return None
    if start < 0:
        report.add("start_before_zero", qid)
        start = 0.0
    if end > duration:
        if end > duration + DURATION_TOLERANCE:
            report.add("end_after_duration", qid)
        end = duration
    if start >= end:
        report.add("empty_after_clipping", qid)
        return None
    return float(start), float(end)


def load_json_videos(path: Path, required: tuple[str, ...]) -> dict[str, dict]:
    """The top-level `{vid: record}` object of `path`, each record checked for `required` keys."""
    with path.open(encoding="utf-8") as f:
        videos = json.load(f)
    if not isinstance(videos, dict):
        raise AnnotationFormatError(f"{path}: expected a JSON object {{video_id: record}}")
    for vid, record in videos.items():
        missing = [key for key in required if not isinstance(record, dict) or key not in record]
        if missing:
            raise AnnotationFormatError(f"{path}: video {vid!r} lacks {missing}")
        if not isinstance(record["timestamps"], list) or not isinstance(record["sentences"], list):
            raise AnnotationFormatError(f"{path}: video {vid!r}: timestamps and sentences must be lists")
        if len(record["timestamps"]) != len(record["sentences"]):
            raise AnnotationFormatError(
                f"{path}: video {vid!r} has {len(record['timestamps'])} timestamps "
                f"but {len(record['sentences'])} sentences"
            )
        for index, sentence in enumerate(record["sentences"]):
            if not isinstance(sentence, str):
                raise AnnotationFormatError(
                    f"{path}: video {vid!r} sentence {index} is {sentence!r}, expected a string")
        for index, segment in enumerate(record["timestamps"]):
            if not isinstance(segment, (list, tuple)) or len(segment) != 2:
                raise AnnotationFormatError(
                    f"{path}: video {vid!r} timestamp {index} is {segment!r}, expected [start, end]"
                )
    return videos
