"""One group of 1M / 5M sparse or dense proposals (issue 12): wall and CPU time of temporal_nms.

    OMP_NUM_THREADS=1 python benchmarks/nms_sweep.py [--sizes 1000000,5000000] [--threads 1,2]

Each workload is first checked against torchvision run over its overlap components
(peers.nms_by_components), then timed: the minimum over --rounds calls of the wall time and of the
process's CPU time (on a shared machine the CPU time of this single-threaded kernel is what an idle
machine's wall time would be; the load average is printed with every row).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads as W  # noqa: E402
from peers import nms_by_components, same_keep  # noqa: E402

import drn.ops as ops  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| workload | threads | wall (min) | CPU time (min) | kept | load (1 min) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, make in (("sparse", W.sparse_proposals), ("dense", W.dense_proposals)):
        for n in (int(s) for s in args.sizes.split(",")):
            w = make(n)
            expected = nms_by_components(w)
            for threads in (int(t) for t in args.threads.split(",")):
                torch.set_num_threads(threads)
                same_keep(ops.temporal_nms(w.segments, w.scores, w.iou_threshold), expected, w.name)
                wall, cpu = [], []
                for _ in range(args.rounds):
                    t0, c0 = time.perf_counter(), time.process_time()
                    keep = ops.temporal_nms(w.segments, w.scores, w.iou_threshold)
                    wall.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                print(f"| {w.name} | {threads} | {min(wall):.3f} s | {min(cpu):.3f} s | {len(keep):,} | "
                      f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
