"""The micro-batcher and the LRU caches of `drn serve`, on their own: what a window gathers, the
bounds on a batch and on the queue, FIFO order, failures that stay in their batch."""

from __future__ import annotations

import threading
import time

import pytest

from drn.serve.batcher import MicroBatcher, Overloaded
from drn.serve.cache import LRUCache


class Recorder:
    """A `run` that records each batch's items (and can hold a batch until released)."""

    def __init__(self, hold: bool = False):
        self.batches: list[list] = []
        self.release = threading.Event()
        self.started = threading.Event()
        if not hold:
            self.release.set()
        self.lock = threading.Lock()

    def __call__(self, batch):
        self.started.set()
        self.release.wait(30)
        with self.lock:
            self.batches.append([p.item for p in batch])
        for pending in batch:
            pending.future.set_result(pending.item)


def test_a_window_gathers_requests_into_one_batch_in_order():
    run = Recorder()
    batcher = MicroBatcher(run, window=0.3, max_batch=32, queue_size=64)
    futures = [batcher.submit(i) for i in range(6)]
    assert [f.result(timeout=30) for f in futures] == list(range(6))
    assert run.batches == [[0, 1, 2, 3, 4, 5]]
    batcher.close()


def test_window_zero_runs_each_item_alone():
    run = Recorder()
    batcher = MicroBatcher(run, window=0.0, max_batch=32, queue_size=64)
    for f in [batcher.submit(i) for i in range(5)]:
        f.result(timeout=30)
    assert sorted(map(tuple, run.batches)) == [(i,) for i in range(5)]
    assert batcher.batches == 5 and batcher.items == 5
    batcher.close()


def test_a_batch_is_bounded_and_a_full_batch_does_not_wait_for_the_window():
    run = Recorder()
    batcher = MicroBatcher(run, window=30.0, max_batch=4, queue_size=64)
    began = time.monotonic()
    futures = [batcher.submit(i, size=2) for i in range(4)]  # 8 units: two full batches of 4
    for f in futures:
        f.result(timeout=30)
    assert time.monotonic() - began < 20  # the window (30 s) was not waited for
    assert run.batches == [[0, 1], [2, 3]]
    batcher.close()


def test_a_full_queue_refuses_with_a_retry_time_and_takes_work_again_later():
    run = Recorder(hold=True)
    batcher = MicroBatcher(run, window=0.0, max_batch=1, queue_size=3)
    first = batcher.submit("running")
    assert run.started.wait(30)  # taken off the queue: it no longer counts
    waiting = [batcher.submit(i) for i in range(3)]
    with pytest.raises(Overloaded) as refused:
        batcher.submit("one too many")
    assert refused.value.retry_after >= 1 and "at most 3" in str(refused.value)
    run.release.set()
    assert first.result(timeout=30) == "running" and [f.result(timeout=30) for f in waiting] == [0, 1, 2]
    assert batcher.submit("later").result(timeout=30) == "later"
    batcher.close()


def test_a_failing_batch_fails_its_items_and_the_worker_goes_on():
    def run(batch):
        if any(p.item == "bad" for p in batch):
            raise RuntimeError("a bug")
        for pending in batch:
            pending.future.set_result(pending.item)

    batcher = MicroBatcher(run, window=0.0, max_batch=1, queue_size=8)
    with pytest.raises(RuntimeError, match="a bug"):
        batcher.submit("bad").result(timeout=30)
    assert batcher.submit("good").result(timeout=30) == "good"
    batcher.close()


def test_closing_fails_what_still_waits():
    run = Recorder(hold=True)
    batcher = MicroBatcher(run, window=0.0, max_batch=1, queue_size=8)
    batcher.submit("running")
    assert run.started.wait(30)
    queued = batcher.submit("queued")
    batcher.close()
    with pytest.raises(RuntimeError, match="shutting down"):
        queued.result(timeout=30)
    run.release.set()


def test_lru_by_bytes_and_by_count():
    cache = LRUCache(max_bytes=10, size_of=len)
    cache.put("a", "xxxx")
    cache.put("b", "xxxx")
    assert cache.get("a") == "xxxx"  # a is now the most recent
    cache.put("c", "xxxx")  # 12 bytes: the least recent (b) goes
    assert cache.get("b") is None and cache.get("a") and cache.get("c") and cache.bytes == 8
    cache.put("huge", "x" * 11)  # larger than the whole budget: not kept, nothing evicted for it
    assert cache.get("huge") is None and len(cache) == 2
    counted = LRUCache(max_items=2)
    for key in "abc":
        counted.put(key, key)
    assert [counted.get(k) for k in "abc"] == [None, "b", "c"]
