"""`drn extract` through the real command: output, resume, a bad video, torchrun shards, user errors."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from tests.helpers.cli import run_cli
from tests.video.media import truncate, write_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "one.mp4", seconds=2.0, fps=8)
    write_video(root / "two.mkv", seconds=1.5, fps=10, width=48, height=32)
    write_video(root / "three.avi", codec="mpeg4", seconds=1.0, fps=10)
    truncate(write_video(root / "cut.mp4", seconds=3.0), 0.5)
    return root


@pytest.mark.slow
def test_extract_writes_features_reports_the_bad_video_and_resumes(videos, tmp_path):
    out = tmp_path / "features"
    result = run_cli("extract", str(videos), "--backbone", "tiny", "--out", str(out), "--workers", "1")
    assert result.returncode == 1, result.stderr  # finished, but one video failed
    assert "3 extracted (5 clips" in result.stdout and "1 failed" in result.stdout
    assert "failed cut: video" in result.stdout and "truncated" in result.stdout
    settings = json.loads((out / "extract.json").read_text())
    assert settings["backbone"] == "tiny" and settings["dim"] == 128 and list(settings["failed"]) == ["cut"]
    assert {vid: np.load(out / f"{vid}.npy").shape for vid in settings["videos"]} == {
        "one": (2, 128), "two": (2, 128), "three": (1, 128)}

    again = run_cli("extract", str(videos / "one.mp4"), str(videos / "two.mkv"), "--backbone", "tiny",
                    "--out", str(out), "--workers", "0")
    assert again.returncode == 0, again.stderr
    assert "0 extracted" in again.stdout and "2 already done, 0 failed" in again.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_under_torchrun_each_rank_takes_its_share(videos, tmp_path):
    out = tmp_path / "sharded"
    torchrun = ("-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port()), "-m", "drn.cli")
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{videos / name}\n" for name in ("one.mp4", "two.mkv", "three.avi")))
    result = run_cli("extract", str(listing), "--backbone", "tiny", "--out", str(out), "--workers", "0",
                     "--hdf5", str(tmp_path / "all.h5"), module=torchrun, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rank 0 of 2" in result.stderr and "rank 1 of 2" in result.stderr
    assert result.stdout.count("3 extracted (5 clips") == 1  # rank 0 reports every rank's work
    assert sorted(json.loads((out / "extract.json").read_text())["videos"]) == ["one", "three", "two"]
    assert not list(out.glob(".extract.rank*.jsonl"))
    import h5py

    with h5py.File(tmp_path / "all.h5") as f:
        assert sorted(f) == ["one", "three", "two"]


def _error_cases(videos, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    (tmp_path / "empty").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "extract.json").write_text(json.dumps({"backbone": "s3d", "weights": "none", "clip_seconds": 16 / 15,
                                                    "frames_per_clip": 16, "frame_size": 224, "dim": 1024,
                                                    "dtype": "float32", "videos": {}}))
    one = str(videos / "one.mp4")
    return {
        "unknown backbone": (["--backbone", "i3d"], "no backbone 'i3d'; choose one of clip-vit-b32, s3d, r2plus1d_18"),
        "missing weights": (["--backbone", "r2plus1d_18", "--weights", str(tmp_path / "w.pth")],
                            "--weights .*w.pth: no such file"),
        "weights for tiny": (["--backbone", "tiny", "--weights", one], "backbone tiny has fixed random weights"),
        "no videos": (["--backbone", "tiny", "--videos-instead", str(tmp_path / "empty")], "no video files found in"),
        "missing input": (["--backbone", "tiny", "--videos-instead", str(tmp_path / "nope.mp4")],
                          "video input .*nope.mp4: no such file or folder"),
        "out is a file": (["--backbone", "tiny", "--out-instead", str(a_file)], "--out .*a_file: is a file"),
        "other settings": (["--backbone", "tiny", "--out-instead", str(other)],
                           "--out .*other: holds features extracted with other settings \\(backbone 's3d' there"),
        "batch size": (["--backbone", "tiny", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        "device": (["--backbone", "tiny", "--device", "tpu"], "--device tpu: expected cpu, cuda, cuda:N or auto"),
        "hdf5 name": (["--backbone", "tiny", "--hdf5", str(tmp_path / "x.npy")], "--hdf5 .*x.npy: expected"),
    }


CASES = ["unknown backbone", "missing weights", "weights for tiny", "no videos", "missing input", "out is a file",
         "other settings", "batch size", "device", "hdf5 name"]


@pytest.mark.parametrize("case", CASES)
def test_user_errors_are_one_line_exit_2_and_write_nothing(videos, tmp_path, case):
    import re

    args, message = _error_cases(videos, tmp_path)[case]
    inputs, out = [str(videos / "one.mp4")], tmp_path / "out"
    if "--videos-instead" in args:
        i = args.index("--videos-instead")
        inputs, args = [args[i + 1]], args[:i] + args[i + 2:]
    if "--out-instead" in args:
        i = args.index("--out-instead")
        out, args = tmp_path / args[i + 1], args[:i] + args[i + 2:]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = run_cli("extract", *inputs, "--out", str(out), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drn extract: error: "), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
