"""`drn demo --video`: the from-pixels path. Synthetic videos (`drn.data.synthetic.video`) ->
`drn extract`'s `extract_videos` with the random-init `tiny` backbone (train and val videos) ->
the three training stages -> the held-out test videos grounded from their video files (the
checkpoint's recorded backbone encodes them) -> metrics against the mean-segment baseline.

The `tiny` backbone is not trained on anything: its fixed random 3D convolutions keep colour and
coarse layout, which is what the synthetic world's sentences need. The model is narrow and the
schedule short (20 + 2 + 2 epochs of about 250 queries) so that the demo takes about a minute on
a 2-core CPU.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from drn.config import load_config
from drn.data import read_charades_sta
from drn.data.annotations.prediction_queries import PredictionQuery
from drn.data.synthetic.video import make_synthetic_video_dataset
from drn.demo.synthetic import PLOTTED_QUERIES, DemoResult, mean_segment_baseline
from drn.engine.evaluate import metrics_from_rows
from drn.engine.train import TrainError, train
from drn.inference.batch import predict_queries
from drn.inference.grounder import Grounder
from drn.utils.io import write_json, write_jsonl

logger = logging.getLogger(__name__)

# Narrow widths for 128-d tiny features; ranges scaled to T = 16 clips (DRN's are for T = 32).
VIDEO_DEMO_MODEL = {
    "feature_dim": 128,
    "embedding_dim": 16,
    "lstm_hidden": 16,
    "attention_dim": 16,
    "position_dim": 8,
    "level_channels": [16, 32, 32],
    "fpn_channels": 32,
    "regression_ranges": [[-1, 3], [2.8, 5.5], [5.5, "inf"]],
}


@dataclass
class VideoDemoSettings:
    """Sizes of the video demo; the defaults are what `drn demo --video` runs."""

    train_videos: int = 60
    val_videos: int = 12
    test_videos: int = 20
    epochs: tuple[int, int, int] = (20, 2, 2)
    lr: tuple[float, float, float] = (1e-2, 1e-3, 1e-4)
    batch_size: int = 16
    num_clips: int = 16
    backbone: str = "tiny"
    seed: int = 0
    model: dict = field(default_factory=lambda: dict(VIDEO_DEMO_MODEL))

    def describe(self) -> str:
        widths = ", ".join(f"{k}={v}" for k, v in self.model.items() if k != "regression_ranges")
        return (f"synthetic videos: {self.train_videos} train / {self.val_videos} val / {self.test_videos} held-out "
                f"test videos (64x64 H.264), features from the random-init '{self.backbone}' backbone, T={self.num_clips} "
                f"clips; model: {widths}; epochs per stage {list(self.epochs)}, lr {list(self.lr)}, "
                f"batch {self.batch_size}")


def video_demo_overrides(paths: dict, features: Path, settings: VideoDemoSettings) -> list[str]:
    """The `--set` overrides of the video demo's experiment (no test split: it is grounded from pixels)."""
    overrides = [f"data.train={paths['train']}", f"data.val={paths['val']}", "data.test=null",
                 f"data.durations={paths['durations']}", f"data.features={features}",
                 f"data.num_clips={settings.num_clips}", f"train.epochs={list(settings.epochs)}",
                 f"train.lr={list(settings.lr)}", f"train.batch_size={settings.batch_size}",
                 f"train.seed={settings.seed}", "train.device=cpu"]
    overrides += [f"model.{key}={value}" for key, value in settings.model.items()]
    return overrides


def extract_features(videos: list[Path], out: Path, backbone: str, show_progress: bool) -> Path:
    """`drn extract VIDEOS --backbone BACKBONE --out OUT` in this process; returns OUT."""
    from drn.video import extract_videos, find_videos, load_backbone

    summary = extract_videos(find_videos(videos), load_backbone(backbone, "none"), out, workers=0,
                             progress=show_progress)
    if summary.failed:  # the world's own videos: a failure here is a bug, not a quirk
        raise RuntimeError(f"extraction failed for {summary.failed}")
    return out


def run_video_demo(out_dir: str | PathLike, settings: VideoDemoSettings | None = None, *, overwrite: bool = False,
                   show_progress: bool = True) -> DemoResult:
    """Write OUT/data (videos and annotations), OUT/features (drn extract), OUT/run (the training
    run), OUT/run/test_predictions.jsonl and test_metrics.json (the held-out videos, grounded from
    their files) and OUT/demo_video_predictions.png (with thumbnails); returns the figures."""
    from drn.inference.video import extract_for, ground_video
    from drn.video.thumbnails import plot_video_grounding

    settings = settings or VideoDemoSettings()
    out_dir = Path(out_dir)
    data_dir, features_dir, run_dir = out_dir / "data", out_dir / "features", out_dir / "run"
    plot_path = out_dir / "demo_video_predictions.png"
    if any(path.exists() for path in (data_dir, features_dir, run_dir)):
        if not overwrite:
            raise TrainError(f"{out_dir} already holds a video demo; pass --overwrite to replace it or choose another --out")
        for path in (data_dir, features_dir, run_dir):
            shutil.rmtree(path, ignore_errors=True)
    began = time.perf_counter()
    paths = make_synthetic_video_dataset(data_dir, settings.train_videos, settings.val_videos, settings.test_videos,
                                         seed=settings.seed)
    extract_features([paths["videos"] / "train", paths["videos"] / "val"], features_dir, settings.backbone,
                     show_progress)
    cfg = load_config(None, video_demo_overrides(paths, features_dir, settings))
    result = train(cfg, run_dir, show_progress=show_progress)

    train_queries, _ = read_charades_sta(paths["train"], paths["durations"])
    test_queries, _ = read_charades_sta(paths["test"], paths["durations"])
    grounder = Grounder(result.checkpoint, device="cpu")
    files = {q.vid: paths["videos"] / "test" / f"{q.vid}.mp4" for q in test_queries}

    def features_of(vid):
        extracted = extract_for(grounder, files[vid])
        return extracted.features, extracted.duration

    asked = [PredictionQuery(q.qid, q.vid, q.sentence, q.duration, q.qid) for q in test_queries]
    rows = predict_queries(grounder, asked, features_of, show_progress=show_progress)
    for row, query in zip(rows, test_queries):
        row["relevant_windows"] = [[query.start, query.end]]
    metrics = metrics_from_rows(rows)
    write_jsonl(run_dir / "test_predictions.jsonl", rows)
    write_json(run_dir / "test_metrics.json", metrics)

    first = test_queries[0]
    shown = [q.sentence for q in test_queries if q.vid == first.vid][:PLOTTED_QUERIES]
    plotted = ground_video(grounder, files[first.vid], shown, dense=True)
    for row in plotted:
        row["relevant_windows"] = [[q.start, q.end] for q in test_queries
                                   if q.vid == first.vid and q.sentence == row["query"]][:1]
    plot_video_grounding(plotted, files[first.vid], plot_path,
                         title=f"drn demo --video: {first.vid} (green: ground truth, red: ranked predictions)")
    seconds = time.perf_counter() - began
    # the test videos are ranked once, at eval.nms_threshold: every metric reads that one list
    eval_config = {"protocol": "fixed", "nms_threshold": cfg["eval"]["nms_threshold"]}
    return DemoResult(metrics, mean_segment_baseline(train_queries, test_queries), seconds, len(train_queries),
                      len(rows), out_dir, run_dir, plot_path, settings, eval_config)
