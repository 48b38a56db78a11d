"""The `extract.json` that `drn extract` writes beside its features: how they were extracted
(backbone, weights, clip seconds, frames per clip, frame size, width D, dtype) and, per video, its
duration and clip count.

Training copies the settings (everything but the per-video "videos" and "failed") into its checkpoints, so prediction on a
video file encodes it the way the training features were encoded. Reading it needs no video
decoder or backbone, so the trainer does not import drn.video.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

from drn.errors import UserError

EXTRACT_JSON = "extract.json"
PER_VIDEO_KEYS = ("videos", "failed")  # what a record holds besides the settings


class ExtractionRecordError(UserError, ValueError):
    """An extract.json that cannot be read."""


def extract_json_path(features: str | PathLike) -> Path:
    """Where the record of a feature folder (DIR/extract.json) or HDF5 file (its folder's
    extract.json) lives."""
    features = Path(features)
    return features / EXTRACT_JSON if features.is_dir() else features.parent / EXTRACT_JSON


def read_extract_json(features: str | PathLike) -> dict | None:
    """The whole record beside `features`, or None when there is none."""
    path = extract_json_path(features)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExtractionRecordError(f"{path}: not a readable extract.json ({exc})") from None
    if not isinstance(record, dict) or "backbone" not in record or "dim" not in record:
        raise ExtractionRecordError(f"{path}: expected the JSON object drn extract writes (with 'backbone' and "
                                    f"'dim'), got {type(record).__name__} {sorted(record) if isinstance(record, dict) else ''}")
    return record


def extraction_settings_of(features: str | PathLike | None) -> dict | None:
    """The extraction settings (the record less its per-video entries) of the features at
    `features`, or None when they did not come from `drn extract`."""
    if features is None or isinstance(features, (list, tuple)):  # several feature types: no one backbone
        return None
    record = read_extract_json(features)
    if record is None:
        return None
    return {key: value for key, value in record.items() if key not in PER_VIDEO_KEYS}


def recorded_durations(features: str | PathLike) -> dict[str, float]:
    """{vid: duration in seconds} of the videos the record lists (empty without a record)."""
    record = read_extract_json(features) or {}
    return {vid: float(entry["duration"]) for vid, entry in (record.get("videos") or {}).items()
            if isinstance(entry, dict) and entry.get("duration")}
