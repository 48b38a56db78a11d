"""`drn score` through the real command: the printed brief block and the report file, and every user
error as one line with exit status 2 and no file written. The many malformed-row cases run the same
CLI entry point in-process (`drn.cli.main`); one of each kind also runs as a subprocess."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from drn.cli import main
from drn.metrics.qvhighlights import qvhighlights_report
from tests.helpers.cli import run_cli

GT = [
    {"qid": 1, "query": "a", "vid": "v1", "duration": 10.0, "relevant_windows": [[2, 6]], "relevant_clip_ids": [1, 2],
     "saliency_scores": [[4, 4, 4], [2, 0, 3]]},
    {"qid": 2, "query": "b", "vid": "v2", "duration": 40.0, "relevant_windows": [[0, 4], [10, 45]],
     "relevant_clip_ids": [0, 1], "saliency_scores": [[1, 2, 3], [0, 0, 0]]},
]
PRED = [
    {"qid": 1, "pred_relevant_windows": [[2, 6, 0.9], [0, 2, 0.5]], "pred_saliency_scores": [0.1, 0.5, 0.9, 0.2, 0.3]},
    {"qid": 2, "pred_relevant_windows": [[0, 4, 0.9], [10, 45, 0.8]], "pred_saliency_scores": [0.3] * 20},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path):
    return write_jsonl(tmp_path / "gt.jsonl", GT), write_jsonl(tmp_path / "pred.jsonl", PRED)


def as_written(brief):
    return {k: None if math.isnan(v) else v for k, v in brief.items()}


def assert_user_error(run, *fragments):
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drn score: error: "), run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def score_in_process(capsys):
    """`drn score ARGS` through drn.cli.main in this process, as a CompletedProcess-like result."""

    def score(*args):
        code = main(["score", *args])
        captured = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)

    return score


def test_prints_the_brief_block_and_writes_the_report(files, tmp_path):
    gt, pred = files
    out = tmp_path / "scores" / "metrics.json"
    run = run_cli("score", "--gt", str(gt), "--pred", str(pred), "--out", str(out))
    assert run.returncode == 0, run.stderr
    expected = qvhighlights_report(PRED, GT)
    written = json.loads(out.read_text())
    # no 10-30 s window: NaN in memory, null in the file, n/a on screen
    assert math.isnan(expected["brief"]["MR-middle-mAP"]) and written["brief"]["MR-middle-mAP"] is None
    assert list(written) == list(expected)
    assert written["brief"] == as_written(expected["brief"])
    for key, value in expected["brief"].items():
        shown = "n/a" if math.isnan(value) else f"{value:.2f}"
        assert any(line.split() == [key, shown] for line in run.stdout.splitlines()), (key, run.stdout)


def test_missing_predictions_are_refused_unless_allowed(files, tmp_path):
    gt, _ = files
    pred = write_jsonl(tmp_path / "partial.jsonl", PRED[:1])
    out = tmp_path / "m.json"
    assert_user_error(run_cli("score", "--gt", str(gt), "--pred", str(pred), "--out", str(out)),
                      "1 of 2 ground-truth queries have no prediction", "qid 2", "--allow-missing")
    assert not out.exists()
    run = run_cli("score", "--gt", str(gt), "--pred", str(pred), "--out", str(out), "--allow-missing")
    assert run.returncode == 0 and "scoring the 1 shared queries" in run.stdout
    assert json.loads(out.read_text())["brief"] == as_written(qvhighlights_report(PRED[:1], GT[:1])["brief"])


@pytest.mark.parametrize("line,fragments", [
    ("{not json", [":2: not a JSON object"]),
    ('[1, 2]', [":2: expected a JSON object, got list"]),
    ('{"qid": 2, "pred_relevant_windows": [[5, 1, 0.3]]}', [":2:", "ends before it starts"]),
    ('{"qid": 2, "pred_relevant_windows": [[1, 5]]}', [":2:", "[start, end, score]"]),
    ('{"qid": 2, "pred_relevant_windows": [[1, 5, NaN]]}', [":2:", "finite numbers"]),
    ('{"qid": 1, "pred_relevant_windows": [[1, 5, 0.3]]}', [":2: qid 1 appears again (first at", "bad.jsonl:1)"]),
    ('{"qid": 2}', [":2: a prediction needs `pred_relevant_windows` or `pred_saliency_scores`"]),
    ('{"qid": true, "pred_relevant_windows": []}', [":2: `qid` must be an integer or a string"]),
])
def test_malformed_predictions_name_file_and_line(files, tmp_path, line, fragments, score_in_process):
    gt, _ = files
    pred = tmp_path / "bad.jsonl"
    pred.write_text(json.dumps(PRED[0]) + "\n" + line + "\n")
    out = tmp_path / "m.json"
    assert_user_error(score_in_process("--gt", str(gt), "--pred", str(pred), "--out", str(out)), "bad.jsonl", *fragments)
    assert not out.exists()


@pytest.mark.parametrize("row,fragment", [
    ({"qid": 3}, "missing key `relevant_windows`"),
    ({"qid": 3, "relevant_windows": []}, "`relevant_windows` is empty"),
    ({"qid": 3, "relevant_windows": [[0, 1]], "relevant_clip_ids": [0], "saliency_scores": [[1, 1]]}, "needs `duration`"),
    ({"qid": 3, "relevant_windows": [[0, 1]], "duration": 4, "relevant_clip_ids": [0], "saliency_scores": [[1, 1]]},
     "3 numbers (one per annotator)"),
    ({"qid": 3, "relevant_windows": [[0, 1]], "duration": -4}, "`duration` must be a positive number"),
])
def test_malformed_ground_truth_names_file_and_line(files, tmp_path, row, fragment, score_in_process):
    _, pred = files
    gt = write_jsonl(tmp_path / "gt_bad.jsonl", [GT[0], row])
    assert_user_error(score_in_process("--gt", str(gt), "--pred", str(pred)), "gt_bad.jsonl:2:", fragment)


def test_a_malformed_line_through_the_real_command(files, tmp_path):
    gt, _ = files
    pred = tmp_path / "bad.jsonl"
    pred.write_text(json.dumps(PRED[0]) + "\n{not json\n")
    assert_user_error(run_cli("score", "--gt", str(gt), "--pred", str(pred)), "bad.jsonl:2: not a JSON object")


def test_file_problems_are_one_line(files, tmp_path, score_in_process):
    gt, pred = files
    assert_user_error(run_cli("score", "--gt", str(tmp_path / "nope.jsonl"), "--pred", str(pred)),
                      "ground-truth file", "does not exist")
    assert_user_error(score_in_process("--gt", str(gt), "--pred", str(tmp_path)), "predictions file", "not a file")
    (tmp_path / "empty.jsonl").write_text("\n")
    assert_user_error(score_in_process("--gt", str(gt), "--pred", str(tmp_path / "empty.jsonl")), "holds no rows")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"qid": "\xe9"}\n')
    assert_user_error(score_in_process("--gt", str(gt), "--pred", str(tmp_path / "latin1.jsonl")), "not UTF-8")


def test_bad_out_is_refused_before_reading(files, tmp_path):
    gt, pred = files
    assert_user_error(run_cli("score", "--gt", str(gt), "--pred", str(pred), "--out", str(tmp_path)),
                      "--out", "is a folder")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_user_error(run_cli("score", "--gt", str(gt), "--pred", str(pred), "--out", str(blocker / "m.json")),
                      "is a file, not a folder")
    assert blocker.read_text() == "x"


def test_predictions_without_windows_or_saliency_to_score(tmp_path, score_in_process):
    gt = write_jsonl(tmp_path / "gt.jsonl", [{"qid": 1, "relevant_windows": [[0, 1]]}])
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"qid": 1, "pred_saliency_scores": [0.5]}])
    assert_user_error(score_in_process("--gt", str(gt), "--pred", str(pred)), "nothing to score")
