"""The Dense Regression Network: query encoder, fusion backbone, feature pyramid and heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from drn.model.backbone import FusionBackbone
from drn.model.config import DRNConfig
from drn.model.fpn import FeaturePyramid
from drn.model.heads import DenseHeads, IoUHead, SaliencyHead
from drn.model.init import init_as_published
from drn.model.locations import location_points
from drn.model.precision import at_least_fp32
from drn.model.query_encoder import QueryEncoder

STAGES = (1, 2, 3)


@dataclass
class DRNOutput:
    """Dense predictions of `DRN` for B videos of T clips; one list entry per level (strides 1, 2, 4).

    match_logits: [B, T_l] semantic matching logits (the autocast dtype under autocast).
    distances: [B, T_l, 2] fp32 predicted (l, r) > 0 from each location, in clip units.
    iou_logits: [B, T_l] logits of the IoU head.
    points: [T_l] fp32 location centres, in clip units.
    attention: [B, 3, L] query attention of each level over the words (zero on padding).
    num_clips: T.
    saliency_logits: [B, T] per-clip highlight logits of the saliency head, or None (no head).
    A float64 model (`model.double()` on float64 features) gives fp64 where this says fp32.
    """

    match_logits: list[Tensor]
    distances: list[Tensor]
    iou_logits: list[Tensor]
    points: list[Tensor]
    attention: Tensor
    num_clips: int
    saliency_logits: Tensor | None = None

    @property
    def match_probs(self) -> list[Tensor]:
        """[B, T_l] fp32 sigmoid of the matching logits."""
        return [torch.sigmoid(at_least_fp32(x)) for x in self.match_logits]

    @property
    def iou_probs(self) -> list[Tensor]:
        """[B, T_l] fp32 predicted IoU of each location's segment."""
        return [torch.sigmoid(at_least_fp32(x)) for x in self.iou_logits]


@dataclass
class VideoEncoding:
    """The query-independent part of DRN's forward for V videos (`DRN.encode_video`).

    clips: [V, T, D] the clip features after the Linear(D, D) projection.
    positions: [T, P] the clips' temporal position embedding.
    """

    clips: Tensor
    positions: Tensor


