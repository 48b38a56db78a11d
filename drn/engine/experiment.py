"""Build what an experiment config describes: the device, the feature source, the dataset splits
and the model. Shared by training, evaluation and the demo.

Every error a user can cause here (a missing file, features of the wrong width, a split with no
usable query) is a `ConfigError` or `DataError` that names the config key and what to change.
"""

from __future__ import annotations

import logging
import random
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from drn.config import ConfigError, model_config
from drn.data import FeatureSource, GroundingDataset, Vocabulary, build_dataset, load_word_vectors, open_features
from drn.data.annotations.read import read_annotations
from drn.data.features.npz import TextFeatures
from drn.data.features.open import open_feature_types
from drn.errors import UserError, reading
from drn.model import DRN

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class DataError(UserError, ValueError):
    """A dataset split a run cannot use (no usable query, unreadable files)."""


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (every device) with `seed`."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """`train.device` as a torch.device: "auto" is the first GPU when one is visible, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but no CUDA device is visible; use --set train.device=cpu")
    return device


# `data` keys that name a folder (features may also be one HDF5 file).
FOLDER_KEYS = ("features", "text_features")


def _existing(cfg: dict, key: str) -> Path:
    value = cfg["data"][key]
    if value is None:
        raise ConfigError(f"config key 'data.{key}' is not set; give it in the YAML or with --set data.{key}=PATH")
    if not isinstance(value, (str, PathLike)):
        raise ConfigError(f"data.{key} must be a path, got {value!r}")
    path = Path(value)
    if not path.exists():
        raise ConfigError(f"data.{key}: {path} does not exist")
    if key not in FOLDER_KEYS and not path.is_file():
        raise ConfigError(f"data.{key}: {path} is a folder; expected a file")
    return path


def open_feature_source(cfg: dict) -> FeatureSource:
    """The features of every split, opened once (the splits share its cache); a list of paths is
    several feature types, concatenated (`open_feature_types`)."""
    paths = cfg["data"]["features"]
    if isinstance(paths, list):
        for path in paths:
            if not Path(path).exists():
                raise ConfigError(f"data.features: {path} does not exist")
        return open_feature_types(paths)
    return open_features(_existing(cfg, "features"))


def open_text_features(cfg: dict) -> TextFeatures | None:
    """The precomputed query features of `data.text_features` (None when it is not set)."""
    if cfg["data"]["text_features"] is None:
        return None
    return TextFeatures(_existing(cfg, "text_features"), feature_dim=cfg["model"]["text_feature_dim"])


def check_feature_dim(source: FeatureSource, dataset: GroundingDataset, cfg: dict) -> None:
    """Compare the width D of every video of `dataset` (read when it was built) with
    `model.feature_dim`, and fix the source to that width."""
    expected = cfg["model"]["feature_dim"]
    for vid in dict.fromkeys(query.vid for query in dataset.queries):
        got = source.inspect(vid).dim
        if got != expected:
            raise ConfigError(
                f"the features in {cfg['data']['features']} have D = {got} ({source.describe(vid)}), but "
                f"model.feature_dim is {expected}; set --set model.feature_dim={got} or point data.features "
                "at the right features")
    source.feature_dim = expected


def load_vocabulary(cfg: dict) -> Vocabulary:
    """The vocabulary file `data.vocab` names (a word2id JSON, or a saved vocabulary)."""
    path = _existing(cfg, "vocab")
    with reading(path, "a vocabulary (a JSON object {word: id})", ConfigError):
        return Vocabulary.load(path)


def build_split(cfg: dict, split: str, vocab: Vocabulary | None, source: FeatureSource,
                show_progress: bool = False) -> GroundingDataset:
    """The `split` ("train", "val" or "test") of the config, its words mapped by `vocab` (None:
    build the vocabulary from this split's sentences; do that for "train" only). Every video's
    features are read once here (`show_progress`: with a progress bar), so a bad file is found
    before a run writes anything."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data = cfg["data"]
    annotations = _existing(cfg, split)
    durations = data["durations"] if data["format"] == "charades_sta" else None
    if data["format"] == "charades_sta" and durations is None:
        raise ConfigError("data.durations is not set; Charades-STA annotations need the video durations "
                          "(the Charades CSVs or a JSON {video: seconds})")
    dataset = build_dataset(data["format"], annotations, durations, source, vocab, data["num_clips"],
                            pooling=data["pooling"], text_features=open_text_features(cfg),
                            show_progress=show_progress)
    if len(dataset) == 0:
        raise DataError(f"data.{split} ({annotations}) has no usable query: {dataset.quirks.summary()}")
    logger.info("%s split: %d queries", split, len(dataset))
    check_feature_dim(source, dataset, cfg)
    return dataset


def training_has_saliency(cfg: dict) -> bool:
    """Whether data.train carries saliency annotations (QVHighlights-style JSONL with
    relevant_clip_ids and saliency_scores); only JSONL files can."""
    if cfg["data"]["format"] != "jsonl":
        return False
    queries, _ = read_annotations("jsonl", _existing(cfg, "train"), None)
    return any(query.clip_ids for query in queries)


def build_model(cfg: dict, vocab: Vocabulary, load_glove: bool = True) -> DRN:
    """The DRN of the config for `vocab` (embedding rows 0..unk_id); GloVe-initialised when
    `data.glove` is set and `load_glove` (a resumed or evaluated model loads its own weights)."""
    config = model_config(cfg, vocab_size=vocab.num_embeddings, padding_idx=vocab.pad_id)
    vectors = None
    if load_glove and cfg["data"]["glove"] is not None:
        path = _existing(cfg, "glove")
        with reading(path, "word vectors (GloVe text or an aligned .npy)", ConfigError):
            vectors, missing = load_word_vectors(path, vocab)
        if vectors.shape[1] != config.embedding_dim:
            raise ConfigError(f"data.glove: {path} holds {vectors.shape[1]}-d vectors but model.embedding_dim is "
                              f"{config.embedding_dim}; set --set model.embedding_dim={vectors.shape[1]}")
        logger.info("word vectors from %s: %d of %d words have none (learned from scratch)", path, len(missing),
                    len(vocab))
    return DRN(config, vectors)
