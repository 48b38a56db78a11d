"""Shared fixtures of the model tests: a small config and random batches."""

import pytest
import torch

from drn.model.config import DRNConfig
from tests.helpers.steps import SMALL


@pytest.fixture
def small_config():
    """A DRNConfig with tiny widths; keyword overrides, e.g. small_config(num_clips=64)."""
    def make(**overrides):
        return DRNConfig(**{**SMALL, **overrides})
    return make


@pytest.fixture
def make_batch():
    """Random (features [B, T, D], words [B, L] padded with 0, lengths [B]) for a config."""
    def make(config, batch, max_len=7, seed=0, lengths=None):
        gen = torch.Generator().manual_seed(seed)
        features = torch.randn(batch, config.num_clips, config.feature_dim, generator=gen)
        if lengths is None:
            lengths = torch.randint(1, max_len + 1, (batch,), generator=gen)
            lengths[0] = max_len
        lengths = torch.as_tensor(lengths, dtype=torch.int64)
        words = torch.randint(1, config.vocab_size, (batch, int(lengths.max())), generator=gen)
        words[torch.arange(words.shape[1])[None, :] >= lengths[:, None]] = 0
        return features, words, lengths
    return make
