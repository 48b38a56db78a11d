"""Small video files for the `drn serve` tests, written with PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_video(path: Path, seconds: float = 4.0, fps: int = 8, size: int = 64, codec: str = "libvpx") -> Path:
    """A `seconds`-long video of coloured frames whose hue drifts over time (VP8 in WebM by default,
    which every Chromium plays)."""
    import av

    frames = max(1, round(seconds * fps))
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.zeros((size, size, 3), dtype=np.uint8)
            image[..., 0] = (255 * i) // frames
            image[..., 1] = 255 - (255 * i) // frames
            image[size // 4: size // 2, :, 2] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
