"""Grounding queries in video files with a trained checkpoint: the video is encoded exactly as the
checkpoint's training features were (the extraction settings it records), then ranked as usual.

A checkpoint trained on features of `drn extract` records the backbone, weights and clip settings
(`Grounder.extraction`); one trained on other features records none, and the caller names the
backbone. Every mismatch (another backbone than the recorded one, a backbone whose width is not
the model's, clip settings that differ from the record) is an `ExtractionMismatchError`, raised
before any video is decoded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from drn.engine.evaluate import SECONDS_DECIMALS
from drn.errors import UserError

logger = logging.getLogger(__name__)

# Settings that must agree between the checkpoint's record and the backbone used now.
COMPARED_SETTINGS = ("backbone", "clip_seconds", "frames_per_clip", "frame_size", "dim")


class ExtractionMismatchError(UserError, ValueError):
    """The backbone for a video cannot produce the features the checkpoint was trained on."""


def resolve_backbone(record: dict | None, feature_dim: int, backbone: str | None, weights: str | None,
                     checkpoint: str = "the checkpoint") -> tuple[str, str]:
    """(backbone name, weights) to encode videos with for a model of width `feature_dim`; checked
    against the registry and the record without loading anything."""
    from drn.video.backbones import BACKBONES

    if record is None and backbone is None:
        raise ExtractionMismatchError(
            f"{checkpoint} records no extraction settings (its training features did not come from drn extract); "
            f"name the backbone they came from with --backbone (one of {', '.join(BACKBONES)})")
    if record is not None and backbone is not None and backbone != record["backbone"]:
        raise ExtractionMismatchError(
            f"{checkpoint} was trained on features of backbone {record['backbone']!r}, not {backbone!r}; "
            "drop --backbone to use the recorded one")
    name = backbone or record["backbone"]
    if name not in BACKBONES:
        raise ExtractionMismatchError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    dim = BACKBONES[name].dim
    if dim != feature_dim:
        raise ExtractionMismatchError(
            f"backbone {name!r} gives {dim}-d features but {checkpoint} takes D = {feature_dim}; "
            "use the backbone its training features came from")
    return name, weights or (loadable_weights(record["weights"]) if record is not None else "default")


def loadable_weights(recorded: str) -> str:
    """The `load_backbone` weights argument for a recorded weights id: "none" stays, "file:PATH
    sha256:..." is PATH, a library id ("torchvision:...", "open_clip:...") is "default"."""
    if recorded == "none":
        return "none"
    if recorded.startswith("file:"):
        return recorded[len("file:"):].rsplit(" sha256:", 1)[0]
    return "default"


def _check_settings(record: dict | None, settings: dict, checkpoint: str) -> None:
    if record is None:
        return
    differing = [f"{key}: {record.get(key)!r} recorded, {settings.get(key)!r} now" for key in COMPARED_SETTINGS
                 if key in record and _plain(record.get(key)) != _plain(settings.get(key))]
    if differing:
        raise ExtractionMismatchError(f"{checkpoint}'s features were extracted differently from what backbone "
                                      f"{settings.get('backbone')!r} does now ({'; '.join(differing)})")


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def video_backbone(grounder, backbone: str | None = None, weights: str | None = None):
    """The loaded backbone for `grounder`'s checkpoint (cached on the grounder)."""
    from drn.video.backbones import load_backbone
    from drn.video.extract import extraction_settings

    name, weights = resolve_backbone(grounder.extraction, grounder.model.config.feature_dim, backbone, weights,
                                     grounder.checkpoint)
    key = (name, weights)
    if key not in grounder.video_backbones:
        model = load_backbone(name, weights=weights, device=str(grounder.device))
        settings = extraction_settings(model)
        _check_settings(grounder.extraction, settings, grounder.checkpoint)
        if grounder.extraction is not None and settings["weights"] != grounder.extraction.get("weights"):
            logger.warning("%s was trained on features of weights %s; encoding with %s", grounder.checkpoint,
                           grounder.extraction.get("weights"), settings["weights"])
        grounder.video_backbones[key] = model
    return grounder.video_backbones[key]


def extract_for(grounder, path: str | PathLike, backbone: str | None = None, weights: str | None = None):
    """`VideoFeatures` of the video at `path`, encoded as `grounder`'s training features were."""
    from drn.video.extract import extract_video

    encoder = video_backbone(grounder, backbone, weights)
    return extract_video(path, encoder, device=str(grounder.device))


def ground_video(grounder, path: str | PathLike, queries: Sequence[str], *, backbone: str | None = None,
                 weights: str | None = None, dense: bool = False) -> list[dict]:
    """Predictions-file rows {"qid": "VID#i", "vid": file stem, "query", "duration" (seconds),
    "pred_relevant_windows": [[start, end, score], ...] best first, in seconds} for each query in
    the video at `path`; with `dense`, each row also holds `Grounder.ground`'s "dense" scores."""
    if not queries:
        from drn.inference import QueryError

        raise QueryError("give at least one query")
    for query in queries:  # a query the model cannot read fails before the video is decoded
        grounder.encode([query])
    extracted = extract_for(grounder, path, backbone, weights)
    results = grounder.ground(extracted.features, list(queries), extracted.duration)
    vid = Path(path).stem
    rows = []
    for index, (query, result) in enumerate(zip(queries, results)):
        row = {"qid": f"{vid}#{index}", "vid": vid, "query": query, "duration": round(float(extracted.duration), SECONDS_DECIMALS),
               "pred_relevant_windows": result["pred_relevant_windows"]}
        if dense:
            row["dense"] = result["dense"]
        rows.append(row)
    return rows
