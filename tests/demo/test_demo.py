"""`drn demo` at a miniature size: data, three stages, metrics against the baseline, a plot."""

from __future__ import annotations

import json

from drn.cli import main
from tests.helpers.cli import run_cli


def test_miniature_demo_prints_metrics_and_baseline_and_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", str(out), "--videos", "8", "--epochs", "1", "1", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "baseline: mean train segment" in result.stdout and "R1@0.5" in result.stdout
    assert "DRN" in result.stdout and "time:" in result.stdout
    assert "NMS at m - 0.05 for each IoU=m (DRN's official protocol)" in result.stdout  # the default protocol
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert set(metrics) >= {"R1@0.5", "mIoU"}
    assert (out / "demo_predictions.png").read_bytes()[:4] == b"\x89PNG"

    # A second demo into the same folder asks before replacing anything.
    assert main(["demo", "--out", str(out), "--videos", "8"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "run" / "metrics.json").is_file()
