"""The default CPU thread count: --threads, then OMP_NUM_THREADS, then the idle cores."""

from __future__ import annotations

import pytest

from drn.utils import threads


@pytest.mark.parametrize("cores, load, expected", [(2, 0.1, 2), (2, 1.6, 1), (2, 12.0, 1), (16, 3.4, 13), (8, 0.0, 8)])
def test_idle_cores_is_the_cores_less_the_load(monkeypatch, cores, load, expected):
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, load, load))
    assert threads.idle_cores(cores) == expected


def test_the_rule_order(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_threads(2) == (2, "--threads")
    assert threads.choose_threads() == (3, "OMP_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.choose_threads() == (1, "4 core(s) less the load average")
