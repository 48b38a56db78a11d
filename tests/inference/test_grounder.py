"""A checkpoint of an earlier drn (its config has `train.amp`) still loads, with the precisions it
meant, and grounds queries in the inference precision of its config (or of --precision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from drn.inference.grounder import Grounder
from tests.helpers.cli import run_cli


def old_checkpoint(trained_run: Path, tmp_path: Path, amp: bool) -> Path:
    """The trained run's best.pt with the config as drn wrote it before the precision keys."""
    payload = torch.load(trained_run / "checkpoints" / "best.pt", weights_only=True)
    payload["config"]["train"].pop("precision")
    payload["config"]["train"].pop("compile")
    payload["config"]["eval"].pop("precision")
    payload["config"]["train"]["amp"] = amp
    path = tmp_path / f"amp-{amp}.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("amp, train_precision, eval_precision", [(True, "bf16", "bf16"), (False, "fp32", "auto")])
def test_a_checkpoint_with_train_amp_loads(amp, train_precision, eval_precision, trained_run, tiny_data, tmp_path):
    path = old_checkpoint(trained_run, tmp_path, amp)
    grounder = Grounder(path)
    assert (grounder.cfg["train"]["precision"], grounder.cfg["eval"]["precision"]) == (train_precision, eval_precision)
    assert "amp" not in grounder.cfg["train"]
    features = np.load(next(Path(tiny_data["features"]).glob("*.npy")))
    (result,) = grounder.ground(features, ["a person opens the door"], duration=30.0)
    assert result["pred_relevant_windows"]

    fp32 = Grounder(path, ["eval.precision=fp32"])
    assert fp32.forward.precision == "fp32" and not fp32.forward.weights
    bf16 = Grounder(path, ["eval.precision=bf16"])
    assert bf16.forward.precision == "bf16" and bf16.forward.weights


def test_eval_reads_an_old_checkpoint_in_the_precision_asked(trained_run, tmp_path):
    path = old_checkpoint(trained_run, tmp_path, True)
    done = run_cli("eval", str(path), "--out", str(tmp_path / "eval"), "--precision", "fp32")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "eval" / "metrics.json").is_file()
