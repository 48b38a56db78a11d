"""What `drn serve` was told: the checkpoint, the served folders and the limits on requests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from drn.errors import UserError

DEFAULT_BATCH_WINDOW_MS = 5.0
MAX_BATCH_WINDOW_MS = 1000.0  # a window longer than a second is a typo, not a batching policy


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
        batch_window_ms: requests arriving within this many ms of the first run as one forward pass
            (0: every request runs on its own).
        max_batch: sentences in one forward pass at most.
        queue_size: sentences waiting for the model at most; more are refused (503, Retry-After).
        encoding_cache_mb: memory for the encodings of videos (the model's video branch), LRU.
        workers: server processes, each with its own model and caches, sharing the port.
        threads: torch CPU threads per process (None: the idle cores, shared between the workers).
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
    batch_window_ms: float = DEFAULT_BATCH_WINDOW_MS
    max_batch: int = 32
    queue_size: int = 256
    encoding_cache_mb: float = 256.0
    workers: int = 1
    threads: int | None = None

    def __post_init__(self) -> None:
        if not Path(self.checkpoint).is_file():
            raise ServeError(f"checkpoint {self.checkpoint}: no such file (expected a checkpoint written by drn train)")
        for name in ("videos", "features"):
            folder = getattr(self, name)
            if folder is not None and not Path(folder).is_dir():
                what = "does not exist" if not Path(folder).exists() else "is not a folder"
                raise ServeError(f"--{name} {folder}: expected a folder, but it {what}")
        for name in ("max_upload_mb", "max_duration", "encoding_cache_mb"):
            if not getattr(self, name) > 0:
                raise ServeError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.batch_window_ms <= MAX_BATCH_WINDOW_MS:
            raise ServeError(f"--batch-window-ms must be in 0..{MAX_BATCH_WINDOW_MS} (0 turns batching off), "
                             f"got {self.batch_window_ms}")
        for name in ("max_queries", "max_query_chars", "cache_size", "max_pending_jobs", "keep_uploads", "max_batch",
                     "queue_size", "workers"):
            if int(getattr(self, name)) < 1:
                raise ServeError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ServeError(f"--threads must be >= 1, got {self.threads}")
        if self.queue_size < self.max_queries:
            raise ServeError(f"--queue-size ({self.queue_size}) must hold one request of --max-queries "
                             f"({self.max_queries}) sentences")

    @property
    def max_upload_bytes(self) -> int:
        return math.ceil(self.max_upload_mb * 1024 * 1024)
