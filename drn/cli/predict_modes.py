"""The three modes of `drn predict` (see drn/cli/predict.py for the arguments and their checks):

- features: one video's features and sentences -> ranked windows as JSON on stdout (`--plot`);
- video: a video file, extracted with the backbone the checkpoint records (or `--backbone`) -> the
  same JSON;
- queries: a JSONL file of queries over many videos -> a predictions file in the format of
  `drn eval` (without ground truth), written atomically at the end, after every check (queries
  file, videos, durations, vocabulary, backbone) has passed.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from drn.cli.common import ArgumentError

logger = logging.getLogger("drn")


def checked_ground_truth(gt: list[list[float]] | None, span: float, unit: str) -> list[list[float]]:
    """The --gt pairs as the plot draws them: a reversed pair is swapped and a pair outside
    [0, span] is clipped to it, each with a warning."""
    out = []
    for i, (start, end) in enumerate(gt or (), start=1):
        if start > end:
            logger.warning("--gt %d: start %g is after end %g; drawn swapped", i, start, end)
            start, end = end, start
        if start < 0 or end > span:
            logger.warning("--gt %d: [%g, %g] reaches outside the video [0, %g] %s; drawn clipped to it", i, start, end,
                           span, unit)
            start, end = min(max(start, 0.0), span), min(max(end, 0.0), span)
        out.append([start, end])
    return out


def format_results(output: dict) -> str:
    """Indented JSON with one line per query, so ranked windows stay readable."""
    head = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in output.items() if key != "results"]
    results = ",\n".join(f"    {json.dumps(result)}" for result in output["results"])
    return "{\n" + "\n".join(head) + '\n  "results": [\n' + results + "\n  ]\n}"


def _ranked(results: list[dict]) -> list[dict]:
    return [{"query": r["query"], "pred_relevant_windows": r["pred_relevant_windows"]} for r in results]


def run_features(args) -> int:
    from drn.engine.evaluate import explain_empty_rankings
    from drn.inference.grounder import Grounder, read_video_features

    unit = "seconds" if args.duration is not None else "fraction of the video"
    span = args.duration or 1.0
    gt = checked_ground_truth(args.gt, span, unit)
    grounder = Grounder(args.checkpoint, args.overrides)
    features, name = read_video_features(args.features, args.vid)
    results = grounder.ground(features, args.query, args.duration, name)
    explain_empty_rankings(results, grounder.config.score_threshold)
    if args.plot:
        from drn.utils.plots import plot_grounding

        for i, result in enumerate(results):
            result["duration"] = span
            result["relevant_windows"] = [gt[i]] if gt else []
        title = f"drn predict: {Path(args.features).name}" + (f" [{args.vid}]" if args.vid else "")
        plot_grounding(results, args.plot, unit="s" if args.duration else "fraction of the video", title=title)
    print(format_results({"checkpoint": args.checkpoint, "features": args.features, "duration": args.duration,
                          "unit": unit, "plot": args.plot, "results": _ranked(results)}))
    return 0


def run_video(args) -> int:
    from drn.inference.grounder import Grounder
    from drn.inference.video import ground_video
    from drn.video.errors import VideoError, require_video_extra

    if not Path(args.video).is_file():
        raise VideoError(f"--video {args.video}: no such file")
    require_video_extra("drn predict --video")
    grounder = Grounder(args.checkpoint, args.overrides)
    rows = ground_video(grounder, args.video, args.query, backbone=args.backbone, weights=args.weights,
                        dense=bool(args.plot))
    if args.plot:
        from drn.video.thumbnails import plot_video_grounding

        for i, row in enumerate(rows):
            row["relevant_windows"] = [args.gt[i]] if args.gt else []
        plot_video_grounding(rows, args.video, args.plot)
    print(format_results({"checkpoint": args.checkpoint, "video": args.video, "duration": rows[0]["duration"],
                          "unit": "seconds", "plot": args.plot, "results": _ranked(rows)}))
    return 0


def run_queries(args) -> int:
    from drn.data import open_features
    from drn.data.annotations.prediction_queries import read_prediction_queries
    from drn.data.annotations.query import AnnotationFormatError
    from drn.data.features import HDF5_SUFFIXES
    from drn.data.features.extraction_record import recorded_durations
    from drn.inference.batch import check_queries_known, predict_queries
    from drn.inference.grounder import Grounder
    from drn.utils.io import write_jsonl

    queries = read_prediction_queries(args.queries)
    grounder = Grounder(args.checkpoint, args.overrides)
    check_queries_known(grounder, queries)

    if args.features:
        if not Path(args.features).is_dir() and Path(args.features).suffix.lower() not in HDF5_SUFFIXES:
            raise ArgumentError(f"--features {args.features}: with --queries, expected a feature folder or an HDF5 "
                                f"file ({', '.join(HDF5_SUFFIXES)})")
        source = open_features(args.features)
        durations = recorded_durations(args.features)
        for query in queries:
            if query.vid not in source:
                raise AnnotationFormatError(f"{query.where}: no features for video {query.vid!r} in {args.features}")
            if query.duration is None and query.vid not in durations:
                raise AnnotationFormatError(
                    f"{query.where}: no duration for video {query.vid!r}: add \"duration\" (seconds) to the line, "
                    f"or use features written by drn extract (their extract.json records it)")

        def features_of(vid):
            return source[vid], durations.get(vid)
    else:
        from drn.inference.video import extract_for, video_backbone
        from drn.video.errors import require_video_extra

        require_video_extra("drn predict --videos")
        from drn.video import VideoError, find_videos, probe
        from drn.video.sources import VIDEO_SUFFIXES

        files = find_videos([args.videos])
        for query in queries:
            if query.vid not in files:
                raise VideoError(f"{query.where}: no video file for {query.vid!r} in {args.videos} "
                                 f"(looked for {query.vid} with one of {', '.join(VIDEO_SUFFIXES)})")
        for vid in dict.fromkeys(q.vid for q in queries):
            probe(files[vid])  # a missing stream or an unreadable header fails here, before any work
        video_backbone(grounder, args.backbone, args.weights)

        def features_of(vid):
            extracted = extract_for(grounder, files[vid], args.backbone, args.weights)
            return extracted.features, extracted.duration

    rows = predict_queries(grounder, queries, features_of, batch_size=args.batch_size,
                           show_progress=not args.no_progress and sys.stderr.isatty())
    write_jsonl(args.out, rows)
    print(f"wrote {len(rows)} predictions for {len({q.vid for q in queries})} videos to {args.out}")
    return 0
