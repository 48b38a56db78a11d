"""`drn predict CHECKPOINT --features FILE --query "..." [--query ...] [--duration S] [--plot out.png]`:
ranked segments of one video for free-text queries, as JSON. `--video FILE` and `--queries FILE`
(video files, batches) are in drn/cli/predict_batch.py."""

from __future__ import annotations

import json

from drn.cli.common import USER_ERROR, add_overrides, report_errors
from drn.cli.predict_batch import add_video_options, run_video_or_batch, wants_video_or_batch


def add_parser(sub):
    p = sub.add_parser("predict", help="ground free-text queries in one video's features (JSON; --plot)",
                       description="Rank segments of one video for each query. Prints JSON: per query its "
                                   "[start, end, score] windows, best first, in seconds (fractions of the video "
                                   "when --duration is not given).")
    p.add_argument("checkpoint", help="a checkpoint written by drn train")
    p.add_argument("--features", help="the video's [windows, D] features: .npy or .pt; or a "
                                       "feature folder / HDF5 file with --vid (or with --queries)")
    p.add_argument("--vid", help="video id inside a feature folder or HDF5 file")
    p.add_argument("--query", action="append", help="a sentence (repeatable)")
    p.add_argument("--duration", type=float, help="video length in seconds")
    p.add_argument("--gt", nargs=2, type=float, action="append", metavar=("START", "END"),
                   help="ground truth of each query, in order, for the plot; seconds (fractions without --duration)")
    p.add_argument("--plot", help="also draw the timelines over the matching and IoU scores to this image")
    add_overrides(p)
    add_video_options(p)
    return p


@report_errors
def run(args) -> int:
    import sys

    from drn.inference import Grounder, QueryError, load_video_features

    if wants_video_or_batch(args):
        return run_video_or_batch(args)
    if not args.features or not args.query:
        print("drn predict: error: give --features and --query (or --video FILE --query, or --queries FILE)",
              file=sys.stderr)
        return USER_ERROR
    if args.duration is not None and not args.duration > 0:
        print(f"drn predict: error: --duration must be > 0 seconds, got {args.duration}", file=sys.stderr)
        return USER_ERROR
    if args.gt and len(args.gt) != len(args.query):
        print(f"drn predict: error: give one --gt per --query ({len(args.query)}), got {len(args.gt)}",
              file=sys.stderr)
        return USER_ERROR
    try:
        grounder = Grounder(args.checkpoint, args.overrides)
        features = load_video_features(args.features, args.vid)
        results = grounder.ground(features, args.query, args.duration)
    except (QueryError, ValueError) as exc:
        print(f"drn predict: error: {exc}", file=sys.stderr)
        return USER_ERROR
    unit = "seconds" if args.duration is not None else "fraction of the video"
    output = {"checkpoint": args.checkpoint, "features": args.features, "duration": args.duration, "unit": unit,
              "plot": args.plot, "results": [{"query": r["query"], "pred_relevant_windows": r["pred_relevant_windows"]}
                          for r in results]}
    if args.plot:
        from drn.plot import plot_grounding

        for i, result in enumerate(results):
            result["duration"] = args.duration or 1.0
            if args.gt:
                result["relevant_windows"] = [args.gt[i]]
        plot_grounding(results, args.plot, unit="s" if args.duration else "fraction")
    print(_format(output))
    return 0


def _format(output: dict) -> str:
    """Indented JSON with one line per query, so ranked windows stay readable."""
    head = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in output.items() if key != "results"]
    results = ",\n".join(f"    {json.dumps(result)}" for result in output["results"])
    return "{\n" + "\n".join(head) + '\n  "results": [\n' + results + "\n  ]\n}"
