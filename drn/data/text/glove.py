"""Word vectors aligned to a `Vocabulary`: GloVe text files or an already aligned `.npy`.

Both readers return `(weights, missing)`: weights is a float32 tensor [vocab.num_embeddings, dim]
whose row i is the vector of word id i, and `missing` lists the vocabulary words left at zero
(no vector in the file). Rows 0 (padding) and `vocab.unk_id` are zeros unless the `.npy` has them.
"""

from __future__ import annotations

import gzip
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from drn.data.text.vocab import Vocabulary


def load_glove_text(path: str | PathLike, vocab: Vocabulary) -> tuple[torch.Tensor, list[str]]:
    """Read the GloVe text format (`word v1 ... vd` per line, `.gz` allowed).

    The dimension is taken from the first vector line; a word2vec-style `count dim` header line
    is skipped. Only the vocabulary's words are parsed, so a 400k-word file reads quickly.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    found: dict[int, np.ndarray] = {}
    dim = None
    with opener(path, "rt", encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            line = line.rstrip()
            if not line.strip():
                continue
            if dim is None:
                head = line.split()
                if len(head) == 2 and all(part.isdigit() for part in head):
                    continue  # word2vec header: "count dim"
                dim = len(head) - 1
            # Split from the right: a few GloVe releases have words that contain spaces.
            parts = line.rsplit(" ", dim)
            if len(parts) != dim + 1:
                raise ValueError(
                    f"{path}:{line_number}: expected a word and {dim} numbers, "
                    f"got {len(parts) - 1} fields"
                )
            word_id = vocab.word2id.get(parts[0])
            if word_id is not None and word_id not in found:
                found[word_id] = np.asarray(parts[1:], dtype=np.float32)
    if dim is None:
        raise ValueError(f"{path}: no word vectors found")
    weights = torch.zeros(vocab.num_embeddings, dim, dtype=torch.float32)
    for word_id, vector in found.items():
        weights[word_id] = torch.from_numpy(vector)
    missing = [word for word, word_id in vocab.word2id.items() if word_id not in found]
    return weights, missing


def load_aligned_npy(path: str | PathLike, vocab: Vocabulary) -> tuple[torch.Tensor, list[str]]:
    """Read a [rows, dim] `.npy` whose row i is the vector of word id i.

    rows must be `vocab.num_embeddings`, or one less when the file has no unknown-word row (DRN's
    `charades_glove_1302x300.npy` for its 1,301-word vocabulary): that row is then zeros.
    `missing` lists the words whose row is all zeros.
    """
    path = Path(path)
    matrix = np.load(path)
    rows = vocab.num_embeddings
    if matrix.ndim != 2 or matrix.shape[0] not in (rows, rows - 1):
        raise ValueError(
            f"{path}: expected word vectors of shape [{rows} or {rows - 1}, dim] for {vocab!r}, "
            f"got {matrix.shape}"
        )
    weights = torch.zeros(rows, matrix.shape[1], dtype=torch.float32)
    weights[: matrix.shape[0]] = torch.from_numpy(matrix.astype(np.float32, copy=False))
    zero_rows = (weights == 0).all(dim=1)
    missing = [word for word, word_id in vocab.word2id.items() if zero_rows[word_id]]
    return weights, missing


def load_word_vectors(path: str | PathLike, vocab: Vocabulary) -> tuple[torch.Tensor, list[str]]:
    """`load_aligned_npy` for a `.npy` file, else `load_glove_text`."""
    if Path(path).suffix == ".npy":
        return load_aligned_npy(path, vocab)
    return load_glove_text(path, vocab)
