"""Writing small real video files with PyAV for the tests: each frame's brightness encodes its index,
so a test can tell which frame the decoder sampled."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

# Containers and encoders this PyAV wheel has (checked when the tests were written; av 18.1).
FORMATS = [("mp4", "libx264"), ("mkv", "libx264"), ("mov", "mpeg4"), ("avi", "mpeg4"), ("webm", "libvpx-vp9"),
           ("mp4", "libx265")]


def level(index: int) -> int:
    """Brightness of frame `index` (0-11 stay well apart after lossy coding)."""
    return 10 + 20 * (index % 12)


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    """A grey frame of brightness `level(index)` with a white top-left quadrant (shows orientation)."""
    image = np.full((height, width, 3), level(index), np.uint8)
    image[: height // 2, : width // 2] = 255
    return image


def write_video(path: Path, *, codec: str = "libx264", seconds: float = 2.0, fps: int = 10, width: int = 32,
                height: int = 24, times: list[float] | None = None, rotation: int | None = None,
                audio: bool = False, images=None, gop: int | None = None) -> Path:
    """Encode a video; `times` (seconds, increasing) gives each frame's timestamp for variable frame
    rate, else frames are at `fps` for `seconds`. `rotation` sets the display matrix (degrees
    counterclockwise, as FFmpeg's `-display_rotation`). `images(i)` overrides the frame content."""
    import av

    ticks = 1000 if times is not None else fps  # timestamps in ms for variable rate, else in frames
    times = times if times is not None else [i / fps for i in range(round(seconds * fps))]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, ticks)
        if codec.startswith("libx26"):
            stream.options = {"preset": "ultrafast"} | ({"x265-params": "log-level=none"} if codec == "libx265" else {})
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=8000) if audio else None
        for i, t in enumerate(times):
            image = images(i) if images is not None else frame_image(i, width, height)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(t * ticks), Fraction(1, ticks)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            _write_silence(container, sound, times[-1] + 1 / fps)
    return path


def _write_silence(container, stream, seconds: float) -> None:
    import av

    samples = int(seconds * stream.rate)
    for start in range(0, samples, 1024):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.rate, frame.pts = stream.rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def truncate(path: Path, fraction: float = 0.5) -> Path:
    """Cut the file to `fraction` of its bytes, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A file with one silent audio stream and no video."""
    import av

    with av.open(str(path), "w") as container:
        _write_silence(container, container.add_stream("aac", rate=8000), seconds)
    return path