class DRN(nn.Module):
    """Dense Regression Network (Zeng et al., CVPR 2020) for temporal video grounding.

    Training runs in three stages (`set_stage`):
        1: everything but the IoU head learns (matching + regression losses, and the saliency
           head's ranking loss when the model has one).
        2: only the IoU head learns; everything before it runs without gradients, and the
           BatchNorm layers of those frozen parts stay in eval mode even under `model.train()`:
           in train mode they would normalise with batch statistics and overwrite their running
           statistics, so the frozen network would change its inference behaviour and feed the
           IoU head (and its targets, decoded from the regression) features it never sees at
           test time.
        3: everything learns (all three losses).
    The stage only decides gradients and BN modes; the forward always returns every output.

    Args:
        config: the `DRNConfig`.
        word_vectors: optional [vocab_size, embedding_dim] initial word embeddings (GloVe).
    """

    def __init__(self, config: DRNConfig, word_vectors: Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.query_encoder = QueryEncoder(config, word_vectors)
        self.backbone = FusionBackbone(config)
        self.fpn = FeaturePyramid(config.level_channels, config.fpn_channels)
        self.heads = DenseHeads(config.fpn_channels, len(config.strides), config.prior_prob, config.head_init_std,
                                config.head_norm)
        self.iou_head = IoUHead(config.fpn_channels, config.head_init_std, len(config.strides), config.head_norm)
        self.saliency_head = SaliencyHead(config.fpn_channels, config.head_init_std) if config.saliency_head else None
        init_as_published(self)
        self.set_stage(1)

    def stage_modules(self, stage: int) -> dict[str, nn.Module]:
        """The named sub-modules that learn in `stage` (1, 2 or 3)."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        dense = {"query_encoder": self.query_encoder, "backbone": self.backbone, "fpn": self.fpn,
                 "heads": self.heads}
        if self.saliency_head is not None:
            dense["saliency_head"] = self.saliency_head
        if stage == 1:
            return dense
        if stage == 2:
            return {"iou_head": self.iou_head}
        return {**dense, "iou_head": self.iou_head}

    def parameter_groups(self, stage: int | None = None) -> list[dict]:
        """Optimizer parameter groups for `stage` (default: the current one), one per sub-module,
        each {"name": str, "params": list[Parameter]}; pass them straight to `torch.optim.Adam`."""
        stage = self.stage if stage is None else stage
        return [{"name": name, "params": list(module.parameters())}
                for name, module in self.stage_modules(stage).items()]

    def set_stage(self, stage: int) -> DRN:
        """Switch to training stage 1, 2 or 3: sets `requires_grad` of every parameter and the
        BatchNorm modes (see the class docstring). Returns self."""
        learning = {id(p) for group in self.parameter_groups(stage) for p in group["params"]}
        self.stage = stage
        for p in self.parameters():
            p.requires_grad_(id(p) in learning)
        return self.train(self.training)

    def train(self, mode: bool = True) -> DRN:
        super().train(mode)
        if mode and self.stage == 2:
            for name, child in self.named_children():
                if name != "iou_head":
                    child.eval()
        return self

    def _check_features(self, features: Tensor) -> None:
        cfg = self.config
        if features.dim() != 3 or not features.is_floating_point():
            raise ValueError(f"features must be a float [B, T, D] tensor, got shape {list(features.shape)} "
                             f"dtype {features.dtype}")
        if features.shape[1:] != (cfg.num_clips, cfg.feature_dim):
            raise ValueError(
                f"features must have T = num_clips = {cfg.num_clips} clips of D = feature_dim = {cfg.feature_dim}, "
                f"got [B, T, D] = {list(features.shape)}; resample the video or fix the config")

    def encode_video(self, features: Tensor) -> VideoEncoding:
        """The query-independent part of the forward, once per video: features [V, T, D] float clip
        features of V videos -> a `VideoEncoding` for `forward_queries`."""
        self._check_features(features)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.stage != 2):
            clips, positions = self.backbone.encode_video(features)
        return VideoEncoding(clips, positions)

    def forward_queries(self, video: VideoEncoding, words: Tensor, lengths: Tensor,
                        video_index: Tensor | None = None) -> DRNOutput:
        """The per-query part of the forward: B queries, each grounded in one of V encoded videos.

        video: `encode_video` of [V, T, D] features; words: [B, L] int64 word ids padded with 0 (or
        [B, L, D_text] float token features when `config.text_feature_dim` > 0); lengths: [B] int64
        real words per query (on any device: the padded BiLSTM reads them there; their values are
        checked when they are on the host); video_index: [B] int64, the video of each query (None:
        query b in video b, B = V). Outputs equal `forward` on the features of each query's video, bit for bit
        (on CPU in float32; see `FusionBackbone`).
        """
        num_videos = video.clips.shape[0]
        if video_index is None:
            batch = num_videos
        elif video_index.dim() != 1 or video_index.dtype != torch.int64:
            raise ValueError(f"video_index must be a [B] int64 tensor, got shape {list(video_index.shape)} "
                             f"dtype {video_index.dtype}")
        else:
            batch = video_index.shape[0]
        if words.dim() not in (2, 3) or words.shape[0] != batch:
            raise ValueError(f"words must be [B, L] (or [B, L, D_text]) with B = {batch} (the features' batch "
                             f"or video_index's length), "
                             f"got {list(words.shape)}")

        # Stage 2 trains the IoU head alone: no graph for anything before it.
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.stage != 2):
            query = self.query_encoder(words, lengths)
        return self.forward_commands(video, query.commands, query.attention, video_index)

    def forward_commands(self, video: VideoEncoding, commands: list[Tensor], attention: Tensor,
                         video_index: Tensor | None = None) -> DRNOutput:
        """`forward_queries` after the query encoder: `commands` and `attention` of B encoded queries
        (`QueryEncoding`'s), each grounded in its video of `video` (video_index as there)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.stage != 2):
            levels = self.fpn(self.backbone.fuse(video.clips, video.positions, commands, video_index))
            match_logits, distances, cls_feats, box_feats = self.heads(levels)
            saliency = self.saliency_head(cls_feats[0]) if self.saliency_head is not None else None
        iou_logits = self.iou_head(cls_feats, box_feats)
        clips = video.clips
        points = location_points(self.config.num_clips, self.config.strides, clips.device, at_least_fp32(clips).dtype)
        return DRNOutput(match_logits, distances, iou_logits, points, attention, self.config.num_clips, saliency)

    def forward(self, features: Tensor, words: Tensor, lengths: Tensor, video_index: Tensor | None = None
                ) -> DRNOutput:
        """features: [B, T, D] float clip features, one per query; or [V, T, D], one per video,
        with video_index [B] int64 naming each query's video (each video's Linear(D, D) then runs
        once for all its queries); words: [B, L] int64 word ids padded with 0 (or [B, L, D_text]
        float token features when `config.text_feature_dim` > 0); lengths: [B] int64 real words
        per query. Returns a `DRNOutput`."""
        return self.forward_queries(self.encode_video(features), words, lengths, video_index)
