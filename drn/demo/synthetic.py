"""`drn demo`: synthetic data -> the three training stages -> test metrics, predictions and a plot.

The demo trains a narrow DRN (`DEMO_MODEL`) on a synthetic dataset with 64-d, noisy features
(`drn.data.synthetic.dataset`) so that it finishes in about a minute on a 2-core CPU, and compares it with
the baseline that always predicts the training set's mean segment (mean normalised start and end).
Stage 2 and 3 learning rates are raised from DRN's 1e-5 / 1e-7 because the demo's stages last
only a few epochs.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import torch

from drn.config import load_config
from drn.data import make_synthetic_dataset, open_features, read_charades_sta
from drn.engine.train import TrainError, train
from drn.inference.grounder import Grounder
from drn.metrics import grounding_metrics
from drn.utils.io import check_output_folder
from drn.utils.plots import plot_grounding

logger = logging.getLogger(__name__)

# Narrow widths: the synthetic task needs far less capacity than DRN's defaults (D = 4096, 512-d FPN).
DEMO_MODEL = {
    "feature_dim": 64,
    "embedding_dim": 64,
    "lstm_hidden": 64,
    "attention_dim": 64,
    "position_dim": 32,
    "level_channels": [64, 128, 128],
    "fpn_channels": 128,
}
PLOTTED_QUERIES = 4


@dataclass
class DemoSettings:
    """Sizes of the demo; the defaults are what `drn demo` runs."""

    train_videos: int = 400
    eval_videos: int = 100  # each of val and test
    epochs: tuple[int, int, int] = (6, 2, 2)
    lr: tuple[float, float, float] = (1e-3, 1e-4, 1e-5)
    batch_size: int = 32
    noise_std: float = 2.0  # of the synthetic window features (the generator's default is 1)
    seed: int = 0
    model: dict = field(default_factory=lambda: dict(DEMO_MODEL))

    def describe(self) -> str:
        widths = ", ".join(f"{k}={v}" for k, v in self.model.items())
        return (f"synthetic data: {self.train_videos} train / {self.eval_videos} val / {self.eval_videos} test videos, "
                f"T=32 clips of D={self.model['feature_dim']}, noise std {self.noise_std}; model: {widths}; epochs per stage {list(self.epochs)}, "
                f"lr {list(self.lr)}, batch {self.batch_size}")


@dataclass
class DemoResult:
    metrics: dict[str, float]
    baseline: dict[str, float]
    seconds: float
    train_queries: int
    test_queries: int
    out_dir: Path
    run_dir: Path
    plot: Path
    settings: DemoSettings
    eval_config: dict  # the run's `eval` section (protocol, NMS threshold)


def mean_segment_baseline(train_queries, test_queries) -> dict[str, float]:
    """Metrics of predicting, for every test query, the training set's mean normalised segment."""
    start = sum(q.start / q.duration for q in train_queries) / len(train_queries)
    end = sum(q.end / q.duration for q in train_queries) / len(train_queries)
    ranked = [[(start * q.duration, end * q.duration, 1.0)] for q in test_queries]
    return grounding_metrics(ranked, [(q.start, q.end) for q in test_queries])


def demo_overrides(paths: dict, settings: DemoSettings) -> list[str]:
    """The `--set` overrides of the demo's experiment (data paths, widths, schedule)."""
    overrides = [f"data.{split}={paths[split]}" for split in ("train", "val", "test")]
    overrides += [f"data.durations={paths['durations']}", f"data.features={paths['features']}",
                  f"train.epochs={list(settings.epochs)}", f"train.lr={list(settings.lr)}",
                  f"train.batch_size={settings.batch_size}", f"train.seed={settings.seed}", "train.device=cpu"]
    overrides += [f"model.{key}={value}" for key, value in settings.model.items()]
    return overrides


def run_demo(out_dir: str | PathLike, settings: DemoSettings | None = None, *, overwrite: bool = False,
             show_progress: bool = True) -> DemoResult:
    """Write OUT/data (the synthetic dataset), OUT/run (the training run: checkpoints, log.csv,
    metrics.json, predictions.jsonl) and OUT/demo_predictions.png; returns the figures."""
    settings = settings or DemoSettings()
    out_dir = check_output_folder(out_dir)
    data_dir, run_dir, plot_path = out_dir / "data", out_dir / "run", out_dir / "demo_predictions.png"
    if run_dir.exists() or data_dir.exists():
        if not overwrite:
            raise TrainError(f"{out_dir} already holds a demo; pass --overwrite to replace it or choose another --out")
        for path in (data_dir, run_dir):
            shutil.rmtree(path, ignore_errors=True)
    began = time.perf_counter()
    paths = make_synthetic_dataset(data_dir, num_videos_train=settings.train_videos,
                                   num_videos_val=settings.eval_videos, num_videos_test=settings.eval_videos,
                                   feature_dim=settings.model["feature_dim"], seed=settings.seed,
                                   noise_std=settings.noise_std)
    cfg = load_config(None, demo_overrides(paths, settings))
    result = train(cfg, run_dir, show_progress=show_progress)

    train_queries, _ = read_charades_sta(paths["train"], paths["durations"])
    test_queries, _ = read_charades_sta(paths["test"], paths["durations"])
    baseline = mean_segment_baseline(train_queries, test_queries)

    grounder = Grounder(result.checkpoint, device="cpu")
    source = open_features(paths["features"])
    shown = []
    for query in test_queries[:PLOTTED_QUERIES]:
        ranked = grounder.ground(source[query.vid], [query.sentence], query.duration)[0]
        shown.append({**ranked, "duration": query.duration, "relevant_windows": [[query.start, query.end]]})
    plot_grounding(shown, plot_path, title="drn demo: test queries (green: ground truth, red: ranked predictions)")
    seconds = time.perf_counter() - began
    return DemoResult(result.test_metrics, baseline, seconds, len(train_queries), result.num_test_queries, out_dir,
                      run_dir, plot_path, settings, cfg["eval"])


def limit_threads(threads: int | None) -> int:
    """Use `threads` CPU threads (default 1: the demo's ops are too small to gain from more, and
    extra threads slow them down badly on a busy machine); returns the number set."""
    threads = threads or 1
    torch.set_num_threads(threads)
    return threads
