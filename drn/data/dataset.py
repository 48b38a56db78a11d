"""The grounding dataset (one item per query) and its collate function.

An item is a dict:
    features  float32 [T, D]  the video's features resampled to T = num_clips equal clips
    words     int64 [L]       word ids of the sentence (no padding, L >= 1), or float32 [L, D_text]
                              precomputed text features when the dataset has `text_features`
    gt        float32 [2]     ground-truth (start, end) in seconds, inside [0, duration] (the first
                              window of a query with several)
    windows   float32 [G, 2]  every ground-truth window in seconds (G >= 1)
    duration  float           video duration in seconds
    qid, vid, query           query id (str, or the JSONL file's int), video id, sentence

`collate` stacks items into a batch (see its docstring). Queries whose video has no features,
whose sentence has no in-vocabulary word, or (with text features) that have no text feature file,
are skipped and counted in `dataset.quirks`; the missing
videos are also named in one warning when the dataset is built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from drn.data.annotations.charades import DurationSource
from drn.data.annotations.query import MAX_EXAMPLES, Query, QuirkReport
from drn.data.annotations.read import read_annotations
from drn.data.features import POOLINGS, FeatureSource, open_features, resample_to_clips
from drn.data.features.npz import TextFeatures
from drn.data.saliency_targets import saliency_targets
from drn.data.text.vocab import PAD_ID, Vocabulary

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
        text_features: precomputed query features (`TextFeatures`, `qidQID.npz` files): items
            then carry them as "words" instead of word ids, and `vocab` is not used.
        show_progress: a progress bar while every video's features are read once up front.

    Every video is read once when the dataset is built (`FeatureSource.inspect`), so a malformed
    feature file stops a run before it writes anything, and a video whose features hold NaN or
    infinite values is skipped (quirk `nonfinite_features`) rather than met mid-training.
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
        text_features: TextFeatures | None = None,
        show_progress: bool = False,
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
        self.text_features = text_features
        self.num_clips = num_clips
        self.pooling = pooling
        if quirks is None:
            quirks = QuirkReport(source="dataset", total=len(queries))
        self.quirks = quirks
        self.queries, self._word_ids = self._keep_usable(queries, show_progress)

    def _nonfinite_videos(self, queries: Sequence[Query], show_progress: bool) -> set[str]:
        """Read every video of `queries` once; the ids of those with NaN/inf features (warned)."""
        vids = list(dict.fromkeys(query.vid for query in queries if query.vid in self.source))
        bad = [vid for vid in tqdm(vids, desc="checking features", unit="video", leave=False, dynamic_ncols=True,
                                   disable=not show_progress) if self.source.inspect(vid).nonfinite]
        if bad:
            more = f" and {len(bad) - MAX_EXAMPLES} more" if len(bad) > MAX_EXAMPLES else ""
            logger.warning("%d of %d videos have NaN or infinite feature values and are skipped: %s%s", len(bad),
                           len(vids), ", ".join(self.source.describe(vid) for vid in bad[:MAX_EXAMPLES]), more)
        return set(bad)

    def _keep_usable(self, queries: Sequence[Query], show_progress: bool) -> tuple[list[Query], list[list[int]]]:
        kept, word_ids = [], []
        missing_vids: dict[str, None] = {}  # insertion-ordered set
        skipped_for_features = 0
        nonfinite = self._nonfinite_videos(queries, show_progress)
        for query in queries:
            if query.vid not in self.source:
                missing_vids[query.vid] = None
                skipped_for_features += 1
                continue
            if query.vid in nonfinite:
                self.quirks.add("nonfinite_features", query.qid)
                continue
            if self.text_features is not None:
                if query.qid not in self.text_features:
                    self.quirks.add("missing_text_features", query.qid)
                    continue
                kept.append(query)
                word_ids.append([])
                continue
            ids = self.vocab.encode(query.sentence)
            if all(i == self.vocab.unk_id for i in ids):  # also true for an empty sentence
                self.quirks.add("no_known_words", query.qid)
                continue
            if self.vocab.unk_id in ids:
                self.quirks.add("unknown_words", query.qid)
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

    def query_words(self, index: int) -> torch.Tensor:
        """Query `index`'s words, no padding: [L] int64 word ids of its sentence, or [L, D_text]
        float token features when the dataset reads text features."""
        if self.text_features is not None:
            return self.text_features[self.queries[index].qid]
        return torch.tensor(self._word_ids[index], dtype=torch.int64)

    def __getitem__(self, index: int) -> dict:
        return {"features": self.clip_features(self.queries[index].vid), **self.query_item(index)}

    def query_item(self, index: int) -> dict:
        """Item `index` without its features (what depends on the query alone)."""
        query = self.queries[index]
        item = {
            "words": self.query_words(index),
            "gt": torch.tensor([query.start, query.end], dtype=torch.float32),
            "windows": torch.tensor(query.segments, dtype=torch.float32),
            "duration": query.duration,
            "qid": query.qid,
            "vid": query.vid,
            "query": query.sentence,
        }
        if query.clip_ids:
            item["saliency"] = saliency_targets(query, self.num_clips)
        return item


def collate(items: Sequence[dict]) -> dict:
    """Stack dataset items into a batch of B.

    Returns a dict:
        features     float32 [B, T, D] (absent when the items have no features: `query_item`s)
        words        int64 [B, Lmax], padded with 0 (`PAD_ID`) after each sentence; or float32
                     [B, Lmax, D_text] padded with zeros for text-feature items
        lengths      int64 [B], number of words (tokens) of each sentence
        gt           float32 [B, 2], (start, end) in seconds (the first window)
        windows      float32 [B, Gmax, 2], every window in seconds, padded with zeros
        num_windows  int64 [B], the valid windows of each row
        duration     float32 [B], seconds
        qid, vid, query  lists of length B
        saliency, saliency_mask  (only when an item has saliency annotations) float32 [B, T]
                     per-clip targets in [0, 1] (`saliency_targets`; zeros for an item without)
                     and bool [B], which items have them
    """
    if not items:
        raise ValueError("collate needs at least one item")
    lengths = torch.tensor([len(item["words"]) for item in items], dtype=torch.int64)
    first = items[0]["words"]
    if first.is_floating_point():
        words = first.new_zeros((len(items), int(lengths.max()), first.shape[1]))
    else:
        words = torch.full((len(items), int(lengths.max())), PAD_ID, dtype=torch.int64)
    for row, item in enumerate(items):
        words[row, : len(item["words"])] = item["words"]
    features = {"features": torch.stack([item["features"] for item in items]).to(torch.float32)} \
        if "features" in items[0] else {}
    # Items made elsewhere may carry "gt" alone: that is their one window.
    segments = [item["windows"] if "windows" in item else item["gt"][None] for item in items]
    num_windows = torch.tensor([len(rows) for rows in segments], dtype=torch.int64)
    windows = torch.zeros(len(items), int(num_windows.max()), 2)
    for row, rows in enumerate(segments):
        windows[row, : len(rows)] = rows
    saliency = {}
    if any("saliency" in item for item in items):
        width = next(item["saliency"] for item in items if "saliency" in item).shape[0]
        saliency = {"saliency": torch.stack([item.get("saliency", torch.zeros(width)) for item in items]),
                    "saliency_mask": torch.tensor(["saliency" in item for item in items])}
    return {
        **features,
        **saliency,
        "words": words,
        "lengths": lengths,
        "gt": torch.stack([item["gt"] for item in items]).to(torch.float32),
        "windows": windows,
        "num_windows": num_windows,
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
    text_features: TextFeatures | None = None,
    show_progress: bool = False,
) -> GroundingDataset:
    """Read one annotation split and pair it with its features; logs the quirk report once.

    Args:
        format: annotation format, see `drn.data.annotations.read.FORMAT_ALIASES`.
        annotation_path: the split's annotation file.
        durations: durations for Charades-STA (CSV/JSON paths or a mapping); None for the JSON
            formats.
        features: a `FeatureSource`, a folder of `.npy`/`.pt` files or an HDF5 file.
        vocab: a `Vocabulary`, a word2id / saved vocabulary JSON, or None to build one from this
            split's sentences (do that for the training split only, then save it and pass it to
            the others); the result is `dataset.vocab`.
        num_clips, pooling, feature_dim, text_features, show_progress: see `GroundingDataset`.
    """
    queries, quirks = read_annotations(format, annotation_path, durations)
    if vocab is None:
        vocab = Vocabulary.from_sentences(query.sentence for query in queries)
    elif not isinstance(vocab, Vocabulary):
        vocab = Vocabulary.load(Path(vocab))
    dataset = GroundingDataset(queries, features, vocab, num_clips, pooling, feature_dim, quirks=quirks,
                               text_features=text_features, show_progress=show_progress)
    quirks.log(logger)
    return dataset
