"""The hyper-parameters of the DRN model, its losses and its inference, in one dataclass.

The defaults are DRN's published values for Charades-STA with C3D features (T = 32 clips,
D = 4096). Training-schedule values (stages, learning rates, epochs) live with the trainer, not
here. Every length is in clip units unless a name says seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# DRN's regression ranges are defined for 32 clips; other clip counts scale them by T / 32.
RANGES_REFERENCE_CLIPS = 32
HEAD_NORMS = ("published", "per_level", "group")  # see DRNConfig.head_norm
# The fields whose defaults depart from the published DRN, with the published values:
# `DRNConfig.published()` and the configs/*_published.yaml presets set them back.
PUBLISHED_VALUES = {"head_norm": "published", "feature_dropout": 0.0, "center_features": False,
                    "rank_loss_weight": 0.0, "saliency_head": False}


@dataclass
class DRNConfig:
    """Everything that shapes a DRN model, its losses and its post-processing.

    Architecture:
        feature_dim: D, the width of a clip feature (4096 C3D/VGG, 1024 or 2048 I3D).
        num_clips: T, the clips per video; divisible by 4 (two stride-2 levels).
        vocab_size: words in the vocabulary, padding id included (1302 for DRN's Charades-STA).
        padding_idx: the id of the padding word (0).
        embedding_dim: word-vector width (300, GloVe).
        text_feature_dim: 0 (DRN): the query is word ids, embedded (GloVe-initialised) here; > 0:
            the query comes as precomputed per-token features of this width (e.g. 512, CLIP
            text), fed to the BiLSTM in place of the word embeddings.
        lstm_hidden: BiLSTM hidden size per direction (512); a word state H_i has 2x this width.
        attention_dim: output of the shared sentence projection W_q (512).
        position_dim: width of the temporal position embedding of each clip (256).
        level_channels: output channels of the conv levels C1, C2, C3 (256, 512, 1024).
        fpn_channels: width of the FPN levels and of the head towers (512); the IoU head mixes the
            two towers 2F -> F and narrows F -> F / 2 (1024 -> 512 -> 256 at the defaults).
        head_norm: how the head convolutions, shared across levels, normalise each level
            (`drn.model.heads.SharedLevelConv`): "published" (DRN's one BatchNorm called per
            level, whose running statistics mix the levels), "per_level" (one BatchNorm per
            level) or "group" (GroupNorm).
        feature_dropout: dropout probability of the clip features' dimensions in training, before
            the Linear(D, D) (0: none, as published).
        center_features: subtract each video's mean clip feature (over its T clips) before the
            Linear(D, D) (False: as published).

    Targets and losses:
        regression_ranges: per level (low, high) bounds on max(l*, r*) for a positive location,
            in clip units for T = 32; `scaled_regression_ranges()` scales them by T / 32.
        focal_alpha, focal_gamma: sigmoid focal loss of the matching head (0.25, 2).
        prior_prob: initial matching probability; the matching bias is -log((1 - p) / p).
        head_init_std: standard deviation of the head convolutions' normal init (0.01).
        iou_loss_threshold: the IoU head is trained on locations whose decoded segment has a
            true IoU above this with the ground truth (0.9).
        smooth_l1_beta: beta of the IoU head's Smooth-L1 loss (1).
        rank_loss_weight: weight of a softmax over each video's locations that ranks the moment's
            above the rest of the video (`drn.model.losses.video_ranking_loss`), added to the
            matching loss (0: none, as published).
        saliency_head: a per-clip highlight-detection head (`drn.model.heads.SaliencyHead`),
            trained on QVHighlights-style saliency annotations with a ranking loss; without it
            saliency is read off the matching probabilities (`drn.model.saliency`). The
            experiment config's default, "auto", turns it on when the training split has
            saliency annotations.

    Inference:
        score_threshold: a location is kept when sigmoid(match logit) > this (0.05).
        pre_nms_top_k: candidates kept per level before NMS (32).
        nms_threshold: temporal NMS IoU threshold (0.45).
        max_detections: ranked segments returned per query (10).
        whole_video_fallback: a query with no location above `score_threshold` gets the whole
            video with score 1 (DRN's official code; True) instead of an empty list (a miss).
    """

    feature_dim: int = 4096
    num_clips: int = 32
    vocab_size: int = 1302
    padding_idx: int = 0
    embedding_dim: int = 300
    text_feature_dim: int = 0
    lstm_hidden: int = 512
    attention_dim: int = 512
    position_dim: int = 256
    level_channels: tuple[int, int, int] = (256, 512, 1024)
    fpn_channels: int = 512
    head_norm: str = "per_level"
    feature_dropout: float = 0.0
    center_features: bool = True

    regression_ranges: tuple[tuple[float, float], ...] = ((-1.0, 6.0), (5.6, 11.0), (11.0, math.inf))
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    prior_prob: float = 0.01
    head_init_std: float = 0.01
    iou_loss_threshold: float = 0.9
    smooth_l1_beta: float = 1.0
    rank_loss_weight: float = 0.0
    saliency_head: bool = False

    score_threshold: float = 0.05
    pre_nms_top_k: int = 32
    nms_threshold: float = 0.45
    max_detections: int = 10
    whole_video_fallback: bool = True

    def __post_init__(self) -> None:
        # YAML gives lists; keep tuples so the config stays hashable and comparable.
        self.level_channels = tuple(int(c) for c in self.level_channels)
        self.regression_ranges = tuple((float(lo), float(hi)) for lo, hi in self.regression_ranges)

        for name in ("feature_dim", "num_clips", "vocab_size", "embedding_dim", "lstm_hidden",
                     "attention_dim", "position_dim", "fpn_channels", "pre_nms_top_k",
                     "max_detections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DRNConfig.{name} must be a positive integer, got {value!r}")
        if isinstance(self.text_feature_dim, bool) or not isinstance(self.text_feature_dim, int) \
                or self.text_feature_dim < 0:
            raise ValueError(f"DRNConfig.text_feature_dim must be an integer >= 0 (0: word ids), "
                             f"got {self.text_feature_dim!r}")
        if self.num_clips % 4 != 0:
            raise ValueError(
                f"DRNConfig.num_clips must be divisible by 4 (the model has two stride-2 levels), "
                f"got {self.num_clips}; resample the videos to e.g. {4 * max(1, round(self.num_clips / 4))} clips")
        if self.head_norm not in HEAD_NORMS:
            raise ValueError(f"DRNConfig.head_norm must be one of {HEAD_NORMS}, got {self.head_norm!r}")
        if self.fpn_channels % 2 != 0:
            raise ValueError(f"DRNConfig.fpn_channels must be even (the IoU head halves it), got {self.fpn_channels}")
        if not 0 <= self.padding_idx < self.vocab_size:
            raise ValueError(
                f"DRNConfig.padding_idx must lie in [0, vocab_size={self.vocab_size}), got {self.padding_idx}")
        if len(self.level_channels) != 3 or min(self.level_channels) < 1:
            raise ValueError(
                f"DRNConfig.level_channels must be three positive widths (C1, C2, C3), got {self.level_channels}")
        if len(self.regression_ranges) != 3:
            raise ValueError(
                f"DRNConfig.regression_ranges must hold one (low, high) pair per level (3), "
                f"got {len(self.regression_ranges)}: {self.regression_ranges}")
        for level, (lo, hi) in enumerate(self.regression_ranges):
            if math.isnan(lo) or math.isnan(hi) or not lo < hi:
                raise ValueError(
                    f"DRNConfig.regression_ranges[{level}] must satisfy low < high, got ({lo}, {hi})")
        if not 0.0 <= self.feature_dropout < 1.0:
            raise ValueError(f"DRNConfig.feature_dropout must lie in [0, 1), got {self.feature_dropout!r}")
        for name in ("focal_alpha", "iou_loss_threshold", "score_threshold", "nms_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"DRNConfig.{name} must lie in [0, 1], got {value!r}")
        if not 0.0 < self.prior_prob < 1.0:
            raise ValueError(f"DRNConfig.prior_prob must lie in (0, 1), got {self.prior_prob!r}")
        if self.focal_gamma < 0:
            raise ValueError(f"DRNConfig.focal_gamma must be >= 0, got {self.focal_gamma!r}")
        for name in ("whole_video_fallback", "center_features", "saliency_head"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"DRNConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.head_init_std <= 0:
            raise ValueError(f"DRNConfig.head_init_std must be > 0, got {self.head_init_std!r}")
        if self.rank_loss_weight < 0:
            raise ValueError(f"DRNConfig.rank_loss_weight must be >= 0, got {self.rank_loss_weight!r}")
        if self.smooth_l1_beta < 0:
            raise ValueError(f"DRNConfig.smooth_l1_beta must be >= 0, got {self.smooth_l1_beta!r}")

    @classmethod
    def published(cls, **fields) -> DRNConfig:
        """The published DRN's config (`PUBLISHED_VALUES` over the defaults), then `fields`."""
        return cls(**{**PUBLISHED_VALUES, **fields})

    @property
    def strides(self) -> tuple[int, int, int]:
        """Strides of the three levels in clips; fixed by the architecture (k3 s1, s2, s2)."""
        return (1, 2, 4)

    def level_lengths(self) -> tuple[int, int, int]:
        """Locations per level: T, T/2, T/4."""
        return tuple(self.num_clips // s for s in self.strides)

    def scaled_regression_ranges(self) -> tuple[tuple[float, float], ...]:
        """`regression_ranges` in clip units for `num_clips` clips (scaled by T / 32)."""
        scale = self.num_clips / RANGES_REFERENCE_CLIPS
        return tuple((lo * scale, hi * scale) for lo, hi in self.regression_ranges)
