"""How many torch threads each `drn serve` process gets: decided once, in the parent, for every worker."""

from __future__ import annotations

import pytest

from drn.serve.settings import ServeSettings
from drn.serve.workers import resolve_threads


@pytest.mark.parametrize("threads, workers, omp, idle, expected", [
    (3, 2, None, 8, 3),  # --threads wins
    (None, 1, "2", 8, 2),  # then OMP_NUM_THREADS
    (None, 1, None, 8, 7),  # then the idle cores less one for the event loop
    (None, 2, None, 8, 3),  # ... less one per worker, shared between them
    (None, 1, None, 2, 1),
    (None, 4, None, 2, 1),  # at least 1
])
def test_threads_per_process(monkeypatch, checkpoint, threads, workers, omp, idle, expected):
    monkeypatch.setattr("drn.utils.threads.idle_cores", lambda cores=None: idle)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    settings = ServeSettings(checkpoint=checkpoint, threads=threads, workers=workers)
    assert resolve_threads(settings).threads == expected
