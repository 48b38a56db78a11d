"""Small JPEG frames of a video at a given time, for the moments on the page's timeline."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

THUMBNAIL_WIDTH = 160  # pixels; the height follows the video's aspect ratio
CACHED_THUMBNAILS = 512


class Thumbnails:
    """`jpeg(path, seconds)` -> bytes, decoded with PyAV and kept in a small LRU."""

    def __init__(self, size: int = CACHED_THUMBNAILS):
        self.size = size
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def jpeg(self, path: Path, seconds: float) -> bytes | None:
        """The first frame at or after `seconds` (rounded to 0.1 s), or None when there is none."""
        key = (str(path), round(seconds, 1))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = frame_jpeg(path, key[1])
        if data is not None:
            with self._lock:
                self._items[key] = data
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return data


def frame_jpeg(path: Path, seconds: float, width: int = THUMBNAIL_WIDTH) -> bytes | None:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.time_base is not None and seconds > 0:
            container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is None or frame.time >= seconds - 1e-3:
                break
    if chosen is None:
        return None
    image = chosen.to_image()
    image.thumbnail((width, width * 4))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=80)
    return out.getvalue()
