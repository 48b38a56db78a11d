"""Training checkpoints: atomic writes, RNG states, and the checks that a checkpoint fits a config.

A checkpoint is a dict of plain types and tensors (so `torch.load(weights_only=True)` reads it):

    format, version      "drn-checkpoint", CHECKPOINT_VERSION
    model                the DRN state dict
    optimizer, scaler    the optimizer's (and AMP grad scaler's) state dicts, or None
    stage                training stage (1, 2, 3) of the last finished epoch
    epoch                epochs finished within that stage
    epochs_done          epochs finished over all stages (the position in the schedule)
    global_step          optimizer steps so far
    rng                  {"torch", "numpy", "python", "cuda"} generator states (`rng_state`)
    config               the experiment config (drn.config) the run was started with
    vocab                {"word2id": {...}}: the vocabulary the embedding rows follow
    metrics              this epoch's evaluation {"split": ..., "R1@0.5": ...}, or None
    best                 {"epochs_done", "value", "metric"} of the best epoch so far, or None
    extraction           the settings of `drn extract` the training features came from (backbone,
                         weights, clip_seconds, frames_per_clip, frame_size, dim, dtype), or None

It is written to a temporary file in the same folder, synced, then `os.replace`d over the target,
so a crash leaves either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import pickle
import random
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from drn.errors import UserError
from drn.model.config import PUBLISHED_VALUES
from drn.utils.io import atomic_write

CHECKPOINT_FORMAT = "drn-checkpoint"
CHECKPOINT_VERSION = 1

# Config keys that shape the network or its inputs: a checkpoint only loads under the same values.
# (Loss and inference settings, e.g. model.score_threshold, may differ.)
ARCHITECTURE_KEYS = ("data.num_clips", "model.feature_dim", "model.embedding_dim", "model.lstm_hidden",
                     "model.attention_dim", "model.position_dim", "model.level_channels", "model.fpn_channels",
                     "model.head_norm")


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be read, or does not fit the config it is used with."""


def rng_state() -> dict:
    """The torch, numpy, python and CUDA generator states, as plain types and tensors."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": _to_lists(random.getstate()),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` returned (CUDA states only where as many devices are visible)."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(_to_tuples(state["python"]))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _to_lists(value):
    return [_to_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuples(value):
    return tuple(_to_tuples(v) for v in value) if isinstance(value, (tuple, list)) else value


def save_checkpoint(payload: dict, path: str | PathLike) -> Path:
    """Write `payload` (plus format and version) to `path` atomically; returns the path."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    return atomic_write(path, lambda f: torch.save(payload, f), binary=True)


def load_checkpoint(path: str | PathLike, need: str | None = None) -> dict:
    """Read a checkpoint onto the CPU; a clear `CheckpointError` for anything that is not one, or
    (`need` = "inference" or "resume") that lacks a field that use reads."""
    path = Path(path)
    if not path.is_file():
        last = path.with_name("last.pt")
        hint = (f"; this run has no best.pt (it had no validation split): use {last}"
                if path.name == "best.pt" and last.is_file() else "")
        raise CheckpointError(f"checkpoint {path} does not exist{hint}" if not path.exists() else
                              f"checkpoint {path} is a folder, not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own text here advises weights_only=False: never for a checkpoint
        raise CheckpointError(f"{path} is not a readable drn checkpoint: not a torch file, or it holds objects "
                              "other than tensors and plain values (drn never unpickles those)") from None
    except Exception as exc:  # truncated file, not a torch file at all
        raise CheckpointError(f"{path} is not a readable drn checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a drn checkpoint (no '{CHECKPOINT_FORMAT}' format tag)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')}; this drn reads "
                              f"version {CHECKPOINT_VERSION}")
    if need is not None:
        _check_fields(payload, path, INFERENCE_FIELDS + (RESUME_FIELDS if need == "resume" else ()))
    _fill_published_values(payload)
    return payload


def _fill_published_values(payload: dict) -> None:
    """A config saved before a model key whose default departs from the published DRN existed was
    trained with the published value: write it in, so the checkpoint rebuilds its own network."""
    model = payload.get("config", {}).get("model") if isinstance(payload.get("config"), dict) else None
    if isinstance(model, dict):
        for key, value in PUBLISHED_VALUES.items():
            model.setdefault(key, value)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# field -> (test, what it must be): what every use of a checkpoint reads, and what resuming reads too.
INFERENCE_FIELDS = (
    ("model", lambda v: isinstance(v, dict) and v, "the model's state dict"),
    ("config", lambda v: isinstance(v, dict) and all(isinstance(v.get(k), dict) for k in ("data", "model", "train", "eval")),
     "the experiment config (sections data, model, train, eval)"),
    ("vocab", lambda v: isinstance(v, dict) and isinstance(v.get("word2id"), dict), "{'word2id': {word: id}}"),
    ("stage", lambda v: v in (1, 2, 3) and not isinstance(v, bool), "the training stage 1, 2 or 3"),
)
RESUME_FIELDS = (
    ("optimizer", lambda v: isinstance(v, dict), "the optimizer's state dict"),
    ("epoch", _is_count, "an integer >= 0"),
    ("epochs_done", _is_count, "an integer >= 0"),
    ("global_step", _is_count, "an integer >= 0"),
    ("rng", lambda v: isinstance(v, dict) and {"torch", "numpy", "python"} <= set(v), "the RNG states"),
)


def _check_fields(payload: dict, path: Path, fields) -> None:
    for name, test, expected in fields:
        if name not in payload:
            raise CheckpointError(f"{path} is a damaged drn checkpoint: it has no '{name}' ({expected})")
        if not test(payload[name]):
            raise CheckpointError(f"{path} is a damaged drn checkpoint: '{name}' must be {expected}, "
                                  f"got a {type(payload[name]).__name__}")


def architecture_differences(saved: dict, current: dict) -> list[str]:
    """'key: saved -> current' for each of `ARCHITECTURE_KEYS` that differs between two
    experiment configs."""
    differences = []
    for dotted in ARCHITECTURE_KEYS:
        section, key = dotted.split(".")
        old, new = saved[section].get(key), current[section].get(key)
        if _normalise(old) != _normalise(new):
            differences.append(f"{dotted}: {old!r} -> {new!r}")
    return differences


def _normalise(value):
    return [_normalise(v) for v in value] if isinstance(value, (list, tuple)) else value


def check_compatible(saved_config: dict, config: dict, path: str | PathLike) -> None:
    """Raise `CheckpointError` when `config` would build a different network than the one saved
    in the checkpoint at `path`."""
    differences = architecture_differences(saved_config, config)
    if differences:
        raise CheckpointError(
            f"checkpoint {path} was trained with a different model config: {'; '.join(differences)}. "
            "Use the config it was trained with (drop those --set overrides), or start a new run")


def load_model_state(model: torch.nn.Module, state: dict, path: str | PathLike) -> None:
    """`model.load_state_dict(state)` with an error that says what did not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:4]
        raise CheckpointError(f"checkpoint {path} does not fit this model: {' '.join(s.strip() for s in first)}") from None
