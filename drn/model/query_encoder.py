"""Sentence encoder: word embeddings, a packed BiLSTM and DRN's three-level query attention."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from drn.model.config import DRNConfig
from drn.model.precision import at_least_fp32

NUM_LEVELS = 3


def on_host(tensor: Tensor) -> bool:
    """Whether reading `tensor`'s values costs no device sync (it lives in host memory)."""
    return tensor.device.type == "cpu"


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

    Word states: H_i = [h_fwd_i ; h_bwd_i] of a one-layer BiLSTM run on the packed sequence, so
    neither direction ever reads a padded position: h_bwd starts at the last real word.

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

    def _word_states(self, embedded: Tensor, lengths_cpu: Tensor) -> Tensor:
        """embedded: [B, L, E] word vectors; lengths_cpu: [B] int64 on the CPU. Returns the BiLSTM
        states [B, L, 2H], zero at padded positions.

        What pack_padded_sequence(enforce_sorted=False) and pad_packed_sequence do, without their
        device-to-host copy of the permutation (a sync per step on a GPU): the lengths are sorted
        on the host (the same sort), the permutations move to the device, and the states return
        to the batch order with the inverse permutation on the device.
        """
        max_len = embedded.shape[1]
        sorted_lengths, order = torch.sort(lengths_cpu, descending=True)
        order = order.to(embedded.device, non_blocking=True)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        packed = pack_padded_sequence(embedded.index_select(0, order), sorted_lengths, batch_first=True)
        states, _ = self.lstm(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=max_len)
        return states.index_select(0, inverse)

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
        # The packed LSTM reads the lengths on the host: a CPU tensor costs nothing, a device one a sync.
        lengths_cpu = lengths.cpu()
        if batch and (lengths_cpu.min() < 1 or lengths_cpu.max() > max_len):
            raise ValueError(
                f"every query length must lie in [1, L={max_len}], got min {int(lengths_cpu.min())} "
                f"max {int(lengths_cpu.max())}; drop empty queries before batching")
        # Checked where it costs no device sync; on a GPU an out-of-range id trips the embedding's assert.
        if not self.text_feature_dim and on_host(words) and words.numel() and (
                words.min() < 0 or words.max() >= self.vocab_size):
            raise ValueError(
                f"word ids must lie in [0, vocab_size={self.vocab_size}), got min {int(words.min())} "
                f"max {int(words.max())}; the vocabulary and the config disagree")

        embedded = words if self.embedding is None else self.embedding(words)
        states = self._word_states(embedded, lengths_cpu)  # [B, L, 2H]
        lengths = lengths.to(words.device, non_blocking=True)  # host to device: no wait for the device
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
