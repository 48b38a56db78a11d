"""`drn predict CHECKPOINT ...`: rank the moments of videos for free-text queries. Three modes:

    drn predict CHECKPOINT --features FILE --query "..." [--query ...] [--duration S] [--plot out.png]
    drn predict CHECKPOINT --video FILE --query "..." [--query ...] [--backbone NAME] [--plot out.png]
    drn predict CHECKPOINT --queries QUERIES.jsonl (--features DIR_OR_H5 | --videos DIR) --out PRED.jsonl

This module holds the parser and every argument check (they run before the model loads);
`drn.cli.predict_modes` runs each mode.
"""

from __future__ import annotations

import math

from drn.cli.common import ArgumentError, add_overrides, add_precision, add_threads, report_errors


def add_parser(sub):
    p = sub.add_parser("predict", help="ground free-text queries in a video (features or file) or a JSONL batch",
                       description="Rank the moments of a video for each query: from its features (--features), "
                                   "from a video file (--video, extracted with the checkpoint's backbone), or for "
                                   "a JSONL file of queries over many videos (--queries ... --out). The first two "
                                   "print JSON: per query its [start, end, score] windows, best first, in seconds "
                                   "(fractions of the video for --features without --duration).")
    p.add_argument("checkpoint", help="a checkpoint written by drn train")
    p.add_argument("--features", help="the video's [windows, D] features: .npy or .pt; or a feature folder / "
                                      "HDF5 file with --vid (or with --queries)")
    p.add_argument("--vid", help="video id inside a feature folder or HDF5 file")
    p.add_argument("--video", help="a video file: extract its features with the checkpoint's backbone, then rank")
    p.add_argument("--query", action="append", help="a sentence (repeatable)")
    p.add_argument("--duration", type=float, help="with --features: the video's length in seconds")
    p.add_argument("--gt", nargs=2, type=float, action="append", metavar=("START", "END"),
                   help="ground truth of each query, in order, for the plot; seconds (fractions without --duration)")
    p.add_argument("--plot", help="also draw the timelines over the matching and IoU scores to this image "
                                  "(.png, .pdf, .svg, ...)")
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
    add_overrides(p)
    add_precision(p)
    add_threads(p)
    return p


def mode_of(args) -> str:
    """"features", "video" or "queries", from the arguments given; an `ArgumentError` when they
    mix modes or miss what the mode needs."""
    if args.video and args.queries:
        raise ArgumentError("give either --video (one video, --query sentences) or --queries (a JSONL file), not both")
    if args.queries:
        if args.query:
            raise ArgumentError("--queries reads the queries from the file; drop --query")
        if not args.out:
            raise ArgumentError("--queries needs --out PRED.jsonl, the predictions file to write")
        if bool(args.features) == bool(args.videos):
            raise ArgumentError("--queries needs exactly one of --features (a feature folder or HDF5 file) or "
                                "--videos (a folder of video files)")
        return "queries"
    if args.video:
        if not args.query:
            raise ArgumentError("--video needs at least one --query")
        if args.features or args.duration is not None:
            raise ArgumentError("--video takes its features and duration from the file; drop --features / --duration")
        return "video"
    if not args.features or not args.query:
        raise ArgumentError("give --features and --query (or --video FILE --query, or --queries FILE)")
    return "features"


def check_arguments(args) -> str:
    """Every check of the arguments that needs no file and no model; returns the mode."""
    mode = mode_of(args)
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ArgumentError(f"--duration must be a finite number of seconds > 0, got {args.duration}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ArgumentError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.gt and len(args.gt) != len(args.query or ()):
        raise ArgumentError(f"give one --gt per --query ({len(args.query or ())}), got {len(args.gt)}")
    for start, end in args.gt or ():
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ArgumentError(f"--gt {start} {end}: expected finite times")
    return mode


@report_errors
def run(args) -> int:
    from drn.cli import predict_modes
    from drn.utils.threads import set_threads

    mode = check_arguments(args)
    if args.plot:
        from drn.utils.plots import check_plot_path

        check_plot_path(args.plot, "--plot")
    set_threads(args.threads)
    return {"features": predict_modes.run_features, "video": predict_modes.run_video,
            "queries": predict_modes.run_queries}[mode](args)
