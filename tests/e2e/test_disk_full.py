"""A full disk stops `drn train` with one line naming the file and "no space left", and leaves no
half-written file and no temporary behind.

The run folder is a tiny tmpfs mounted in a private mount namespace (`unshare`), so the disk really
fills up; the folder is copied out before the namespace ends. Skipped where unprivileged mount
namespaces are not allowed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
import yaml

from tests.helpers.cli import cli_env

USER_ERROR = 2


def _namespaces_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c",
                            "mount -t tmpfs -o size=4k tmpfs /mnt 2>/dev/null || mount -t tmpfs -o size=4k tmpfs /tmp"],
                           capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_available(),
                                reason="cannot mount a small tmpfs in a user mount namespace here (unshare -rm)")

# Sizes at which the disk fills at different files: the vocabulary (right after config.yaml and
# the lock) and the first checkpoint.
SIZES = {"8k": "vocab.json", "24k": "best.pt"}


@pytest.mark.parametrize("size", sorted(SIZES))
def test_full_disk_is_one_line_and_leaves_only_whole_files(size, tiny_config, tmp_path):
    disk, copy = tmp_path / "disk", tmp_path / "copy"
    disk.mkdir()
    command = (f'mount -t tmpfs -o size={size} tmpfs "{disk}" || exit 99; '
               f'"{sys.executable}" -m drn.cli train "{tiny_config}" --out "{disk}/run" --no-progress; rc=$?; '
               f'cp -a "{disk}/run" "{copy}"; exit $rc')
    result = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", command], env=cli_env(),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == USER_ERROR, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Exception in thread" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("drn train: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert f"{disk}/run/" in errors[0] and errors[0].endswith(": no space left on the device")
    assert SIZES[size] in errors[0]

    files = [p for p in copy.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.endswith(".tmp")]
    for path in files:  # whatever was written is whole
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".yaml":
            assert yaml.safe_load(path.read_text())["model"]["feature_dim"] == 16
        elif path.suffix == ".pt":
            assert torch.load(path, weights_only=True)["format"] == "drn-checkpoint"
    if SIZES[size] == "vocab.json":
        assert not (copy / "vocab.json").exists()
