"""Reading a JSON-lines file in tests (the library only writes them, or reads them with file:line checks)."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path


def read_jsonl(path: str | PathLike) -> list[dict]:
    """Every non-blank line of `path` as a JSON object."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
