"""Small file helpers: atomic text writes (temp file + os.replace) and JSON / JSON-lines."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import IO


def atomic_write(path: str | PathLike, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Call `write(f)` on a temporary file beside `path`, sync it, then rename it over `path`, so
    readers (and a crash) see the old file or the whole new one, never a part; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    return atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def write_jsonl(path: str | PathLike, rows: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_jsonl(path: str | PathLike) -> list[dict]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
