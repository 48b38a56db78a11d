"""`drn demo [--out DIR] [--video]`: synthetic data (or synthetic video files), the three training
stages, test metrics and a plot."""

from __future__ import annotations

import sys

from drn.cli.common import positive_int, report_errors


def add_parser(sub):
    from drn.demo.synthetic import DemoSettings
    from drn.demo.video import VideoDemoSettings

    plain, video = DemoSettings(), VideoDemoSettings()
    p = sub.add_parser("demo", help="train and evaluate DRN on built-in synthetic data (about half a minute on one "
                                    "CPU core)",
                       description="Generate a synthetic grounding dataset, train DRN's three stages on it, "
                                   "evaluate on its test split, and write metrics, predictions and a plot. With "
                                   "--video: synthetic video files, features extracted from their pixels, and the "
                                   "held-out test videos grounded from their files.")
    p.add_argument("--out", default="drn_demo", help="output folder (default: drn_demo; drn_demo_video with --video)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous demo in --out")
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="CPU threads (default 1: faster for this small model)")
    p.add_argument("--videos", type=positive_int, metavar="N",
                   help=f"training videos (default {plain.train_videos}, {video.train_videos} with --video; val and "
                        "test get a quarter each)")
    p.add_argument("--epochs", type=int, nargs=3, metavar=("S1", "S2", "S3"),
                   help=f"epochs per stage (default {' '.join(map(str, plain.epochs))}; "
                        f"{' '.join(map(str, video.epochs))} with --video)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--video", action="store_true",
                   help="the from-pixels demo: synthetic video files -> drn extract (random-init "
                        f"'{video.backbone}' backbone) -> train -> ground the held-out test videos from their files")
    return p


@report_errors
def run(args) -> int:
    from drn.demo.synthetic import DemoSettings, limit_threads, run_demo

    if args.epochs and (min(args.epochs) < 0 or sum(args.epochs) == 0):
        from drn.config import ConfigError

        raise ConfigError(f"--epochs must be 3 integers >= 0, not all 0, got {' '.join(map(str, args.epochs))}")
    if args.video:
        return _run_video(args)
    settings = DemoSettings()
    if args.videos is not None:
        settings.train_videos, settings.eval_videos = args.videos, max(1, args.videos // 4)
    if args.epochs:
        settings.epochs = tuple(args.epochs)
    threads = limit_threads(args.threads)
    print(f"drn demo: {settings.describe()}; {threads} CPU thread(s)", flush=True)
    result = run_demo(args.out, settings, overwrite=args.overwrite,
                      show_progress=not args.no_progress and sys.stderr.isatty())
    _print_result(result, "(data, training, evaluation, plot)",
                  "(checkpoints/, log.csv, tensorboard/, metrics.json, predictions.jsonl)")
    return 0


def _run_video(args) -> int:
    from drn.demo.synthetic import limit_threads
    from drn.demo.video import VideoDemoSettings, run_video_demo
    from drn.video.errors import require_video_extra

    require_video_extra("drn demo --video")

    settings = VideoDemoSettings()
    if args.videos:
        settings.train_videos = args.videos
        settings.val_videos = settings.test_videos = max(1, args.videos // 4)
    if args.epochs:
        settings.epochs = tuple(args.epochs)
    threads = limit_threads(args.threads)
    out = args.out if args.out != "drn_demo" else "drn_demo_video"
    print(f"drn demo --video: {settings.describe()}; {threads} CPU thread(s)", flush=True)
    result = run_video_demo(out, settings, overwrite=args.overwrite,
                            show_progress=not args.no_progress and sys.stderr.isatty())
    _print_result(result, "(videos, extraction, training, grounding the test videos, plot)",
                  "(checkpoints/, log.csv, tensorboard/, test_metrics.json, test_predictions.jsonl)")
    return 0


def _print_result(result, timed: str, contents: str) -> None:
    from drn.metrics.protocol import describe as describe_protocol

    protocol = describe_protocol(result.eval_config["protocol"], result.eval_config["nms_threshold"])
    print(f"\ntest split: {result.test_queries} queries (trained on {result.train_queries}); "
          f"R@n, IoU=m in percent, {protocol}, a hit is IoU >= m (DRN's rule)")
    print(f"{'':<28}" + "".join(f"{k:>9}" for k in result.metrics))
    print(f"{'DRN':<28}" + "".join(f"{v:>9.2f}" for v in result.metrics.values()))
    print(f"{'baseline: mean train segment':<28}" + "".join(f"{v:>9.2f}" for v in result.baseline.values()))
    print(f"\ntime: {result.seconds:.1f} s {timed}")
    print(f"run folder: {result.run_dir} {contents}")
    print(f"plot: {result.plot}")
