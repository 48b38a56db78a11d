"""`drn predict --queries`: a predictions file for a batch of queries, the same rows as `drn eval`,
and one clear line (exit 2, nothing written) for every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drn.cli import main
from tests.helpers.cli import run_cli
from tests.helpers.jsonl import read_jsonl

USER_ERROR = 2


def write_queries(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def eval_rows(trained_run) -> list[dict]:
    return read_jsonl(trained_run / "predictions.jsonl")


def test_queries_file_gives_the_rows_of_drn_eval_in_batches(trained_run, tiny_data, eval_rows, tmp_path):
    # Shuffled across videos and batched by 3: grouping by video must not change any row or its order.
    rows = eval_rows[::-1]
    queries = write_queries(tmp_path / "queries.jsonl", [{k: r[k] for k in ("qid", "vid", "query", "duration")}
                                                         for r in rows])
    out = tmp_path / "out" / "pred.jsonl"
    result = run_cli("predict", str(trained_run / "checkpoints" / "best.pt"), "--queries", str(queries),
                     "--features", str(tiny_data["features"]), "--out", str(out), "--batch-size", "3")
    assert result.returncode == 0, result.stderr
    assert f"wrote {len(rows)} predictions" in result.stdout
    got = read_jsonl(out)
    assert [g["qid"] for g in got] == [r["qid"] for r in rows]
    for g, r in zip(got, rows):
        assert set(g) == {"qid", "vid", "query", "duration", "pred_relevant_windows"}
        assert g["duration"] == r["duration"]
        assert len(g["pred_relevant_windows"]) == len(r["pred_relevant_windows"])
        for a, b in zip(g["pred_relevant_windows"], r["pred_relevant_windows"]):
            # Batch composition changes float sums in the last bit, which can flip a rounded 4th decimal.
            assert a == pytest.approx(b, abs=2e-4)


BAD_LINES = [
    ("not json", "{\"qid\": 1, \"vid\"", ":2: not a JSON object"),
    ("missing field", {"qid": "q", "query": "a person opens the door"}, ":2: missing field 'vid'"),
    ("bad duration", {"qid": "q", "vid": "SYNTE00000", "query": "opens the door", "duration": -3},
     ":2: 'duration' must be a number of seconds > 0, got -3"),
    ("unknown video", {"qid": "q", "vid": "NOPE", "query": "opens the door", "duration": 3},
     ":2: no features for video 'NOPE'"),
    ("no duration", {"qid": "q", "vid": "SYNTE00000", "query": "opens the door"},
     ":2: no duration for video 'SYNTE00000'"),
    ("no known word", {"qid": "q", "vid": "SYNTE00000", "query": "zzz qqq", "duration": 3},
     ":2: query 'zzz qqq': none of its words is in the model's vocabulary"),
]


def write_bad(tmp_path: Path, eval_rows: list[dict], line) -> Path:
    good = {k: eval_rows[0][k] for k in ("qid", "vid", "query", "duration")}
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps(good) + "\n" + (line if isinstance(line, str) else json.dumps(line)) + "\n")
    return queries


@pytest.mark.parametrize("case, line, message", BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_queries_line_is_one_line_with_file_and_line_and_nothing_written(trained_run, tiny_data, eval_rows,
                                                                             tmp_path, capsys, case, line, message):
    queries = write_bad(tmp_path, eval_rows, line)
    out = tmp_path / "pred.jsonl"
    code = main(["predict", str(trained_run / "checkpoints" / "best.pt"), "--queries", str(queries),
                 "--features", str(tiny_data["features"]), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == USER_ERROR
    assert err.startswith("drn predict: error: ") and err.count("\n") == 1 and f"{queries}{message}" in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == [queries]


def test_bad_queries_line_through_the_command(trained_run, tiny_data, eval_rows, tmp_path):
    queries = write_bad(tmp_path, eval_rows, BAD_LINES[0][1])
    result = run_cli("predict", str(trained_run / "checkpoints" / "best.pt"), "--queries", str(queries),
                     "--features", str(tiny_data["features"]), "--out", str(tmp_path / "pred.jsonl"))
    assert result.returncode == USER_ERROR and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith(f"drn predict: error: {queries}:2: not a JSON object")
    assert list(tmp_path.iterdir()) == [queries]


@pytest.mark.slow
def test_queries_mode_needs_out_and_one_source(trained_run, tiny_data, tmp_path):
    queries = write_queries(tmp_path / "q.jsonl", [{"qid": "a", "vid": "SYNTE00000", "query": "opens the door"}])
    checkpoint = str(trained_run / "checkpoints" / "best.pt")
    no_out = run_cli("predict", checkpoint, "--queries", str(queries), "--features", str(tiny_data["features"]))
    assert no_out.returncode == USER_ERROR and "--queries needs --out" in no_out.stderr
    no_source = run_cli("predict", checkpoint, "--queries", str(queries), "--out", str(tmp_path / "p.jsonl"))
    assert no_source.returncode == USER_ERROR and "exactly one of --features" in no_source.stderr
    one_file = run_cli("predict", checkpoint, "--queries", str(queries), "--features",
                       str(tiny_data["features"] / "SYNTE00000.npy"), "--out", str(tmp_path / "p.jsonl"))
    assert one_file.returncode == USER_ERROR and "expected a feature folder or an HDF5 file" in one_file.stderr
    assert not (tmp_path / "p.jsonl").exists()


def test_a_video_with_nonfinite_features_is_refused_like_predict_features(trained_run, tiny_data, eval_rows, tmp_path,
                                                                          capsys):
    # the queries mode checks each video's features as `Grounder.ground` does (one place: Grounder.clips)
    import numpy as np

    features = tmp_path / "features"
    features.mkdir()
    vid = eval_rows[0]["vid"]
    for source in Path(tiny_data["features"]).glob("*.npy"):
        array = np.load(source)
        if source.stem == vid:
            array[0, 0] = np.nan
        np.save(features / source.name, array)
    line = {k: eval_rows[0][k] for k in ("qid", "vid", "query", "duration")}
    queries = write_queries(tmp_path / "queries.jsonl", [line])
    out = tmp_path / "pred.jsonl"
    code = main(["predict", str(trained_run / "checkpoints" / "best.pt"), "--queries", str(queries),
                 "--features", str(features), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == USER_ERROR and not out.exists()
    assert err.startswith("drn predict: error: ") and f"video {vid!r}: 1 of the " in err and "are NaN or infinite" in err
