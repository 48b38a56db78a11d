"""Sentence encoder: word embeddings, a padded BiLSTM and DRN's three-level query attention."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from drn.model.config import DRNConfig
from drn.model.precision import at_least_fp32

NUM_LEVELS = 3


def on_host(tensor: Tensor) -> bool:
    """Whether reading `tensor`'s values costs no device sync (it lives in host memory) and no
    graph break (not while `torch.compile` traces)."""
    return tensor.device.type == "cpu" and not torch.compiler.is_compiling()


def reversal_index(lengths: Tensor, max_len: int) -> Tensor:
    """[B, L] int64: position i of row b holds lengths[b] - 1 - i for the real words, i for the
    padding. Gathering with it reverses each sentence in place and leaves its padding where it is;
    it is its own inverse."""
    positions = torch.arange(max_len, device=lengths.device)[None, :]
    return torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)


def lstm_direction(inputs: Tensor, weights: list[Tensor], hidden: int) -> Tensor:
    """One direction of a one-layer LSTM from zero states, left to right over [B, L, E] `inputs`
    (weights: w_ih, w_hh, b_ih, b_hh); returns [B, L, hidden]."""
    zeros = inputs.new_zeros(1, inputs.shape[0], hidden)
    states, _, _ = torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, False, False, True)
    return states


@dataclass
class QueryEncoding:
    """What `QueryEncoder` returns for a batch of B queries padded to L words.

    words: [B, L, 2H] BiLSTM state of each word (forward ; backward); zero at padded positions.
    sentence: [B, 4H] q = [H_first ; H_last].
    commands: three tensors [B, width_l], the attended query of each level projected to the
        width of the feature it multiplies (D, C1, C2).
    attention: [B, 3, L] attention of each level over the words; zero at padded positions.
    """

    words: Tensor
    sentence: Tensor
    commands: list[Tensor]
    attention: Tensor


class QueryEncoder(nn.Module):
    """Encode padded word ids into one query vector per level (DRN section 3).

    Word states: H_i = [h_fwd_i ; h_bwd_i] of a one-layer BiLSTM on the padded batch in which
    neither direction reads a padded position before a real word: the forward direction runs left
    to right (padding comes after the words), the backward one runs left to right over each
    sentence reversed in place, so it starts at the last real word. The states equal those of a
    packed sequence (`pack_padded_sequence`) to float rounding, and the batch needs no host data:
    its shapes do not depend on the lengths, so `torch.compile` and CUDA graphs take it whole.

    Sentence vector q = [H_first ; H_last] with H_first = H_0 and H_last = H_{len-1}: H_0 holds the
    forward state after the first word and the backward state after the whole sentence, H_{len-1}
    the forward state after the whole sentence and the backward state after the last word.

    Level t: c_t = W_t ReLU(W_q q); a_t = softmax over the valid words of w_a(c_t * H_i);
    cmd_t = sum_i a_t,i H_i, then a per-level Linear to the width of that level's input (D for
    the clip features, then C1 and C2 widths).

    With `config.text_feature_dim > 0` the input is precomputed token features [B, L, D_text]
    (e.g. CLIP text's last hidden state) and there is no embedding table: they feed the BiLSTM.

    Args:
        config: the model's `DRNConfig`.
        word_vectors: optional [vocab_size, embedding_dim] initial embeddings (e.g. GloVe);
            they stay trainable.
    """

    def __init__(self, config: DRNConfig, word_vectors: Tensor | None = None) -> None:
        super().__init__()
        self.padding_idx = config.padding_idx
        self.vocab_size = config.vocab_size
        self.text_feature_dim = config.text_feature_dim
        if self.text_feature_dim:
            if word_vectors is not None:
                raise ValueError("word_vectors cannot initialise a query encoder that reads text features "
                                 f"(text_feature_dim = {self.text_feature_dim}); drop data.glove")
            self.embedding = None
        else:
            self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.padding_idx)
        if word_vectors is not None:
            expected = (config.vocab_size, config.embedding_dim)
            if tuple(word_vectors.shape) != expected:
                raise ValueError(
                    f"word_vectors must have shape [vocab_size, embedding_dim] = {list(expected)}, "
                    f"got {list(word_vectors.shape)}; build the vectors from the same vocabulary as the config")
            with torch.no_grad():
                self.embedding.weight.copy_(word_vectors)
        input_dim = self.text_feature_dim or config.embedding_dim
        self.lstm = nn.LSTM(input_dim, config.lstm_hidden, num_layers=1,
                            batch_first=True, bidirectional=True)

        word_dim = 2 * config.lstm_hidden
        self.sentence_proj = nn.Linear(2 * word_dim, config.attention_dim)  # W_q, shared
        self.level_proj = nn.ModuleList(nn.Linear(config.attention_dim, word_dim) for _ in range(NUM_LEVELS))  # W_t
        self.attention_score = nn.Linear(word_dim, 1)  # w_a, shared
        fused_widths = (config.feature_dim, config.level_channels[0], config.level_channels[1])
        self.command_proj = nn.ModuleList(nn.Linear(word_dim, width) for width in fused_widths)

    def _word_states(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """embedded: [B, L, E] word vectors; lengths: [B] int64 on their device. Returns the BiLSTM
        states [B, L, 2H], zero at padded positions."""
        lstm, max_len = self.lstm, embedded.shape[1]
        reverse = reversal_index(lengths, max_len)[..., None]  # [B, L, 1]
        forward = lstm_direction(embedded, [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                            lstm.bias_hh_l0], lstm.hidden_size)
        reversed_words = embedded.gather(1, reverse.expand(-1, -1, embedded.shape[2]))
        backward = lstm_direction(reversed_words, [lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse,
                                                   lstm.bias_ih_l0_reverse, lstm.bias_hh_l0_reverse], lstm.hidden_size)
        backward = backward.gather(1, reverse.expand(-1, -1, backward.shape[2]))
        valid = torch.arange(max_len, device=lengths.device)[None, :, None] < lengths[:, None, None]
        return torch.cat([forward, backward], dim=-1) * valid

    def forward(self, words: Tensor, lengths: Tensor) -> QueryEncoding:
        """words: [B, L] int64 ids, padded with `padding_idx` after each query (or, with
        `text_feature_dim`, float [B, L, D_text] token features); lengths: [B] int64, the real
        words of each query (1 <= length <= L)."""
        if self.text_feature_dim:
            if words.dim() != 3 or not words.is_floating_point() or words.shape[2] != self.text_feature_dim:
                raise ValueError(f"words must be float text features [B, L, {self.text_feature_dim}], got shape "
                                 f"{list(words.shape)} dtype {words.dtype}")
        elif words.dim() != 2 or words.dtype != torch.int64:
            raise ValueError(f"words must be a [B, L] int64 tensor, got shape {list(words.shape)} dtype {words.dtype}")
        batch, max_len = words.shape[:2]
        if lengths.shape != (batch,) or lengths.dtype != torch.int64:
            raise ValueError(
                f"lengths must be a [B] = [{batch}] int64 tensor, got shape {list(lengths.shape)} dtype {lengths.dtype}")
        # Values are checked where reading them costs no device sync (see `on_host`); on a GPU an
        # out-of-range id trips the embedding's assert.
        if on_host(lengths) and batch and (lengths.min() < 1 or lengths.max() > max_len):
            raise ValueError(
                f"every query length must lie in [1, L={max_len}], got min {int(lengths.min())} "
                f"max {int(lengths.max())}; drop empty queries before batching")
        if not self.text_feature_dim and on_host(words) and words.numel() and (
                words.min() < 0 or words.max() >= self.vocab_size):
            raise ValueError(
                f"word ids must lie in [0, vocab_size={self.vocab_size}), got min {int(words.min())} "
                f"max {int(words.max())}; the vocabulary and the config disagree")

        embedded = words if self.embedding is None else self.embedding(words)
        lengths = lengths.to(words.device, non_blocking=True)  # host to device: no wait for the device
        states = self._word_states(embedded, lengths)  # [B, L, 2H]
        arange = torch.arange(batch, device=words.device)
        sentence = torch.cat([states[:, 0], states[arange, lengths - 1]], dim=-1)  # [B, 4H]

        valid = torch.arange(max_len, device=words.device)[None, :] < lengths[:, None]
        shared = torch.relu(self.sentence_proj(sentence))
        commands, attentions = [], []
        for level in range(NUM_LEVELS):
            context = self.level_proj[level](shared)  # c_t: [B, 2H]
            scores = self.attention_score(context[:, None, :] * states).squeeze(-1)  # [B, L]
            scores = at_least_fp32(scores).masked_fill(~valid, float("-inf"))
            weights = torch.softmax(scores, dim=-1).to(states.dtype)
            attended = torch.bmm(weights[:, None, :], states).squeeze(1)  # [B, 2H]
            commands.append(self.command_proj[level](attended))
            attentions.append(weights)
        return QueryEncoding(states, sentence, commands, torch.stack(attentions, dim=1))
