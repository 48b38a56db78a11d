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
    """The trainer runs every step of the three stages through the compiled graph; that it equals
    the eager step is tests/engine/test_compiled_step.py's to show (bf16 runs drift apart by
    rounding over epochs, compiled or not)."""
    cfg = load_config(tiny_config, ["train.precision=bf16", "train.compile=true"])
    result = train(cfg, tmp_path / "compiled", show_progress=False)
    assert aot_eager["graph_break"] == {}
    assert aot_eager["stats"]["unique_graphs"] >= 3  # one graph per stage at least
    history = result.history
    assert [row["stage"] for row in history] == [1] * EPOCHS[0] + [2] * EPOCHS[1] + [3] * EPOCHS[2]
    assert history[EPOCHS[0] - 1]["loss_total"] < 0.9 * history[0]["loss_total"]  # it learns
    assert result.test_metrics["R5@0.3"] > 0
