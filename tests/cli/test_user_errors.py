"""Every user error ends the real `drn` command with one line `drn CMD: error: ...`, exit status 2, no
traceback, and nothing written: bad feature files (also on a video met late), bad annotation,
duration, vocabulary and word-vector files, damaged checkpoints, bad config values and arguments.

Each case builds its bad input in `tmp_path` and returns the command line; the `--out` folder of
every case is `tmp_path / "out"` and must not exist afterwards.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from drn.cli import main
from drn.data import read_charades_sta
from tests.helpers.cli import assert_one_line_error, run_cli

# One case of each kind also runs as the real `drn` command in a subprocess (the others run
# `drn.cli.main` in this process: the same code path, without two seconds of start-up each).
SUBPROCESS_CASES = {"truncated npy", "annotation not UTF-8", "train.batch_size=true", "no config", "duration inf",
                    "--threads -2", "model.head_norm=batch"}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def drn(request, capsys):
    """`drn(case, *argv, cwd=None)`: the command's Result, as a subprocess for `SUBPROCESS_CASES`,
    else through `drn.cli.main` in this process (torch's thread count, the working folder and the
    thread excepthook restored after)."""

    def invoke(case: str, *argv: str, cwd: Path | None = None) -> Result:
        if case in SUBPROCESS_CASES:
            done = run_cli(*argv, cwd=cwd)
            return Result(done.returncode, done.stdout, done.stderr)
        threads, here, hook = torch.get_num_threads(), os.getcwd(), threading.excepthook
        try:
            if cwd is not None:
                os.chdir(cwd)
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse
                code = exc.code
        finally:
            os.chdir(here)
            torch.set_num_threads(threads)
            threading.excepthook = hook  # main() installs its own
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def last_test_video(tiny_data) -> str:
    """The video of the test split's last query: read last, after the train and val splits."""
    queries, _ = read_charades_sta(tiny_data["test"], tiny_data["durations"])
    return queries[-1].vid


def features_with(tmp_path: Path, tiny_data, vid: str, write) -> Path:
    """A copy (as links) of the tiny feature folder where `vid`'s file is replaced by `write(folder)`."""
    folder = tmp_path / "features"
    folder.mkdir()
    for path in Path(tiny_data["features"]).iterdir():
        if path.stem != vid:
            (folder / path.name).symlink_to(path)
    write(folder)
    return folder


