"""Experiment configuration: one commented dictionary of defaults, YAML files that override only
what differs, and `--set key=value` overrides parsed as YAML values.

The `model` section is DRNConfig's fields (drn/model/config.py), less the ones derived from the
data (`num_clips` from `data.num_clips`, `vocab_size`/`padding_idx` from the vocabulary,
`nms_threshold` and `max_detections` from `eval.nms_threshold` and `eval.top_k`).
Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from drn.engine.protocol import PROTOCOLS
from drn.model.config import DRNConfig
from drn.errors import UserError

# DRNConfig fields that the experiment sets from other sections.
_DERIVED_MODEL_FIELDS = ("num_clips", "vocab_size", "padding_idx", "nms_threshold", "max_detections")


def _model_defaults() -> dict:
    out = {}
    for f in dataclasses.fields(DRNConfig):
        if f.name in _DERIVED_MODEL_FIELDS:
            continue
        value = getattr(DRNConfig, f.name, f.default)
        # YAML has no tuples or inf literals that round-trip cleanly: lists, and "inf" as a float.
        out[f.name] = _to_plain(value)
    return out


def _to_plain(value):
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {
        "format": "charades_sta",  # charades_sta | activitynet | tacos | jsonl (QVHighlights, lighthouse)
        "train": None,  # annotation file of each split
        "val": None,  # null: no validation; the last epoch is kept
        "test": None,
        "durations": None,  # Charades only: a CSV/JSON path or a list of them
        # A folder of VID.npy / VID.pt / VID.npz (key "features"), or one HDF5 file keyed by video id;
        # a list of them: feature types, each row L2-normalised per type, concatenated (shortest wins).
        "features": None,
        "text_features": None,  # folder of qidQID.npz (last_hidden_state); needs model.text_feature_dim
        "num_clips": 32,  # T: each video resampled to T equal clips (scale the ranges for others)
        "pooling": "mean",  # mean | max over a clip's windows
        "vocab": None,  # a word2id JSON; null: built from the training sentences
        "glove": None,  # GloVe text file or an aligned .npy; null: embeddings learned from scratch
        "num_workers": 0,  # DataLoader workers
    },
    "model": _model_defaults(),
    "train": {
        "batch_size": 32,
        "epochs": [10, 5, 5],  # per stage: 1 matching + regression, 2 IoU head, 3 all
        "lr": [1e-3, 1e-5, 1e-7],  # Adam, per stage
        "weight_decay": 0.0,
        "grad_clip": 0.5,  # max gradient norm
        "device": "auto",  # auto | cpu | cuda | cuda:N
        "amp": False,  # autocast (bf16 on CPU, fp16/bf16 on CUDA); losses stay fp32
        "seed": 0,
    },
    "eval": {
        "protocol": "official",  # official: R@n, IoU=m ranked with NMS at m - 0.05 | fixed: all at nms_threshold
        "nms_threshold": 0.45,  # the predictions' list (pred_relevant_windows); DRN's choice for IoU=0.5
        "top_k": 10,  # ranked segments kept per query
        "batch_size": 64,
        # Seconds per clip of the videos' native grid (QVHighlights: 2); set, each prediction carries
        # pred_saliency_scores, one per such clip (int(duration / seconds) of them). null: none.
        "saliency_clip_seconds": None,
    },
}

FORMATS = ("charades_sta", "activitynet", "tacos", "jsonl")


class _Loader(yaml.SafeLoader):
    """YAML with 1.2's floats: PyYAML (YAML 1.1) reads `1e-3` as a string, we read a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def parse_yaml(text: str):
    return yaml.load(text, Loader=_Loader)


class ConfigError(UserError, ValueError):
    """A configuration a run cannot start with; the message says which key and why."""


def load_config(path: str | PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Defaults, then the YAML file at `path` (if any), then `key=value` overrides, validated."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        with path.open() as f:
            loaded = parse_yaml(f.read()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(loaded).__name__}")
        merge(cfg, loaded, source=str(path))
    for item in overrides:
        apply_override(cfg, item)
    validate(cfg)
    return cfg


def merge(cfg: dict, update: dict, source: str = "config", prefix: str = "") -> None:
    """Writes `update` into `cfg` in place; a key `cfg` does not have is an error."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in cfg:
            raise ConfigError(f"{source}: unknown key '{dotted}'; valid keys here: {', '.join(sorted(cfg))}")
        if isinstance(cfg[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{dotted}' is a section and needs a mapping, got {value!r}")
            merge(cfg[key], value, source, prefix=f"{dotted}.")
        else:
            cfg[key] = value


def apply_override(cfg: dict, item: str) -> None:
    """Applies one `section.key=value` override; the value is parsed as YAML (`[1, 2]`, `null`, `1e-3`)."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value (e.g. train.batch_size=16), got '{item}'")
    dotted, raw = item.split("=", 1)
    value = parse_yaml(raw) if raw.strip() else None
    nested: Any = value
    for part in reversed(dotted.strip().split(".")):
        nested = {part: nested}
    merge(cfg, nested, source=f"--set {item}")


