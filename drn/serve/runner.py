"""The model runner of `drn serve`: grounding requests of many users batched together, off the event
loop.

Requests that arrive within the batch window run as one forward pass on a worker thread
(`drn.serve.batcher`). In a batch each distinct video is encoded once and each distinct sentence once,
and both are kept: video encodings in an LRU bounded by bytes, keyed by the video's content and the
checkpoint's hash (a cache never outlives its model), sentences in an LRU by count. Then every
query of the batch is grounded in one forward of `BatchInvariantDRN`, whose answer for a query
equals the answer the query gets alone. Where the model cannot run batch-invariant (see
drn.inference.invariant), requests are not batched together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from drn.errors import UserError
from drn.inference.grounder import Grounder, QueryError
from drn.inference.invariant import EncodedSentence
from drn.inference.video import video_rows
from drn.model.drn import VideoEncoding
from drn.serve.batcher import MicroBatcher, Pending
from drn.serve.cache import LRUCache
from drn.serve.settings import ServeSettings

logger = logging.getLogger(__name__)
SENTENCE_CACHE = 4096  # distinct sentences whose encoding (a few tens of KB each) is kept


@dataclass(frozen=True)
class ReadyVideo:
    """A video whose features can be had now: `key` names its encoding in the cache (its content and
    the checkpoint), `name` is its `vid` in the rows, `features()` gives [windows, D] (called only when
    the encoding is not cached)."""

    key: tuple
    name: str
    duration: float
    features: Callable[[], np.ndarray]


@dataclass
class _Ask:
    """One request's grounding: its video, its sentences (text and word ids), whether it wants curves."""

    video: ReadyVideo
    queries: list[str]
    words: list[tuple[torch.Tensor, torch.Tensor]]
    dense: bool


class ModelRunner:
    """Grounds requests in batches with `grounder`'s model (see the module docstring)."""

    def __init__(self, grounder: Grounder, settings: ServeSettings):
        self.grounder = grounder
        self.engine = grounder.engine
        self.videos: LRUCache[VideoEncoding] = LRUCache(max_bytes=int(settings.encoding_cache_mb * 2**20),
                                                        size_of=lambda encoding: encoding.clips.nbytes)
        self.sentences: LRUCache[EncodedSentence] = LRUCache(max_items=SENTENCE_CACHE)
        self._words: LRUCache[tuple] = LRUCache(max_items=SENTENCE_CACHE)  # sentence -> checked word ids
        self.batching = settings.batch_window_ms > 0 and self.engine.invariant
        if settings.batch_window_ms > 0 and not self.engine.invariant:
            logger.warning("this model cannot run batch-invariant here (%s, %s, %s): each request runs on its own%s",
                           self.engine.device, next(grounder.model.parameters()).dtype, self.engine.precision,
                           "" if self.engine.precision == "fp32" else " (--precision fp32 batches them)")
        window = settings.batch_window_ms / 1000 if self.batching else 0.0
        self.batcher = MicroBatcher(self._run, window, settings.max_batch, settings.queue_size)

    def check(self, queries: Sequence[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each sentence's word ids ([1, L], [1]); `QueryError` for one the model cannot read."""
        words = []
        for query in queries:
            known = self._words.get(query)
            if known is None:
                known = self.grounder.encode([query])  # warns once about unknown words, not per request
                self._words.put(query, known)
            words.append(known)
        return words

    async def ground(self, video: ReadyVideo, queries: Sequence[str], dense: bool = False) -> list[dict]:
        """Predictions-file rows for `queries` in `video` (with the dense curves when asked);
        `Overloaded` at once when the queue is full."""
        if not queries:
            raise QueryError("give at least one sentence (queries)")
        ask = _Ask(video, list(queries), self.check(queries), dense)
        return await asyncio.wrap_future(self.batcher.submit(ask, size=len(queries)))

    def close(self) -> None:
        self.batcher.close()

    def _video(self, video: ReadyVideo) -> VideoEncoding:
        encoding = self.videos.get(video.key)
        if encoding is None:
            encoding = self.engine.encode_video(self.grounder.clips(video.features(), f"the features of {video.name}"))
            self.videos.put(video.key, encoding)
        return encoding

    def _sentence(self, words: torch.Tensor, lengths: torch.Tensor) -> EncodedSentence:
        key = tuple(words[0].tolist())
        encoding = self.sentences.get(key)
        if encoding is None:
            encoding = self.engine.encode_sentence(words, lengths)
            self.sentences.put(key, encoding)
        return encoding

    def _run(self, batch: list[Pending]) -> None:
        """One forward for every query of the batch; each request's future gets its rows (or its error)."""
        videos: dict[tuple, int] = {}
        encoded: list[VideoEncoding] = []
        asks: list[tuple[Pending, _Ask]] = []
        for pending in batch:
            if not pending.future.set_running_or_notify_cancel():
                continue  # its client went away
            ask = pending.item
            try:
                if ask.video.key not in videos:
                    encoded.append(self._video(ask.video))
                    videos[ask.video.key] = len(encoded) - 1
            except (UserError, OSError) as exc:  # this video's features are bad or gone: its request fails alone
                pending.future.set_exception(exc)
                continue
            asks.append((pending, ask))
        if not asks:
            return
        sentences = [self._sentence(*words) for _, ask in asks for words in ask.words]
        index = [videos[ask.video.key] for _, ask in asks for _ in ask.queries]
        durations = [ask.video.duration for _, ask in asks for _ in ask.queries]
        answers = iter(self.engine.ground(encoded, sentences, index, durations))
        for pending, ask in asks:
            results = [{"query": query, "pred_relevant_windows": answer.windows, "dense": answer.dense}
                       for query, answer in zip(ask.queries, answers)]
            pending.future.set_result(video_rows(ask.video.name, ask.video.duration, results, ask.dense))
