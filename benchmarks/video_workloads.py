"""Video files for the extraction benchmarks, written with PyAV from fixed seeds.

- `write_hd_video`: 1280x720 H.264 (libx264 preset "fast", CRF 23, High profile with B-frames: what
  a camera or a download typically holds) of a textured scene panning under a moving square, so
  the encoder has real motion and detail to code and the decoder real work to do.
- `write_long_video`: a long, cheap-to-make file (low resolution, flat colours changing once a
  second: it encodes at thousands of frames per second) for measuring memory against length.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def _texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random colour texture (blurred noise, upsampled), uint8 [height, 2 * width, 3]."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 4 + 1, 3)).astype(np.float32)
    fine = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, : 2 * width]
    return np.clip(fine * 0.8 + rng.normal(0, 12, fine.shape), 0, 255).astype(np.uint8)


def write_hd_video(path: Path, seconds: float, fps: int = 30, width: int = 1280, height: int = 720,
                   seed: int = 0) -> Path:
    import av

    background = _texture(height, width, seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "fast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            shift = (4 * i) % width
            image = np.ascontiguousarray(background[:, shift: shift + width])
            x = (13 * i) % (width - 160)
            image[200:360, x: x + 160] = (230, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_long_video(path: Path, minutes: float, fps: int = 10, width: int = 320, height: int = 240) -> Path:
    import av

    palette = [np.full((height, width, 3), (37 * k % 256, 91 * k % 256, 53 * k % 256), np.uint8) for k in range(16)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, fps)
        frames = [av.VideoFrame.from_ndarray(image, format="rgb24") for image in palette]
        for i in range(round(minutes * 60 * fps)):
            frame = frames[(i // fps) % len(frames)]
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
