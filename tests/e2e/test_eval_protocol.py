"""`drn eval` under the official protocol (the default) and the fixed one: what the rows hold and
that metrics.json is recomputed from them."""

from __future__ import annotations

import json

from drn.cli import main
from drn.engine.evaluate import metrics_from_rows
from drn.metrics.protocol import PER_IOU_KEY
from tests.helpers.jsonl import read_jsonl


def evaluate_with(capsys, trained_run, out, *overrides):
    sets = [arg for item in overrides for arg in ("--set", item)]
    code = main(["eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(out), *sets])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, json.loads((out / "metrics.json").read_text()), read_jsonl(out / "predictions.jsonl")


def test_official_and_fixed_protocols_write_rows_their_metrics_come_from(trained_run, tmp_path, capsys):
    out, official, rows = evaluate_with(capsys, trained_run, tmp_path / "official")
    assert "NMS at m - 0.05 for each IoU=m (DRN's official protocol)" in out
    assert all(set(row[PER_IOU_KEY]) == {"0.3", "0.5", "0.7"} for row in rows)
    assert metrics_from_rows(rows) == official

    out, fixed, fixed_rows = evaluate_with(capsys, trained_run, tmp_path / "fixed", "eval.protocol=fixed")
    assert "NMS at 0.45 for every IoU=m (fixed protocol)" in out
    assert not any(PER_IOU_KEY in row for row in fixed_rows)
    assert metrics_from_rows(fixed_rows) == fixed
    # The same ranked list at 0.45 either way; R@1 and mIoU never depend on the protocol.
    assert [r["pred_relevant_windows"] for r in rows] == [r["pred_relevant_windows"] for r in fixed_rows]
    assert {k: v for k, v in official.items() if not k.startswith("R5")} == \
        {k: v for k, v in fixed.items() if not k.startswith("R5")}
    assert official["R5@0.5"] == fixed["R5@0.5"]
