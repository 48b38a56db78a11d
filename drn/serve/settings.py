"""What `drn serve` was told: the checkpoint, the served folders and the limits on requests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from drn.errors import UserError


class ServeError(UserError, ValueError):
    """A `drn serve` option that cannot be used (a folder that is not one, a bad limit)."""


@dataclass(frozen=True)
class ServeSettings:
    """Options of `drn serve`.

    Args:
        checkpoint: a checkpoint written by `drn train`.
        videos: a folder of video files the page may pick from (None: uploads only).
        features: a folder written by `drn extract` (extract.json + VID.npy) to pick from.
        max_upload_mb: the largest upload accepted, in MiB.
        max_duration: the longest upload accepted, in seconds.
        max_queries: sentences per request.
        max_query_chars: characters per sentence.
        cache_size: videos whose features stay in memory.
        max_pending_jobs: extractions queued or running before new ones are refused (busy).
        keep_uploads: uploaded files kept on disk (older ones are deleted, their ids expire).
        device: where the model and the backbone run (None: the checkpoint config's device).
        overrides: `key=value` inference overrides (eval.top_k, ...), as `drn predict --set`.
    """

    checkpoint: Path
    videos: Path | None = None
    features: Path | None = None
    max_upload_mb: float = 200.0
    max_duration: float = 600.0
    max_queries: int = 10
    max_query_chars: int = 500
    cache_size: int = 64
    max_pending_jobs: int = 8
    keep_uploads: int = 32
    device: str | None = None
    overrides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("videos", "features"):
            folder = getattr(self, name)
            if folder is not None and not Path(folder).is_dir():
                what = "does not exist" if not Path(folder).exists() else "is not a folder"
                raise ServeError(f"--{name} {folder}: expected a folder, but it {what}")
        for name in ("max_upload_mb", "max_duration"):
            if not getattr(self, name) > 0:
                raise ServeError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        for name in ("max_queries", "max_query_chars", "cache_size", "max_pending_jobs", "keep_uploads"):
            if int(getattr(self, name)) < 1:
                raise ServeError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")

    @property
    def max_upload_bytes(self) -> int:
        return math.ceil(self.max_upload_mb * 1024 * 1024)
