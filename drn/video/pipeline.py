"""Decoding overlapped with the model: a DataLoader whose workers decode videos into chunks of clips.

The work is cut into units: a whole video, or, with several workers, a segment of a long video
(`SEGMENT_SECONDS` of clips; the worker seeks to it, see `ClipStream`), so one long video keeps
every worker busy. Unit u goes to worker u mod W, which decodes and preprocesses it (`ClipStream` +
the backbone's resize/crop) and yields messages in order per unit:

- {"index": u, "clips": uint8 [n, F, S, S, 3]} for each chunk of up to `chunk_clips` clips,
- then {"index": u, "duration": s or None, "num_clips": k} when the unit is done (duration: where
  the video ends, known only to a video's last unit),
- or {"index": u, "error": "one line"} when it cannot be read (the run goes on).

The DataLoader's bounded prefetch (prefetch_factor chunks per worker) keeps memory flat however
long the videos are, and the model runs in the main process while workers decode the next chunks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from drn.errors import UserError
from drn.video.backbones import BackboneSpec
from drn.video.decode import ClipStream, probe
from drn.video.errors import VideoError

# A long video is split into segments of about this many seconds when several workers decode it
# (each segment costs one seek and the frames from the keyframe before it).
SEGMENT_SECONDS = 60.0


def batched(clips, size: int) -> Iterator[np.ndarray]:
    """Stack an iterator of clips [F, H, W, 3] into arrays of up to `size` clips [n, F, H, W, 3]."""
    iterator = iter(clips)
    while chunk := list(itertools.islice(iterator, size)):
        yield np.stack(chunk)


def spec_clip_stream(path: str | Path, spec: BackboneSpec, threads: int = 0, first_clip: int = 0,
                     stop_clip: int | None = None) -> ClipStream:
    """A `ClipStream` of `path` (clips first_clip <= i < stop_clip) with `spec`'s clip definition and
    frame resize/crop."""
    return ClipStream(path, spec.clip_seconds, spec.frames_per_clip, spec.preprocess(), threads=threads,
                      first_clip=first_clip, stop_clip=stop_clip)


@dataclass(frozen=True)
class Unit:
    """Clips first_clip <= i < stop_clip (None: to the end) of video `video` (its position in the list)."""

    video: int
    first_clip: int = 0
    stop_clip: int | None = None


def plan_units(paths: list[str | Path], spec: BackboneSpec, split: bool) -> tuple[list[Unit], dict[int, str]]:
    """The units of work, and the videos that fail already when probed (position -> one-line error).

    With `split`, a video longer than two segments whose header gives its duration and start time is
    cut into segments of SEGMENT_SECONDS (the last one open-ended); otherwise every video is one unit
    (and is not opened here).
    """
    units, failed = [], {}
    per_segment = max(1, round(SEGMENT_SECONDS / spec.clip_seconds))
    for video, path in enumerate(paths):
        if not split:
            units.append(Unit(video))
            continue
        try:
            info = probe(path)
        except VideoError as exc:
            failed[video] = str(exc)
            continue
        clips = math.ceil(info.duration / spec.clip_seconds) if info.duration else 0
        if info.start_time is None or clips <= 2 * per_segment:
            units.append(Unit(video))
            continue
        starts = range(0, clips - per_segment, per_segment)  # the last segment runs to the end
        units += [Unit(video, a, a + per_segment) for a in starts[:-1]] + [Unit(video, starts[-1])]
    return units, failed


class VideoChunks(IterableDataset):
    """The messages described in the module docstring for `paths`, split over DataLoader workers.

    Args:
        paths: the videos.
        units: the work (default: one unit per video); message "index" is the position in this list.
        spec: the backbone's clip definition and preprocessing.
        chunk_clips: clips per chunk (the model's batch).
        threads: FFmpeg threads per video (0: FFmpeg's choice).
    """

    def __init__(self, paths: list[str | Path], spec: BackboneSpec, chunk_clips: int, threads: int = 0,
                 units: list[Unit] | None = None):
        self.paths = [str(p) for p in paths]
        self.units = units if units is not None else [Unit(i) for i in range(len(self.paths))]
        self.spec = spec
        self.chunk_clips = chunk_clips
        self.threads = threads

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in range(worker, len(self.units), workers):
            yield from self._unit(index)

    def _unit(self, index: int) -> Iterator[dict]:
        import av

        unit = self.units[index]
        path = self.paths[unit.video]
        stream = spec_clip_stream(path, self.spec, self.threads, unit.first_clip, unit.stop_clip)
        try:
            for chunk in batched(stream, self.chunk_clips):
                yield {"index": index, "clips": torch.from_numpy(chunk)}
        except UserError as exc:
            yield {"index": index, "error": str(exc)}
            return
        except (av.FFmpegError, OSError, ValueError, EOFError) as exc:  # one bad file must not end the run
            yield {"index": index, "error": f"video {path}: {type(exc).__name__}: {' '.join(str(exc).split())}"}
            return
        yield {"index": index, "duration": stream.duration, "num_clips": stream.num_clips}


def chunk_loader(paths: list[str | Path], spec: BackboneSpec, chunk_clips: int, workers: int,
                 pin_memory: bool = False) -> tuple[list[Unit], dict[int, str], Iterator[dict]]:
    """Plan the units (see `plan_units`; long videos are split only with 2+ workers) and iterate
    their `VideoChunks` messages, decoded in `workers` processes (0: in this process). Returns
    (units, videos that failed when probed, messages)."""
    units, failed = plan_units(paths, spec, split=workers > 1)
    if workers == 0 or not units:
        return units, failed, iter(VideoChunks(paths, spec, chunk_clips, threads=0, units=units))
    workers = min(workers, len(units))
    # One FFmpeg thread per worker: the workers are the parallelism.
    dataset = VideoChunks(paths, spec, chunk_clips, threads=1, units=units)
    return units, failed, iter(DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=2,
                                          pin_memory=pin_memory, persistent_workers=False))
