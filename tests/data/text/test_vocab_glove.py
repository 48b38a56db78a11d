"""Vocabulary (from sentences, from DRN's word2id JSON, save/load) and word vectors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from drn.data import Vocabulary, load_aligned_npy, load_glove_text, load_word_vectors, tokenize


def test_tokenize_lowercases_and_strips_punctuation():
    assert tokenize("A person opens the door, then sits.") == ["a", "person", "opens", "the", "door", "then", "sits"]
    assert tokenize("He/she takes the phone's case!") == ["he", "she", "takes", "the", "phone", "s", "case"]
    assert tokenize("  ...  ") == []


def test_vocabulary_from_sentences():
    vocab = Vocabulary.from_sentences(["The cat sat.", "the dog sat", "A cat!"])
    # By frequency (the 2, cat 2, sat 2), ties alphabetical, then the singletons.
    assert vocab.word2id == {"cat": 1, "sat": 2, "the": 3, "a": 4, "dog": 5}
    assert (vocab.pad_id, vocab.unk_id, vocab.num_embeddings, len(vocab)) == (0, 6, 7, 5)
    assert vocab.encode("The zebra sat") == [3, 6, 2]
    assert vocab.encode("") == []
    assert Vocabulary.from_sentences(["a a b"], min_count=2).word2id == {"a": 1}


def test_vocabulary_from_drn_word2id_json(shared_data):
    vocab = Vocabulary.load(shared_data / "charades_sta" / "drn_extras" / "Charades_word2id.json")
    assert len(vocab) == 1301
    assert vocab.unk_id == 1302 and vocab.num_embeddings == 1303
    assert vocab.encode("a person is putting a book on a shelf.") == [1, 2, 3, 4, 1, 5, 6, 1, 7]
    assert vocab.encode("a person qwertyuiop") == [1, 2, 1302]


def test_vocabulary_save_load_round_trip(tmp_path):
    vocab = Vocabulary({"door": 2, "open": 5})
    assert vocab.unk_id == 6  # max id + 1, even with gaps in the ids
    vocab.save(tmp_path / "v.json")
    saved = json.loads((tmp_path / "v.json").read_text())
    assert saved == {"word2id": {"door": 2, "open": 5}, "pad_id": 0, "unk_id": 6}
    assert Vocabulary.load(tmp_path / "v.json") == vocab


def test_vocabulary_rejects_bad_ids(tmp_path):
    with pytest.raises(ValueError, match="0 is padding"):
        Vocabulary({"a": 0})
    with pytest.raises(ValueError, match="distinct"):
        Vocabulary({"a": 1, "b": 1})
    (tmp_path / "bad.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(ValueError, match=r"bad\.json: expected a JSON object"):
        Vocabulary.load(tmp_path / "bad.json")


def _write_glove(path, lines):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("name", ["glove.txt", "glove.txt.gz"])
def test_glove_text_aligned_to_vocabulary(tmp_path, name):
    vocab = Vocabulary({"door": 1, "open": 2, "zebra": 3})
    path = tmp_path / name
    _write_glove(path, ["the 0.1 0.2 0.3", "open 1 2 3", "door -1 -2 -3.5", "door 9 9 9", "cat 0 0 1"])
    weights, missing = load_glove_text(path, vocab)
    assert weights.dtype == torch.float32 and weights.shape == (5, 3)
    torch.testing.assert_close(weights[1], torch.tensor([-1.0, -2.0, -3.5]))  # the first "door" wins
    torch.testing.assert_close(weights[2], torch.tensor([1.0, 2.0, 3.0]))
    assert missing == ["zebra"]
    assert not weights[[0, 3, 4]].any()  # pad, missing word, unk


def test_glove_text_word2vec_header_and_bad_line(tmp_path):
    vocab = Vocabulary({"door": 1})
    _write_glove(tmp_path / "w.txt", ["2 3", "door 1 2 3", "open 1 2"])
    with pytest.raises(ValueError, match=r"w\.txt:3: expected a word and 3 numbers, got 2"):
        load_glove_text(tmp_path / "w.txt", vocab)
    _write_glove(tmp_path / "ok.txt", ["2 3", "door 1 2 3"])
    weights, missing = load_word_vectors(tmp_path / "ok.txt", vocab)
    assert weights.shape == (3, 3) and missing == []


def test_drn_charades_glove_npy(shared_data):
    extras = shared_data / "charades_sta" / "drn_extras"
    vocab = Vocabulary.load(extras / "Charades_word2id.json")
    weights, missing = load_word_vectors(extras / "charades_glove_1302x300.npy", vocab)
    raw = np.load(extras / "charades_glove_1302x300.npy")
    assert weights.shape == (1303, 300) and weights.dtype == torch.float32
    np.testing.assert_array_equal(weights[:1302].numpy(), raw)
    assert not weights[1302].any()  # the unknown-word row the file lacks is added as zeros
    assert len(missing) == 58  # the README's out-of-GloVe words


def test_aligned_npy_wrong_rows(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((10, 4), np.float32))
    with pytest.raises(ValueError, match=r"w\.npy: expected word vectors of shape \[4 or 3, dim\].*\(10, 4\)"):
        load_aligned_npy(tmp_path / "w.npy", Vocabulary({"a": 1, "b": 2}))
