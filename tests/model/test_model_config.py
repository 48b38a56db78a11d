import dataclasses
import math

import pytest

from drn.model.config import PUBLISHED_VALUES, DRNConfig


def test_defaults_are_drn_values():
    cfg = DRNConfig()
    assert (cfg.feature_dim, cfg.num_clips, cfg.embedding_dim, cfg.lstm_hidden) == (4096, 32, 300, 512)
    assert cfg.level_channels == (256, 512, 1024) and cfg.fpn_channels == 512
    assert cfg.strides == (1, 2, 4) and cfg.level_lengths() == (32, 16, 8)
    assert cfg.scaled_regression_ranges() == ((-1.0, 6.0), (5.6, 11.0), (11.0, math.inf))
    assert (cfg.focal_alpha, cfg.focal_gamma, cfg.prior_prob) == (0.25, 2.0, 0.01)
    assert (cfg.iou_loss_threshold, cfg.score_threshold, cfg.pre_nms_top_k, cfg.nms_threshold) == (0.9, 0.05, 32, 0.45)


def test_published_config_sets_back_every_departure_from_the_published_drn():
    published = DRNConfig.published(feature_dim=256)
    assert published.feature_dim == 256
    for name, value in PUBLISHED_VALUES.items():
        assert getattr(published, name) == value
    departures = {f.name for f in dataclasses.fields(DRNConfig) if getattr(DRNConfig(), f.name) != getattr(published, f.name)
                  and f.name != "feature_dim"}
    assert departures == set(PUBLISHED_VALUES) - {name for name, value in PUBLISHED_VALUES.items()
                                                   if getattr(DRNConfig(), name) == value}
    assert published.head_norm == "published" and DRNConfig().head_norm == "per_level"


def test_ranges_scale_with_clips_and_lists_become_tuples():
    cfg = DRNConfig(num_clips=64, level_channels=[8, 16, 32], regression_ranges=[[-1, 6], [5.6, 11], [11, "inf"]])
    assert cfg.level_channels == (8, 16, 32)
    assert cfg.scaled_regression_ranges() == ((-2.0, 12.0), (11.2, 22.0), (22.0, math.inf))
    assert cfg.level_lengths() == (64, 32, 16)


@pytest.mark.parametrize("overrides, message", [
    (dict(num_clips=30), "divisible by 4"),
    (dict(num_clips=0), "num_clips must be a positive integer"),
    (dict(feature_dim=2.5), "feature_dim must be a positive integer"),
    (dict(level_channels=(8, 16)), "level_channels"),
    (dict(regression_ranges=((0, 6), (6, 5), (11, math.inf))), r"regression_ranges\[1\]"),
    (dict(regression_ranges=((0, 6), (6, 11))), "one \\(low, high\\) pair per level"),
    (dict(focal_alpha=1.5), "focal_alpha"),
    (dict(prior_prob=0.0), "prior_prob"),
    (dict(nms_threshold=-0.1), "nms_threshold"),
    (dict(padding_idx=5000), "padding_idx"),
    (dict(fpn_channels=33), "fpn_channels must be even"),
    (dict(head_norm="layer"), "head_norm must be one of"),
    (dict(feature_dropout=1.0), "feature_dropout must lie in"),
    (dict(rank_loss_weight=-1.0), "rank_loss_weight must be >= 0"),
    (dict(center_features=1), "center_features must be true or false"),
    (dict(saliency_head="auto"), "saliency_head must be true or false"),
])
def test_invalid_values_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        DRNConfig(**overrides)
