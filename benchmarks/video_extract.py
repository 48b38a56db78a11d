"""Feature extraction on the CPU: decoding throughput, decode vs model time, clips/s, memory vs length.

Usage: PYTHONPATH=. python benchmarks/video_extract.py [--seconds 20] [--threads 1]
       [--backbones tiny clip-vit-b32 r2plus1d_18 s3d mvit_v2_s] [--long-minutes 1 10 60] [--json FILE]

1. Decoding a 1280x720 H.264 file (benchmarks/video_workloads.py) with PyAV, FFmpeg on 1 and on 2
   threads: every frame decoded and dropped (the floor), then `ClipStream` with each backbone's
   clip definition and resize/crop (frames decoded per second, and seconds of video per second of
   wall time = "x real time").
2. Each backbone (random init: timing only) on the clips of that file: decode + preprocess time
   vs model time for the same clips, and the model's clips/s (batch 4, after one warm-up batch).
3. The whole `extract_videos` on two copies of the 720p file, decoding in this process (workers
   0) or in 2 worker processes overlapped with the model (workers 2): clips/s.
4. Peak memory against video length: `extract_videos` with the tiny backbone and one decoding
   worker on flat-colour 320x240 videos of each --long-minutes, each in a fresh process, sampled
   every 0.1 s from /proc: peak RSS of the main process, and peak PSS of main + worker together
   (PSS splits the pages they share after the fork, so the sum is what the two really hold).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from video_workloads import write_hd_video, write_long_video

from drn.video import ClipStream, extract_videos, get_spec, load_backbone
from drn.video.pipeline import batched

MODEL_CLIPS = 8
BATCH = 4


def decode_floor(path: Path, threads: int) -> tuple[int, float]:
    import av

    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.thread_count = "AUTO", threads
        frames = sum(1 for _ in container.decode(stream))
    return frames, time.perf_counter() - start


def clip_stream(path: Path, name: str, threads: int) -> tuple[list, ClipStream, float]:
    spec = get_spec(name)
    preprocess = spec.preprocess()
    preprocess(np.zeros((48, 64, 3), np.uint8))  # warm up: imports and builds the transform
    stream = ClipStream(path, spec.clip_seconds, spec.frames_per_clip, preprocess, threads=threads)
    start = time.perf_counter()
    clips = list(stream)
    return clips, stream, time.perf_counter() - start


def model_time(name: str, clips: list) -> tuple[float, int]:
    """Seconds per clip of the model alone on these (preprocessed) clips, after a warm-up batch."""
    backbone = load_backbone(name, "none")
    chunks = list(batched(iter(clips[: MODEL_CLIPS + BATCH]), BATCH))
    backbone.encode(chunks[0])
    timed = chunks[1:] or chunks
    start = time.perf_counter()
    n = 0
    for chunk in timed:
        backbone.encode(chunk)
        n += len(chunk)
    return (time.perf_counter() - start) / n, n


RSS_CHILD = """
import json, os, sys, threading, time
from pathlib import Path
from drn.video import extract_videos, load_backbone


def kb(pid, field, name):
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def tree():
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    return [os.getpid()] + [int(c) for c in children]


peak = {"main_mb": 0.0, "total_pss_mb": 0.0}
done = threading.Event()


def watch():  # RSS of this process; PSS (shared pages split fairly) of it plus its decoding worker
    while not done.is_set():
        try:
            peak["main_mb"] = max(peak["main_mb"], kb(os.getpid(), "VmRSS", "status") / 1024)
            peak["total_pss_mb"] = max(peak["total_pss_mb"], sum(kb(p, "Pss", "smaps_rollup") for p in tree()) / 1024)
        except OSError:
            pass  # a worker that just exited
        time.sleep(0.1)


