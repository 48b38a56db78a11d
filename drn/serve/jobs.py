"""Feature extraction as background jobs that a page polls for progress.

One worker thread runs the jobs in turn (extraction already uses every core it is given); a job
for content that is already being extracted is that same job. At most `max_pending` jobs wait or
run; more are refused as busy rather than queued without bound.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from drn.errors import UserError

logger = logging.getLogger(__name__)

KEEP_FINISHED = 256  # finished jobs remembered for polling; older ones are forgotten


class BusyError(UserError, RuntimeError):
    """Too many extractions are waiting; the client should retry later (HTTP 503)."""


@dataclass
class Job:
    """One extraction. state: queued | running | done | error; progress in [0, 1]."""

    id: str
    video: str
    key: tuple
    state: str = "queued"
    progress: float = 0.0
    message: str | None = None
    created: float = field(default_factory=time.time)
    future: Future | None = field(default=None, repr=False)

    def public(self) -> dict:
        return {"id": self.id, "video": self.video, "state": self.state, "progress": round(self.progress, 4),
                "message": self.message}


class JobQueue:
    """Runs `work(report_progress)` callables one at a time and tracks their state."""

    def __init__(self, max_pending: int):
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drn-serve-extract")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._active: dict[tuple, Job] = {}

    def submit(self, video: str, key: tuple, work: Callable[[Callable[[float], None]], object]) -> Job:
        """A job computing `work` for `key` (the running one when `key` is already in progress)."""
        with self._lock:
            if key in self._active:
                return self._active[key]
            if len(self._active) >= self.max_pending:
                raise BusyError(f"the server is busy extracting {len(self._active)} videos; try again in a minute")
            job = Job(id=uuid.uuid4().hex, video=video, key=key)
            self._jobs[job.id] = job
            self._active[key] = job
            while len(self._jobs) > KEEP_FINISHED + self.max_pending:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
            # Inside the lock: whoever finds this job in _active also finds its future.
            job.future = self._executor.submit(self._run, job, work)
        return job

    def done(self, video: str, key: tuple) -> Job:
        """A finished job for work that needed none (its result was cached)."""
        job = Job(id=uuid.uuid4().hex, video=video, key=key, state="done", progress=1.0)
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: object) -> Job | None:
        if not isinstance(job_id, str):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, work):
        def report(progress: float) -> None:
            job.progress = min(max(float(progress), 0.0), 1.0)

        job.state = "running"
        try:
            result = work(report)
        except UserError as exc:
            job.state, job.message = "error", str(exc)
            raise
        except Exception as exc:  # a bug or a file FFmpeg chokes on: the job fails, the server goes on
            logger.exception("extraction of video %s failed", job.video)
            job.state, job.message = "error", f"extraction failed: {exc.__class__.__name__}: {exc}"
            raise
        else:
            job.progress, job.state = 1.0, "done"
            return result
        finally:
            with self._lock:
                self._active.pop(job.key, None)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
