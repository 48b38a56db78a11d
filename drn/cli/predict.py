"""`drn predict CHECKPOINT --features FILE --query "..." [--query ...] [--duration S] [--plot out.png]`:
ranked segments of one video for free-text queries, as JSON. `--video FILE` and `--queries FILE`
(video files, batches) are in drn/cli/predict_batch.py."""

from __future__ import annotations

import json
import logging
import math

from drn.cli.common import ArgumentError, add_overrides, add_threads, report_errors
from drn.cli.predict_batch import add_video_options, run_video_or_batch, wants_video_or_batch

logger = logging.getLogger("drn")


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
    p.add_argument("--plot", help="also draw the timelines over the matching and IoU scores to this image "
                                  "(.png, .pdf, .svg, ...)")
    add_overrides(p)
    add_threads(p, "default: the idle cores")
    add_video_options(p)
    return p


def check_arguments(args) -> None:
    """Everything about the arguments that can be wrong, before the model is loaded."""
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ArgumentError(f"--duration must be a finite number of seconds > 0, got {args.duration}")
    if args.gt and len(args.gt) != len(args.query):
        raise ArgumentError(f"give one --gt per --query ({len(args.query)}), got {len(args.gt)}")
    for start, end in args.gt or ():
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ArgumentError(f"--gt {start} {end}: expected finite times")


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


@report_errors
def run(args) -> int:
    from drn.engine.evaluate import explain_empty_rankings
    from drn.engine.threads import set_threads
    from drn.inference import Grounder, load_video_features

    if args.plot:
        from drn.plot import check_plot_path

        check_plot_path(args.plot, "--plot")
    if wants_video_or_batch(args):
        set_threads(args.threads)
        return run_video_or_batch(args)
    if not args.features or not args.query:
        raise ArgumentError("give --features and --query (or --video FILE --query, or --queries FILE)")
    check_arguments(args)
    set_threads(args.threads)
    unit = "seconds" if args.duration is not None else "fraction of the video"
    span = args.duration or 1.0
    gt = checked_ground_truth(args.gt, span, unit)
    grounder = Grounder(args.checkpoint, args.overrides)
    features = load_video_features(args.features, args.vid)
    results = grounder.ground(features, args.query, args.duration)
    explain_empty_rankings(results, grounder.config.score_threshold)
    output = {"checkpoint": args.checkpoint, "features": args.features, "duration": args.duration, "unit": unit,
              "plot": args.plot, "results": [{"query": r["query"], "pred_relevant_windows": r["pred_relevant_windows"]}
                                             for r in results]}
    if args.plot:
        from pathlib import Path

        from drn.plot import plot_grounding

        for i, result in enumerate(results):
            result["duration"] = span
            if gt:
                result["relevant_windows"] = [gt[i]]
        title = f"drn predict: {Path(args.features).name}" + (f" [{args.vid}]" if args.vid else "")
        plot_grounding(results, args.plot, unit="s" if args.duration else "fraction of the video", title=title)
    print(_format(output))
    return 0


def _format(output: dict) -> str:
    """Indented JSON with one line per query, so ranked windows stay readable."""
    head = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in output.items() if key != "results"]
    results = ",\n".join(f"    {json.dumps(result)}" for result in output["results"])
    return "{\n" + "\n".join(head) + '\n  "results": [\n' + results + "\n  ]\n}"
