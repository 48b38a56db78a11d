"""One process per output folder: an exclusive `flock` on `FOLDER/.drn.lock`, held while the
process writes there.

The kernel drops a `flock` when its holder dies (kill -9 included), so a lock file left by a killed
run is not a lock: the next process takes it and says so. The file holds the holder's pid and
command, for the message another process gets.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from os import PathLike
from pathlib import Path

from drn.errors import UserError, writing

logger = logging.getLogger(__name__)

LOCK_NAME = ".drn.lock"


class FolderBusyError(UserError, RuntimeError):
    """Another live process holds the folder's lock."""


class FolderLock:
    """`with FolderLock(folder):` holds `folder`'s lock (creating the folder), or raises
    `FolderBusyError` at once, naming the holder. `stale` tells whether a lock file of a dead
    process was found."""

    def __init__(self, folder: str | PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self.stale = False

    def acquire(self) -> FolderLock:
        with writing(self.path):
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise FolderBusyError(f"{self.folder} is in use by {holder}; wait for it to finish or choose "
                                  "another --out") from None
        previous = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
        if previous:
            self.stale = True
            logger.warning("%s: the previous holder (%s) ended without releasing it (killed?); taking it over",
                           self.path, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv[:3])[:200]})".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty lock file means "released cleanly"
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