def _truncated(vid):
    def write(folder):
        np.save(folder / f"{vid}.npy", np.ones((20, 16), np.float32))
        data = (folder / f"{vid}.npy").read_bytes()
        (folder / f"{vid}.npy").write_bytes(data[: len(data) // 2])
    return write


def _npy(vid, array):
    return lambda folder: np.save(folder / f"{vid}.npy", array, allow_pickle=True)


def _pt_dict(vid):
    return lambda folder: torch.save({"features": torch.ones(5, 16)}, folder / f"{vid}.pt")


FEATURE_CASES = {
    "truncated npy": (_truncated, ("cannot read features", "npy")),
    "object npy": (lambda vid: _npy(vid, np.array([{"a": 1}, None], dtype=object)), ("cannot read features",)),
    "1-D npy": (lambda vid: _npy(vid, np.ones(16, np.float32)), ("expected features of shape [windows, D]", "(16,)")),
    "3-D npy": (lambda vid: _npy(vid, np.ones((2, 3, 16), np.float32)), ("(2, 3, 16)",)),
    "string npy": (lambda vid: _npy(vid, np.array([["a", "b"]])), ("expected numbers, got an array of dtype <U1",)),
    "pt holding a dict": (_pt_dict, ("expected a saved tensor [windows, D], got a dict",)),
}


@pytest.mark.parametrize("case", sorted(FEATURE_CASES))
def test_bad_feature_file_of_a_late_video_stops_train_before_any_write(case, drn, tiny_config, tiny_data, tmp_path):
    vid = last_test_video(tiny_data)
    make, fragments = FEATURE_CASES[case]
    folder = features_with(tmp_path, tiny_data, vid, make(vid))
    out = tmp_path / "out"
    result = drn(case, "train", str(tiny_config), "--out", str(out), "--set", f"data.features={folder}")
    assert_one_line_error(result, "train", vid, *fragments)
    assert not out.exists()


def _hdf5_features(tmp_path: Path, tiny_data, vid: str, bad_group: bool) -> Path:
    import h5py

    path = tmp_path / "features.h5"
    with h5py.File(path, "w") as f:
        for npy in Path(tiny_data["features"]).glob("*.npy"):
            if npy.stem == vid and bad_group:
                group = f.create_group(vid)
                group.create_dataset("c3d", data=np.load(npy))
                group.create_dataset("i3d", data=np.load(npy))
            else:
                f.create_dataset(npy.stem, data=np.load(npy))
    return path


def test_hdf5_group_with_several_datasets(drn, tiny_config, tiny_data, tmp_path):
    vid = last_test_video(tiny_data)
    path = _hdf5_features(tmp_path, tiny_data, vid, bad_group=True)
    result = drn("h5 group", "train", str(tiny_config), "--out", str(tmp_path / "out"), "--set", f"data.features={path}")
    assert_one_line_error(result, "train", f"{path}['{vid}'] is a group with datasets ['c3d', 'i3d']")
    assert not (tmp_path / "out").exists()


def test_garbage_hdf5_file(drn, tiny_config, tmp_path):
    path = tmp_path / "features.h5"
    path.write_bytes(b"this is not HDF5" * 64)
    result = drn("garbage h5", "train", str(tiny_config), "--out", str(tmp_path / "out"), "--set", f"data.features={path}")
    assert_one_line_error(result, "train", f"{path}: cannot read an HDF5 file of features")
    assert not (tmp_path / "out").exists()


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


# name -> (files to write {name: content}, --set overrides with {tmp} for tmp_path, message fragments)
DATA_CASES = {
    "durations JSON invalid": ({"d.json": "{not json"}, ["data.durations={tmp}/d.json"],
                               ("d.json: cannot read video durations", "JSONDecodeError")),
    "annotation path is a folder": ({"folder/x": ""}, ["data.train={tmp}/folder"], ("data.train", "is a folder")),
    "annotation not UTF-8": ({"train.txt": b"V1 0 1##caf\xe9 au lait\n"}, ["data.train={tmp}/train.txt"],
                             ("train.txt: cannot read Charades-STA annotations", "not UTF-8")),
    "ActivityNet sentence not a string": (
        {"an.json": json.dumps({"v_1": {"duration": 9.0, "timestamps": [[1, 2]], "sentences": [7]}})},
        ["data.format=activitynet", "data.train={tmp}/an.json"], ("an.json: video 'v_1' sentence 0 is 7, expected a string",)),
    "vocab not JSON": ({"vocab.json": "[1, 2"}, ["data.vocab={tmp}/vocab.json"],
                       ("vocab.json: cannot read a vocabulary",)),
    "vocab with bad ids": ({"vocab.json": json.dumps({"a": 0})}, ["data.vocab={tmp}/vocab.json"],
                           ("vocab.json", "0 is padding")),
    "glove malformed": ({"glove.txt": "person 0.1 0.2\nopens 0.3\n"}, ["data.glove={tmp}/glove.txt"],
                        ("glove.txt:2: expected a word and 2 numbers",)),
    "glove npy not an array file": ({"glove.npy": "garbage"}, ["data.glove={tmp}/glove.npy"],
                                    ("glove.npy: cannot read word vectors",)),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data_files(case, drn, tiny_config, tmp_path):
    files, overrides, fragments = DATA_CASES[case]
    for name, content in files.items():
        _write(tmp_path / name, content)
    sets = [arg for item in overrides for arg in ("--set", item.format(tmp=tmp_path))]
    result = drn(case, "train", str(tiny_config), "--out", str(tmp_path / "out"), *sets)
    assert_one_line_error(result, "train", *fragments)
    assert not (tmp_path / "out").exists()


CONFIG_CASES = {
    "train.seed=abc": ("config key 'train.seed' must be an integer >= 0, got 'abc'",),
    "model.regression_ranges=abc": ("'model.regression_ranges' must be 3 [low, high] pairs",),
    "train.batch_size=true": ("'train.batch_size' must be a positive integer, got True",),
    "train.grad_clip=abc": ("'train.grad_clip' must be a finite number > 0, got 'abc'",),
    "train.weight_decay=-1": ("'train.weight_decay' must be a finite number >= 0, got -1",),
    "train.lr=[.inf, 0, 0]": ("'train.lr' must be a list of 3 finite numbers >= 0", "inf"),
    "train.epochs=[0, 0, 0]": ("'train.epochs' must be a list of 3 integers >= 0 (epochs per stage), not all 0",),
    "train.epochs=[1, 0, true]": ("'train.epochs'", "[1, 0, True]"),
    "train.compile=maybe": ("'train.compile' must be true or false, got 'maybe'",),
    "train.precision=fp8": ("'train.precision' must be one of ('auto', 'fp32', 'bf16', 'fp16'), got 'fp8'",),
    "train.precision=fp16": ("train.precision is fp16, which runs on CUDA only; on the CPU use bf16 or fp32",),
    "eval.precision=fp16": ("eval.precision is fp16, which runs on CUDA only",),
    "model.fpn_channels=1.5": ("'model.fpn_channels' must be an integer, got 1.5",),
    "data.features=[1]": ("'data.features' must be a folder or HDF5 file path",),
    "eval.top_k=[1": ("--set eval.top_k=[1: not valid YAML",),
    "model.head_norm=batch": ("model section: DRNConfig.head_norm must be one of ('published', 'per_level', 'group'), "
                              "got 'batch'",),
    "model.saliency_head=maybe": ("config key 'model.saliency_head' must be true, false or auto, got 'maybe'",),
    "train.crop_probability=2": ("config key 'train.crop_probability' must be a number in [0, 1], got 2",),
    "train.crop_min_fraction=0": ("config key 'train.crop_min_fraction' must be a number in (0, 1], got 0",),
}


@pytest.mark.parametrize("override", sorted(CONFIG_CASES))
def test_bad_config_values_are_refused_before_anything_runs(override, drn, tiny_config, tmp_path):
    result = drn(override, "train", str(tiny_config), "--out", str(tmp_path / "out"), "--set", override)
    assert_one_line_error(result, "train", *CONFIG_CASES[override])
    assert not (tmp_path / "out").exists()


def test_bad_yaml_file(drn, tmp_path):
    config = _write(tmp_path / "bad.yaml", "data:\n  train: [unclosed\n")
    result = drn("bad yaml", "train", str(config), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "train", f"{config}: not valid YAML")


def test_out_under_a_file(drn, tiny_config, tmp_path):
    blocker = _write(tmp_path / "file", "x")
    result = drn("out under a file", "train", str(tiny_config), "--out", str(blocker / "run"))
    assert_one_line_error(result, "train", f"lies under {blocker}, which is a file")


def _damaged_checkpoint(trained_run: Path, tmp_path: Path, change) -> Path:
    payload = torch.load(trained_run / "checkpoints" / "best.pt", weights_only=True)
    change(payload)
    path = tmp_path / "damaged.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("change, fragment", [
    (lambda p: p.pop("config"), "it has no 'config'"),
    (lambda p: p.pop("vocab"), "it has no 'vocab'"),
    (lambda p: p.update(stage="two"), "'stage' must be the training stage 1, 2 or 3, got a str"),
    (lambda p: p["config"]["train"].update(seed="abc"), "'train.seed' must be an integer"),
], ids=["no config", "no vocab", "stage not an integer", "config value invalid"])
def test_damaged_checkpoints(change, fragment, drn, request, trained_run, tmp_path):
    path = _damaged_checkpoint(trained_run, tmp_path, change)
    result = drn(request.node.callspec.id, "eval", str(path), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "eval", str(path), fragment)
    assert not (tmp_path / "out").exists()


def test_eval_out_naming_a_file_is_refused_before_evaluating(drn, trained_run, tmp_path):
    blocker = _write(tmp_path / "metrics.txt", "keep me")
    result = drn("eval out is a file", "eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(blocker))
    assert_one_line_error(result, "eval", f"--out {blocker} is a file, not a folder")
    assert "evaluating" not in result.stderr and "test split" not in result.stderr
    assert blocker.read_text() == "keep me"


def test_eval_of_a_missing_best_names_last(drn, trained_run, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").symlink_to(trained_run / "checkpoints" / "last.pt")
    result = drn("missing best", "eval", str(run / "checkpoints" / "best.pt"), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "eval", "best.pt does not exist", f"use {run / 'checkpoints' / 'last.pt'}")


@pytest.mark.parametrize("args, fragment", [
    (["--duration", "inf"], "--duration must be a finite number of seconds > 0, got inf"),
    (["--duration", "nan"], "--duration must be a finite number of seconds > 0, got nan"),
    (["--plot", "timeline.xyz"], "unknown image format '.xyz'"),
    (["--gt", "1", "2", "--gt", "3", "4"], "give one --gt per --query (1), got 2"),
], ids=["duration inf", "duration nan", "plot format", "gt count"])
def test_predict_arguments(args, fragment, drn, request, trained_run, tiny_data, tmp_path):
    features = next(Path(tiny_data["features"]).glob("*.npy"))
    result = drn(request.node.callspec.id, "predict", str(trained_run / "checkpoints" / "best.pt"), "--features", str(features),
                     "--query", "a person opens the door", *args, cwd=tmp_path)
    assert_one_line_error(result, "predict", fragment)
    assert result.stdout == "" and not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_inference_precision_the_cpu_cannot_run(command, drn, trained_run, tiny_data, tmp_path):
    checkpoint = str(trained_run / "checkpoints" / "best.pt")
    args = (["--out", str(tmp_path / "out")] if command == "eval" else
            ["--features", str(next(Path(tiny_data["features"]).glob("*.npy"))), "--query", "a person opens the door"])
    result = drn(f"{command} fp16", command, checkpoint, *args, "--precision", "fp16", cwd=tmp_path)
    assert_one_line_error(result, command, "eval.precision is fp16, which runs on CUDA only")
    assert result.stdout == "" and not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, fragment", [
    (["--threads", "-2"], "argument --threads: expected a positive integer, got -2"),
    (["--videos", "0"], "argument --videos: expected a positive integer, got 0"),
    (["--epochs", "0", "0", "0"], "--epochs must be 3 integers >= 0, not all 0"),
])
def test_demo_arguments(args, fragment, drn, tmp_path):
    result = drn(" ".join(args), "demo", "--out", str(tmp_path / "demo"), *args)
    assert_one_line_error(result, "demo", fragment)
    assert not (tmp_path / "demo").exists()