def _check(cond: bool, key: str, expected: str, got: Any) -> None:
    if not cond:
        raise ConfigError(f"config key '{key}' must be {expected}, got {got!r}")


def validate(cfg: dict) -> None:
    data, train, ev = cfg["data"], cfg["train"], cfg["eval"]
    _check(data["format"] in FORMATS, "data.format", f"one of {FORMATS}", data["format"])
    _check(data["pooling"] in ("mean", "max"), "data.pooling", "'mean' or 'max'", data["pooling"])
    _check(isinstance(data["num_clips"], int) and data["num_clips"] > 0 and data["num_clips"] % 4 == 0,
           "data.num_clips", "a positive multiple of 4", data["num_clips"])
    _check(isinstance(data["num_workers"], int) and data["num_workers"] >= 0, "data.num_workers",
           "an integer >= 0", data["num_workers"])
    for stage_key in ("epochs", "lr"):
        value = train[stage_key]
        _check(isinstance(value, list) and len(value) == 3, f"train.{stage_key}", "a list of 3 values (one per stage)", value)
    _check(all(isinstance(e, int) and e >= 0 for e in train["epochs"]), "train.epochs", "non-negative integers", train["epochs"])
    _check(all(isinstance(x, (int, float)) and x >= 0 for x in train["lr"]), "train.lr", "non-negative numbers", train["lr"])
    _check(isinstance(train["batch_size"], int) and train["batch_size"] > 0, "train.batch_size", "a positive integer", train["batch_size"])
    _check(isinstance(ev["batch_size"], int) and ev["batch_size"] > 0, "eval.batch_size", "a positive integer", ev["batch_size"])
    device = str(train["device"])
    _check(device in ("auto", "cpu", "cuda") or device.startswith("cuda:"), "train.device", "auto, cpu, cuda or cuda:N", device)
    _check(isinstance(ev["nms_threshold"], (int, float)) and 0 <= ev["nms_threshold"] <= 1, "eval.nms_threshold",
           "a number in [0, 1]", ev["nms_threshold"])
    _check(ev["protocol"] in PROTOCOLS, "eval.protocol", f"one of {PROTOCOLS}", ev["protocol"])
    _check(isinstance(ev["top_k"], int) and ev["top_k"] > 0, "eval.top_k", "a positive integer", ev["top_k"])
    features = data["features"]
    _check(features is None or isinstance(features, str) or (isinstance(features, list) and features
                                                             and all(isinstance(f, str) for f in features)),
           "data.features", "a path or a non-empty list of paths", features)
    seconds = ev["saliency_clip_seconds"]
    _check(seconds is None or (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0),
           "eval.saliency_clip_seconds", "null or a positive number of seconds", seconds)
    text_dim = cfg["model"]["text_feature_dim"]
    _check((data["text_features"] is None) == (not text_dim), "data.text_features",
           f"set together with model.text_feature_dim > 0 (it is {text_dim!r})", data["text_features"])
    _check(not (text_dim and data["glove"] is not None), "data.glove", "null when the query comes as text features",
           data["glove"])
    _check(isinstance(cfg["model"]["feature_dim"], int) and cfg["model"]["feature_dim"] > 0, "model.feature_dim",
           "a positive integer", cfg["model"]["feature_dim"])
    model_config(cfg, vocab_size=2)  # DRNConfig's own checks, with a placeholder vocabulary


def model_config(cfg: dict, vocab_size: int, padding_idx: int = 0) -> DRNConfig:
    """The DRNConfig an experiment config describes, given the vocabulary size."""
    fields = dict(cfg["model"])
    if "regression_ranges" in fields:
        fields["regression_ranges"] = [tuple(math.inf if str(v) in ("inf", ".inf") else float(v) for v in pair)
                                       for pair in fields["regression_ranges"]]
    try:
        return DRNConfig(**fields, num_clips=cfg["data"]["num_clips"], vocab_size=vocab_size,
                         padding_idx=padding_idx, nms_threshold=float(cfg["eval"]["nms_threshold"]),
                         max_detections=int(cfg["eval"]["top_k"]))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model section: {exc}") from exc


def dump(cfg: dict) -> str:
    """The config as YAML (what a run saves beside its checkpoints)."""
    return yaml.safe_dump(cfg, sort_keys=False)
