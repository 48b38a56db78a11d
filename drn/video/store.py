"""The output folder of `drn extract`: `VID.npy` per video, `extract.json`, and a resume journal.

Layout (what `drn.data.features.NpyFolderFeatures` reads):

    DIR/VID.npy          [num_clips, D] float32 or float16, written atomically
    DIR/extract.json     {backbone, weights, clip_seconds, frames_per_clip, frame_size, dim, dtype,
                          videos: {VID: {duration, num_clips, source}}, failed: {VID: message}}
    DIR/.extract.rank<R>.jsonl   one line per video finished since extract.json was last written
                          (one journal per torchrun rank); merged into extract.json at the end

A video counts as done when its `VID.npy` exists and extract.json or a journal records it, so a
run killed at any point resumes without redoing finished videos and never trusts a half file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from drn.errors import UserError
from drn.utils.io import atomic_write, write_json

logger = logging.getLogger(__name__)

SETTINGS_FILE = "extract.json"
JOURNAL_PATTERN = ".extract.rank*.jsonl"
DTYPES = ("float32", "float16")


class FeatureStore:
    """One extraction folder. `settings` is `extraction_settings(...)`; see the module docstring."""

    def __init__(self, root: str | os.PathLike, settings: dict):
        self.root = Path(root)
        self.settings = dict(settings)
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"--out {self.root}: is a file; expected a folder (new or from an earlier drn extract)")
        self._existing = self._read_settings()

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    def _read_settings(self) -> dict:
        if not self.settings_path.is_file():
            return {}
        try:
            existing = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"--out {self.root}: cannot read {SETTINGS_FILE} ({exc}); remove it or use another folder") from None
        differing = {key: (existing.get(key), value) for key, value in self.settings.items() if existing.get(key) != value}
        if differing:
            described = "; ".join(f"{key} {old!r} there, {new!r} now" for key, (old, new) in differing.items())
            raise UserError(f"--out {self.root}: holds features extracted with other settings ({described}); "
                            "use another folder")
        return existing

    def done(self) -> dict[str, dict]:
        """Records of the videos already extracted (file present and recorded)."""
        records = dict(self._existing.get("videos", {}))
        for journal in sorted(self.root.glob(JOURNAL_PATTERN)):
            records.update(_read_journal(journal))
        return {vid: r for vid, r in records.items() if (self.root / f"{vid}.npy").is_file()}

    def write(self, vid: str, features: np.ndarray, record: dict, rank: int = 0) -> Path:
        """Write `VID.npy` atomically, then record it in this rank's journal."""
        array = np.ascontiguousarray(features, dtype=self.settings.get("dtype", "float32"))
        path = atomic_write(self.root / f"{vid}.npy", lambda f: np.save(f, array), binary=True)
        journal_path = self.root / f".extract.rank{rank}.jsonl"
        with journal_path.open("a+b") as journal:
            cut = False
            if journal.seek(0, os.SEEK_END) > 0:
                journal.seek(-1, os.SEEK_END)
                # After a crash mid-line, start a fresh line so this record is not glued to the cut one.
                cut = journal.read(1) != b"\n"
            journal.write((b"\n" if cut else b"") + json.dumps({"vid": vid, **record}).encode() + b"\n")
            journal.flush()
            os.fsync(journal.fileno())
        return path

    def finalize(self, failed: dict[str, str]) -> dict:
        """Merge the journals into extract.json (atomically) and remove them; returns its content."""
        content = {**self.settings, "videos": dict(sorted(self.done().items())), "failed": dict(sorted(failed.items()))}
        write_json(self.settings_path, content)
        for journal in self.root.glob(JOURNAL_PATTERN):
            journal.unlink(missing_ok=True)
        return content

    def pack_hdf5(self, path: str | os.PathLike, vids: list[str]) -> Path:
        """Copy the listed videos' features into one HDF5 file keyed by video id (atomically)."""
        import h5py

        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        with h5py.File(tmp, "w") as f:
            for vid in vids:
                f.create_dataset(vid, data=np.load(self.root / f"{vid}.npy"))
        os.replace(tmp, path)
        return path


def _read_journal(path: Path) -> dict[str, dict]:
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:  # a line cut by a crash: that video is simply done again
            logger.warning("%s: ignoring an incomplete line (%d characters)", path, len(line))
            continue
        records[row.pop("vid")] = row
    return records
