"""Many queries over many videos with one trained DRN, in batches: the engine of
`drn predict --queries`.

Queries are grouped by video (each video's features are read and resampled to T clips once) and
run through the model `eval.batch_size` at a time across videos, so thousands of queries take
`ceil(n / batch_size)` forward passes. Rows are those of `drn eval`'s predictions file without the
ground truth: {"qid", "vid", "query", "duration", "pred_relevant_windows"}, in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from drn.data.annotations.prediction_queries import PredictionQuery
from drn.inference.grounder import Grounder, QueryError
from drn.metrics.rows import SECONDS_DECIMALS, rounded_windows

# vid -> (features [windows, D], duration in seconds or None when the source does not know it).
FeaturesOf = Callable[[str], tuple["torch.Tensor | np.ndarray", "float | None"]]


def check_queries_known(grounder: Grounder, queries: Sequence[PredictionQuery]) -> None:
    """A `QueryError` naming `file:line` for the first query with no word in the vocabulary."""
    for query in queries:
        try:
            grounder.encode([query.query])
        except QueryError as exc:
            raise QueryError(f"{query.where}: {exc}") from None


def _by_video(queries: Sequence[PredictionQuery]) -> list[tuple[str, list[int]]]:
    """(vid, indices of its queries) in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, query in enumerate(queries):
        groups.setdefault(query.vid, []).append(index)
    return list(groups.items())


@torch.no_grad()
def predict_queries(grounder: Grounder, queries: Sequence[PredictionQuery], features_of: FeaturesOf, *,
                    batch_size: int | None = None, show_progress: bool = True) -> list[dict]:
    """Prediction rows for every query, in input order.

    Args:
        grounder: the trained model.
        queries: the queries (see `read_prediction_queries`); a query's own duration wins over
            the one `features_of` gives.
        features_of: called once per video, in order of first appearance.
        batch_size: queries per forward pass (default: the checkpoint's eval.batch_size).
    """
    batch_size = batch_size or int(grounder.cfg["eval"]["batch_size"])
    rows: list[dict | None] = [None] * len(queries)
    pending: list[tuple[int, int, float]] = []  # (query index, row of its video in `videos`, duration)
    videos: list[torch.Tensor] = []  # the clips [T, D] of each video of the pending queries, once
    bar = tqdm(total=len(queries), desc="predict", unit="query", dynamic_ncols=True, disable=not show_progress)

    def flush() -> None:
        _, ranked = grounder.rank(torch.stack(videos), [queries[item[0]].query for item in pending],
                                  [item[1] for item in pending], [item[2] for item in pending])
        for (index, _, duration), windows in zip(pending, ranked):
            query = queries[index]
            rows[index] = {"qid": query.qid, "vid": query.vid, "query": query.query, "duration": duration,
                           "pred_relevant_windows": rounded_windows(windows)}
        bar.update(len(pending))
        pending.clear()
        videos.clear()

    for vid, indices in _by_video(queries):
        features, source_duration = features_of(vid)
        clips = grounder.clips(features, f"the features of video {vid!r}")
        for index in indices:
            if not videos or videos[-1] is not clips:
                videos.append(clips)
            duration = queries[index].duration or source_duration
            pending.append((index, len(videos) - 1, round(float(duration), SECONDS_DECIMALS)))
            if len(pending) == batch_size:
                flush()
    if pending:
        flush()
    bar.close()
    return [row for row in rows if row is not None]

