"""Taking a video from a request: a size cap enforced while the body streams in, and a probe that
accepts only video containers (what the bytes are, not what the name says)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from drn.errors import UserError

# PyAV (FFmpeg) demuxer name -> the media type the page's player gets. Anything else is refused:
# images (image2, png_pipe), audio-only files, GIFs and text formats open in FFmpeg too.
VIDEO_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("mp4", "video/mp4"),
    "matroska,webm": ("webm", "video/webm"),
    "avi": ("avi", "video/x-msvideo"),
    "mpeg": ("mpg", "video/mpeg"),
    "mpegts": ("ts", "video/mp2t"),
    "ogg": ("ogv", "video/ogg"),
    "flv": ("flv", "video/x-flv"),
    "asf": ("wmv", "video/x-ms-asf"),
}
# Multipart framing and the query fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
COPY_CHUNK = 1024 * 1024


class UploadError(UserError, ValueError):
    """An upload the server refuses; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def too_large(size_bytes: int | None, limit_bytes: int) -> UploadError:
    got = f"{size_bytes / 2**20:.3g} MiB" if size_bytes is not None else "more than that"
    return UploadError(f"the video is too large: this server takes uploads up to {limit_bytes / 2**20:.3g} MiB "
                       f"(drn serve --max-upload-mb), got {got}", status=413)


def limited_receive(receive, limit_bytes: int, error: UploadError):
    """An ASGI `receive` that raises `error` once the body passes `limit_bytes`, so an oversized
    request stops streaming instead of filling memory or disk first."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit_bytes:
                raise error
        return message

    return wrapped


def save_stream(source: IO[bytes], target: Path, limit_bytes: int) -> tuple[str, int]:
    """Copy an upload to `target`; returns (sha256 hex of the content, size in bytes)."""
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        while chunk := source.read(COPY_CHUNK):
            size += len(chunk)
            if size > limit_bytes:
                raise too_large(size, limit_bytes)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class ProbedVideo:
    """What probing found: the container's file suffix and media type, the length in seconds."""

    suffix: str
    media_type: str
    duration: float


def probe_container(path: Path, shown_name: str) -> ProbedVideo:
    """Open `path` with FFmpeg (PyAV) and accept it only as a known video container holding a
    video stream of known length; `UploadError` (415) names what it is otherwise."""
    import av

    try:
        with av.open(str(path), mode="r") as container:
            format_name = container.format.name
            streams = list(container.streams.video)
            duration = container.duration / av.time_base if container.duration else None
            if duration is None and streams and streams[0].duration and streams[0].time_base:
                duration = float(streams[0].duration * streams[0].time_base)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UploadError(f"{shown_name}: not a video file that can be read ({exc.__class__.__name__}); "
                          f"send an mp4, webm, mkv, mov, avi or mpeg video", status=415) from None
    if format_name not in VIDEO_CONTAINERS or not streams:
        what = f"a {format_name} file" + ("" if streams else " without a video stream")
        raise UploadError(f"{shown_name}: expected a video (mp4, webm, mkv, mov, avi, mpeg), got {what}", status=415)
    if duration is None or not duration > 0:
        raise UploadError(f"{shown_name}: the video's length cannot be read from its container", status=415)
    suffix, media_type = VIDEO_CONTAINERS[format_name]
    return ProbedVideo(suffix, media_type, float(duration))


def check_duration(probed: ProbedVideo, max_duration: float, shown_name: str) -> None:
    if probed.duration > max_duration:
        raise UploadError(f"{shown_name}: the video is {probed.duration:.1f} s long; this server takes videos up to "
                          f"{max_duration:g} s (drn serve --max-duration)", status=413)


def media_type_of(path: Path) -> str:
    """The player's media type for a served file, from its suffix (uploads are stored under the
    probed container's suffix)."""
    by_suffix = {suffix: media for suffix, media in VIDEO_CONTAINERS.values()}
    by_suffix.update({"m4v": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska", "mpeg": "video/mpeg"})
    return by_suffix.get(path.suffix.lower().lstrip("."), "application/octet-stream")
