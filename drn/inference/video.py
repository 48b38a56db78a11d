"""Grounding queries in video files with a trained checkpoint: the video is encoded exactly as the
checkpoint's training features were (the extraction settings it records), then ranked as usual.

A checkpoint trained on features of `drn extract` records the backbone, weights and clip settings
(`Grounder.extraction`); `drn.video.load_backbone_for` rebuilds that backbone (and refuses one
whose clip definition or weights file changed). A checkpoint trained on other features records
none, and the caller names the backbone. Another backbone than the recorded one, or one whose
width is not the model's, is an `ExtractionMismatchError`, raised before any video is decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from drn.errors import UserError
from drn.inference.grounder import QueryError
from drn.metrics.rows import SECONDS_DECIMALS


class ExtractionMismatchError(UserError, ValueError):
    """The backbone for a video cannot produce the features the checkpoint was trained on."""


def resolve_backbone(record: dict | None, feature_dim: int, backbone: str | None,
                     checkpoint: str = "the checkpoint") -> str:
    """The name of the backbone to encode videos with for a model of width `feature_dim`, checked
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
    return name


def video_backbone(grounder, backbone: str | None = None, weights: str | None = None):
    """The loaded backbone for `grounder`'s checkpoint (cached on the grounder); `weights`
    overrides the recorded weights (e.g. the same file on another machine)."""
    from drn.video.backbones import load_backbone, load_backbone_for

    name = resolve_backbone(grounder.extraction, grounder.model.config.feature_dim, backbone, grounder.checkpoint)
    key = (name, weights)
    if key not in grounder.video_backbones:
        device = str(grounder.device)
        grounder.video_backbones[key] = (load_backbone_for(grounder.extraction, weights, device)
                                         if grounder.extraction is not None
                                         else load_backbone(name, weights or "default", device))
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
        raise QueryError("give at least one query")
    for query in queries:  # a query the model cannot read fails before the video is decoded
        grounder.encode([query])
    extracted = extract_for(grounder, path, backbone, weights)
    results = grounder.ground(extracted.features, list(queries), extracted.duration)
    return video_rows(Path(path).stem, extracted.duration, results, dense)


def video_rows(vid: str, duration: float, results: Sequence[dict], dense: bool = False) -> list[dict]:
    """`Grounder.ground`'s results for one video as predictions-file rows {"qid": "VID#i", "vid",
    "query", "duration", "pred_relevant_windows"} (plus "dense" when asked)."""
    duration = round(float(duration), SECONDS_DECIMALS)
    rows = []
    for index, result in enumerate(results):
        row = {"qid": f"{vid}#{index}", "vid": vid, "query": result["query"], "duration": duration,
               "pred_relevant_windows": result["pred_relevant_windows"]}
        if dense:
            row["dense"] = result["dense"]
        rows.append(row)
    return rows
