"""Where a served video's features come from: a `--features` folder's .npy, or the video file
encoded with the backbone the checkpoint's features came from, cached by (content hash, checkpoint
hash) so a video is encoded once however many users ask for it, under any name.

Extraction holds a lock: the backbone is shared, and a video is computed once even when many users
ask for it at the same moment.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drn.errors import UserError, describe_failure
from drn.inference.grounder import Grounder
from drn.serve.cache import LRUCache
from drn.serve.library import Entry
from drn.serve.settings import ServeError

HASH_CHUNK = 4 * 1024 * 1024
MAX_REMEMBERED_HASHES = 4096


class NoExtractorError(UserError, ValueError):
    """The checkpoint does not say how its features were extracted, so videos cannot be encoded."""


@dataclass(frozen=True)
class VideoFeatures:
    """A video ready for grounding: its [windows, D] float32 features and its length in seconds."""

    features: np.ndarray
    duration: float


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def renamed(exc: UserError, path: Path, shown: str) -> UserError:
    """`exc` with the server's path of a file replaced by the name its user knows it by."""
    return UserError(str(exc).replace(str(path), shown))


class FeatureSource:
    """The features of served entries, for one loaded checkpoint.

    Args:
        grounder: the loaded checkpoint (its extraction record, width and device).
        checkpoint_hash: sha256 of the checkpoint file (part of every cache key).
        cache_size: videos whose extracted features stay in memory.
    """

    def __init__(self, grounder: Grounder, checkpoint_hash: str, cache_size: int):
        self.grounder = grounder
        self.checkpoint_hash = checkpoint_hash
        self.extraction = getattr(grounder, "extraction", None)
        self.cache: LRUCache[VideoFeatures] = LRUCache(max_items=cache_size)
        self._extract_lock = threading.Lock()
        self._hash_lock = threading.Lock()
        self._hashes: dict[tuple, str] = {}
        if self.can_extract:
            self.backbone()  # a backbone that is missing or does not fit stops the start, not the first upload

    @property
    def feature_dim(self) -> int:
        return self.grounder.model.config.feature_dim

    @property
    def can_extract(self) -> bool:
        return self.extraction is not None

    def check_features_folder(self, folder: Path, settings: dict) -> None:
        """A --features folder whose features the model cannot take is refused at the start."""
        dim = settings.get("dim")
        if dim is not None and int(dim) != self.feature_dim:
            raise ServeError(f"--features {folder}: its features are {dim}-d ({settings.get('backbone')}), the "
                             f"checkpoint's model takes D = {self.feature_dim}")
        recorded = (self.extraction or {}).get("backbone")
        if recorded is not None and settings.get("backbone") not in (None, recorded):
            raise ServeError(f"--features {folder}: extracted with backbone {settings.get('backbone')!r}, the "
                             f"checkpoint was trained on {recorded!r} features")

    def require_extractor(self) -> None:
        if not self.can_extract:
            raise NoExtractorError("this checkpoint does not record how its features were extracted, so it cannot "
                                   "encode videos; serve pre-extracted features with --features")

    def remember_hash(self, path: Path, content_hash: str) -> None:
        """Record the hash of a file just written (an upload), so it is not read again."""
        stat = path.stat()
        with self._hash_lock:
            if len(self._hashes) > MAX_REMEMBERED_HASHES:
                self._hashes.clear()
            self._hashes[(str(path), stat.st_size, stat.st_mtime_ns)] = content_hash

    def content_hash(self, path: Path) -> str:
        """sha256 of a file, remembered per (path, size, mtime) so a library video is read once."""
        stat = path.stat()
        memo = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._hash_lock:
            known = self._hashes.get(memo)
        if known is None:
            known = file_sha256(path)
            self.remember_hash(path, known)
        return known

    def cache_key(self, content_hash: str) -> tuple:
        return (content_hash, self.checkpoint_hash)

    def features_key(self, entry: Entry) -> tuple:
        """The key of a --features entry's stored features (its file as it is now)."""
        stat = entry.features.stat()
        return ("features", str(entry.features), stat.st_size, stat.st_mtime_ns, self.checkpoint_hash)

    def load(self, entry: Entry) -> VideoFeatures:
        """A --features entry's stored features, checked against the model's width."""
        try:
            array = np.load(entry.features, allow_pickle=False)
        except (OSError, ValueError) as exc:  # gone, unreadable, not an .npy
            raise UserError(f"{entry.name}: its features cannot be read ({describe_failure(exc)})") from None
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != self.feature_dim:
            raise UserError(f"{entry.name}: its features have shape {tuple(array.shape)}, the model takes "
                            f"[windows, {self.feature_dim}]")
        return VideoFeatures(np.asarray(array, dtype=np.float32), float(entry.duration))

    def extract(self, path: Path, key: tuple, report: Callable[[float], None],
                shown: str | None = None) -> VideoFeatures:
        """Encode a video file as the checkpoint's training features were (cached under `key`).
        Messages name the file `shown` (a user never learns where the server keeps it)."""
        try:
            return self._extract(path, key, report)
        except UserError as exc:
            if shown is None:
                raise
            raise renamed(exc, path, shown) from None

    def _extract(self, path: Path, key: tuple, report: Callable[[float], None]) -> VideoFeatures:
        self.require_extractor()
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        from drn.video.decode import probe
        from drn.video.extract import extract_video

        with self._extract_lock:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
            backbone = self.backbone()
            duration = probe(path).duration or backbone.spec.clip_seconds
            counting = _CountingBackbone(backbone, max(1, math.ceil(duration / backbone.spec.clip_seconds)), report)
            result = extract_video(path, counting, device=str(self.grounder.device))
            video = VideoFeatures(np.asarray(result.features, dtype=np.float32), float(result.duration))
        self.cache.put(key, video)
        return video

    def backbone(self):
        """The backbone the checkpoint's features came from, checked against its record and loaded
        once (the same one `drn predict --video` uses)."""
        from drn.inference.video import video_backbone

        return video_backbone(self.grounder)


class _CountingBackbone:
    """A backbone whose `encode` reports the fraction of the expected clips encoded so far."""

    def __init__(self, backbone, expected_clips: int, report: Callable[[float], None]):
        self._backbone = backbone
        self._expected = expected_clips
        self._report = report
        self._done = 0

    def encode(self, clips):
        out = self._backbone.encode(clips)
        self._done += len(clips)
        self._report(min(0.99, self._done / self._expected))
        return out

    def __getattr__(self, name):
        return getattr(self._backbone, name)
