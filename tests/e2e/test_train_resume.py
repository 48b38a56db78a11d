"""`drn train` end to end: the run folder, metrics that agree with the predictions, and a killed
run that resumes to exactly the uninterrupted result."""

from __future__ import annotations

import csv
import json
import math

import pytest

from drn.data import read_charades_sta
from drn.engine.evaluate import metrics_from_rows
from drn.engine.runlock import LOCK_NAME
from drn.metrics.protocol import PER_IOU_KEY
from tests.helpers.cli import BATCH, EPOCHS, run_cli
from tests.helpers.crash_train import CRASH_EXIT_CODE
from tests.helpers.jsonl import read_jsonl
from tests.helpers.paths import REPO

METRIC_KEYS = {"R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"}
ROW_KEYS = {"qid", "vid", "query", "duration", "pred_relevant_windows", "relevant_windows", PER_IOU_KEY}


def test_run_folder_holds_checkpoints_logs_metrics_and_every_test_query(trained_run, tiny_data):
    assert (trained_run / "checkpoints" / "last.pt").is_file()
    assert (trained_run / "checkpoints" / "best.pt").is_file()  # there is a val split
    assert not list((trained_run / "checkpoints").glob("*.tmp"))
    assert (trained_run / "config.yaml").is_file() and (trained_run / "vocab.json").is_file()
    assert list((trained_run / "tensorboard").glob("events.out.tfevents.*"))

    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert set(metrics) == METRIC_KEYS
    rows = read_jsonl(trained_run / "predictions.jsonl")
    test_queries, _ = read_charades_sta(tiny_data["test"], tiny_data["durations"])
    assert [row["qid"] for row in rows] == [q.qid for q in test_queries]  # every query, once, in order
    for row, query in zip(rows, test_queries):
        assert set(row) == ROW_KEYS
        assert row["relevant_windows"] == [[query.start, query.end]]
        windows = row["pred_relevant_windows"]
        assert all(0 <= s <= e <= row["duration"] for s, e, _ in windows)
        assert [w[2] for w in windows] == sorted((w[2] for w in windows), reverse=True)
    assert any(row["pred_relevant_windows"] for row in rows)

    recomputed = metrics_from_rows(rows)  # each R@n, IoU=m from the row's list for m (official protocol)
    assert recomputed == pytest.approx(metrics, abs=1e-9)
    assert metrics["R5@0.3"] > 0  # it learned something, so the comparison above is not vacuous

    with (trained_run / "log.csv").open() as f:
        log = list(csv.DictReader(f))
    assert [int(r["epochs_done"]) for r in log] == list(range(1, sum(EPOCHS) + 1))
    assert [int(r["stage"]) for r in log] == [1] * EPOCHS[0] + [2] * EPOCHS[1] + [3] * EPOCHS[2]
    assert all(r["eval_split"] == "val" and not math.isnan(float(r["R1@0.5"])) for r in log)


def _log_rows(path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_killed_run_resumes_to_the_uninterrupted_result(trained_run, tiny_config, tiny_data, tmp_path):
    train_queries, _ = read_charades_sta(tiny_data["train"], tiny_data["durations"])
    steps_per_epoch = math.ceil(len(train_queries) / BATCH)
    # Die in the middle of stage 3's second epoch: the resume restores stage 3's Adam state.
    stop_after = (sum(EPOCHS) - 1) * steps_per_epoch + steps_per_epoch // 2
    out = tmp_path / "killed"

    killed = run_cli(str(tiny_config), str(out), str(stop_after), module=("-m", "tests.helpers.crash_train"),
                     cwd=REPO)
    assert killed.returncode == CRASH_EXIT_CODE, killed.stderr
    assert (out / "checkpoints" / "last.pt").is_file()
    assert not (out / "metrics.json").exists()
    assert (out / LOCK_NAME).read_text().startswith("pid ")  # the dead process's; its flock died with it

    # What a kill just after last.pt was written and before log.csv was leaves: the log lacks the
    # checkpoint's epoch. And what kills during writes leave: temporaries beside their targets.
    log = (out / "log.csv").read_text().splitlines(keepends=True)
    (out / "log.csv").write_text("".join(log[:-1]))
    stale = [out / "checkpoints" / ".last.pt.k1ll3d.tmp", out / ".log.csv.k1ll3d.tmp"]
    for path in stale:
        path.write_bytes(b"partial")

    resumed = run_cli("train", str(tiny_config), "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"after {sum(EPOCHS) - 1} of {sum(EPOCHS)} epochs" in resumed.stderr
    assert "ended without releasing it" in resumed.stderr
    assert (out / "predictions.jsonl").read_text() == (trained_run / "predictions.jsonl").read_text()
    assert (out / "metrics.json").read_text() == (trained_run / "metrics.json").read_text()
    rows, reference = _log_rows(out / "log.csv"), _log_rows(trained_run / "log.csv")
    assert [int(r["epochs_done"]) for r in rows] == list(range(1, sum(EPOCHS) + 1))
    timing = {"train_queries_per_s", "train_seconds"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows] == \
        [{k: v for k, v in r.items() if k not in timing} for r in reference]
    assert not any(path.exists() for path in stale)
    assert (out / LOCK_NAME).read_text() == ""  # released cleanly


def test_eval_of_the_chosen_checkpoint_reproduces_the_run(trained_run, tmp_path):
    result = run_cli("eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "predictions.jsonl").read_text() == (trained_run / "predictions.jsonl").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads((trained_run / "metrics.json").read_text())
    assert "R1@0.5" in result.stdout


def test_predict_prints_ranked_seconds_and_plots(trained_run, tiny_data, tmp_path):
    test_queries, _ = read_charades_sta(tiny_data["test"], tiny_data["durations"])
    query = test_queries[0]
    plot = tmp_path / "timeline.png"
    result = run_cli("predict", str(trained_run / "checkpoints" / "best.pt"),
                     "--features", str(tiny_data["features"] / f"{query.vid}.npy"),
                     "--query", query.sentence, "--query", "someone opens the door",
                     "--duration", str(query.duration), "--gt", str(query.start), str(query.end), "--gt", "1", "2",
                     "--plot", str(plot), "--set", "eval.top_k=3")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["unit"] == "seconds" and len(output["results"]) == 2
    for item in output["results"]:
        windows = item["pred_relevant_windows"]
        assert 1 <= len(windows) <= 3
        assert all(0 <= s <= e <= query.duration for s, e, _ in windows)
        assert [w[2] for w in windows] == sorted((w[2] for w in windows), reverse=True)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
