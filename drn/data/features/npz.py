"""Features in the layout of Moment-DETR / lighthouse: `DIR/VID.npz` (key `features`), one folder per
feature type, several types L2-normalised each and concatenated; and precomputed query text
features `DIR/qidQID.npz` (key `last_hidden_state`, [tokens, D_text]).

QVHighlights' community features: CLIP ViT-B/32 (512-d) and SlowFast (2304-d), one row per 2 s
clip, so `[clip_features, slowfast_features]` gives [clips, 2816] rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from drn.data.features.source import FeatureDimError, FeatureSource

NPZ_FEATURES_KEY = "features"
TEXT_FEATURES_KEY = "last_hidden_state"


def read_npz_array(path: Path, key: str) -> np.ndarray:
    """`np.load(path)[key]`; a missing key is a ValueError naming the file and its keys."""
    with np.load(path) as archive:
        if key not in archive.files:
            raise ValueError(f"{path}: expected the key {key!r} in the .npz archive, got {archive.files}")
        return archive[key]


class NpzFolderFeatures(FeatureSource):
    """One feature type: a folder of `VID.npz` files, key `features`, one [clips, D] array each."""

    def __init__(self, root: str | PathLike, feature_dim: int | None = None, cache_size: int = 128):
        super().__init__(feature_dim, cache_size)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"feature folder {self.root} does not exist")
        self._ids: frozenset[str] | None = None

    def video_ids(self) -> frozenset[str]:
        if self._ids is None:
            self._ids = frozenset(p.stem for p in self.root.glob("*.npz") if p.is_file())
        return self._ids

    def describe(self, vid: str) -> str:
        return str(self.root / f"{vid}.npz")

    def _load(self, vid: str) -> np.ndarray:
        return read_npz_array(self.root / f"{vid}.npz", NPZ_FEATURES_KEY)

    def __repr__(self) -> str:
        return f"NpzFolderFeatures({str(self.root)!r})"


def l2_normalize_rows(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each row of [N, D] divided by its L2 norm (a zero row stays zero)."""
    return x / x.norm(dim=1, keepdim=True).clamp(min=eps)


class ConcatenatedFeatures(FeatureSource):
    """Several feature types of the same videos as one source: each type's rows L2-normalised,
    truncated to the shortest type's row count, and concatenated along D (in `sources` order).

    A video has features when every type has it. `feature_dim` (if given) is checked against the
    concatenated width.
    """

    def __init__(self, sources: Sequence[FeatureSource], feature_dim: int | None = None, cache_size: int = 128):
        if not sources:
            raise ValueError("ConcatenatedFeatures needs at least one feature source")
        super().__init__(feature_dim, cache_size)
        self.sources = list(sources)
        for source in self.sources:
            source.cache_size = 0  # the concatenation is what gets cached
        self._ids: frozenset[str] | None = None

    def video_ids(self) -> frozenset[str]:
        if self._ids is None:
            self._ids = frozenset.intersection(*(source.video_ids() for source in self.sources))
        return self._ids

    def describe(self, vid: str) -> str:
        return " + ".join(source.describe(vid) for source in self.sources)

    def _load(self, vid: str) -> torch.Tensor:
        parts = [l2_normalize_rows(source[vid]) for source in self.sources]
        rows = min(part.shape[0] for part in parts)
        return torch.cat([part[:rows] for part in parts], dim=1)

    def __repr__(self) -> str:
        return f"ConcatenatedFeatures({self.sources!r})"


class TextFeatures:
    """Precomputed query features: `root/qid{QID}.npz` with `last_hidden_state` [tokens, D_text].

    `text_features[qid]` -> float32 tensor [tokens, D_text] (read on each call: one small file);
    `qid in text_features` tells whether the file exists.
    """

    def __init__(self, root: str | PathLike, feature_dim: int | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"text feature folder {self.root} does not exist")
        self.feature_dim = feature_dim
        self._ids: frozenset[str] | None = None

    def path(self, qid: str | int) -> Path:
        return self.root / f"qid{qid}.npz"

    def __contains__(self, qid: object) -> bool:
        if self._ids is None:
            self._ids = frozenset(p.stem[3:] for p in self.root.glob("qid*.npz") if p.is_file())
        return str(qid) in self._ids

    def __getitem__(self, qid: str | int) -> torch.Tensor:
        path = self.path(qid)
        array = np.asarray(read_npz_array(path, TEXT_FEATURES_KEY))
        if array.ndim == 3 and array.shape[0] == 1:  # saved with a batch dimension of 1
            array = array[0]
        if array.ndim != 2 or array.shape[0] == 0:
            raise ValueError(f"{path}: expected {TEXT_FEATURES_KEY} of shape [tokens >= 1, D], got {array.shape}")
        if self.feature_dim is not None and array.shape[1] != self.feature_dim:
            raise FeatureDimError(f"{path}: expected text feature dimension {self.feature_dim}, got {array.shape[1]}; "
                                  "set model.text_feature_dim to the files' D")
        return torch.as_tensor(array, dtype=torch.float32)

    def __repr__(self) -> str:
        return f"TextFeatures({str(self.root)!r})"
