"""From pixels, end to end, through the real commands: synthetic videos -> `drn extract` (the
random-init `tiny` backbone) -> `drn train` -> `drn predict` on held-out test videos from their
files, against the mean-segment baseline; and every bad input of the video path as one line."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from drn.data import read_charades_sta
from drn.data.synthetic.video import make_synthetic_video_dataset
from drn.demo.synthetic import mean_segment_baseline
from drn.demo.video import VIDEO_DEMO_MODEL, VideoDemoSettings
from drn.inference.video import ground_video
from drn.metrics import grounding_metrics
from tests.helpers.cli import run_cli
from tests.helpers.jsonl import read_jsonl

pytest.importorskip("av")
USER_ERROR = 2
SETTINGS = VideoDemoSettings()  # the world, widths and schedule of `drn demo --video`
# Measured with these settings (2-core machine, 1 thread): DRN R1@0.5 72.6 / mIoU 56.2 against the
# baseline's 9.5 / 20.6 (margins 63 and 36 points); the assertions leave ~20 points of headroom.
MIN_MARGIN = {"R1@0.5": 40.0, "mIoU": 20.0}


@pytest.fixture(scope="module")
def pixels_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pixels")
    world = make_synthetic_video_dataset(root / "world", SETTINGS.train_videos, SETTINGS.val_videos,
                                         SETTINGS.test_videos, seed=SETTINGS.seed)
    features = root / "features"
    extracted = run_cli("extract", str(world["videos"] / "train"), str(world["videos"] / "val"), "--backbone", "tiny",
                        "--weights", "none", "--out", str(features), "--workers", "0", "--no-progress")
    assert extracted.returncode == 0, extracted.stderr
    config = {
        "data": {"train": str(world["train"]), "val": str(world["val"]), "test": None,
                 "durations": str(world["durations"]), "features": str(features), "num_clips": SETTINGS.num_clips},
        "model": VIDEO_DEMO_MODEL,
        "train": {"batch_size": SETTINGS.batch_size, "epochs": list(SETTINGS.epochs), "lr": list(SETTINGS.lr),
                  "device": "cpu", "seed": SETTINGS.seed},
    }
    (root / "video.yaml").write_text(yaml.safe_dump(config))
    trained = run_cli("train", str(root / "video.yaml"), "--out", str(root / "run"), "--no-progress", timeout=300)
    assert trained.returncode == 0, trained.stderr
    return {"root": root, "world": world, "features": features, "checkpoint": root / "run" / "checkpoints" / "best.pt"}


@pytest.mark.slow
def test_checkpoint_records_the_extraction_settings(pixels_run):
    record = json.loads((pixels_run["features"] / "extract.json").read_text())
    payload = torch.load(pixels_run["checkpoint"], map_location="cpu", weights_only=True)
    assert payload["extraction"] == {key: value for key, value in record.items() if key not in ("videos", "failed")}
    assert payload["extraction"]["backbone"] == "tiny" and payload["extraction"]["dim"] == VIDEO_DEMO_MODEL["feature_dim"]


@pytest.mark.slow
def test_held_out_videos_grounded_from_pixels_beat_the_mean_segment_baseline(pixels_run, tmp_path):
    world = pixels_run["world"]
    test_queries, _ = read_charades_sta(world["test"], world["durations"])
    train_queries, _ = read_charades_sta(world["train"], world["durations"])
    queries = tmp_path / "test_queries.jsonl"  # no durations: they come from the video files
    queries.write_text("".join(json.dumps({"qid": q.qid, "vid": q.vid, "query": q.sentence}) + "\n"
                               for q in test_queries))
    out = tmp_path / "predictions.jsonl"
    result = run_cli("predict", str(pixels_run["checkpoint"]), "--queries", str(queries), "--videos",
                     str(world["videos"] / "test"), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = read_jsonl(out)
    assert [row["qid"] for row in rows] == [q.qid for q in test_queries]
    for row, query in zip(rows, test_queries):
        assert row["duration"] == pytest.approx(query.duration, abs=0.051)  # the file's length, frame-exact
    model = grounding_metrics([row["pred_relevant_windows"] for row in rows], [(q.start, q.end) for q in test_queries])
    baseline = mean_segment_baseline(train_queries, test_queries)
    for key, margin in MIN_MARGIN.items():
        assert model[key] >= baseline[key] + margin, (key, model, baseline)

    # One video through `drn predict --video`: the same ranking as the batch, and a plot with thumbnails.
    first = test_queries[0]
    plot = tmp_path / "timeline.png"
    single = run_cli("predict", str(pixels_run["checkpoint"]), "--video",
                     str(world["videos"] / "test" / f"{first.vid}.mp4"), "--query", first.sentence, "--plot", str(plot))
    assert single.returncode == 0, single.stderr
    printed = json.loads(single.stdout)
    assert printed["unit"] == "seconds" and printed["duration"] == rows[0]["duration"]
    single_windows, batch_windows = printed["results"][0]["pred_relevant_windows"], rows[0]["pred_relevant_windows"]
    assert len(single_windows) == len(batch_windows)
    for a, b in zip(single_windows, batch_windows):
        assert a == pytest.approx(b, abs=2e-4)
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_grounder_ground_video_returns_prediction_rows(pixels_run):
    from drn.inference.grounder import Grounder

    video = pixels_run["world"]["videos"] / "test" / "PIXTE00001.mp4"
    rows = ground_video(Grounder(pixels_run["checkpoint"], device="cpu"), video, ["a red square appears", "the blue circle grows"])
    assert [row["qid"] for row in rows] == ["PIXTE00001#0", "PIXTE00001#1"]
    for row in rows:
        assert set(row) == {"qid", "vid", "query", "duration", "pred_relevant_windows"}
        assert row["vid"] == "PIXTE00001" and row["pred_relevant_windows"]
        assert all(0 <= s < e <= row["duration"] + 1e-6 for s, e, _ in row["pred_relevant_windows"])


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == USER_ERROR, (result.stdout, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("drn predict: error: "), result.stderr
    for fragment in fragments:
        assert fragment in last, (fragment, last)
    assert result.stdout == ""


@pytest.mark.slow
def test_video_errors_are_one_line_and_write_nothing(pixels_run, trained_run, tmp_path):
    checkpoint = str(pixels_run["checkpoint"])
    plot = tmp_path / "plot.png"
    missing = run_cli("predict", checkpoint, "--video", str(tmp_path / "nope.mp4"), "--query", "a red square appears",
                      "--plot", str(plot))
    _assert_one_line_error(missing, "nope.mp4", "no such file")

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    unreadable = run_cli("predict", checkpoint, "--video", str(broken), "--query", "a red square appears",
                         "--plot", str(plot))
    _assert_one_line_error(unreadable, "broken.mp4")

    # A checkpoint trained on features that did not come from drn extract (tests/e2e's 16-d run).
    video = str(pixels_run["world"]["videos"] / "test" / "PIXTE00000.mp4")
    features_checkpoint = str(trained_run / "checkpoints" / "best.pt")
    unrecorded = run_cli("predict", features_checkpoint, "--video", video, "--query", "a person opens the door",
                         "--plot", str(plot))
    _assert_one_line_error(unrecorded, "records no extraction settings", "--backbone")
    wrong_width = run_cli("predict", features_checkpoint, "--video", video, "--query", "a person opens the door",
                          "--backbone", "tiny", "--plot", str(plot))
    _assert_one_line_error(wrong_width, "backbone 'tiny' gives 128-d features", "takes D = 16")

    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"qid": "a", "vid": "PIXTE00000", "query": "a red square appears"}) + "\n"
                       + json.dumps({"qid": "b", "vid": "NOT_THERE", "query": "a red square appears"}) + "\n")
    no_video = run_cli("predict", checkpoint, "--queries", str(queries), "--videos",
                       str(pixels_run["world"]["videos"] / "test"), "--out", str(tmp_path / "pred.jsonl"))
    _assert_one_line_error(no_video, f"{queries}:2: no video file for 'NOT_THERE'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "q.jsonl"]
