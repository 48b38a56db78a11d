"""Annotation readers on the real benchmark files (quirk counts of the data README) and on
small hand-written files (formats, malformed input, the clipping policy)."""

from __future__ import annotations

import json
import logging

import pytest

from drn.data import (
    AnnotationFormatError,
    QuirkReport,
    read_activitynet_captions,
    read_annotations,
    read_charades_sta,
    read_durations,
    read_tacos,
)
from drn.data.annotations.query import clean_segment

# ---- real files --------------------------------------------------------------------------


def test_charades_csv_durations_parse_quoted_fields(charades_csvs):
    durations = read_durations(charades_csvs)
    assert len(durations) == 9848
    assert durations["46GP8"] == pytest.approx(24.83)
    # N11GT's script is a quoted field containing commas: splitting on "," gives too many columns.
    assert durations["N11GT"] == pytest.approx(18.33)


def test_charades_train_quirks_with_csv_durations(shared_data, charades_csvs):
    path = shared_data / "charades_sta" / "charades_sta_train.txt"
    queries, report = read_charades_sta(path, charades_csvs)
    assert report.total == 12408
    assert report["start_ge_end"] == 4
    assert sorted(qid.split("#")[0] for qid in report.examples["start_ge_end"]) == ["AKKWU", "AKKWU", "IOL8Q", "LEOL6"]
    # The README's 1,805 counts every line ending after the CSV duration; 3 of them are also
    # start >= end lines (LEOL6 and AKKWU twice), dropped before clipping, so 1,802 are clipped.
    durations = read_durations(charades_csvs)
    raw_past_end = 0
    for line in path.read_text().splitlines():
        vid, _, end = line.split("##")[0].split()
        raw_past_end += float(end) > durations[vid]
    assert raw_past_end == 1805
    assert report["end_after_duration"] == 1802
    assert len(queries) == 12404
    assert all(0 <= q.start < q.end <= q.duration for q in queries)
    assert len({q.qid for q in queries}) == len(queries)


def test_charades_test_quirks_with_csv_durations(shared_data, charades_csvs):
    queries, report = read_charades_sta(shared_data / "charades_sta" / "charades_sta_test.txt", charades_csvs)
    assert (report.total, len(queries)) == (3720, 3720)
    assert report["end_after_duration"] == 562
    assert report["start_ge_end"] == 0


def test_charades_json_durations_do_not_give_the_readme_counts(shared_data):
    # DRN's Charades_duration.json disagrees with the CSVs; the README's counts are the CSVs'.
    durations = shared_data / "charades_sta" / "drn_extras" / "Charades_duration.json"
    _, train = read_charades_sta(shared_data / "charades_sta" / "charades_sta_train.txt", durations)
    _, test = read_charades_sta(shared_data / "charades_sta" / "charades_sta_test.txt", durations)
    assert (train["end_after_duration"], test["end_after_duration"]) == (1767, 543)


@pytest.mark.parametrize(
    "split, queries, past_end, start_ge_end",
    [("train", 37421, 29, 4), ("val_1", 17505, 5, 0), ("val_2", 17031, 1, 0)],
)
def test_activitynet_quirks(shared_data, split, queries, past_end, start_ge_end):
    kept, report = read_activitynet_captions(shared_data / "activitynet_captions" / f"{split}.json")
    assert report.total == queries
    assert report["end_after_duration"] == past_end
    assert report["start_ge_end"] == start_ge_end
    assert len(kept) == queries - start_ge_end
    assert all(0 <= q.start < q.end <= q.duration for q in kept)
    assert not kept[0].sentence.startswith(" ")


@pytest.mark.parametrize("split, queries, past_end", [("train", 9790, 43), ("val", 4436, 0), ("test", 4001, 5)])
def test_tacos_frames_to_seconds(shared_data, split, queries, past_end):
    path = shared_data / "tacos" / f"{split}.json"
    kept, report = read_tacos(path)
    assert (report.total, len(kept), report["end_after_duration"]) == (queries, queries, past_end)
    raw = json.loads(path.read_text())
    vid, record = next(iter(raw.items()))
    first = kept[0]
    assert first.vid == vid and first.qid == f"{vid}#0"
    assert first.start == pytest.approx(record["timestamps"][0][0] / record["fps"])
    assert first.end == pytest.approx(record["timestamps"][0][1] / record["fps"])
    assert first.duration == pytest.approx(record["num_frames"] / record["fps"])


# ---- hand-written files ------------------------------------------------------------------


