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
import logging
import math
import re
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from drn.errors import UserError, one_line, reading
from drn.metrics.protocol import PROTOCOLS
from drn.model.config import DRNConfig
from drn.model.precision import PRECISIONS

logger = logging.getLogger(__name__)

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
    # DRNConfig's fields; saliency_head may also be "auto": on when data.train has saliency
    # annotations (QVHighlights-style JSONL), decided when a run starts (`resolve_auto`).
    "model": {**_model_defaults(), "saliency_head": "auto"},
    "train": {
        "batch_size": 32,
        "epochs": [10, 5, 5],  # per stage: 1 matching + regression, 2 IoU head, 3 all
        "lr": [1e-3, 1e-5, 1e-7],  # Adam, per stage
        "weight_decay": 0.0,
        "grad_clip": 0.5,  # max gradient norm
        "device": "auto",  # auto | cpu | cuda | cuda:N
        # auto (bf16 where the hardware computes it natively, else fp32) | fp32 | bf16 | fp16 (CUDA, with
        # a grad scaler): the GEMMs' precision (autocast); losses, targets, NMS and sigmoids stay fp32.
        # bf16 costs no measured accuracy (docs/precision.md).
        "precision": "auto",
        "compile": False,  # the whole step as one torch.compile graph (CUDA: a CUDA graph); not with fp16
        "seed": 0,
        # Random temporal crops of the training videos (drn/data/augment.py): the probability that
        # an item is cropped, and the least fraction of its video a crop keeps (0: no crops, DRN).
        "crop_probability": 0.0,
        "crop_min_fraction": 0.5,
    },
    "eval": {
        "protocol": "official",  # official: R@n, IoU=m ranked with NMS at m - 0.05 | fixed: all at nms_threshold
        "nms_threshold": 0.45,  # the predictions' list (pred_relevant_windows); DRN's choice for IoU=0.5
        "top_k": 10,  # ranked segments kept per query
        "batch_size": 64,
        "precision": "auto",  # of predict, serve, eval and the trainer's evaluations: auto | fp32 | bf16 | fp16
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


def parse_yaml(text: str, where: str = "YAML"):
    """`text` parsed as YAML; a syntax error is a `ConfigError` that starts with `where`."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({one_line(exc)})") from None


class ConfigError(UserError, ValueError):
    """A configuration a run cannot start with; the message says which key and why."""


def load_config(path: str | PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Defaults, then the YAML file at `path` (if any), then `key=value` overrides, validated."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist" if not path.exists() else
                              f"config file {path} is a folder, not a YAML file")
        with reading(path, "a YAML config", ConfigError):
            text = path.read_text(encoding="utf-8")
        loaded = parse_yaml(text, str(path)) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(loaded).__name__}")
        merge(cfg, upgrade_config(loaded, str(path)), source=str(path))
    for item in overrides:
        apply_override(cfg, item)
    validate(cfg)
    return cfg


def upgrade_config(cfg: dict, source: str = "config") -> dict:
    """A copy of a config (a YAML file's, a checkpoint's) with the keys of earlier drn versions
    mapped to today's: `train.amp: true` (autocast in training and evaluation) becomes
    `train.precision: bf16` (and `eval.precision: bf16` unless given), `false` becomes fp32."""
    train = cfg.get("train")
    if not isinstance(train, dict) or not isinstance(train.get("amp"), bool):
        return cfg
    cfg = copy.deepcopy(cfg)
    amp = cfg["train"].pop("amp")
    cfg["train"].setdefault("precision", "bf16" if amp else "fp32")
    if amp and isinstance(cfg.setdefault("eval", {}), dict):
        cfg["eval"].setdefault("precision", "bf16")
    logger.info("%s: train.amp: %s read as train.precision: %s", source, str(amp).lower(), cfg["train"]["precision"])
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
    value = parse_yaml(raw, f"--set {item}") if raw.strip() else None
    nested: Any = value
    for part in reversed(dotted.strip().split(".")):
        nested = {part: nested}
    merge(cfg, nested, source=f"--set {item}")


def _check(cond: bool, key: str, expected: str, got: Any) -> None:
    if not cond:
        raise ConfigError(f"config key '{key}' must be {expected}, got {got!r}")


def is_int(value: Any) -> bool:
    """An integer that is not a boolean (YAML's `true` is not a number here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a boolean."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


# Per key: (test, what the message says it expects). Keys not listed here are checked by their
# owners (model_config: DRNConfig's own checks) or by `_check_model_types`.
_RULES: dict[str, tuple[Any, str]] = {
    "data.format": (lambda v: v in FORMATS, f"one of {FORMATS}"),
    "data.train": (lambda v: v is None or _is_path(v), "a file path or null"),
    "data.val": (lambda v: v is None or _is_path(v), "a file path or null"),
    "data.test": (lambda v: v is None or _is_path(v), "a file path or null"),
    "data.durations": (lambda v: v is None or _is_path(v) or (isinstance(v, list) and v and all(map(_is_path, v))),
                       "a .csv/.json path, a list of them, or null"),
    "data.features": (lambda v: v is None or _is_path(v) or (isinstance(v, list) and v and all(map(_is_path, v))),
                      "a folder or HDF5 file path, a non-empty list of folders (one per feature type), or null"),
    "data.text_features": (lambda v: v is None or _is_path(v), "a folder of qidQID.npz files or null"),
    "data.num_clips": (lambda v: is_int(v) and v > 0 and v % 4 == 0, "a positive multiple of 4"),
    "data.pooling": (lambda v: v in ("mean", "max"), "'mean' or 'max'"),
    "data.vocab": (lambda v: v is None or _is_path(v), "a word2id JSON path or null"),
    "data.glove": (lambda v: v is None or _is_path(v), "a GloVe text / aligned .npy path or null"),
    "data.num_workers": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "train.batch_size": (lambda v: is_int(v) and v > 0, "a positive integer"),
    "train.epochs": (lambda v: isinstance(v, list) and len(v) == 3 and all(is_int(e) and e >= 0 for e in v)
                     and sum(v) > 0, "a list of 3 integers >= 0 (epochs per stage), not all 0"),
    "train.lr": (lambda v: isinstance(v, list) and len(v) == 3 and all(is_number(x) and x >= 0 for x in v),
                 "a list of 3 finite numbers >= 0 (one per stage)"),
    "train.weight_decay": (lambda v: is_number(v) and v >= 0, "a finite number >= 0"),
    "train.grad_clip": (lambda v: is_number(v) and v > 0, "a finite number > 0"),
    "train.device": (lambda v: isinstance(v, str) and (v in ("auto", "cpu", "cuda") or
                                                       re.fullmatch(r"cuda:\d+", v) is not None),
                     "auto, cpu, cuda or cuda:N"),
    "train.precision": (lambda v: v in PRECISIONS, f"one of {PRECISIONS}"),
    "train.compile": (lambda v: isinstance(v, bool), "true or false"),
    "train.seed": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "train.crop_probability": (lambda v: is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "train.crop_min_fraction": (lambda v: is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "eval.nms_threshold": (lambda v: is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "eval.top_k": (lambda v: is_int(v) and v > 0, "a positive integer"),
    "eval.batch_size": (lambda v: is_int(v) and v > 0, "a positive integer"),
    "eval.protocol": (lambda v: v in PROTOCOLS, f"one of {PROTOCOLS}"),
    "eval.precision": (lambda v: v in PRECISIONS, f"one of {PRECISIONS}"),
    "eval.saliency_clip_seconds": (lambda v: v is None or (is_number(v) and v > 0),
                                   "null or a positive number of seconds"),
}


def _check_model_types(model: dict) -> None:
    """Each `model.*` value has the type of its DRNConfig default (booleans are not numbers)."""
    defaults = _model_defaults()
    for key, value in model.items():
        default = defaults.get(key)
        where = f"model.{key}"
        if key == "saliency_head":
            _check(isinstance(value, bool) or value == "auto", where, "true, false or auto", value)
        elif isinstance(default, bool):
            _check(isinstance(value, bool), where, "true or false", value)
        elif is_int(default):
            _check(is_int(value), where, "an integer", value)
        elif isinstance(default, float):
            _check(is_number(value), where, "a finite number", value)
        elif isinstance(default, str):
            _check(isinstance(value, str), where, "a string", value)
        elif key == "level_channels":
            _check(isinstance(value, list) and len(value) == 3 and all(is_int(c) and c > 0 for c in value), where,
                   "a list of 3 positive integers", value)
        elif key == "regression_ranges":
            _check(isinstance(value, list) and len(value) == 3 and all(
                isinstance(pair, list) and len(pair) == 2 and all(is_number(x) or _is_inf(x) for x in pair)
                for pair in value), where, "3 [low, high] pairs of numbers (high may be inf)", value)


def _is_inf(value: Any) -> bool:
    return value in ("inf", ".inf") or (isinstance(value, float) and value == math.inf)


def validate(cfg: dict) -> None:
    """Check every key's type and range (raising a `ConfigError` that names the key), so a run
    never starts with a value it would only trip over later."""
    for dotted, (test, expected) in _RULES.items():
        section, key = dotted.split(".")
        if key in cfg.get(section, {}):
            _check(bool(test(cfg[section][key])), dotted, expected, cfg[section][key])
    _check_model_types(cfg["model"])
    text_dim = cfg["model"]["text_feature_dim"]
    _check((cfg["data"]["text_features"] is None) == (not text_dim), "data.text_features",
           f"set together with model.text_feature_dim > 0 (it is {text_dim!r})", cfg["data"]["text_features"])
    _check(not (text_dim and cfg["data"]["glove"] is not None), "data.glove",
           "null when the query comes as text features", cfg["data"]["glove"])
    model_config(cfg, vocab_size=2)  # DRNConfig's own checks, with a placeholder vocabulary


def model_config(cfg: dict, vocab_size: int, padding_idx: int = 0) -> DRNConfig:
    """The DRNConfig an experiment config describes, given the vocabulary size."""
    fields = dict(cfg["model"])
    if fields.get("saliency_head") == "auto":  # not decided yet (no data read): no head
        fields["saliency_head"] = False
    try:
        if "regression_ranges" in fields:
            fields["regression_ranges"] = [tuple(math.inf if _is_inf(v) else float(v) for v in pair)
                                           for pair in fields["regression_ranges"]]
        return DRNConfig(**fields, num_clips=cfg["data"]["num_clips"], vocab_size=vocab_size,
                         padding_idx=padding_idx, nms_threshold=float(cfg["eval"]["nms_threshold"]),
                         max_detections=int(cfg["eval"]["top_k"]))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model section: {exc}") from exc


def resolve_auto(cfg: dict, training_has_saliency: Callable[[], bool]) -> dict:
    """`cfg` with model.saliency_head "auto" decided: `training_has_saliency()` (whether
    data.train carries saliency annotations), called only when needed."""
    if cfg["model"].get("saliency_head") != "auto":
        return cfg
    resolved = copy.deepcopy(cfg)
    resolved["model"]["saliency_head"] = bool(training_has_saliency())
    return resolved


def dump(cfg: dict) -> str:
    """The config as YAML (what a run saves beside its checkpoints)."""
    return yaml.safe_dump(cfg, sort_keys=False)
