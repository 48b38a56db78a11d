"""Keep the C heap from growing with video length during extraction.

glibc's malloc raises its mmap threshold each time a large block served by mmap is freed, after
which blocks of that size come from the heap, and in a loop that allocates and frees the same
large tensors batch after batch (decoded chunks arriving from workers, their float copies) the
heap kept growing: peak RSS rose by about 4 MB per batch in a 30-minute video. A fixed threshold
(which also turns the adjustment off) keeps large blocks on mmap, returned to the system on free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 1 << 20
_done = False


def pin_malloc_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at 1 MiB for this process (once); False where there is no glibc."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # musl and others: no mallopt
        _done = False
    logger.debug("malloc mmap threshold pinned at %d bytes: %s", MMAP_THRESHOLD_BYTES, _done)
    return _done
