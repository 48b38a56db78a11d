"""Batch-invariant grounding: a query's ranked windows and curves are the same, bit for bit, alone or in
any batch with other queries and videos (what lets `drn serve` batch users), while the plain batched
forward is not (why the engine exists, and proof that the comparison can fail)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from drn.inference.grounder import Grounder
from drn.inference.invariant import PackedConv1d, can_be_invariant
from tests.helpers.checkpoints import MID_FEATURE_DIM as FEATURE_DIM
from tests.helpers.checkpoints import MID_MODEL, random_checkpoint

DURATIONS = (24.0, 40.0, 62.5)
SENTENCES = ("a person opens the door", "the person sits", "a person drinks from a cup", "door",
             "opens the door on the sofa", "a cup", "person sits on the sofa drinks from the cup")


@pytest.fixture(scope="module")
def grounder(tmp_path_factory):
    logging.getLogger("drn.inference.grounder").setLevel(logging.ERROR)  # unknown words: expected here
    return Grounder(random_checkpoint(tmp_path_factory.mktemp("mid") / "mid.pt", FEATURE_DIM, model=MID_MODEL))


@pytest.fixture(scope="module")
def clips(grounder):
    rng = np.random.default_rng(0)
    return [grounder.clips(rng.standard_normal((int(d), FEATURE_DIM)).astype(np.float32)) for d in DURATIONS]


@pytest.mark.parametrize("threads, sizes", [(1, (2, 3, 5, 8, 16, 17, 24)), (2, (3, 17))])
def test_a_query_is_answered_the_same_in_any_batch(grounder, clips, threads, sizes):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        engine = grounder.engine
        assert engine.invariant
        videos = [engine.encode_video(c) for c in clips]
        sentences = {s: engine.encode_sentence(*grounder.encode([s])) for s in SENTENCES}
        alone = {(v, s): engine.ground([videos[v]], [sentences[s]], [0], [DURATIONS[v]])[0]
                 for v in range(len(videos)) for s in SENTENCES}
        rng = np.random.default_rng(threads)
        differing, asked = [], 0
        for size in sizes:
            asks = [(int(rng.integers(len(videos))), SENTENCES[int(rng.integers(len(SENTENCES)))]) for _ in range(size)]
            used = sorted({v for v, _ in asks})
            answers = engine.ground([videos[v] for v in used], [sentences[s] for _, s in asks],
                                    [used.index(v) for v, _ in asks], [DURATIONS[v] for v, _ in asks])
            for ask, answer in zip(asks, answers):
                asked += 1
                if answer != alone[ask]:
                    differing.append((size, ask))
        assert asked == sum(sizes) and differing == []
        assert len({tuple(map(tuple, a.windows)) for a in alone.values()}) > len(SENTENCES)  # the answers differ
    finally:
        torch.set_num_threads(before)


def test_the_plain_batched_forward_is_not_invariant(grounder, clips, one_thread):
    """The model's own forward on a batch: its rows differ from the same queries alone."""
    model = grounder.model
    with torch.no_grad():
        video = model.encode_video(torch.stack(clips))
        words, lengths = grounder.encode(list(SENTENCES))
        index = torch.arange(len(SENTENCES)) % len(clips)
        batched = model.forward_queries(video, words, lengths, index)
        same = []
        for b, sentence in enumerate(SENTENCES):
            one_words, one_length = grounder.encode([sentence])
            alone = model.forward_queries(video, one_words, one_length, index[b:b + 1])
            same.append(all(torch.equal(x[b], y[0]) for x, y in zip(batched.match_logits, alone.match_logits)))
    assert not all(same)


def test_the_grounder_answers_a_query_the_same_whatever_else_it_is_asked(grounder, one_thread):
    features = np.random.default_rng(5).standard_normal((40, FEATURE_DIM)).astype(np.float32)
    together = grounder.ground(features, list(SENTENCES), 40.0)
    for sentence, row in zip(SENTENCES, together):
        assert grounder.ground(features, [sentence], 40.0)[0] == row


@pytest.mark.parametrize("kernel, stride, bias", [(3, 1, False), (3, 2, False), (1, 1, True), (3, 1, True)])
def test_a_packed_convolution_computes_the_convolution(kernel, stride, bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(24, 40, kernel, stride=stride, padding=kernel // 2, bias=bias)
    x = torch.randn(3, 24, 16)
    with torch.no_grad():
        expected, packed = conv(x), PackedConv1d(conv)(x)
    assert packed.shape == expected.shape
    torch.testing.assert_close(packed, expected, rtol=1e-5, atol=1e-5)


def test_autocast_or_float64_models_run_as_they_are(grounder):
    assert can_be_invariant(grounder.model, "fp32")
    assert not can_be_invariant(grounder.model, "bf16")
    assert not can_be_invariant(torch.nn.Linear(2, 2).double(), "fp32")
