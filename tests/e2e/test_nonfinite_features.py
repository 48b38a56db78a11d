"""Videos whose features hold NaN or infinite values are never used and never silent: `train` and
`eval` skip their queries, count them in the quirk report and name the files; `predict`, which has
only that video, refuses it in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drn.data import read_charades_sta
from tests.helpers.cli import assert_one_line_error, run_cli
from tests.helpers.jsonl import read_jsonl


def _poisoned_features(tmp_path: Path, tiny_data, vids: list[str]) -> Path:
    """The tiny features (as links) with one NaN in each of `vids`' files, an inf in the first."""
    folder = tmp_path / "features"
    folder.mkdir()
    for path in Path(tiny_data["features"]).glob("*.npy"):
        if path.stem in vids:
            array = np.load(path)
            array[len(array) // 2, 3] = np.inf if path.stem == vids[0] else np.nan
            np.save(folder / path.name, array)
        else:
            (folder / path.name).symlink_to(path)
    return folder


def _vids(path, tiny_data) -> list[str]:
    queries, _ = read_charades_sta(path, tiny_data["durations"])
    return list(dict.fromkeys(q.vid for q in queries))


def test_train_skips_and_counts_nonfinite_videos(tiny_config, tiny_data, tmp_path):
    bad = [_vids(tiny_data["train"], tiny_data)[0], _vids(tiny_data["test"], tiny_data)[-1]]
    folder = _poisoned_features(tmp_path, tiny_data, bad)
    out = tmp_path / "run"
    result = run_cli("train", str(tiny_config), "--out", str(out), "--set", f"data.features={folder}",
                     "--set", "train.epochs=[1, 0, 0]")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped, the video's features hold NaN or infinite values" in result.stderr
    assert f"{folder / bad[0]}.npy" in result.stderr and f"{folder / bad[1]}.npy" in result.stderr
    rows = read_jsonl(out / "predictions.jsonl")
    test_queries, _ = read_charades_sta(tiny_data["test"], tiny_data["durations"])
    assert [r["qid"] for r in rows] == [q.qid for q in test_queries if q.vid != bad[1]]


def test_eval_skips_and_counts_nonfinite_videos(trained_run, tiny_data, tmp_path):
    bad = _vids(tiny_data["test"], tiny_data)[:2]
    folder = _poisoned_features(tmp_path, tiny_data, bad)
    result = run_cli("eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(tmp_path / "eval"),
                     "--set", f"data.features={folder}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 of " in result.stderr and "have NaN or infinite feature values and are skipped" in result.stderr
    rows = read_jsonl(tmp_path / "eval" / "predictions.jsonl")
    assert rows and not any(r["vid"] in bad for r in rows)


def test_predict_refuses_nonfinite_features(trained_run, tiny_data, tmp_path):
    vid = _vids(tiny_data["test"], tiny_data)[0]
    folder = _poisoned_features(tmp_path, tiny_data, [vid])
    result = run_cli("predict", str(trained_run / "checkpoints" / "best.pt"), "--features", str(folder / f"{vid}.npy"),
                     "--query", "a person opens the door")
    assert_one_line_error(result, "predict", f"{folder / vid}.npy: 1 of the", "are NaN or infinite")
    assert result.stdout == ""