path, out = sys.argv[1], sys.argv[2]
backbone = load_backbone("tiny")
threading.Thread(target=watch, daemon=True).start()
start = time.perf_counter()
summary = extract_videos({"long": path}, backbone, out, batch_size=16, workers=1, progress=False)
seconds = time.perf_counter() - start
done.set()
print(json.dumps({"clips": summary.clips, "seconds": seconds, **peak}))
"""


def pipeline_run(paths: list[Path], name: str, workers: int, out: Path) -> tuple[int, float]:
    """Clips and wall seconds of `extract_videos` over `paths` (the model loaded beforehand)."""
    backbone = load_backbone(name, "none")
    videos = {f"v{i}": p for i, p in enumerate(paths)}
    start = time.perf_counter()
    summary = extract_videos(videos, backbone, out, batch_size=BATCH, workers=workers, progress=False)
    return summary.clips, time.perf_counter() - start


def rss_run(path: Path, out: Path, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run([sys.executable, "-c", RSS_CHILD, str(path), str(out)], env=env, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the 720p test video")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the models")
    parser.add_argument("--backbones", nargs="+", default=["tiny", "clip-vit-b32", "r2plus1d_18", "s3d", "mvit_v2_s"])
    parser.add_argument("--pipeline-backbone", default="clip-vit-b32", help="backbone of the workers 0 vs 2 run")
    parser.add_argument("--long-minutes", nargs="*", type=float, default=[1, 10, 60])
    parser.add_argument("--sections", nargs="+", default=["decode", "models", "pipeline", "memory"],
                        help="which parts to run (default: all four)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report: dict = {"load_start": os.getloadavg(), "threads": args.threads, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hd = write_hd_video(tmp / "hd720.mp4", args.seconds) if {"decode", "models", "pipeline"} & set(args.sections) else None
        print(f"# load average {os.getloadavg()}", flush=True)
        if "decode" in args.sections:
            decode_section(args, hd, report)
        if "models" in args.sections:
            models_section(args, hd, report)
        if "pipeline" in args.sections:
            pipeline_section(args, hd, tmp, report)
        if "memory" in args.sections:
            memory_section(args, tmp, report)
    report["load_end"] = os.getloadavg()
    print(f"\nload average at the end {report['load_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def decode_section(args, hd: Path, report: dict) -> None:
    print("| decoding | FFmpeg threads | frames decoded/s | x real time |\n| --- | --- | --- | --- |")
    report["decode"] = []
    for threads in (1, 2):
        frames, seconds = decode_floor(hd, threads)
        report["decode"].append({"what": "decode only", "threads": threads, "fps": frames / seconds,
                                 "x_real_time": args.seconds / seconds})
        print(f"| every frame, no conversion | {threads} | {frames / seconds:.0f} | {args.seconds / seconds:.1f} |",
              flush=True)
        for name in args.backbones:
            clips, stream, seconds = clip_stream(hd, name, threads)
            report["decode"].append({"what": name, "threads": threads, "fps": stream.frames_decoded / seconds,
                                     "x_real_time": stream.duration / seconds, "clips": len(clips)})
            print(f"| `{name}` clips ({len(clips)}), resize + crop | {threads} | "
                  f"{stream.frames_decoded / seconds:.0f} | {stream.duration / seconds:.1f} |", flush=True)


def models_section(args, hd: Path, report: dict) -> None:
    print("\n| backbone | decode + preprocess s/clip | model s/clip | model clips/s | decode share |"
          "\n| --- | --- | --- | --- | --- |")
    report["models"] = []
    for name in args.backbones:
        clips, stream, decode_s = clip_stream(hd, name, 1)
        per_clip_model, n = model_time(name, clips)
        per_clip_decode = decode_s / len(clips)
        share = per_clip_decode / (per_clip_decode + per_clip_model)
        report["models"].append({"backbone": name, "decode_s_per_clip": per_clip_decode,
                                 "model_s_per_clip": per_clip_model, "model_clips": n, "decode_share": share})
        print(f"| `{name}` | {per_clip_decode:.3f} | {per_clip_model:.3f} | {1 / per_clip_model:.2f} | "
              f"{100 * share:.0f}% |", flush=True)


def pipeline_section(args, hd: Path, tmp: Path, report: dict) -> None:
    print(f"\n| `extract_videos`, 2 x {args.seconds:g} s of 720p, `{args.pipeline_backbone}` | clips | wall s | "
          "clips/s |\n| --- | --- | --- | --- |")
    report["pipeline"] = []
    copies = [hd, tmp / "hd720b.mp4"]
    copies[1].write_bytes(hd.read_bytes())
    for workers in (0, 2):
        clips, seconds = pipeline_run(copies, args.pipeline_backbone, workers, tmp / f"pipe{workers}")
        report["pipeline"].append({"workers": workers, "clips": clips, "seconds": seconds})
        print(f"| {workers} decoding workers | {clips} | {seconds:.1f} | {clips / seconds:.2f} |", flush=True)


def memory_section(args, tmp: Path, report: dict) -> None:
    print("\n| video | clips | wall s | peak RSS main MB | peak PSS main + worker MB |\n| --- | --- | --- | --- | --- |")
    report["memory"] = []
    for minutes in args.long_minutes:
        path = write_long_video(tmp / f"long{minutes:g}.mp4", minutes)
        row = rss_run(path, tmp / f"out{minutes:g}", args.threads)
        report["memory"].append({"minutes": minutes, **row})
        print(f"| {minutes:g} min, 320x240, 10 fps | {row['clips']} | {row['seconds']:.0f} | {row['main_mb']:.0f} | "
              f"{row['total_pss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
