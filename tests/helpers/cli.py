"""The `drn` command run as a subprocess, and the tiny model widths and schedule of the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import REPO

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
    env.update(extra)
    return env


def run_cli(*args: str, env: dict | None = None, timeout: float = 120, cwd: Path | None = None,
            module: tuple[str, ...] = ("-m", "drn.cli")) -> subprocess.CompletedProcess:
    """`python -m drn.cli ARGS` in a subprocess; stdout and stderr captured as text."""
    return subprocess.run([sys.executable, *module, *args], env=env or cli_env(), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


USER_ERROR = 2  # the exit status of every user error (argparse's too)


def assert_one_line_error(result, command: str, *fragments: str) -> str:
    """Exit 2, no traceback, exactly one `drn COMMAND: error:` line holding every fragment."""
    assert result.returncode == USER_ERROR, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"drn {command}: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
