"""What the trainer accepts as precision and compilation, decided before a run writes anything."""

from __future__ import annotations

import pytest
import torch

from drn.config import ConfigError
from drn.engine.compiled_step import CompiledStep
from drn.engine.epoch import training_step
from drn.engine.train import _stage_optimizer, _training_precision
from drn.model import DRN
from tests.helpers.steps import SMALL


def settings(precision: str, compile_: bool) -> dict:
    return {"train": {"precision": precision, "compile": compile_, "lr": [1e-3, 1e-4, 1e-5], "weight_decay": 0.0},
            "eval": {"precision": "auto"}}


def test_the_step_follows_train_compile():
    assert _training_precision(settings("fp32", False), torch.device("cpu")) == ("fp32", training_step)
    precision, step = _training_precision(settings("bf16", True), torch.device("cpu"))
    assert precision == "bf16" and isinstance(step, CompiledStep)


def test_fp16_is_not_compiled():
    # fp16 resolves on a CUDA device without touching it; the check comes before any GPU work.
    with pytest.raises(ConfigError, match="train.compile needs train.precision bf16 or fp32"):
        _training_precision(settings("fp16", True), torch.device("cuda"))


@pytest.mark.parametrize("compiled", [False, True])
def test_adam_is_fused_eager_and_in_the_graph_compiled(compiled):
    from drn.model import DRNConfig

    model = DRN(DRNConfig(**SMALL))
    optimizer, scaler = _stage_optimizer(model, 1, settings("bf16", compiled), torch.device("cpu"), None,
                                         precision="bf16", compiled=compiled)
    assert scaler is None  # bf16 needs no loss scaling
    assert all(group["fused"] is (not compiled) and not group["capturable"] for group in optimizer.param_groups)
