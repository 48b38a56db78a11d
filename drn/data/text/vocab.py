"""Word vocabulary: tokenising sentences and mapping words to embedding rows.

Ids: 0 is padding; words take 1..N; out-of-vocabulary words map to `unk_id`. For a vocabulary
built from sentences unk_id = N + 1; for one read from a word2id JSON (ids 1..N, e.g. DRN's
`Charades_word2id.json` with 1,301 words) unk_id = max id + 1 = N + 1 as well. So the embedding
table needs `num_embeddings = unk_id + 1` rows (1,303 for Charades).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path

from drn.utils.io import atomic_write_text

PAD_ID = 0

# Punctuation becomes a space, so "book/shelf" -> "book shelf" and "phone's" -> "phone s".
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def tokenize(sentence: str) -> list[str]:
    """Lower-case, replace punctuation by spaces, split on whitespace."""
    return _PUNCTUATION.sub(" ", sentence.lower()).split()


class Vocabulary:
    """Words to ids: pad 0, words 1..N (any ids >= 1), unknown `unk_id` (max id + 1).

    Args:
        word2id: word -> id, ids >= 1 and distinct.
    """

    pad_id = PAD_ID

    def __init__(self, word2id: Mapping[str, int]):
        ids = list(word2id.values())
        if any(not isinstance(i, int) or i < 1 for i in ids):
            raise ValueError("word ids must be integers >= 1 (0 is padding)")
        if len(set(ids)) != len(ids):
            raise ValueError("word ids must be distinct")
        self.word2id = dict(word2id)
        self.unk_id = max(ids, default=0) + 1

    @classmethod
    def from_sentences(cls, sentences: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Words seen at least `min_count` times, ids by frequency (ties alphabetical), from 1."""
        counts = Counter(word for sentence in sentences for word in tokenize(sentence))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls({word: i for i, word in enumerate(words, start=1)})

    @classmethod
    def load(cls, path: str | PathLike) -> Vocabulary:
        """Read a word2id JSON `{word: id}` (e.g. DRN's) or a file written by `save`."""
        path = Path(path)
        with path.open(encoding="utf-8") as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object {{word: id}}, got {type(raw).__name__}")
        word2id = raw["word2id"] if isinstance(raw.get("word2id"), dict) else raw
        try:
            vocab = cls(word2id)
        except ValueError as err:
            raise ValueError(f"{path}: not a word2id JSON ({err})") from None
        if "unk_id" in raw and raw["unk_id"] != vocab.unk_id:
            raise ValueError(f"{path}: unk_id {raw['unk_id']} differs from max id + 1 = {vocab.unk_id}")
        return vocab

    def save(self, path: str | PathLike) -> None:
        """Write `{"word2id": ..., "pad_id": 0, "unk_id": ...}` as JSON."""
        payload = {"word2id": self.word2id, "pad_id": self.pad_id, "unk_id": self.unk_id}
        atomic_write_text(path, json.dumps(payload, ensure_ascii=False, indent=0))

    @property
    def num_embeddings(self) -> int:
        """Rows an embedding table needs: ids 0 (pad) .. unk_id."""
        return self.unk_id + 1

    def __len__(self) -> int:
        """Number of words (pad and unk not included)."""
        return len(self.word2id)

    def __contains__(self, word: object) -> bool:
        return word in self.word2id

    def encode(self, sentence: str) -> list[int]:
        """Ids of `tokenize(sentence)`, `unk_id` for unknown words; empty for an empty sentence."""
        return [self.word2id.get(word, self.unk_id) for word in tokenize(sentence)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.word2id == other.word2id

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words, unk_id={self.unk_id})"
