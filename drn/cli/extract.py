"""`drn extract VIDEOS... --backbone NAME --out DIR`: video files -> one `VID.npy` of clip features each,
plus `DIR/extract.json`. Resumable; a bad video is logged and counted; shards over torchrun ranks."""

from __future__ import annotations

import sys

from drn.cli.common import report_errors
from drn.errors import UserError

# Exit status when the run finished but some videos could not be read (they are listed in extract.json).
SOME_FAILED = 1


def add_parser(sub):
    p = sub.add_parser("extract", help="extract clip features from video files (VID.npy per video + extract.json)",
                       description="Decode video files and encode each clip with a backbone. Writes DIR/VID.npy "
                                   "([clips, D]) per video and DIR/extract.json (backbone, weights, clip length, "
                                   "per-video duration and clip count). Videos already in DIR are skipped, so an "
                                   "interrupted run resumes. A video that cannot be decoded is reported and the run "
                                   "goes on (exit status 1 at the end). Under torchrun each rank takes its share.")
    p.add_argument("videos", nargs="+", metavar="VIDEO",
                   help="video files, folders (searched recursively) or list files (.txt: one path per line)")
    p.add_argument("--backbone", required=True, metavar="NAME",
                   help="clip-vit-b32, s3d, r2plus1d_18, mvit_v2_s, or tiny (random weights, for tests)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; reused to resume)")
    p.add_argument("--weights", default="default",
                   help="'default' (downloaded once into the library's cache), 'none' (random init, for tests), "
                        "or a checkpoint FILE for offline machines")
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass (default 16)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2; 0: decode in this process)")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32", help="stored feature dtype")
    p.add_argument("--hdf5", metavar="FILE", help="also pack all features into this HDF5 file (keyed by video id)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto: cuda when available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _check_args(args) -> None:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.workers < 0:
        raise UserError(f"--workers must be >= 0, got {args.workers}")
    if args.hdf5 is not None and not args.hdf5.lower().endswith((".h5", ".hdf5", ".hdf")):
        raise UserError(f"--hdf5 {args.hdf5}: expected a file name ending in .h5 or .hdf5")


def _device(name: str, torch):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: expected cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA GPU is visible to torch {torch.__version__}; use --device cpu")
    return device


@report_errors
def run(args) -> int:
    from pathlib import Path

    import torch

    from drn.engine import distributed
    from drn.video import extract_videos, extraction_settings, find_videos, get_spec, load_backbone
    from drn.video.errors import require_video_extra
    from drn.video.store import FeatureStore

    _check_args(args)
    require_video_extra("drn extract")
    get_spec(args.backbone)  # an unknown name fails before anything is decoded or loaded
    videos = find_videos(args.videos)
    if Path(args.out).is_file():
        raise UserError(f"--out {args.out}: is a file; expected a folder (new or from an earlier drn extract)")
    device = distributed.init_distributed(_device(args.device, torch))
    try:
        backbone = load_backbone(args.backbone, args.weights, device)
        store = FeatureStore(args.out, extraction_settings(backbone, args.dtype))
        main = distributed.is_main_process()
        if main:
            print(f"drn extract: {len(videos)} videos, backbone {args.backbone} (weights {backbone.weights}), "
                  f"{backbone.spec.clip_seconds:g} s clips, D = {backbone.spec.dim}, {device}, "
                  f"{distributed.get_world_size()} rank(s) x {args.workers} decoding workers", flush=True)
        summary = extract_videos(videos, backbone, args.out, batch_size=args.batch_size, workers=args.workers,
                                 dtype=args.dtype, hdf5=args.hdf5, store=store,
                                 progress=not args.no_progress and sys.stderr.isatty())
    finally:
        distributed.cleanup()
    if main:
        print(f"drn extract: {summary.extracted} extracted ({summary.clips} clips, {summary.seconds:.1f} s), "
              f"{summary.skipped} already done, {len(summary.failed)} failed; wrote {summary.settings_path}"
              + (f" and {summary.hdf5_path}" if summary.hdf5_path else ""))
        for vid, message in summary.failed.items():
            print(f"  failed {vid}: {message}")
    return SOME_FAILED if summary.failed else 0
