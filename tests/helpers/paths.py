"""Where the tests find the repository, its configs and the shared real-data files."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
SHARED_DATA_ENV = "DRN_SHARED_DATA"


def shared_data_dir() -> Path:
    """`$DRN_SHARED_DATA`, else `../shared/data` beside the repository."""
    override = os.environ.get(SHARED_DATA_ENV)
    return Path(override) if override else REPO.parent / "shared" / "data"


def shared_data_required() -> bool:
    """True when DRN_SHARED_DATA is set: then a missing data file fails the test instead of
    skipping it (CI sets it, so the real-data tests always run there)."""
    return bool(os.environ.get(SHARED_DATA_ENV))


SHARED_SKIP_PREFIX = "real data not found"


def shared_file(relative: str | os.PathLike) -> Path:
    """`shared_data_dir() / relative`; when it is missing the test skips (a user's machine) or,
    with DRN_SHARED_DATA set, fails (CI: the real-data tests must run there)."""
    import pytest

    path = shared_data_dir() / relative
    if path.exists():
        return path
    message = f"{SHARED_SKIP_PREFIX}: {path} (set {SHARED_DATA_ENV} to the shared data folder)"
    if shared_data_required():
        pytest.fail(f"{SHARED_DATA_ENV} is set but {path} does not exist", pytrace=False)
    pytest.skip(message)
