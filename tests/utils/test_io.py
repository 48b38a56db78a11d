"""Atomic result files: the umask's mode, metrics never older than the predictions beside them,
output folders checked before any work."""

from __future__ import annotations

import errno
import os

import pytest

from drn.errors import FileWriteError
from drn.utils import io
from tests.helpers.jsonl import read_jsonl


@pytest.mark.parametrize("mask", [0o022, 0o007, 0o077])
def test_atomic_files_get_the_mode_open_would_give(tmp_path, mask):
    old = os.umask(mask)
    try:
        written = io.atomic_write_text(tmp_path / "a.json", "{}")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    assert written.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 == 0o666 & ~mask


def test_new_predictions_never_sit_beside_old_metrics(tmp_path, monkeypatch):
    io.write_predictions(tmp_path, [{"qid": "old"}])
    io.write_metrics(tmp_path, {"R1@0.5": 1.0})
    real = io.atomic_write_text

    def full_disk_at_metrics(path, text):
        if path.name == "metrics.json":
            raise FileWriteError(f"cannot write {path}: no space left on the device", errno.ENOSPC)
        return real(path, text)

    monkeypatch.setattr(io, "atomic_write_text", full_disk_at_metrics)
    io.write_predictions(tmp_path, [{"qid": "new"}])
    with pytest.raises(FileWriteError, match="no space left"):
        io.write_metrics(tmp_path, {"R1@0.5": 2.0})
    assert read_jsonl(tmp_path / "predictions.jsonl") == [{"qid": "new"}]
    assert not (tmp_path / "metrics.json").exists()  # not the old metrics beside the new rows


def test_predictions_and_metrics_refuse_non_finite_numbers_before_writing(tmp_path):
    with pytest.raises(ValueError):
        io.write_predictions(tmp_path, [{"duration": float("inf")}])
    with pytest.raises(ValueError):
        io.write_metrics(tmp_path, {"R1@0.5": float("nan")})
    assert not list(tmp_path.iterdir())


def test_output_folder_checks(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FileWriteError, match="is a file, not a folder"):
        io.check_output_folder(blocker)
    with pytest.raises(FileWriteError, match=f"lies under {blocker}, which is a file"):
        io.check_output_folder(blocker / "a" / "b")
    assert io.check_output_folder(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    (tmp_path / ".last.pt.abc.tmp").write_bytes(b"x")
    (tmp_path / "last.pt").write_bytes(b"y")
    (tmp_path / "notes.tmp").write_bytes(b"z")  # not an atomic_write temporary
    assert [p.name for p in io.remove_stale_temporaries(tmp_path)] == [".last.pt.abc.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "notes.tmp"]
