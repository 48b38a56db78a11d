"""Small file helpers: atomic writes (temp file + os.replace) that honour the umask and say "no
space left" in one line, JSON / JSON-lines, and cleaning the temporaries a killed process left."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import IO

from drn.errors import FileWriteError, writing

# atomic_write's temporaries are `.NAME.RANDOM.tmp` beside the target.
TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | PathLike, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Call `write(f)` on a temporary file beside `path`, sync it, then rename it over `path`, so
    readers (and a crash) see the old file or the whole new one, never a part; returns the path.

    The file gets the mode an ordinary `open()` would give (0o666 less the umask), not mkstemp's
    0o600. Any OSError (a full disk, no permission, a parent that is a file) becomes a
    `FileWriteError` naming `path`, and the temporary is removed.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~current_umask())
            with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def atomic_write_text(path: str | PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text))


def write_json(path: str | PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def jsonl_text(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows)


def write_jsonl(path: str | PathLike, rows: Iterable[dict]) -> Path:
    return atomic_write_text(path, jsonl_text(rows))


def write_predictions(out_dir: str | PathLike, rows: list[dict]) -> Path:
    """Write `out_dir/predictions.jsonl`, first removing an older `metrics.json` so that new
    predictions never sit beside old metrics (write the metrics with `write_metrics` after)."""
    out_dir = Path(out_dir)
    text = jsonl_text(rows)  # serialise before touching any file
    metrics_path = out_dir / "metrics.json"
    with writing(metrics_path):
        metrics_path.unlink(missing_ok=True)
    return atomic_write_text(out_dir / "predictions.jsonl", text)


def write_metrics(out_dir: str | PathLike, metrics: dict) -> Path:
    """Write `out_dir/metrics.json` (metrics without a value are null)."""
    return write_json(Path(out_dir) / "metrics.json", metrics)


def remove_stale_temporaries(folder: str | PathLike) -> list[Path]:
    """Delete the `atomic_write` temporaries (`.NAME.*.tmp`) a killed process left in `folder`;
    call it only while holding the folder's lock. Returns what was removed."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for path in folder.glob(f".*{TEMP_SUFFIX}"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def check_output_folder(path: str | PathLike, option: str = "--out") -> Path:
    """Refuse, before anything is written, an output folder that is a file or lies under one, or
    that cannot be created; returns it as a Path (not created)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileWriteError(f"{option} {path} is a file, not a folder")
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise FileWriteError(f"{option} {path} lies under {parent}, which is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise FileWriteError(f"{option} {path}: no permission to write in {parent}")
            break
    return path


def check_output_file(path: str | PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, an output file that is a folder or whose folder cannot be
    written (`check_output_folder`); returns it as a Path."""
    path = Path(path)
    if path.is_dir():
        raise FileWriteError(f"{option} {path} is a folder; expected a file name")
    check_output_folder(path.parent, option)
    return path
