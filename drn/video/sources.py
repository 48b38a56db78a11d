"""Which video files a `drn extract` run covers: files, folders (searched recursively) and list files."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from drn.video.errors import VideoError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts")
LIST_SUFFIXES = (".txt", ".lst", ".list")


def find_videos(inputs: list[str | PathLike]) -> dict[str, Path]:
    """Video id (the file name without its suffix) -> path, for every input in order.

    An input is a video file (any suffix), a folder (every file with a video suffix below it,
    sorted), or a list file (.txt/.lst/.list: one path per line, relative to the list's folder;
    blank lines and lines starting with # are skipped). Raises `VideoError` for an input that does
    not exist, a list entry that does not exist, two videos with the same id, or no videos at all.
    """
    videos: dict[str, Path] = {}
    for item in inputs:
        for path in _expand(Path(item)):
            vid = path.stem
            if vid in videos and videos[vid] != path:
                raise VideoError(f"videos {videos[vid]} and {path} have the same id {vid!r}; "
                                 "rename one (features are stored as VID.npy)")
            videos[vid] = path
    if not videos:
        raise VideoError(f"no video files found in {' '.join(map(str, inputs))} "
                         f"(looked for {', '.join(VIDEO_SUFFIXES)})")
    return videos


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not path.is_file():
        raise VideoError(f"video input {path}: no such file or folder")
    if path.suffix.lower() in LIST_SUFFIXES:
        return _read_list(path)
    return [path]


def _read_list(path: Path) -> list[Path]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = Path(line).expanduser()
        entry = entry if entry.is_absolute() else path.parent / entry
        if not entry.is_file():
            raise VideoError(f"video list {path} line {number}: {line}: no such file")
        entries.append(entry)
    return entries
