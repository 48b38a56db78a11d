"""Suite-wide hooks and fixtures: which kernels serve the ops (in the report header), CUDA test
skipping, the shared real-data folder, and one summary line for the tests that lacked it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from drn.data import make_synthetic_dataset
from tests.helpers.cli import BATCH, EPOCHS, TINY_MODEL, run_cli
from tests.helpers.paths import SHARED_DATA_ENV, SHARED_SKIP_PREFIX, shared_data_dir, shared_file


def _backend():
    """drn.ops.backend(), or the import error as a string (DRN_REQUIRE_EXT=1 without drn._C)."""
    try:
        import drn.ops
    except ImportError as exc:
        return None, f"import drn.ops failed: {exc}"
    return drn.ops.backend(), None


def pytest_report_header(config):
    info, error = _backend()
    if info is None:
        return [f"drn.ops: {error}"]
    per_op = ", ".join(f"{op} cpu={impl['cpu']} cuda={impl['cuda']}" for op, impl in info["ops"].items())
    ext = info["extension"]
    built = (
        "drn._C: not loaded"
        if ext is None
        else f"drn._C: {ext['path']} (with_cuda={ext['with_cuda']}, built for CUDA {ext['cuda_version']}, "
        f"torch {ext['torch_version']})"
    )
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
    return [
        f"drn.ops: {per_op}",
        f"drn.ops why: cpu: {info['why']['cpu']}; cuda: {info['why']['cuda']}",
        built,
        f"torch {torch.__version__} (CUDA {torch.version.cuda}), CUDA device: {device}",
    ]


def cuda_skip_reason() -> str | None:
    """Why tests marked `cuda` cannot run here, or None when the CUDA kernels serve a visible GPU."""
    if not torch.cuda.is_available():
        return "no CUDA device visible"
    info, error = _backend()
    if info is None:
        return error
    if any(impl["cuda"] != "cuda" for impl in info["ops"].values()):
        return f"CUDA kernels not in use: {info['why']['cuda']}"
    return None


def pytest_collection_modifyitems(config, items):
    reason = cuda_skip_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data():
    """The shared real-data folder (see `tests.helpers.paths.shared_file` for skip vs fail)."""
    shared_file("charades_sta")
    return shared_data_dir()


def pytest_terminal_summary(terminalreporter):
    """One line for the tests skipped because the real data is absent (instead of silence)."""
    skipped = terminalreporter.stats.get("skipped", [])
    missing = [r for r in skipped if SHARED_SKIP_PREFIX in str(getattr(r, "longrepr", ""))]
    if missing:
        terminalreporter.write_line(
            f"{len(missing)} test(s) skipped: the real annotation files are not at {shared_data_dir()} "
            f"(set {SHARED_DATA_ENV} to run them; CI does)", yellow=True)


@pytest.fixture
def one_thread():
    """torch on one thread for the test: GEMMs split across threads sum in an order that depends
    on the batch shape, so bit-for-bit comparisons between batch layouts hold on one thread only."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# The tiny synthetic dataset, its config and one trained run, shared by the CLI tests of every package.

@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny_synthetic")
    return make_synthetic_dataset(root, num_videos_train=24, num_videos_val=8, num_videos_test=8,
                                  feature_dim=TINY_MODEL["feature_dim"], seed=3)


@pytest.fixture(scope="session")
def tiny_config(tiny_data, tmp_path_factory) -> Path:
    cfg = {
        "data": {split: str(tiny_data[split]) for split in ("train", "val", "test")}
        | {"durations": str(tiny_data["durations"]), "features": str(tiny_data["features"])},
        "model": TINY_MODEL,
        "train": {"batch_size": BATCH, "epochs": EPOCHS, "lr": [1.0e-2, 1.0e-3, 1.0e-4], "device": "cpu"},
    }
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def trained_run(tiny_config, tmp_path_factory) -> Path:
    """One uninterrupted `drn train` of the tiny config."""
    out = tmp_path_factory.mktemp("runs") / "uninterrupted"
    result = run_cli("train", str(tiny_config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out
