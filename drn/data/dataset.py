"""The grounding dataset (one item per query) and its collate function.

An item is a dict:
    features  float32 [T, D]  the video's features resampled to T = num_clips equal clips
    words     int64 [L]       word ids of the sentence (no padding, L >= 1)
    gt        float32 [2]     ground-truth (start, end) in seconds, inside [0, duration]
    duration  float           video duration in seconds
    qid, vid, query  str      query id, video id, sentence

`collate` stacks items into a batch (see its docstring). Queries whose video has no features, or
whose sentence has no in-vocabulary word, are skipped and counted in `dataset.quirks`; the missing
videos are also named in one warning when the dataset is built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import torch
from torch.utils.data import Dataset

from drn.data.annotations import read_annotations
from drn.data.charades import DurationSource
from drn.data.features import POOLINGS, FeatureSource, open_features, resample_to_clips
from drn.data.query import MAX_EXAMPLES, Query, QuirkReport
from drn.data.vocab import PAD_ID, Vocabulary

logger = logging.getLogger(__name__)


class GroundingDataset(Dataset):
    """Queries paired with their video's clip features.

    Args:
        queries: the split's `Query` records (seconds).
        features_source: a `FeatureSource`, or a path that `open_features` opens.
        vocab: maps sentences to word ids.
        num_clips: T, the number of equal clips each video is resampled to.
        pooling: "mean" or "max" over each clip's windows.
        feature_dim: the expected D, checked when a video is loaded (set on a given source
            whose own feature_dim is None; None: the source's, or not checked).
        quirks: a report to add this dataset's skips to (e.g. the annotation reader's); a new
            one when None. Available as `self.quirks`.

    `self.queries` holds the kept queries, in order; item i is `self.queries[i]`.
    """

    def __init__(
        self,
        queries: Sequence[Query],
        features_source: FeatureSource | str | PathLike,
        vocab: Vocabulary,
        num_clips: int,
        pooling: str = "mean",
        feature_dim: int | None = None,
        quirks: QuirkReport | None = None,
    ):
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if isinstance(features_source, FeatureSource):
            source = features_source
            if feature_dim is not None:
                if source.feature_dim not in (None, feature_dim):
                    raise ValueError(
                        f"feature_dim={feature_dim} differs from {source!r}'s "
                        f"feature_dim={source.feature_dim}"
                    )
                source.feature_dim = feature_dim
        else:
            source = open_features(features_source, feature_dim=feature_dim)
        self.source = source
        self.vocab = vocab
        self.num_clips = num_clips
        self.pooling = pooling
        if quirks is None:
            quirks = QuirkReport(source="dataset", total=len(queries))
        self.quirks = quirks
        self.queries, self._word_ids = self._keep_usable(queries)

    def _keep_usable(self, queries: Sequence[Query]) -> tuple[list[Query], list[list[int]]]:
        kept, word_ids = [], []
        missing_vids: dict[str, None] = {}  # insertion-ordered set
        skipped_for_features = 0
        for query in queries:
            if query.vid not in self.source:
                missing_vids[query.vid] = None
                skipped_for_features += 1
                continue
            ids = self.vocab.encode(query.sentence)
            if all(i == self.vocab.unk_id for i in ids):  # also true for an empty sentence
                self.quirks.add("no_known_words", query.qid)
                continue
            kept.append(query)
            word_ids.append(ids)
        if missing_vids:
            vids = list(missing_vids)
            self.quirks.add("missing_features", vids, count=skipped_for_features)
            more = f" and {len(vids) - MAX_EXAMPLES} more" if len(vids) > MAX_EXAMPLES else ""
            logger.warning(
                "%d queries skipped: %d videos have no features in %r: %s%s",
                skipped_for_features,
                len(vids),
                self.source,
                ", ".join(vids[:MAX_EXAMPLES]),
                more,
            )
        return kept, word_ids

    def __len__(self) -> int:
        return len(self.queries)

    def clip_features(self, vid: str) -> torch.Tensor:
        """Video `vid`'s features resampled to [T, D] clips."""
        return resample_to_clips(self.source[vid], self.num_clips, self.pooling)

    def word_ids(self, index: int) -> torch.Tensor:
        """[L] int64 word ids of query `index`'s sentence (no padding)."""
        return torch.tensor(self._word_ids[index], dtype=torch.int64)

    def __getitem__(self, index: int) -> dict:
        return {"features": self.clip_features(self.queries[index].vid), **self.query_item(index)}

    def query_item(self, index: int) -> dict:
        """Item `index` without its features (what depends on the query alone)."""
        query = self.queries[index]
        return {
            "words": self.word_ids(index),
            "gt": torch.tensor([query.start, query.end], dtype=torch.float32),
            "duration": query.duration,
            "qid": query.qid,
            "vid": query.vid,
            "query": query.sentence,
        }


def collate(items: Sequence[dict]) -> dict:
    """Stack dataset items into a batch of B.

    Returns a dict:
        features  float32 [B, T, D] (absent when the items have no features: `query_item`s)
        words     int64 [B, Lmax], padded with 0 (`PAD_ID`) after each sentence
        lengths   int64 [B], number of words of each sentence
        gt        float32 [B, 2], (start, end) in seconds
        duration  float32 [B], seconds
        qid, vid, query  list[str] of length B
    """
    if not items:
        raise ValueError("collate needs at least one item")
    lengths = torch.tensor([len(item["words"]) for item in items], dtype=torch.int64)
    words = torch.full((len(items), int(lengths.max())), PAD_ID, dtype=torch.int64)
    for row, item in enumerate(items):
        words[row, : len(item["words"])] = item["words"]
    features = {"features": torch.stack([item["features"] for item in items]).to(torch.float32)} \
        if "features" in items[0] else {}
    return {
        **features,
        "words": words,
        "lengths": lengths,
        "gt": torch.stack([item["gt"] for item in items]).to(torch.float32),
        "duration": torch.tensor([item["duration"] for item in items], dtype=torch.float32),
        "qid": [item["qid"] for item in items],
        "vid": [item["vid"] for item in items],
        "query": [item["query"] for item in items],
    }


def build_dataset(
    format: str,
    annotation_path: str | PathLike,
    durations: DurationSource | None,
    features: FeatureSource | str | PathLike,
    vocab: Vocabulary | str | PathLike | None,
    num_clips: int,
    pooling: str = "mean",
    feature_dim: int | None = None,
) -> GroundingDataset:
    """Read one annotation split and pair it with its features; logs the quirk report once.

    Args:
        format: annotation format, see `drn.data.annotations.FORMAT_ALIASES`.
        annotation_path: the split's annotation file.
        durations: durations for Charades-STA (CSV/JSON paths or a mapping); None for the JSON
            formats.
        features: a `FeatureSource`, a folder of `.npy`/`.pt` files or an HDF5 file.
        vocab: a `Vocabulary`, a word2id / saved vocabulary JSON, or None to build one from this
            split's sentences (do that for the training split only, then save it and pass it to
            the others); the result is `dataset.vocab`.
        num_clips, pooling, feature_dim: see `GroundingDataset`.
    """
    queries, quirks = read_annotations(format, annotation_path, durations)
    if vocab is None:
        vocab = Vocabulary.from_sentences(query.sentence for query in queries)
    elif not isinstance(vocab, Vocabulary):
        vocab = Vocabulary.load(Path(vocab))
    dataset = GroundingDataset(queries, features, vocab, num_clips, pooling, feature_dim, quirks=quirks)
    quirks.log(logger)
    return dataset
