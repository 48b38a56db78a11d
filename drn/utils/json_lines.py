"""The one loop over a JSON-lines file that annotation, query and prediction readers share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def json_objects(path: Path, error: type[Exception]) -> Iterator[tuple[str, dict]]:
    """("PATH:LINE", object) for every non-blank line of `path`; a line that is not a JSON object
    raises `error` with a message naming its line."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{where}: not a JSON object ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise error(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, row
