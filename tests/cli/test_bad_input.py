"""Bad input stops a command with one clear line (exit status 2) and loses nothing already written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from drn.cli import main
from tests.helpers.cli import USER_ERROR


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_malformed_annotation_line_names_file_and_line(tiny_config, tiny_data, tmp_path, capsys):
    lines = Path(tiny_data["train"]).read_text().splitlines()
    lines[4] = lines[4].split("##")[0].rsplit(" ", 1)[0] + "##an end time is missing"
    bad = tmp_path / "bad_train.txt"
    bad.write_text("\n".join(lines) + "\n")
    code, err = run(capsys, "train", str(tiny_config), "--out", str(tmp_path / "out"), "--set", f"data.train={bad}")
    assert code == USER_ERROR
    assert f"{bad}:5: expected 'VIDEO_ID START END##sentence'" in err
    assert not (tmp_path / "out").exists()


def test_feature_dimension_mismatch_names_the_config_key(tiny_config, tmp_path, capsys):
    code, err = run(capsys, "train", str(tiny_config), "--out", str(tmp_path / "out"), "--set", "model.feature_dim=32")
    assert code == USER_ERROR
    assert "have D = 16" in err and "model.feature_dim is 32" in err and "--set model.feature_dim=16" in err


def test_split_without_usable_queries_is_an_error_with_the_quirk_counts(tiny_config, tiny_data, tmp_path, capsys):
    reversed_segments = tmp_path / "test.txt"
    with reversed_segments.open("w") as f:
        for line in Path(tiny_data["test"]).read_text().splitlines():
            head, sentence = line.split("##")
            vid, start, end = head.split()
            f.write(f"{vid} {end} {start}##{sentence}\n")
    code, err = run(capsys, "train", str(tiny_config), "--out", str(tmp_path / "out"),
                    "--set", f"data.test={reversed_segments}")
    assert code == USER_ERROR
    assert "data.test" in err and "no usable query" in err and "dropped, start >= end" in err


def test_existing_run_is_not_overwritten_without_resume(trained_run, tiny_config, capsys):
    before = snapshot(trained_run)
    code, err = run(capsys, "train", str(tiny_config), "--out", str(trained_run))
    assert code == USER_ERROR and "--resume" in err
    assert snapshot(trained_run) == before


def test_resume_with_an_incompatible_config_changes_nothing(trained_run, tiny_config, capsys):
    before = snapshot(trained_run)
    code, err = run(capsys, "train", str(tiny_config), "--out", str(trained_run), "--resume",
                    "--set", "model.fpn_channels=32")
    assert code == USER_ERROR
    assert "different model config: model.fpn_channels: 16 -> 32" in err
    assert snapshot(trained_run) == before


def test_eval_rejects_a_checkpoint_from_another_architecture(trained_run, tmp_path, capsys):
    code, err = run(capsys, "eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(tmp_path),
                    "--set", "model.lstm_hidden=16")
    assert code == USER_ERROR and "model.lstm_hidden: 8 -> 16" in err
    assert not list(tmp_path.iterdir())


def test_eval_rejects_an_unknown_protocol_before_writing(trained_run, tmp_path, capsys):
    code, err = run(capsys, "eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(tmp_path / "out"),
                    "--set", "eval.protocol=best")
    assert code == USER_ERROR
    assert "config key 'eval.protocol' must be one of ('official', 'fixed'), got 'best'" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_eval_of_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    fake = tmp_path / "model.pt"
    fake.write_bytes(b"not a checkpoint")
    code, err = run(capsys, "eval", str(fake), "--out", str(tmp_path / "out"))
    assert code == USER_ERROR and "not a readable drn checkpoint" in err


@pytest.mark.parametrize("query, message", [("zebra xylophone", "none of its words is in the model's vocabulary"),
                                            ("", "is empty: expected a sentence with at least one word"),
                                            (" ?! ", "is empty: expected a sentence with at least one word")])
def test_predict_rejects_a_query_with_no_known_word(trained_run, tiny_data, query, message, capsys):
    features = next(Path(tiny_data["features"]).glob("*.npy"))
    code, err = run(capsys, "predict", str(trained_run / "checkpoints" / "best.pt"), "--features", str(features),
                    "--query", "a person opens the door", "--query", query)
    assert code == USER_ERROR and message in err and repr(query) in err


def test_predict_rejects_features_of_another_width(trained_run, tmp_path, capsys):
    features = tmp_path / "video.npy"
    np.save(features, np.zeros((40, 8), dtype=np.float32))
    code, err = run(capsys, "predict", str(trained_run / "checkpoints" / "best.pt"), "--features", str(features),
                    "--query", "a person opens the door")
    assert code == USER_ERROR and "D = 16" in err
