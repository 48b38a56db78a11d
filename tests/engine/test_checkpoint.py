"""Checkpoints: atomic writes, RNG state round trips, clear errors, compatibility checks."""

from __future__ import annotations

import errno
import random

import numpy as np
import pytest
import torch

from drn.config import load_config
from drn.engine import checkpoint as ckpt
from drn.engine.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from drn.errors import FileWriteError
from drn.model.config import PUBLISHED_VALUES
from drn.utils.io import atomic_write_text


def test_save_then_load_round_trips_plain_payloads(tmp_path):
    path = save_checkpoint({"model": {"w": torch.arange(3.0)}, "stage": 2, "config": {"a": [1, None, 1e-3]}},
                           tmp_path / "c" / "last.pt")
    payload = load_checkpoint(path)
    assert payload["format"] == ckpt.CHECKPOINT_FORMAT and payload["stage"] == 2
    assert torch.equal(payload["model"]["w"], torch.arange(3.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint({"stage": 1}, tmp_path / "last.pt")

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(FileWriteError, match=f"cannot write {path}: no space left on the device"):
        save_checkpoint({"stage": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["stage"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_atomic_text_write_replaces_the_whole_file(tmp_path):
    path = atomic_write_text(tmp_path / "metrics.json", "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_rng_states_round_trip():
    state = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


@pytest.mark.parametrize("content, message", [
    (b"garbage", "not a readable drn checkpoint"),
    (None, "no 'drn-checkpoint' format tag"),
])
def test_files_that_are_not_checkpoints_are_named(tmp_path, content, message):
    path = tmp_path / "x.pt"
    if content is None:
        torch.save({"state_dict": {}}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_an_unreadable_file_gets_a_short_message_without_torchs_unsafe_advice(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    # torch's own text suggests weights_only=False, which would run code from the file
    assert "weights_only" not in message and "\n" not in message and len(message) < 300


def test_compatibility_checks_only_the_architecture():
    saved = load_config(None, [])
    check_compatible(saved, load_config(None, ["eval.top_k=5", "model.score_threshold=0.1", "train.lr=[1, 1, 1]"]),
                     "c.pt")
    with pytest.raises(CheckpointError, match=r"data.num_clips: 32 -> 64; model.fpn_channels: 512 -> 256"):
        check_compatible(saved, load_config(None, ["model.fpn_channels=256", "data.num_clips=64"]), "c.pt")


def test_a_checkpoint_from_before_the_new_model_keys_rebuilds_the_published_drn(tmp_path):
    saved = load_config(None, [])
    for key in PUBLISHED_VALUES:  # a config written before these keys existed
        del saved["model"][key]
    path = save_checkpoint({"model": {}, "config": saved}, tmp_path / "old.pt")
    model = load_checkpoint(path)["config"]["model"]
    assert {key: model[key] for key in PUBLISHED_VALUES} == PUBLISHED_VALUES
    current = load_config(None, [])
    path = save_checkpoint({"model": {}, "config": current}, tmp_path / "new.pt")
    assert load_checkpoint(path)["config"]["model"]["head_norm"] == current["model"]["head_norm"]  # kept as saved
    with pytest.raises(CheckpointError, match="model.head_norm: 'published' -> 'group'"):
        check_compatible(load_checkpoint(tmp_path / "old.pt")["config"], load_config(None, ["model.head_norm=group"]),
                         "old.pt")
