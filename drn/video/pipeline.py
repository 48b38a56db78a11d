"""Decoding overlapped with the model: a DataLoader whose workers decode videos into chunks of clips.

Each worker takes whole videos (video i goes to worker i mod W), decodes and preprocesses them
(`ClipStream` + the backbone's resize/crop), and yields messages in order per video:

- {"index": i, "clips": uint8 [n, F, S, S, 3]} for each chunk of up to `chunk_clips` clips,
- then {"index": i, "duration": s, "num_clips": k} when the video is done,
- or {"index": i, "error": "one line"} when it cannot be read (the run goes on).

The DataLoader's bounded prefetch (prefetch_factor chunks per worker) keeps memory flat however
long the videos are, and the model runs in the main process while workers decode the next chunks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from drn.errors import UserError
from drn.video.backbones import BackboneSpec
from drn.video.decode import ClipStream


def batched(clips, size: int) -> Iterator[np.ndarray]:
    """Stack an iterator of clips [F, H, W, 3] into arrays of up to `size` clips [n, F, H, W, 3]."""
    iterator = iter(clips)
    while chunk := list(itertools.islice(iterator, size)):
        yield np.stack(chunk)


def spec_clip_stream(path: str | Path, spec: BackboneSpec, threads: int = 0) -> ClipStream:
    """A `ClipStream` of `path` with `spec`'s clip definition and frame resize/crop."""
    return ClipStream(path, spec.clip_seconds, spec.frames_per_clip, spec.preprocess(), threads=threads)


class VideoChunks(IterableDataset):
    """The messages described in the module docstring for `paths`, split over DataLoader workers.

    Args:
        paths: the videos; message "index" is the position in this list.
        spec: the backbone's clip definition and preprocessing.
        chunk_clips: clips per chunk (the model's batch).
        threads: FFmpeg threads per video (0: FFmpeg's choice).
    """

    def __init__(self, paths: list[str | Path], spec: BackboneSpec, chunk_clips: int, threads: int = 0):
        self.paths = [str(p) for p in paths]
        self.spec = spec
        self.chunk_clips = chunk_clips
        self.threads = threads

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in range(worker, len(self.paths), workers):
            yield from self._video(index)

    def _video(self, index: int) -> Iterator[dict]:
        path = self.paths[index]
        stream = spec_clip_stream(path, self.spec, self.threads)
        try:
            for chunk in batched(stream, self.chunk_clips):
                yield {"index": index, "clips": torch.from_numpy(chunk)}
        except UserError as exc:
            yield {"index": index, "error": str(exc)}
            return
        except Exception as exc:  # noqa: BLE001 - a decoder crash on one file must not end the run
            yield {"index": index, "error": f"video {path}: {type(exc).__name__}: {' '.join(str(exc).split())}"}
            return
        yield {"index": index, "duration": stream.duration, "num_clips": stream.num_clips}


def chunk_loader(paths: list[str | Path], spec: BackboneSpec, chunk_clips: int, workers: int,
                 pin_memory: bool = False) -> Iterator[dict]:
    """Iterate `VideoChunks` messages, decoded in `workers` processes (0: in this process)."""
    if workers == 0:
        return iter(VideoChunks(paths, spec, chunk_clips, threads=0))
    workers = min(workers, max(1, len(paths)))
    # One FFmpeg thread per worker: the workers are the parallelism.
    dataset = VideoChunks(paths, spec, chunk_clips, threads=1)
    return iter(DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=2,
                           pin_memory=pin_memory, persistent_workers=False))
