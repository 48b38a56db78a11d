"""Shared pieces of the end-to-end tests: a tiny synthetic dataset, a tiny config, the CLI run as a
subprocess, and one trained run that several tests read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drn.data import make_synthetic_dataset

REPO = Path(__file__).resolve().parents[2]

# Tiny widths and a short, fast-learning schedule: a run takes a few seconds on one CPU thread.
TINY_MODEL = {"feature_dim": 16, "embedding_dim": 8, "lstm_hidden": 8, "attention_dim": 8, "position_dim": 8,
              "level_channels": [8, 16, 16], "fpn_channels": 16}
EPOCHS = [3, 1, 2]
BATCH = 8


def cli_env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # One thread per process: the same arithmetic in every run (exact resume), and no oversubscription.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    env.pop("DRN_STOP_AFTER_STEPS", None)
    env.update(extra)
    return env


def run_cli(*args: str, env: dict | None = None, timeout: float = 120, cwd: Path | None = None,
            module: tuple[str, ...] = ("-m", "drn.cli")) -> subprocess.CompletedProcess:
    """`python -m drn.cli ARGS` in a subprocess; stdout and stderr captured as text."""
    return subprocess.run([sys.executable, *module, *args], env=env or cli_env(), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny_synthetic")
    return make_synthetic_dataset(root, num_videos_train=24, num_videos_val=8, num_videos_test=8,
                                  feature_dim=TINY_MODEL["feature_dim"], seed=3)


@pytest.fixture(scope="session")
def tiny_config(tiny_data, tmp_path_factory) -> Path:
    cfg = {
        "data": {split: str(tiny_data[split]) for split in ("train", "val", "test")}
        | {"durations": str(tiny_data["durations"]), "features": str(tiny_data["features"])},
        "model": TINY_MODEL,
        "train": {"batch_size": BATCH, "epochs": EPOCHS, "lr": [1.0e-2, 1.0e-3, 1.0e-4], "device": "cpu"},
    }
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def trained_run(tiny_config, tmp_path_factory) -> Path:
    """One uninterrupted `drn train` of the tiny config."""
    out = tmp_path_factory.mktemp("runs") / "uninterrupted"
    result = run_cli("train", str(tiny_config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out
