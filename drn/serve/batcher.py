"""Micro-batching: work items that arrive within a short window run together, off the event loop.

`submit(item, size)` queues an item (its size counts against the bounded queue and the batch) and
returns a `Future`. The worker thread waits for an item, then until `window` seconds after that
item arrived (or until `max_batch` is queued), takes up to `max_batch` from the head of the queue
(FIFO) and calls `run(items)`, which must resolve every item's future. So an item waits at most the
window plus the batch running when it arrived. A window of 0 turns batching off: one item a run.

A full queue refuses at once with `Overloaded` (HTTP 503 and Retry-After), never an unbounded wait.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from drn.errors import UserError

logger = logging.getLogger(__name__)


class Overloaded(UserError, RuntimeError):
    """The queue is full; the client should retry after `retry_after` seconds (HTTP 503)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Pending:
    """A queued item: what to run, its size, its future and when it arrived (time.monotonic)."""

    item: object
    size: int
    future: Future = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Queue items, run them in batches on a worker thread.

    Args:
        run: called with a list of `Pending` on a worker thread; resolves their futures.
        window: seconds to wait for more items after the first (0: no batching).
        max_batch: the largest total size of a batch (an item larger than that runs alone).
        queue_size: the largest total size queued (waiting, not running) before `submit` refuses.
    """

    def __init__(self, run: Callable[[list[Pending]], None], window: float, max_batch: int, queue_size: int,
                 name: str = "drn-serve-batch"):
        self._run = run
        self.window = window
        self.max_batch = max_batch
        self.queue_size = queue_size
        self._queue: collections.deque[Pending] = collections.deque()
        self._queued = 0  # total size in the queue
        self._seconds_per_size = 0.0  # running average of a batch's seconds per unit of size
        self.batches = 0  # batches started so far, and the items in them
        self.items = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: object, size: int = 1) -> Future:
        pending = Pending(item, size)
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._queue and self._queued + size > self.queue_size:
                wait = max(1, math.ceil(self._queued * self._seconds_per_size))
                raise Overloaded(f"the server is busy: {self._queued} sentences are waiting for the model (at most "
                                 f"{self.queue_size}, drn serve --queue-size); retry in {wait} s", retry_after=wait)
            self._queue.append(pending)
            self._queued += size
            self._cond.notify()
        return pending.future

    @property
    def queued(self) -> int:
        with self._cond:
            return self._queued

    def close(self) -> None:
        """Stop the worker after its current batch; queued items fail."""
        with self._cond:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
            self._queued = 0
            self._cond.notify_all()
        for pending in left:
            pending.future.set_exception(RuntimeError("the server is shutting down"))

    def _take(self) -> list[Pending] | None:
        """The next batch (None once closed): waits for an item, then for the window."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            deadline = self._queue[0].arrived + self.window if self._queue else 0.0
            while self.window > 0 and self._queued < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._closed:
                return None
            batch = [self._queue.popleft()]
            size = batch[0].size
            while self.window > 0 and self._queue and size + self._queue[0].size <= self.max_batch:
                size += self._queue[0].size
                batch.append(self._queue.popleft())
            self._queued -= size
            self.batches += 1
            self.items += len(batch)
            return batch

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            began = time.monotonic()
            try:
                self._run(batch)
            except Exception as exc:  # a bug in a batch must not stop the worker: its requests fail, others go on
                logger.exception("a batch of %d request(s) failed", len(batch))
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
            per_size = (time.monotonic() - began) / max(1, sum(p.size for p in batch))
            with self._cond:
                self._seconds_per_size = per_size if not self._seconds_per_size else (
                    0.8 * self._seconds_per_size + 0.2 * per_size)
