"""The JSONL reader (QVHighlights, lighthouse) on hand-made lines and on the real files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from drn.config import load_config
from drn.data import AnnotationFormatError, read_annotations, read_jsonl_annotations
from tests.helpers.paths import CONFIGS, shared_file


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def _row(qid, windows, duration=150, **extra):
    return {"qid": qid, "query": "a man talks", "vid": f"v{qid}", "duration": duration,
            "relevant_windows": windows, **extra}


def test_windows_saliency_and_every_quirk_counted(tmp_path, caplog):
    path = _write(tmp_path / "a.jsonl", [
        _row(1, [[10, 20], [30, 40]], relevant_clip_ids=[5, 6, 15], saliency_scores=[[1, 2, 3], [4, 4, 4], [0, 1, 2]]),
        _row(2, [[50, 40], [60, 62]]),  # the first window is reversed: dropped, the second kept
        _row(3, [[140, 160]]),  # ends after the duration: clipped
        _row(4, [[5, 5]]),  # empty: the query is dropped
        _row(5, []),  # no window
        _row(1, [[0, 2]]),  # qid seen before
        _row(6, [[0, 2]], relevant_clip_ids=[0, 1], saliency_scores=[[1, 1, 1]]),  # saliency lengths differ
        _row(7, [[0, 2]], relevant_clip_ids=[80], saliency_scores=[[1, 1, 1]]),  # clip 80 is past 150 s
        "",
        _row("s1-d2_0", [[1.5, 2.5]], duration=3.25),
    ])
    queries, report = read_jsonl_annotations(path)
    assert [q.qid for q in queries] == [1, 2, 3, 6, 7, "s1-d2_0"]
    first = queries[0]
    assert first.segments == ((10.0, 20.0), (30.0, 40.0)) and (first.start, first.end) == (10.0, 20.0)
    assert first.clip_ids == (5, 6, 15) and first.saliency[1] == (4.0, 4.0, 4.0)
    assert queries[1].segments == ((60.0, 62.0),)
    assert queries[2].segments == ((140.0, 150.0),)
    assert queries[3].clip_ids == () and queries[4].saliency == ()
    assert report.total == 9  # non-blank lines
    assert (report["start_ge_end"], report["end_after_duration"], report["no_windows"], report["duplicate_qid"],
            report["saliency_mismatch"]) == (2, 1, 1, 1, 2)
    assert report.examples["start_ge_end"] == ["2", "4"] and report.examples["saliency_mismatch"] == ["6", "7"]
    with caplog.at_level(logging.INFO):
        report.log(logging.getLogger("drn.test"))
    assert "1 dropped, qid seen before in the file" in caplog.records[0].getMessage()


@pytest.mark.parametrize("line, message", [
    ("{not json", r"a\.jsonl:2: not a JSON object"),
    ("[1, 2]", r"a\.jsonl:2: expected a JSON object, got list"),
    (json.dumps({"qid": 1, "query": "q", "duration": 3}), r"a\.jsonl:2: missing \['vid'\]"),
    (json.dumps(_row(9, [[1, 2, 3]])), r"a\.jsonl:2: relevant window \[1, 2, 3\] is not \[start, end\]"),
    (json.dumps(_row(9, [["a", 2]])), r"a\.jsonl:2: window start: expected a finite number, got 'a'"),
    (json.dumps(_row(9, [[1, 2]], duration="long")), r"a\.jsonl:2: duration: expected a finite number"),
])
def test_malformed_lines_name_the_file_and_line(tmp_path, line, message):
    path = _write(tmp_path / "a.jsonl", [_row(1, [[0, 2]]), line])
    with pytest.raises(AnnotationFormatError, match=message):
        read_jsonl_annotations(path)


# (file, queries, queries with several windows): every line of the real files is read; the
# lighthouse releases already dropped Charades-STA's 4 reversed lines and clipped its ends.
REAL_FILES = [
    ("qvhighlights/highlight_train_release.jsonl", 7218, 2363),
    ("qvhighlights/highlight_val_release.jsonl", 1550, 530),
    ("qvhighlights/highlight_test_with_gt.jsonl", 1542, 511),
    ("lighthouse_jsonl/charades_train_release.jsonl", 12404, 0),
    ("lighthouse_jsonl/charades_test_release.jsonl", 3720, 0),
    ("lighthouse_jsonl/tacos_train_release.jsonl", 9790, 0),
    ("lighthouse_jsonl/tacos_val_release.jsonl", 4436, 0),
    ("lighthouse_jsonl/tacos_test_release.jsonl", 4001, 0),
]


@pytest.mark.parametrize("name, count, several", REAL_FILES)
def test_real_files(name, count, several):
    path = shared_file(name)
    queries, report = read_annotations("jsonl", path)
    assert len(queries) == report.total == count
    assert not report, report.summary()  # the releases have no quirk left: all counts 0
    assert sum(len(q.segments) > 1 for q in queries) == several
    for q in queries:
        assert all(0 <= s < e <= q.duration for s, e in q.segments)
    if name.startswith("qvhighlights"):
        assert all(isinstance(q.qid, int) and q.clip_ids and len(q.saliency[0]) == 3 for q in queries)
    if "tacos" in name:
        assert all(isinstance(q.qid, str) for q in queries)


@pytest.mark.parametrize("name", ["qvhighlights", "charades_sta_jsonl", "tacos_jsonl"])
def test_jsonl_configs_point_at_the_real_annotation_layout(shared_data, name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg["data"]["format"] == "jsonl"
    for split in ("train", "val", "test"):
        relative = cfg["data"][split]
        if relative is not None:  # "data/..." is ../shared/data when linked as the README says
            assert (shared_data / Path(relative).relative_to("data")).is_file(), relative
