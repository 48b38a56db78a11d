"""`drn demo --video` at a miniature size: videos, extraction, three stages, the held-out videos
grounded from their files, the demo's table and a plot with thumbnails."""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.jsonl import read_jsonl

pytest.importorskip("av")


@pytest.mark.slow
def test_miniature_video_demo_prints_the_demo_table_and_writes_its_files(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--video", "--out", str(out), "--videos", "4", "--epochs", "1", "1", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("drn demo --video: synthetic videos: 4 train / 1 val / 1 held-out test videos")
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("R1@0.3"))
    assert lines[header].split() == ["R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"]
    assert lines[header + 1].startswith("DRN") and lines[header + 2].startswith("baseline: mean train segment")
    metrics = json.loads((out / "run" / "test_metrics.json").read_text())
    assert [f"{v:.2f}" for v in metrics.values()] == lines[header + 1].split()[1:]
    rows = read_jsonl(out / "run" / "test_predictions.jsonl")
    assert rows and all(row["relevant_windows"] and "pred_relevant_windows" in row for row in rows)
    assert json.loads((out / "features" / "extract.json").read_text())["backbone"] == "tiny"
    assert (out / "demo_video_predictions.png").read_bytes()[:4] == b"\x89PNG"

    again = run_cli("demo", "--video", "--out", str(out), "--videos", "4")
    assert again.returncode == 2 and "--overwrite" in again.stderr
