"""Reading video files with PyAV: `probe` a file's header, and stream its frames as fixed-length clips.

A video is cut into clips of `clip_seconds` from time 0; clip i spans [i * c, (i + 1) * c) seconds
and is represented by `frames_per_clip` frames taken at the centres of F equal sub-spans,
t = i * c + (k + 0.5) * c / F. The frame used for time t is the one on screen at t: the last frame
whose presentation timestamp is <= t. Timestamps, never frame counts, decide this, so variable
frame rate video is sampled at the right times. The video ends where its last frame ends; the
last clip may be partial (its later sample times reuse the last frame), so a video of E seconds
has ceil(E / c) clips. Frames are rotated as their display matrix says (phone videos) before any
transform, and only one clip's frames are held at a time, so memory does not grow with length.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from drn.video.errors import VideoError

logger = logging.getLogger(__name__)

# A clip is counted when it starts this much before the end (absorbs timestamp rounding).
_END_EPS = 1e-6
# A file that decodes to less than its header's duration minus this much (and minus 5%) is truncated.
_TRUNCATION_SLACK_S = 1.0

FrameTransform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says. `duration` in seconds (None when the header has none); `fps` is
    the average frame rate (None when unknown); `width`/`height` as displayed, i.e. after
    `rotation` (degrees counterclockwise that turn the stored frame upright: 0, 90, 180, 270)."""

    path: str
    duration: float | None
    fps: float | None
    width: int
    height: int
    rotation: int
    codec: str
    has_audio: bool
    start_time: float | None = None  # the stream's first timestamp (s); None: unknown (no seeking then)


def _open(path: str | PathLike):
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video {path}: no such file")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(f"video {path}: cannot be opened ({_reason(exc)}); "
                         "the file is truncated, corrupt or not a video") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"video {path}: the file has no video stream")
    return container


def _reason(exc: Exception) -> str:
    """FFmpeg's message without PyAV's errno prefix, on one line."""
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


def _header_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # microseconds (AV_TIME_BASE)
    return None


def _rotation_steps(frame) -> int:
    """Quarter turns counterclockwise (0-3) that put the frame upright, from its display matrix."""
    degrees = getattr(frame, "rotation", 0) or 0
    return int(round(degrees / 90.0)) % 4


def probe(path: str | PathLike) -> VideoInfo:
    """Read a video's header and its first frame (for the rotation); `VideoError` if unreadable."""
    import av

    with _open(path) as container:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise VideoError(f"video {path}: cannot decode its first frame ({_reason(exc)})") from None
        if first is None:
            raise VideoError(f"video {path}: the video stream has no frames")
        steps = _rotation_steps(first)
        width, height = (first.height, first.width) if steps % 2 else (first.width, first.height)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            path=str(path),
            duration=_header_duration(container, stream),
            fps=float(rate) if rate else None,
            width=width,
            height=height,
            rotation=steps * 90,
            codec=stream.codec_context.name,
            has_audio=bool(container.streams.audio),
            start_time=float(stream.start_time * stream.time_base)
            if stream.start_time is not None and stream.time_base else None,
        )


def clip_sample_times(clip_index: int, clip_seconds: float, frames_per_clip: int) -> list[float]:
    """Seconds at which clip `clip_index` is sampled: the centres of its F equal sub-spans."""
    step = clip_seconds / frames_per_clip
    return [clip_index * clip_seconds + (k + 0.5) * step for k in range(frames_per_clip)]


