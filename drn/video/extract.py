"""Video files -> clip features: `extract_video` (one file, in this process) and `extract_videos` (a
folder's worth, decoded in worker processes, resumable, sharded over torchrun ranks)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from drn.engine import distributed
from drn.video.backbones import Backbone
from drn.video.memory import pin_malloc_mmap_threshold
from drn.video.pipeline import batched, chunk_loader, spec_clip_stream
from drn.video.store import DTYPES, FeatureStore

logger = logging.getLogger(__name__)


@dataclass
class VideoFeatures:
    """One video's features: float32 [num_clips, D], one row per clip of `clip_seconds`; `duration`
    in seconds (where the last frame ends)."""

    features: np.ndarray
    duration: float
    num_clips: int


def extraction_settings(backbone: Backbone, dtype: str = "float32") -> dict:
    """The settings `extract.json` records (besides "videos"), which a checkpoint keeps so that a new
    video is encoded as its training features were."""
    spec = backbone.spec
    return {"backbone": spec.name, "weights": backbone.weights, "clip_seconds": spec.clip_seconds,
            "frames_per_clip": spec.frames_per_clip, "frame_size": spec.frame_size, "dim": spec.dim,
            "dtype": dtype}


def extract_video(path: str | PathLike, backbone: Backbone, *, batch_size: int = 16,
                  device: str | torch.device | None = None) -> VideoFeatures:
    """Decode `path` (streaming) and encode it with `backbone` in batches of `batch_size` clips.

    `device`, when given, must be the backbone's (load it there with `load_backbone(device=...)`).
    Raises `VideoError` when the file cannot be read.
    """
    if device is not None and torch.device(device) != backbone.device:
        raise ValueError(f"device {device} differs from the backbone's {backbone.device}; load the backbone there")
    pin_malloc_mmap_threshold()
    stream = spec_clip_stream(path, backbone.spec)
    rows = [backbone.encode(chunk).numpy() for chunk in batched(stream, batch_size)]
    features = np.concatenate(rows) if rows else np.zeros((0, backbone.spec.dim), np.float32)
    return VideoFeatures(features=features, duration=float(stream.duration), num_clips=int(stream.num_clips))


@dataclass
class ExtractSummary:
    """What a run did: counts, the failures (video id -> one-line message) and the seconds spent."""

    extracted: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    clips: int = 0
    seconds: float = 0.0
    settings_path: Path | None = None
    hdf5_path: Path | None = None


def extract_videos(videos: dict[str, Path], backbone: Backbone, out: str | PathLike, *, batch_size: int = 16,
                   workers: int = 2, dtype: str = "float32", hdf5: str | PathLike | None = None,
                   progress: bool = True, store: FeatureStore | None = None) -> ExtractSummary:
    """Extract every video (id -> path) into `out` (see `drn.video.store`), skipping those done.

    Under torchrun (process group initialised) rank r takes videos r, r + W, ...; rank 0 writes
    extract.json (and the HDF5 file `hdf5`, if given) after all ranks finish, and the summary
    counts every rank's videos. A video that cannot be decoded is logged, counted in
    `summary.failed`, and the run goes on.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    start = time.perf_counter()
    pin_malloc_mmap_threshold()  # before the workers fork: they inherit it
    store = store or FeatureStore(out, extraction_settings(backbone, dtype))
    store.root.mkdir(parents=True, exist_ok=True)
    rank, world = distributed.get_rank(), distributed.get_world_size()
    done = store.done()
    mine = [vid for i, vid in enumerate(videos) if i % world == rank]
    todo = [vid for vid in mine if vid not in done]
    summary = ExtractSummary(skipped=len(mine) - len(todo))
    if summary.skipped:
        logger.info("rank %d: %d of %d videos already extracted in %s, skipping them", rank, summary.skipped,
                    len(mine), store.root)
    progress = progress and distributed.is_main_process()  # one set of bars, rank 0's
    video_bar = tqdm(total=len(todo), desc="videos", unit="video", disable=not progress, position=0)
    clip_bar = tqdm(desc="clips", unit="clip", disable=not progress, position=1)
    units, probe_failed, messages = chunk_loader([videos[vid] for vid in todo], backbone.spec, batch_size, workers,
                                                 pin_memory=backbone.device.type == "cuda")
    assembly = _Assembly(units)
    for message in messages:
        if "clips" in message:
            assembly.add_rows(message["index"], backbone.encode(message["clips"]).numpy())
            clip_bar.update(len(message["clips"]))
            continue
        assembly.finish(message)
        for position in assembly.completed():
            vid = todo[position]
            video_bar.update(1)
            if position in assembly.failed:
                assembly.discard(position)
                summary.failed[vid] = assembly.failed[position]
                logger.error("skipped %s: %s", vid, assembly.failed[position])
                continue
            features, duration = assembly.pop(position)
            store.write(vid, features, {"duration": round(duration, 6), "num_clips": len(features),
                                        "source": str(videos[vid])}, rank)
            summary.extracted += 1
            summary.clips += len(features)
    for position, message in probe_failed.items():
        summary.failed[todo[position]] = message
        logger.error("skipped %s: %s", todo[position], message)
        video_bar.update(1)
    video_bar.close()
    clip_bar.close()
    parts = distributed.all_gather_objects((summary.extracted, summary.skipped, summary.clips, summary.failed))
    summary.extracted, summary.skipped, summary.clips = (sum(part[i] for part in parts) for i in range(3))
    summary.failed = {vid: msg for part in parts for vid, msg in part[3].items()}  # every rank's, in rank order
    if distributed.is_main_process():
        content = store.finalize(summary.failed)
        summary.settings_path = store.settings_path
        if hdf5 is not None:
            summary.hdf5_path = store.pack_hdf5(hdf5, [vid for vid in videos if vid in content["videos"]])
    distributed.barrier()
    summary.seconds = time.perf_counter() - start
    return summary


