"""The videos a server may touch: files under `--videos`, features under `--features`, uploads.

A request names a video by an opaque id; the id is looked up in a listing built by walking the
served folders, and only the path stored in that listing is ever opened. Nothing from a request
is joined to a path. Files whose real path (symlinks resolved) leaves their folder are skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from drn.serve.settings import ServeError

logger = logging.getLogger(__name__)

# Suffixes listed from --videos; what a file really is, is checked by probing it (uploads.py).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv", ".ts")
_SAFE_VID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
RESCAN_SECONDS = 2.0  # a listing older than this is rebuilt before an unknown id is refused
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_REMEMBERED_DURATIONS = 4096


def display_name(relative: str) -> str:
    """The one rule for a video's name (shown on the page, `vid` in the rows): its path under the
    served folder (an upload's file name) without the suffix, each part reduced to safe characters,
    as `drn predict --video` names a video by its stem: "sub/My clip.mp4" -> "sub/My_clip"."""
    path = Path(relative)
    parts = [*path.parent.parts, path.name.rsplit(".", 1)[0] if "." in path.name[1:] else path.name]
    safe = [_UNSAFE_NAME.sub("_", part).strip("._")[:80] for part in parts if part not in ("", ".", "..", "/")]
    return "/".join(part for part in safe if part) or "video"


@dataclass(frozen=True)
class Entry:
    """One video the server can serve.

    id: the opaque id requests use; name: shown on the page and written as `vid` in the rows;
    kind: "video" (from --videos), "features" (from --features) or "upload";
    video: the video file (player, thumbnails, extraction), None for features without their source;
    features: the `[windows, D]` .npy file of a features entry; duration: seconds, when known.
    """

    id: str
    name: str
    kind: str
    video: Path | None = None
    features: Path | None = None
    duration: float | None = None

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "kind": self.kind, "playable": self.video is not None,
                "duration": self.duration}


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop, a vanished file
        return False


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Durations:
    """Video lengths read from the container header (PyAV, no decoding), remembered per (path, size,
    mtime); None for a file that is not a readable video."""

    def __init__(self):
        self._known: dict[tuple, float | None] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> float | None:
        from drn.serve.uploads import UploadError, probe_container

        try:
            stat = path.stat()
        except OSError:
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._known:
                return self._known[key]
        try:
            duration = probe_container(path, path.name).duration
        except UploadError:  # not a video after all: listed without a length; picking it says why
            duration = None
        with self._lock:
            if len(self._known) >= MAX_REMEMBERED_DURATIONS:
                self._known.clear()
            self._known[key] = duration
        return duration


def scan_videos(root: Path, durations: Durations | None = None) -> dict[str, Entry]:
    """Every file with a video suffix under `root` (recursively, hidden names skipped), by id, with
    its length when `durations` can read it."""
    root = root.resolve()
    entries: dict[str, Entry] = {}
    skipped = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES:
                continue
            if not _inside(path, root) or not path.is_file():
                skipped += 1
                continue
            relative = path.relative_to(root).as_posix()
            entry_id = "v" + _short_hash(relative)
            entries[entry_id] = Entry(entry_id, display_name(relative), "video", video=path,
                                      duration=durations(path) if durations else None)
    if skipped:
        logger.warning("%s: skipped %d video file(s) that link outside the folder or are not files", root, skipped)
    return entries


def read_features_index(root: Path) -> dict:
    """The extract.json of a --features folder; `ServeError` when it is missing or not one."""
    index = root / "extract.json"
    try:
        record = json.loads(index.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not isinstance(record["videos"], dict):
            raise TypeError("no 'videos' mapping")
    except FileNotFoundError:
        raise ServeError(f"--features {root}: no extract.json (expected a folder written by drn extract)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ServeError(f"--features {index}: not a drn extract index ({exc.__class__.__name__}: {exc})") from None
    return record


def _source_video(source: str, served: list[Path]) -> Path | None:
    """The served video file that extract.json's `source` names: the same absolute path, else
    the one file whose trailing path parts (or, failing that, whose name) match (`drn extract`
    records paths as given, relative to wherever it ran); None when none or several match."""
    source_path = Path(source)
    if source_path.is_absolute() and source_path.resolve() in served:
        return source_path.resolve()
    parts = tuple(part for part in source_path.parts if part not in ("..", ".", "/"))
    for width in (len(parts), 1):
        matches = [video for video in served if width and video.parts[-width:] == parts[-width:]]
        if len(matches) == 1:
            return matches[0]
    return None


def scan_features(root: Path, served: list[Path]) -> dict[str, Entry]:
    """The videos of a `drn extract` folder (extract.json + VID.npy), by id. A video whose
    extract.json `source` is one of the `served` video files is playable."""
    root = root.resolve()
    listing = read_features_index(root)["videos"]
    entries: dict[str, Entry] = {}
    skipped = 0
    for vid, info in sorted(listing.items()):
        path = root / f"{vid}.npy" if _SAFE_VID.match(vid) else None
        if path is None or not path.is_file() or not _inside(path, root):
            skipped += 1
            continue
        source = info.get("source") if isinstance(info, dict) else None
        video = _source_video(source, served) if isinstance(source, str) and source else None
        try:
            duration = float(info["duration"])
        except (KeyError, TypeError, ValueError):
            skipped += 1
            continue
        entry_id = "f" + _short_hash(vid)
        entries[entry_id] = Entry(entry_id, vid, "features", video=video, features=path, duration=duration)
    if skipped:
        logger.warning("%s: %d video(s) of extract.json have no readable VID.npy in the folder (or an unsafe name); "
                       "skipped", root, skipped)
    return entries


class Library:
    """The listing of --videos and --features (rebuilt when stale) and this server's uploads.

    Uploads are not listed: only who uploaded a video learns its random id.
    """

    def __init__(self, videos: Path | None, features: Path | None, upload_dir: Path, keep_uploads: int):
        self.videos_root = videos.resolve() if videos else None
        self.features_root = features.resolve() if features else None
        self.features_settings = ({k: v for k, v in read_features_index(self.features_root).items() if k != "videos"}
                                  if self.features_root else None)
        self.upload_dir = upload_dir
        self.keep_uploads = keep_uploads
        self._lock = threading.Lock()
        self._listing: dict[str, Entry] = {}
        self._scanned_at = -1e9
        self._uploads: OrderedDict[str, Entry] = OrderedDict()
        self._durations = Durations()
        self.rescan()

    def rescan(self) -> dict[str, Entry]:
        listing: dict[str, Entry] = {}
        if self.videos_root is not None:
            listing.update(scan_videos(self.videos_root, self._durations))
        if self.features_root is not None:
            served = [entry.video.resolve() for entry in listing.values()]
            listing.update(scan_features(self.features_root, served))
        with self._lock:
            self._listing, self._scanned_at = listing, time.monotonic()
        return listing

    def listed(self) -> list[Entry]:
        """What the page offers to pick (fresh enough to show files added since the start)."""
        with self._lock:
            stale = time.monotonic() - self._scanned_at > RESCAN_SECONDS
            listing = self._listing
        return list((self.rescan() if stale else listing).values())

    def get(self, entry_id: object) -> Entry | None:
        """The entry of a listed or uploaded video, or None for any other string (or non-string)."""
        if not isinstance(entry_id, str):
            return None
        with self._lock:
            entry = self._uploads.get(entry_id) or self._listing.get(entry_id)
            stale = time.monotonic() - self._scanned_at > RESCAN_SECONDS
        if entry is None and stale and entry_id.startswith(("v", "f")):
            entry = self.rescan().get(entry_id)
        return entry

    def add_upload(self, entry: Entry) -> None:
        """Register an upload; the oldest beyond `keep_uploads` are forgotten and their files deleted."""
        with self._lock:
            self._uploads[entry.id] = entry
            expired = [self._uploads.popitem(last=False)[1] for _ in range(len(self._uploads) - self.keep_uploads)]
        for old in expired:
            if old.video is not None:
                old.video.unlink(missing_ok=True)
