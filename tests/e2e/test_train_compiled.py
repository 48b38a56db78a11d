"""`train.compile`: the three stages of a run with the step compiled whole, no graph break, and a
run that learns like the eager one. Traced with the aot_eager backend (the graph inductor would
compile, with eager kernels: seconds instead of minutes); tests/engine/test_compiled_step.py runs
inductor itself."""

from __future__ import annotations

import functools

import pytest
import torch

from drn.config import load_config
from drn.engine import train as train_module
from drn.engine.compiled_step import CompiledStep
from drn.engine.train import train
from tests.helpers.cli import EPOCHS


@pytest.fixture
def aot_eager(monkeypatch):
    monkeypatch.setattr(train_module, "CompiledStep", functools.partial(CompiledStep, backend="aot_eager"))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield torch._dynamo.utils.counters
    torch._dynamo.reset()


def test_a_compiled_run_trains_all_stages_without_graph_breaks(aot_eager, tiny_config, tmp_path, one_thread):
    runs = {}
    for compiled in (False, True):
        cfg = load_config(tiny_config, ["train.precision=bf16", f"train.compile={str(compiled).lower()}"])
        runs[compiled] = train(cfg, tmp_path / f"compiled-{compiled}", show_progress=False)
    assert aot_eager["graph_break"] == {}
    assert aot_eager["stats"]["unique_graphs"] >= 3  # one graph per stage at least
    eager, compiled = runs[False].history, runs[True].history
    assert [row["stage"] for row in compiled] == [row["stage"] for row in eager]
    # The same schedule in bf16: the losses follow the eager run's within bf16's rounding.
    for ours, theirs in zip(compiled, eager):
        assert ours["loss_total"] == pytest.approx(theirs["loss_total"], rel=0.05, abs=0.02)
    assert compiled[EPOCHS[0] - 1]["loss_total"] < compiled[0]["loss_total"]  # it learns
    assert runs[True].test_metrics is not None

