"""`drn train` and `drn eval` on JSONL data whose moments leave QVHighlights length ranges empty
(all moments short, or all long): the run ends with its predictions and a metrics file where the
empty ranges are null (said in one log line), never NaN and never a crash."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from drn.data import read_charades_sta
from tests.helpers.cli import BATCH, TINY_MODEL, run_cli
from tests.helpers.jsonl import read_jsonl

# Times scaled so every synthetic moment (3-12 s) lands in one range: x0.8 -> (0, 10] s only,
# x10.1 -> (30, 150] s only.
CASES = {"short": (0.8, ["MR-middle-mAP", "MR-long-mAP"]), "long": (10.1, ["MR-short-mAP", "MR-middle-mAP"])}


def write_jsonl_split(tiny_data: dict, split: str, scale: float, path) -> list[dict]:
    queries, _ = read_charades_sta(tiny_data[split], tiny_data["durations"])
    rows = [{"qid": i, "vid": q.vid, "query": q.sentence, "duration": round(q.duration * scale, 2),
             "relevant_windows": [[round(q.start * scale, 2), round(q.end * scale, 2)]]} for i, q in enumerate(queries)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_ends_with_predictions_and_null_metrics_for_empty_ranges(case, tiny_data, tmp_path):
    scale, empty = CASES[case]
    data = {"format": "jsonl", "features": str(tiny_data["features"])}
    rows = {}
    for split in ("train", "val", "test"):
        rows[split] = write_jsonl_split(tiny_data, split, scale, tmp_path / f"{split}.jsonl")
        data[split] = str(tmp_path / f"{split}.jsonl")
    lengths = [e - s for row in rows["test"] for s, e in row["relevant_windows"]]
    assert all(0 < n <= 10 for n in lengths) if case == "short" else all(30 < n <= 150 for n in lengths)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": data, "model": TINY_MODEL,
                                      "train": {"batch_size": BATCH, "epochs": [1, 1, 1], "device": "cpu"}}))

    result = run_cli("train", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    predictions = read_jsonl(tmp_path / "run" / "predictions.jsonl")
    assert [p["qid"] for p in predictions] == [row["qid"] for row in rows["test"]]
    text = (tmp_path / "run" / "metrics.json").read_text()
    assert "NaN" not in text
    metrics = json.loads(text)
    assert sorted(key for key, value in metrics.items() if value is None) == sorted(empty)
    assert all(isinstance(metrics[key], float) and math.isfinite(metrics[key]) for key in ("R1@0.5", "MR-full-mAP"))
    said = [line for line in result.stderr.splitlines() if "no ground-truth window in that length range" in line]
    assert len(said) == 1 and all(key in said[0] for key in empty)

    evaluated = run_cli("eval", str(tmp_path / "run" / "checkpoints" / "best.pt"), "--out", str(tmp_path / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    assert "null" in evaluated.stdout and "NaN" not in evaluated.stdout
