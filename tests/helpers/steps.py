"""A tiny DRN config and random training batches in the form `training_step` reads."""

from __future__ import annotations

import torch

from drn.model import DRNConfig

SMALL = dict(feature_dim=64, vocab_size=50, embedding_dim=16, lstm_hidden=16, attention_dim=16,
             position_dim=8, level_channels=(16, 32, 64), fpn_channels=32)


def step_batch(config: DRNConfig, batch: int, seed: int = 0, max_len: int = 7) -> dict[str, torch.Tensor]:
    """Random features, words (padded after each sentence), lengths, one window per query (seconds),
    durations and window counts, as `drn.engine.epoch.batch_to_device` gives them."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (batch,), generator=gen)
    lengths[0] = max_len
    words = torch.randint(1, config.vocab_size, (batch, max_len), generator=gen)
    words[torch.arange(max_len)[None, :] >= lengths[:, None]] = 0
    starts = torch.rand(batch, generator=gen) * 20.0
    windows = torch.stack([starts, starts + 2.0 + torch.rand(batch, generator=gen) * 8.0], dim=1)[:, None]
    return {"features": torch.randn(batch, config.num_clips, config.feature_dim, generator=gen), "words": words,
            "lengths": lengths, "windows": windows, "duration": torch.full((batch,), 30.0),
            "num_windows": torch.ones(batch, dtype=torch.int64)}
