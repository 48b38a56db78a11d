"""A run folder belongs to one process and one run: a held lock refuses a second `drn train`, two
concurrent runs never mix their files, the results of a run without its checkpoint are a run too,
`--overwrite` replaces a run, `drn eval` never leaves new predictions beside old metrics, and result
files get the mode the umask gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from drn.engine.runlock import LOCK_NAME, FolderLock
from drn.utils.io import current_umask
from tests.helpers.cli import cli_env, run_cli

USER_ERROR = 2


def error_line(result, command: str) -> str:
    assert result.returncode == USER_ERROR, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"drn {command}: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_locked_by_another_process_is_refused(tiny_config, tmp_path):
    out = tmp_path / "run"
    with FolderLock(out):  # this test process plays the other `drn train`
        result = run_cli("train", str(tiny_config), "--out", str(out))
    line = error_line(result, "train")
    assert f"{out} is in use by pid {os.getpid()}" in line
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


@pytest.mark.slow
def test_two_concurrent_runs_never_mix_their_files(tiny_config, tmp_path):
    out = tmp_path / "run"
    procs = {seed: subprocess.Popen([sys.executable, "-m", "drn.cli", "train", str(tiny_config), "--out", str(out),
                                     "--set", f"train.seed={seed}", "--set", "train.epochs=[1, 1, 0]"],
                                    env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (11, 22)}
    results = {seed: (proc.wait(timeout=300), proc.stderr.read()) for seed, proc in procs.items()}
    winners = [seed for seed, (code, _) in results.items() if code == 0]
    assert len(winners) == 1, results
    loser = next(seed for seed in results if seed not in winners)
    code, stderr = results[loser]
    # Refused by the lock (naming the holder's pid, or "another process" when it asked in the instant
    # between the winner's lock and its pid being written), or (starting later) by the winner's files:
    # before or after its first checkpoint.
    refusals = ("is in use by", "already holds a run", "holds files of another run", "changed while this run")
    assert code == USER_ERROR and any(r in stderr for r in refusals), stderr[-2000:]
    # Every file is the winner's.
    seed = winners[0]
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["seed"] == seed
    for name in ("last.pt", "best.pt"):
        assert torch.load(out / "checkpoints" / name, weights_only=True)["config"]["train"]["seed"] == seed


def test_results_without_a_checkpoint_are_a_run(tiny_config, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text('{"R1@0.5": 99.0}\n')
    (out / "notes.txt").write_text("mine")
    before = listing(out)
    for flags in ([], ["--resume"]):
        line = error_line(run_cli("train", str(tiny_config), "--out", str(out), *flags), "train")
        assert "holds files of another run (metrics.json) but no checkpoints/last.pt" in line and "--overwrite" in line
        assert listing(out) == before

    replaced = run_cli("train", str(tiny_config), "--out", str(out), "--overwrite", "--set", "train.epochs=[1, 0, 0]")
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert "--overwrite: removed metrics.json" in replaced.stderr
    assert json.loads((out / "metrics.json").read_text()) != {"R1@0.5": 99.0}
    assert (out / "notes.txt").read_text() == "mine"  # not a run file: left alone
    assert (out / "checkpoints" / "last.pt").is_file()


def test_result_files_honour_the_umask(trained_run):
    expected = 0o666 & ~current_umask()
    files = [p for p in trained_run.rglob("*") if p.is_file() and p.name != LOCK_NAME and "tensorboard" not in p.parts]
    assert {p.relative_to(trained_run).as_posix() for p in files} >= {
        "checkpoints/last.pt", "checkpoints/best.pt", "config.yaml", "vocab.json", "log.csv", "metrics.json",
        "predictions.jsonl"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: oct(expected) for p in files}


def test_eval_into_a_folder_with_old_results_replaces_both(trained_run, tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text('{"old": 1}\n')
    result = run_cli("eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(out), "--set", "eval.top_k=2")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert "old" not in metrics and all(len(row["pred_relevant_windows"]) <= 2 for row in rows)
