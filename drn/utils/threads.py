"""How many CPU threads torch gets when the user does not say.

torch's default (one thread per core) is the fastest on an idle machine with a large model, and
ruinous on a busy one: its OpenMP threads spin waiting for cores other processes hold, and a
small model then runs 10-50x slower than on one thread (benchmarks/RESULTS.md, "CPU threads").
The rule: an explicit `--threads` wins; then `OMP_NUM_THREADS` (torchrun sets it to 1 per
process); otherwise the cores this process may use that the 1-minute load average leaves idle,
at least 1.
"""

from __future__ import annotations

import math
import os

import torch


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def idle_cores(cores: int | None = None) -> int:
    """`cores` (default: `usable_cores()`) less the 1-minute load average, rounded, at least 1."""
    cores = usable_cores() if cores is None else cores
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform: assume idle
        load = 0.0
    return max(1, min(cores, math.floor(cores - load + 0.5)))


def choose_threads(requested: int | None = None) -> tuple[int, str]:
    """(threads, why) by the module's rule."""
    if requested is not None:
        return requested, "--threads"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), "OMP_NUM_THREADS"
    cores = usable_cores()
    return idle_cores(cores), f"{cores} core(s) less the load average"


def set_threads(requested: int | None = None) -> tuple[int, str]:
    """Apply `choose_threads(requested)` to torch; returns it."""
    threads, why = choose_threads(requested)
    torch.set_num_threads(threads)
    return threads, why
