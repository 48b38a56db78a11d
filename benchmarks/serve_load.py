"""Requests/s and p50/p95 latency of `drn serve`'s JSON API under N concurrent clients on loopback.

    PYTHONPATH=. python benchmarks/serve_load.py [--model tiny|default] [--clients 1 4 16] [--rounds 5]

Starts the real `drn serve` (its own process) with a random-init checkpoint (tiny widths, or DRN's
published ones at D = 4096) on a folder of pre-extracted features, checks that every concurrent
answer equals the sequential one, then prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drn.serve.load import run_load  # noqa: E402
from tests.helpers.checkpoints import features_folder, random_checkpoint  # noqa: E402
from tests.serve.server import running_server  # noqa: E402

SENTENCES = ["a person opens the door", "someone sits on the sofa", "a person drinks from a cup"]
DEFAULT_WIDTHS = {"embedding_dim": 300, "lstm_hidden": 512, "attention_dim": 512, "position_dim": 256,
                  "level_channels": [256, 512, 1024], "fpn_channels": 512}


def http_floor(url: str, requests: int = 30) -> float:
    """Median seconds of GET /api/info over one keep-alive connection: what one HTTP round trip
    costs on this machine now, without the model."""
    import http.client
    import statistics
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    took = []
    for _ in range(requests):
        began = time.perf_counter()
        connection.request("GET", "/api/info")
        connection.getresponse().read()
        took.append(time.perf_counter() - began)
    connection.close()
    return statistics.median(took)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "default"), default="tiny")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=5, help="times each client sends each request")
    args = parser.parse_args()
    dim, widths = (16, None) if args.model == "tiny" else (4096, DEFAULT_WIDTHS)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = random_checkpoint(tmp / "model.pt", feature_dim=dim, model=widths)
        features = features_folder(tmp / "features", {"kitchen": 30.0, "hall": 12.5}, feature_dim=dim)
        rows = []
        # The real command in its own process: the clients here do not share its interpreter (GIL).
        with running_server(str(checkpoint), "--features", str(features)) as url:
            with urllib.request.urlopen(f"{url}/api/videos") as response:
                ids = [v["id"] for v in json.load(response)["videos"]]
            bodies = [{"video": vid, "queries": [sentence]} for vid in ids for sentence in SENTENCES]
            sequential = run_load(url, bodies, clients=1, rounds=1)  # warm-up, and the answers to match
            reference = dict(sequential.answers)
            if sequential.failures or any(len(a) != 1 for a in reference.values()):
                print(f"FAILED alone: {sequential.failures[:3]}", file=sys.stderr)
                return 1
            floor = http_floor(url)
            for clients in args.clients:
                report = run_load(url, bodies, clients=clients, rounds=args.rounds)
                if report.failures or dict(report.answers) != reference:
                    print(f"FAILED with {clients} clients: {report.failures[:3]}", file=sys.stderr)
                    return 1
                rows.append(f"| {args.model} | {clients} | {report.requests} | {report.requests_per_second:.0f} | "
                            f"{1000 * report.percentile(0.5):.1f} | {1000 * report.percentile(0.95):.1f} | 0 |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {load}, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| model | clients | requests | requests/s | p50 ms | p95 ms | failed |\n| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\nHTTP round trip without the model (GET /api/info, 1 client, median): {1000 * floor:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
