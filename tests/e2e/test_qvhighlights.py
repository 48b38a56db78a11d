"""`drn train configs/qvhighlights.yaml` and `drn eval` on the real QVHighlights annotation files, with
small random features in the npz layout (two feature types) for some of their videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.cli import TINY_MODEL, run_cli
from tests.helpers.paths import REPO, shared_data_dir, shared_file

SPLIT_FILES = {"train": "highlight_train_release.jsonl", "val": "highlight_val_release.jsonl",
               "test": "highlight_test_with_gt.jsonl"}
VIDEOS_PER_SPLIT = {"train": 24, "val": 6, "test": 6}
TYPE_DIMS = {"clip": 6, "slowfast": 10}
TEXT_DIM = 6


def _tiny_overrides() -> list[str]:
    return [f"model.{key}={json.dumps(value)}" for key, value in TINY_MODEL.items() if key != "feature_dim"]


@pytest.fixture(scope="module")
def qv_world(tmp_path_factory) -> dict:
    """A working folder whose `data` links to the shared data, npz features (CLIP-like and
    SlowFast-like folders) for the first videos of each split, and CLIP-like text features for
    their queries but one."""
    shared = shared_data_dir()
    shared_file(f"qvhighlights/{SPLIT_FILES['train']}")
    root = tmp_path_factory.mktemp("qv")
    (root / "data").symlink_to(shared)
    rng = np.random.default_rng(0)
    rows = {}
    for split, name in SPLIT_FILES.items():
        lines = [json.loads(line) for line in (shared / "qvhighlights" / name).open()]
        vids = list(dict.fromkeys(row["vid"] for row in lines))[:VIDEOS_PER_SPLIT[split]]
        rows[split] = [row for row in lines if row["vid"] in set(vids)]
    for split_rows in rows.values():
        for row in split_rows:
            clips = int(row["duration"] / 2)
            for kind, dim in TYPE_DIMS.items():
                folder = root / "features" / kind
                folder.mkdir(parents=True, exist_ok=True)
                extra = 1 if kind == "clip" else 0  # the types disagree by a row: truncated to the shorter
                np.savez(folder / f"{row['vid']}.npz", features=rng.standard_normal((clips + extra, dim)).astype(np.float32))
    text = root / "features" / "clip_text"
    text.mkdir()
    test_qids = [row["qid"] for row in rows["test"]]
    for split_rows in rows.values():
        for row in split_rows:
            if row["qid"] != test_qids[0]:
                tokens = len(row["query"].split()) + 2
                np.savez(text / f"qid{row['qid']}.npz", last_hidden_state=rng.standard_normal((tokens, TEXT_DIM)).astype(np.float32))
    features = f"data.features=[{root / 'features' / 'clip'}, {root / 'features' / 'slowfast'}]"
    common = ["--set", features, "--set", f"model.feature_dim={sum(TYPE_DIMS.values())}", "--set", "train.epochs=[2, 1, 1]",
              "--set", "train.batch_size=8", "--set", "train.device=cpu"]
    for item in _tiny_overrides():
        common += ["--set", item]
    return {"root": root, "rows": rows, "common": common, "text": text}


def _check_predictions(out: Path, test_rows: list[dict], skipped: set) -> list[dict]:
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    expected = {row["qid"]: row for row in test_rows if row["qid"] not in skipped}
    assert [p["qid"] for p in predictions] == list(expected)  # the file's int qids, in file order
    for p in predictions:
        truth = expected[p["qid"]]
        assert p["relevant_windows"] == truth["relevant_windows"]  # every window of the query
        assert len(p["pred_saliency_scores"]) == int(truth["duration"] / 2)
        assert all(0 <= s < e <= truth["duration"] for s, e, _ in p["pred_relevant_windows"])
    return predictions


@pytest.mark.slow
def test_train_and_eval_qvhighlights_config_on_real_annotations(qv_world):
    root, rows = qv_world["root"], qv_world["rows"]
    out = root / "run"
    result = run_cli("train", str(REPO / "configs" / "qvhighlights.yaml"), "--out", str(out), *qv_world["common"],
                     cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr
    # Most real queries have no features here: skipped, counted and named once per split.
    assert "queries skipped:" in result.stderr and "videos have no features" in result.stderr
    assert any(len(row["relevant_windows"]) > 1 for row in rows["test"])
    _check_predictions(out, rows["test"], skipped=set())
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["R1@0.5"] <= 100
    assert {"MR-full-mAP", "MR-full-R1@0.5", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1"} <= set(metrics)

    evaluated = run_cli("eval", str(out / "checkpoints" / "best.pt"), "--out", str(root / "eval"), "--split", "val",
                        cwd=root)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "against the best-matching ground-truth window" in evaluated.stdout
    assert "QVHighlights metrics" in evaluated.stdout and "MR-full-R1@0.5" in evaluated.stdout
    evaluated_metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert "HL-min-VeryGood-mAP" in evaluated_metrics and "R1@0.5" in evaluated_metrics
    _check_predictions(root / "eval", rows["val"], skipped=set())


@pytest.mark.slow
def test_train_with_clip_text_features(qv_world):
    root, rows = qv_world["root"], qv_world["rows"]
    out = root / "run_text"
    result = run_cli("train", str(REPO / "configs" / "qvhighlights.yaml"), "--out", str(out), *qv_world["common"],
                     "--set", f"data.text_features={qv_world['text']}", "--set", f"model.text_feature_dim={TEXT_DIM}",
                     cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr
    missing = rows["test"][0]["qid"]
    assert "skipped, no text feature file for the query" in result.stderr and f"e.g. {missing}" in result.stderr
    _check_predictions(out, rows["test"], skipped={missing})
    # Such a model cannot read free text: drn predict says so in one line.
    video = root / "video.npy"
    np.save(video, np.zeros((10, sum(TYPE_DIMS.values())), np.float32))
    predicted = run_cli("predict", str(out / "checkpoints" / "last.pt"), "--features", str(video), "--query", "a dog",
                        cwd=root)
    assert predicted.returncode == 2
    assert predicted.stderr.strip().splitlines() == [
        "drn predict: error: this model reads precomputed text features (model.text_feature_dim = 6), not "
        "sentences; evaluate it with drn eval on JSONL data whose queries have qidQID.npz files"]


def test_text_features_without_their_width_is_one_config_error(qv_world):
    root = qv_world["root"]
    result = run_cli("train", str(REPO / "configs" / "qvhighlights.yaml"), "--out", str(root / "bad"),
                     "--set", f"data.text_features={qv_world['text']}", cwd=root)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"drn train: error: config key 'data.text_features' must be set together with model.text_feature_dim > 0 "
        f"(it is 0), got '{qv_world['text']}'"]
    assert not (root / "bad").exists()
