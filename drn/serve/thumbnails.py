"""Small JPEG frames of a video at a given time, for the moments on the page's timeline."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

THUMBNAIL_HEIGHT = 90  # pixels; the width follows the video's aspect ratio
CACHED_THUMBNAILS = 512


class Thumbnails:
    """`jpeg(path, seconds)` -> bytes of the frame shown at `seconds` (rounded to 0.1 s), decoded
    with `drn.video.thumbnails.frames_at` and kept in a small LRU."""

    def __init__(self, size: int = CACHED_THUMBNAILS):
        self.size = size
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def jpeg(self, path: Path, seconds: float) -> bytes:
        key = (str(path), round(seconds, 1))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = frame_jpeg(path, key[1])
        with self._lock:
            self._items[key] = data
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data


def frame_jpeg(path: Path, seconds: float, height: int = THUMBNAIL_HEIGHT) -> bytes:
    """The frame at `seconds` as JPEG bytes; `VideoError` when it cannot be decoded."""
    from PIL import Image

    from drn.video.thumbnails import frames_at

    (frame,) = frames_at(path, [seconds], height=height)
    out = io.BytesIO()
    Image.fromarray(frame).save(out, format="JPEG", quality=80)
    return out.getvalue()