class _Assembly:
    """Collects each unit's feature rows and puts every video back together, in clip order, once all
    of its units have reported (a video with a failed unit fails as a whole)."""

    def __init__(self, units):
        self.units = units
        self.rows: dict[int, list[np.ndarray]] = {}
        self.finished: dict[int, float | None] = {}  # unit -> duration (None but for a video's last unit)
        self.failed: dict[int, str] = {}  # video position -> first error
        self.of_video: dict[int, list[int]] = {}  # video -> its units in clip order
        for index, unit in sorted(enumerate(units), key=lambda pair: (pair[1].video, pair[1].first_clip)):
            self.of_video.setdefault(unit.video, []).append(index)
        self.remaining = {video: len(indices) for video, indices in self.of_video.items()}
        self._ready: list[int] = []

    def add_rows(self, index: int, rows: np.ndarray) -> None:
        self.rows.setdefault(index, []).append(rows)

    def finish(self, message: dict) -> None:
        index = message["index"]
        video = self.units[index].video
        if "error" in message:
            self.failed.setdefault(video, message["error"])
        else:
            self.finished[index] = message["duration"]
        self.remaining[video] -= 1
        if self.remaining[video] == 0:
            self._ready.append(video)

    def completed(self) -> list[int]:
        """Videos whose units have all reported since the last call."""
        ready, self._ready = self._ready, []
        return ready

    def discard(self, video: int) -> None:
        for index in self.of_video.pop(video):
            self.rows.pop(index, None)
            self.finished.pop(index, None)

    def pop(self, video: int) -> tuple[np.ndarray, float]:
        """[num_clips, D] features of `video` in clip order, and its duration in seconds."""
        mine = self.of_video.pop(video)
        parts = [np.concatenate(self.rows.pop(i)) for i in mine if i in self.rows]
        duration = self.finished[mine[-1]]
        for i in mine:
            self.finished.pop(i, None)
        return np.concatenate(parts), float(duration)
