import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from drn.model.query_encoder import QueryEncoder


@pytest.fixture
def encoder(small_config):
    torch.manual_seed(0)
    return QueryEncoder(small_config()).eval()


def test_shapes_and_attention_is_a_distribution_over_valid_words(encoder, small_config, make_batch):
    cfg = small_config()
    _, words, lengths = make_batch(cfg, 4, lengths=[7, 3, 1, 5])
    enc = encoder(words, lengths)
    assert enc.words.shape == (4, 7, 32) and enc.sentence.shape == (4, 64)
    assert [c.shape for c in enc.commands] == [(4, 64), (4, 16), (4, 32)]
    assert enc.attention.shape == (4, 3, 7)
    padded = torch.arange(7)[None, :] >= lengths[:, None]
    assert torch.all(enc.attention.masked_select(padded[:, None, :].expand_as(enc.attention)) == 0)
    assert torch.allclose(enc.attention.sum(-1), torch.ones(4, 3))
    assert torch.all(enc.words[padded] == 0)
    # H_last of each query is the state at its own last word, not at a padded position.
    assert torch.equal(enc.sentence[1, 32:], enc.words[1, 2])


def test_padded_token_ids_change_nothing(encoder, small_config, make_batch):
    _, words, lengths = make_batch(small_config(), 4, lengths=[7, 3, 1, 5])
    other = words.clone()
    padded = torch.arange(7)[None, :] >= lengths[:, None]
    other[padded] = torch.randint(1, 50, (int(padded.sum()),))
    assert not torch.equal(other, words)
    a, b = encoder(words, lengths), encoder(other, lengths)
    for x, y in zip([a.words, a.sentence, a.attention, *a.commands], [b.words, b.sentence, b.attention, *b.commands]):
        assert torch.equal(x, y)


def test_word_vectors_initialise_the_embedding(small_config):
    cfg = small_config()
    vectors = torch.randn(cfg.vocab_size, cfg.embedding_dim)
    enc = QueryEncoder(cfg, vectors)
    assert torch.equal(enc.embedding.weight.detach(), vectors) and enc.embedding.weight.requires_grad
    with pytest.raises(ValueError, match="word_vectors must have shape"):
        QueryEncoder(cfg, torch.randn(cfg.vocab_size + 1, cfg.embedding_dim))


@pytest.mark.parametrize("lengths, message", [([0, 2], "query length"), ([3, 2], "query length"),
                                              ([2], "lengths must be")])
def test_bad_lengths_are_reported(encoder, lengths, message):
    with pytest.raises(ValueError, match=message):
        encoder(torch.ones(2, 2, dtype=torch.int64), torch.tensor(lengths))


def test_out_of_vocabulary_id_is_reported(encoder):
    with pytest.raises(ValueError, match="vocab_size=50"):
        encoder(torch.tensor([[1, 50]]), torch.tensor([2]))


def packed_word_states(encoder, embedded, lengths):
    """The BiLSTM states of a packed sequence (what the encoder computed before it padded)."""
    packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
    states, _ = encoder.lstm(packed)
    return pad_packed_sequence(states, batch_first=True, total_length=embedded.shape[1])[0]


@pytest.mark.parametrize("lengths", [[7, 3, 1, 5, 7, 2], [4, 4, 4], [1]], ids=["mixed", "equal", "one-word"])
def test_padded_bilstm_equals_the_packed_one_with_its_gradients(small_config, lengths):
    torch.manual_seed(0)
    encoder = QueryEncoder(small_config(lstm_hidden=64, embedding_dim=48)).train()
    lengths = torch.tensor(lengths)
    embedded = torch.randn(len(lengths), int(lengths.max()) + 2, 48, requires_grad=True)  # 2 more padded steps
    upstream = torch.randn(len(lengths), embedded.shape[1], 128)
    inputs = [embedded, *encoder.lstm.parameters()]

    padded = encoder._word_states(embedded, lengths)
    packed = packed_word_states(encoder, embedded, lengths)
    torch.testing.assert_close(padded, packed, rtol=0, atol=1e-6)
    assert torch.all(padded[torch.arange(embedded.shape[1])[None, :] >= lengths[:, None]] == 0)
    for ours, theirs in zip(torch.autograd.grad((padded * upstream).sum(), inputs),
                            torch.autograd.grad((packed * upstream).sum(), inputs)):
        scale = theirs.abs().max().item()
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6 * max(scale, 1.0))