def test_charades_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("AAAAA 0.0 5.0##a person sits.\n\nBBBBB 1.0##no end time\n")
    with pytest.raises(AnnotationFormatError, match=r"bad\.txt:3: expected 'VIDEO_ID START END##sentence'"):
        read_charades_sta(path, {"AAAAA": 10.0, "BBBBB": 10.0})


def test_charades_non_numeric_time_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("AAAAA 0.0 five##a person sits.\n")
    with pytest.raises(AnnotationFormatError, match=r"bad\.txt:1: END: expected a finite number, got 'five'"):
        read_charades_sta(path, {"AAAAA": 10.0})


def test_charades_missing_duration_skips_and_counts(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("AAAAA 0.0 5.0##a person sits.\nZZZZZ 1.0 2.0##someone stands.\n")
    queries, report = read_charades_sta(path, {"AAAAA": 10.0})
    assert [q.qid for q in queries] == ["AAAAA#1"]
    assert report["missing_duration"] == 1 and report.examples["missing_duration"] == ["ZZZZZ#2"]


def test_duration_sources_merge_csv_and_json(tmp_path):
    (tmp_path / "d.csv").write_text('id,script,length\nAAAAA,"two\nlines, with comma",12.5\nBBBBB,x,3\n')
    (tmp_path / "d.json").write_text(json.dumps({"BBBBB": 4.0, "CCCCC": 7}))
    durations = read_durations([tmp_path / "d.csv", tmp_path / "d.json"])
    assert durations == {"AAAAA": 12.5, "BBBBB": 4.0, "CCCCC": 7.0}
    with pytest.raises(AnnotationFormatError, match="'id' and 'length'"):
        (tmp_path / "e.csv").write_text("vid,seconds\nA,1\n")
        read_durations(tmp_path / "e.csv")


def test_clean_segment_policy():
    report = QuirkReport("t")
    assert clean_segment("a", -1.0, 5.0, 10.0, report) == (0.0, 5.0)
    assert clean_segment("b", 2.0, 12.0, 10.0, report) == (2.0, 10.0)
    assert clean_segment("c", 5.0, 5.0, 10.0, report) is None
    assert clean_segment("d", 11.0, 12.0, 10.0, report) is None
    assert clean_segment("e", 1.0, 2.0, None, report) is None
    # Float noise past the duration is clipped but not counted.
    assert clean_segment("f", 1.0, 70.29, 70.28999999999999, report) == (1.0, 70.28999999999999)
    assert report.total == 6
    assert report.counts == {
        "start_before_zero": 1,
        "end_after_duration": 2,
        "start_ge_end": 1,
        "empty_after_clipping": 1,
        "missing_duration": 1,
    }


def test_quirk_report_summary_and_single_log(caplog):
    report = QuirkReport("x.txt", total=3)
    report.add("start_ge_end", "V#1")
    report.add("missing_features", ["V", "W"], count=2)
    with caplog.at_level(logging.INFO):
        report.log(logging.getLogger("drn.test"))
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage() == (
        "x.txt: 3 queries read; 1 dropped, start >= end (e.g. V#1); "
        "2 skipped, no feature file for the video (e.g. V, W)"
    )
    assert not QuirkReport("empty")
    with pytest.raises(KeyError, match="unknown quirk"):
        report.add("typo")


def test_activitynet_structural_error_names_video(tmp_path):
    path = tmp_path / "anet.json"
    path.write_text(json.dumps({"v_a": {"duration": 10, "timestamps": [[0, 1], [2, 3]], "sentences": ["x"]}}))
    with pytest.raises(AnnotationFormatError, match=r"anet\.json: video 'v_a' has 2 timestamps but 1 sentences"):
        read_activitynet_captions(path)


def test_activitynet_missing_duration_is_counted(tmp_path):
    path = tmp_path / "anet.json"
    path.write_text(json.dumps({"v_a": {"duration": None, "timestamps": [[0, 1]], "sentences": ["x"]}}))
    queries, report = read_activitynet_captions(path)
    assert queries == [] and report["missing_duration"] == 1


def test_read_annotations_dispatch_and_errors(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("AAAAA 0.0 5.0##a person sits.\n")
    queries, _ = read_annotations("charades", path, {"AAAAA": 10.0})
    assert queries[0].sentence == "a person sits."
    with pytest.raises(ValueError, match="need durations"):
        read_annotations("charades_sta", path)
    with pytest.raises(ValueError, match="unknown annotation format 'kinetics'"):
        read_annotations("kinetics", path)
    with pytest.raises(ValueError, match="carry their own durations"):
        read_annotations("tacos", path, {"AAAAA": 1.0})
