"""The demo's data: `make_synthetic_dataset` at 600 videos (400 / 100 / 100, D = 256) should take
well under the demo's training time (target < 5 s; it was a timed unit test before)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from drn.data import make_synthetic_dataset


def test_make_600_videos(bench):
    root = Path(tempfile.mkdtemp(prefix="drn_synthetic_bench_"))

    def make():
        shutil.rmtree(root / "data", ignore_errors=True)
        return make_synthetic_dataset(root / "data", 400, 100, 100, feature_dim=256, seed=0)

    def check(paths):
        videos = sorted(Path(paths["features"]).glob("*.npy"))
        assert len(videos) == 600, len(videos)
        assert np.load(videos[0]).shape[1] == 256
        assert all(Path(paths[split]).read_text().strip() for split in ("train", "val", "test"))

    try:
        bench(make, op="make_synthetic_dataset", workload="600x256", impl="ours", size=600, check=check,
              budget_s=5.0, max_rounds=3)
    finally:
        shutil.rmtree(root, ignore_errors=True)
