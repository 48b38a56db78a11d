"""The video-file and batch modes of `drn predict`:

    drn predict CHECKPOINT --video FILE --query "..." [--query ...] [--backbone NAME] [--plot out.png]
    drn predict CHECKPOINT --queries QUERIES.jsonl (--features DIR_OR_H5 | --videos DIR) --out PRED.jsonl

`--video` extracts the file's features with the backbone the checkpoint records (or `--backbone`)
and prints the same JSON as the features mode. `--queries` writes a predictions file in the format
of `drn eval` (without ground truth). Every check (queries file, videos, durations, vocabulary,
backbone) runs before the first forward pass; the predictions file is written atomically at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

from drn.cli.common import ArgumentError


def add_video_options(p) -> None:
    """The options of the video and batch modes, added to `drn predict`'s parser."""
    p.add_argument("--video", help="a video file: extract its features with the checkpoint's backbone, then rank")
    p.add_argument("--queries", help="a JSONL file of {qid, vid, query[, duration]} lines: predict them all "
                                     "(videos from --features or --videos) and write --out")
    p.add_argument("--videos", help="with --queries: a folder of video files named VID.mp4 (or .mkv, .webm, ...; "
                                    "searched recursively)")
    p.add_argument("--out", help="with --queries: the predictions file to write (JSON lines, as drn eval writes)")
    p.add_argument("--backbone", help="the backbone the checkpoint's features came from, when it records none")
    p.add_argument("--weights", help="the backbone's weights (default: those the checkpoint records, else "
                                     "'default'; a file for offline machines)")
    p.add_argument("--batch-size", type=int, help="with --queries: queries per forward pass (default eval.batch_size)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def wants_video_or_batch(args) -> bool:
    return bool(args.video or args.queries)


def run_video_or_batch(args) -> int:
    """`drn predict` with --video or --queries; user errors propagate to `report_errors`."""
    if args.video and args.queries:
        raise ArgumentError("give either --video (one video, --query sentences) or --queries (a JSONL file), not both")
    if args.batch_size is not None and args.batch_size < 1:
        raise ArgumentError(f"--batch-size must be >= 1, got {args.batch_size}")
    return _run_video(args) if args.video else _run_queries(args)


def _run_video(args) -> int:
    from drn.cli.predict import _format
    from drn.inference import Grounder
    from drn.video.ground import ground_video
    from drn.video.errors import VideoError

    if not args.query:
        raise ArgumentError("--video needs at least one --query")
    if args.features or args.duration is not None:
        raise ArgumentError("--video takes its features and duration from the file; drop --features / --duration")
    if args.gt and len(args.gt) != len(args.query):
        raise ArgumentError(f"give one --gt per --query ({len(args.query)}), got {len(args.gt)}")
    if not Path(args.video).is_file():
        raise VideoError(f"--video {args.video}: no such file")
    grounder = Grounder(args.checkpoint, args.overrides)
    rows = ground_video(grounder, args.video, args.query, backbone=args.backbone, weights=args.weights,
                        dense=bool(args.plot))
    duration = rows[0]["duration"]
    if args.plot:
        from drn.video.thumbnails import plot_video_grounding

        for i, row in enumerate(rows):
            row["relevant_windows"] = [args.gt[i]] if args.gt else []
        plot_video_grounding(rows, args.video, args.plot)
    output = {"checkpoint": args.checkpoint, "video": args.video, "duration": duration, "unit": "seconds",
              "plot": args.plot,
              "results": [{"query": r["query"], "pred_relevant_windows": r["pred_relevant_windows"]} for r in rows]}
    print(_format(output))
    return 0


def _run_queries(args) -> int:
    from drn.data import open_features
    from drn.data.features import HDF5_SUFFIXES
    from drn.data.extraction_record import recorded_durations
    from drn.data.prediction_queries import read_prediction_queries
    from drn.data.query import AnnotationFormatError
    from drn.engine.io import write_jsonl
    from drn.inference import Grounder
    from drn.inference_batch import check_queries_known, predict_queries

    if args.query or args.video:
        raise ArgumentError("--queries reads the queries from the file; drop --query")
    if not args.out:
        raise ArgumentError("--queries needs --out PRED.jsonl, the predictions file to write")
    if bool(args.features) == bool(args.videos):
        raise ArgumentError("--queries needs exactly one of --features (a feature folder or HDF5 file) or --videos (a folder "
                     "of video files)")
    queries = read_prediction_queries(args.queries)
    grounder = Grounder(args.checkpoint, args.overrides)
    check_queries_known(grounder, queries)

    if args.features:
        if not Path(args.features).is_dir() and Path(args.features).suffix.lower() not in HDF5_SUFFIXES:
            raise ArgumentError(f"--features {args.features}: with --queries, expected a feature folder or an HDF5 file "
                         f"({', '.join(HDF5_SUFFIXES)})")
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
        from drn.video import VideoError, find_videos, probe
        from drn.video.ground import extract_for, video_backbone
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