class ClipStream:
    """Iterate a video's clips, each a uint8 array [frames_per_clip, H, W, 3] (RGB, upright, after
    `transform`), decoding as it goes.

    Args:
        path: the video file.
        clip_seconds, frames_per_clip: the clip definition (see the module docstring).
        transform: applied to each sampled frame, uint8 [H, W, 3] -> uint8 [h, w, 3] (e.g. a
            backbone's resize and crop); frames of one clip must come out the same size.
        threads: FFmpeg decoding threads for this file (0: FFmpeg's choice; 1 inside workers).
        first_clip, stop_clip: only clips first_clip <= i < stop_clip (None: to the end). A segment
            that starts later seeks to the keyframe before its first sample time and decodes from
            there, so its clips are the same as those of a whole pass; this lets several workers
            share one long video. Needs a stream start time (`VideoInfo.start_time`).

    After a full iteration, `duration` (seconds the frames cover; None for a segment that stops
    before the end), `num_clips` (clips yielded) and `frames_decoded` are set. Any decoding failure
    raises `VideoError` naming the file, as does a segment that ends before stop_clip.
    """

    def __init__(self, path: str | PathLike, clip_seconds: float, frames_per_clip: int,
                 transform: FrameTransform | None = None, threads: int = 0, first_clip: int = 0,
                 stop_clip: int | None = None):
        if not clip_seconds > 0 or frames_per_clip < 1:
            raise ValueError(f"need clip_seconds > 0 and frames_per_clip >= 1, got {clip_seconds}, {frames_per_clip}")
        self.path = Path(path)
        self.clip_seconds = float(clip_seconds)
        self.frames_per_clip = int(frames_per_clip)
        self.transform = transform
        self.threads = threads
        self.first_clip = int(first_clip)
        self.stop_clip = stop_clip
        self.duration: float | None = None
        self.num_clips: int | None = None
        self.frames_decoded = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        import av

        with _open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.thread_count = self.threads
            try:
                yield from self._clips(container, stream)
            except av.FFmpegError as exc:
                raise VideoError(f"video {self.path}: decoding failed after {self.frames_decoded} frames "
                                 f"({_reason(exc)}); the file is truncated or corrupt") from None

    def _clips(self, container, stream) -> Iterator[np.ndarray]:
        time_base = float(stream.time_base) if stream.time_base else None
        rate = stream.average_rate or stream.guessed_rate
        nominal_step = 1.0 / float(rate) if rate else None
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None and time_base else None
        sampler = _Sampler(self.clip_seconds, self.frames_per_clip, self.first_clip)
        if self.first_clip:
            if origin is None:
                raise ValueError(f"{self.path}: the stream has no start time, so it cannot be read from clip "
                                 f"{self.first_clip}; read it from the start")
            # The keyframe at or before the first sample time: every frame from there on is decoded.
            container.seek(int((origin + sampler.next_time) / time_base), stream=stream, backward=True)
        shown = None  # (frame, its converted array or None): the frame on screen at the current time
        last_time, last_step = 0.0, nominal_step
        for frame in container.decode(stream):
            if frame.pts is not None and time_base:
                time = frame.pts * time_base
                if origin is None:
                    origin = time
                time -= origin
            elif not self.first_clip:  # no timestamps (some AVI): count at the nominal rate
                time = self.frames_decoded * (nominal_step or 0.04)
            else:
                raise VideoError(f"video {self.path}: frames without timestamps cannot be read from the middle; "
                                 "extract it with --workers 1 (one pass from the start)")
            if shown is None and self.first_clip and time > sampler.next_time + 1e-6:
                raise VideoError(f"video {self.path}: seeking to {sampler.next_time:.2f} s landed at {time:.2f} s "
                                 "(an imprecise index); extract it with --workers 1 (one pass from the start)")
            if self.frames_decoded and time > last_time:
                last_step = time - last_time
            if frame.duration and time_base:
                last_step = frame.duration * time_base
            self.frames_decoded += 1
            # Every sample time before this frame's start shows the previous frame (or, before the
            # first frame, this one).
            while sampler.next_time < time:
                source = shown if shown is not None else [frame, None]
                clip = sampler.add(self._converted(source))
                if clip is not None:
                    yield clip
                if sampler.clip_index == self.stop_clip:
                    self.num_clips = sampler.clip_index - self.first_clip
                    return
            shown = [frame, None]
            last_time = time
        if shown is None:
            raise VideoError(f"video {self.path}: the video stream has no frames"
                             + (f" after {sampler.next_time:.2f} s" if self.first_clip else ""))
        end = last_time + (last_step or 0.0)
        if end <= 0:
            end = self.clip_seconds  # a single still frame: one clip
        while sampler.clip_index < math.ceil(end / self.clip_seconds - _END_EPS) and sampler.clip_index != self.stop_clip:
            clip = sampler.add(self._converted(shown))
            if clip is not None:
                yield clip
        self._check_not_truncated(container, stream, end)
        if self.stop_clip is not None and sampler.clip_index < self.stop_clip:
            raise VideoError(f"video {self.path}: ends at {end:.2f} s, before clip {self.stop_clip} that its header's "
                             "duration promises; the file is truncated or corrupt")
        self.duration = end
        self.num_clips = sampler.clip_index - self.first_clip

    def _converted(self, shown: list) -> np.ndarray:
        """The RGB array of `shown` = [frame, cache], converted once however many samples use it."""
        if shown[1] is None:
            frame = shown[0]
            rgb = frame.to_ndarray(format="rgb24")
            steps = _rotation_steps(frame)
            if steps:
                rgb = np.ascontiguousarray(np.rot90(rgb, k=steps))
            shown[1] = self.transform(rgb) if self.transform is not None else rgb
        return shown[1]

    def _check_not_truncated(self, container, stream, end: float) -> None:
        header = _header_duration(container, stream)
        if header is not None and end < header - max(_TRUNCATION_SLACK_S, 0.05 * header):
            raise VideoError(f"video {self.path}: decoded only {end:.2f} s of the {header:.2f} s its header "
                             "states; the file is truncated or corrupt")


class _Sampler:
    """Collects sampled frames into clips, in time order."""

    def __init__(self, clip_seconds: float, frames_per_clip: int, first_clip: int = 0):
        self.clip_seconds = clip_seconds
        self.frames_per_clip = frames_per_clip
        self.clip_index = first_clip
        self._frames: list[np.ndarray] = []
        self._times = clip_sample_times(first_clip, clip_seconds, frames_per_clip)

    @property
    def next_time(self) -> float:
        return self._times[len(self._frames)]

    def add(self, frame: np.ndarray) -> np.ndarray | None:
        """Add the frame for `next_time`; returns the finished clip [F, H, W, 3] or None."""
        self._frames.append(frame)
        if len(self._frames) < self.frames_per_clip:
            return None
        clip = np.stack(self._frames)
        self._frames = []
        self.clip_index += 1
        self._times = clip_sample_times(self.clip_index, self.clip_seconds, self.frames_per_clip)
        return clip
