"""A trained DRN loaded from a checkpoint, and grounding sentences in one video's features.

`config_from_checkpoint` rebuilds the run's experiment config (with `--set` overrides on top);
`Grounder` holds the model, its vocabulary and its inference settings.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from drn.config import DEFAULTS, ConfigError, apply_override, merge, upgrade_config, validate
from drn.data import PAD_ID, Vocabulary, open_features, resample_to_clips, tokenize
from drn.data.features import FeatureDimError, FeatureFileError, as_feature_tensor
from drn.engine.checkpoint import CheckpointError, check_compatible, load_checkpoint, load_model_state
from drn.engine.experiment import build_model, resolve_device
from drn.errors import UserError, reading
from drn.inference.invariant import BatchInvariantDRN
from drn.model import DRN, postprocess
from drn.model.drn import DRNOutput
from drn.model.postprocess import Prediction, inference_config
from drn.model.precision import InferencePrecision

logger = logging.getLogger(__name__)


class QueryError(UserError, ValueError):
    """A query the model cannot read (no word of it is in the vocabulary)."""


def config_from_checkpoint(payload: dict, overrides: Sequence[str], path: str | PathLike) -> dict:
    """The checkpoint's experiment config with `key=value` overrides applied and validated; an
    override that would change the network (e.g. model.fpn_channels) is a `CheckpointError`."""
    saved = upgrade_config(payload["config"], str(path))
    cfg = copy.deepcopy(DEFAULTS)  # a checkpoint from before a key was added gets its default
    try:
        merge(cfg, copy.deepcopy(saved), source=f"{path} (its saved config)")
        validate(cfg)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its saved config is invalid ({exc}); the checkpoint is damaged or from "
                              "another drn version") from None
    for item in overrides:
        apply_override(cfg, item)
    validate(cfg)
    check_compatible(saved, cfg, path)
    return cfg


def load_trained_model(path: str | PathLike, overrides: Sequence[str] = (), device: str | None = None
                       ) -> tuple[DRN, Vocabulary, dict, dict]:
    """(model in eval mode on its device, vocabulary, experiment config, checkpoint payload)."""
    payload = load_checkpoint(path, need="inference")
    cfg = config_from_checkpoint(payload, overrides, path)
    try:
        vocab = Vocabulary(payload["vocab"]["word2id"])
    except ValueError as exc:
        raise CheckpointError(f"{path} is a damaged drn checkpoint: its vocabulary is invalid ({exc})") from None
    model = build_model(cfg, vocab, load_glove=False)
    load_model_state(model, payload["model"], path)
    model.set_stage(payload["stage"]).eval()
    return model.to(resolve_device(device or str(cfg["train"]["device"]))), vocab, cfg, payload


def read_video_features(path: str | PathLike, vid: str | None = None) -> tuple[torch.Tensor, str]:
    """One video's [windows, D] features and the name to give them in messages: a `.npy` / `.pt`
    file, or `vid` in a feature folder or HDF5 file. A malformed file is a `FeatureFileError`;
    values are checked when they are grounded (`Grounder.clips`)."""
    path = Path(path)
    if path.is_file() and path.suffix in (".npy", ".pt"):
        with reading(path, "features [windows, D]", FeatureFileError):
            array = np.load(path) if path.suffix == ".npy" else torch.load(path, map_location="cpu", weights_only=True)
            return as_feature_tensor(array, str(path)).float(), str(path)
    source = open_features(path)
    if vid is None:
        raise FeatureFileError(f"{path} holds the features of many videos; name one with --vid")
    if vid not in source:
        raise FeatureFileError(f"{path} has no features for video {vid!r}")
    return source[vid], source.describe(vid)


class Grounder:
    """Ranks segments of one video for free-text queries with a trained DRN.

    Args:
        checkpoint: a checkpoint written by `drn train`.
        overrides: `key=value` config overrides (inference settings such as eval.top_k).
        device: where the model runs (default: the config's train.device).
    """

    def __init__(self, checkpoint: str | PathLike, overrides: Sequence[str] = (), device: str | None = None):
        self.model, self.vocab, self.cfg, payload = load_trained_model(checkpoint, overrides, device)
        self.checkpoint = str(checkpoint)
        self.device = next(self.model.parameters()).device
        self.use_iou = payload["stage"] > 1  # the IoU head is trained from stage 2 on
        self.config = inference_config(self.model.config, self.cfg["eval"])
        self.extraction: dict | None = payload.get("extraction")  # how its training features were extracted
        self.video_backbones: dict = {}  # (backbone, weights) -> loaded backbone, for drn.inference.video
        # eval.precision, with the weights cast once (`rank`); batch-invariant grounding (`ground`, drn
        # serve) in the same precision: a query's answer does not depend on the other queries asked
        # with it (exact in fp32 on a CPU; in bf16 drn serve runs each request on its own).
        self.forward = InferencePrecision(self.model, self.cfg["eval"]["precision"], self.device)
        self.engine = BatchInvariantDRN(self.model, self.config, self.use_iou, self.forward.precision)

    def encode(self, queries: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded word ids [B, L] and lengths [B]; `QueryError` for a query with no known word."""
        if self.model.config.text_feature_dim:
            raise QueryError("this model reads precomputed text features (model.text_feature_dim = "
                             f"{self.model.config.text_feature_dim}), not sentences; evaluate it with drn eval "
                             "on JSONL data whose queries have qidQID.npz files")
        encoded = []
        for query in queries:
            if not isinstance(query, str) or not tokenize(query):
                raise QueryError(f"query {query!r} is empty: expected a sentence with at least one word")
            ids = self.vocab.encode(query)
            if all(i == self.vocab.unk_id for i in ids):
                raise QueryError(f"query {query!r}: none of its words is in the model's vocabulary "
                                 f"({len(self.vocab)} words, e.g. {', '.join(list(self.vocab.word2id)[:8])})")
            unknown = [word for word in tokenize(query) if word not in self.vocab]
            if unknown:
                logger.warning("query %r: %s not in the model's vocabulary (read as the unknown word, so the model "
                               "ignores what %s mean)", query, ", ".join(map(repr, unknown)),
                               "they" if len(unknown) > 1 else "it")
            encoded.append(ids)
        lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.int64)
        words = torch.full((len(encoded), int(lengths.max())), PAD_ID, dtype=torch.int64)
        for row, ids in enumerate(encoded):
            words[row, :len(ids)] = torch.tensor(ids)
        return words, lengths

    def clips(self, features: torch.Tensor | np.ndarray, name: str = "the features") -> torch.Tensor:
        """One video's [windows, D] features checked (the model's width D, finite values) and
        resampled to the model's T clips, [T, D] float32; `name` says whose they are in errors."""
        features = torch.as_tensor(features, dtype=torch.float32)
        expected = self.model.config.feature_dim
        if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] != expected:
            raise FeatureDimError(f"{name} have shape {tuple(features.shape)} but the model takes [windows >= 1, "
                                  f"D = {expected}]: they must come from the extractor (backbone) it was trained on")
        bad = int(features.numel() - torch.isfinite(features).sum())
        if bad:  # a video with these is never used: datasets skip it (see GroundingDataset)
            raise FeatureFileError(f"{name}: {bad} of the {features.numel()} feature values are NaN or infinite; "
                                   "re-extract this video's features")
        data = self.cfg["data"]
        return resample_to_clips(features, data["num_clips"], data["pooling"])

    @torch.no_grad()
    def rank(self, clips: torch.Tensor, queries: Sequence[str], video_index: Sequence[int],
             durations: Sequence[float]) -> tuple[DRNOutput, list[list[Prediction]]]:
        """One forward pass: query i grounds in video `video_index[i]` of `clips` [V, T, D] (each
        video's query-independent part runs once), its windows in units of `durations[i]`.
        Returns (the model's output, per query its ranked (start, end, score) windows)."""
        words, lengths = self.encode(queries)
        index = torch.as_tensor(list(video_index), dtype=torch.int64, device=self.device)
        output = self.forward(clips.to(self.device), words.to(self.device), lengths, index)
        return output, postprocess(output, list(durations), self.config, use_iou=self.use_iou)

    def ground(self, features: torch.Tensor | np.ndarray, queries: Sequence[str], duration: float | None = None,
               name: str = "the features") -> list[dict]:
        """Ground every query in one video.

        Args:
            features: the video's [windows, D] features (resampled here to T clips).
            queries: sentences.
            duration: the video's length in seconds; None gives segments as fractions of the video.
            name: whose features they are, for error messages.

        Returns one dict per query: {"query", "pred_relevant_windows": [[start, end, score], ...]
        best first, "dense": {"time": per level [T_l] location times, "match": per level [T_l]
        matching probabilities, "iou": per level [T_l] predicted IoUs}} (times in the same unit).
        """
        if not queries:
            raise QueryError("give at least one query")
        video = self.engine.encode_video(self.clips(features, name))
        sentences = [self.engine.encode_sentence(*self.encode([query])) for query in queries]
        span = 1.0 if duration is None else float(duration)
        answers = self.engine.ground([video], sentences, [0] * len(queries), [span] * len(queries))
        return [{"query": query, "pred_relevant_windows": answer.windows, "dense": answer.dense}
                for query, answer in zip(queries, answers)]
