"""Requests/s and p50/p95/p99 latency of `drn serve`'s JSON API under 1 to 64 concurrent clients on
loopback, with and without batching across requests, and the HTTP floor (the model-free round trip).

    PYTHONPATH=. python benchmarks/serve_load.py [--model tiny drn] [--clients 1 4 16 64]
        [--batching on off] [--requests 200] [--server-args "--workers 2"]

For each model (a random-init checkpoint: tiny widths, or DRN's published ones at D = 4096) it
writes a `--features` folder of 6 videos of 24-62 s, and for each batching mode starts the real
`drn serve` (its own process; `off` is --batch-window-ms 0) on 127.0.0.1. One client first sends
every request once (one sentence of 3 in one video of 6) for the sequential answers; then N client
threads (in this process, one keep-alive connection each) send at least --requests requests
together, and every answer must equal the sequential one (and the answers with batching must
equal those without). 503s with Retry-After are counted apart from failures. The server's CPU time
per answered request (its process and workers, from /proc) shows the cost apart from the machine's
load, and one more client asks GET /api/info every 20 ms meanwhile (the page must stay responsive).
Prints Markdown for benchmarks/RESULTS.md; exits 1 if a request failed or an answer differed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drn.serve.load import LoadReport, run_load  # noqa: E402
from tests.helpers.checkpoints import features_folder, random_checkpoint  # noqa: E402
from tests.helpers.cli import cli_env  # noqa: E402
from tests.serve.server import serve_process  # noqa: E402

SENTENCES = ["a person opens the door", "someone sits on the sofa", "a person drinks from a cup"]
VIDEOS = {"kitchen": 24.0, "hall": 31.5, "garage": 38.0, "office": 45.5, "garden": 53.0, "attic": 62.0}
DRN_WIDTHS = {"embedding_dim": 300, "lstm_hidden": 512, "attention_dim": 512, "position_dim": 256,
              "level_channels": [256, 512, 1024], "fpn_channels": 512}
MODELS = {"tiny": (16, None), "drn": (4096, DRN_WIDTHS)}
HTTP_FLOOR_CLIENTS = (1, 16)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its descendants (Linux /proc), now."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, times = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
        times[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / ticks
    family, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(times.get(member, 0.0) for member in family)


def server_env() -> dict:
    """The environment of the server: the tests' (PYTHONPATH), but its threads chosen as a user's are."""
    return {k: v for k, v in cli_env().items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def rounds_for(clients: int, bodies: int, requests: int) -> int:
    return max(1, math.ceil(requests / (clients * bodies)))


def table_row(model: str, batching: str, clients: int, report: LoadReport, differing: int, cpu: float,
              info_p95: float) -> str:
    ms = [f"{1000 * report.percentile(q):.1f}" for q in (0.5, 0.95, 0.99)]
    per_request = 1000 * cpu / max(1, report.answered)
    return (f"| {model} | {batching} | {clients} | {report.requests} | {report.requests_per_second:.1f} | "
            f"{' | '.join(ms)} | {per_request:.1f} | {1000 * info_p95:.1f} | {report.rejected} | "
            f"{len(report.failures)} | {differing} |")


def loaded(pid: int, *args, **kwargs) -> tuple[LoadReport, float, float]:
    """`run_load(*args, **kwargs)`, the server's CPU seconds meanwhile, and the p95 latency (s) of
    GET /api/info asked every 20 ms meanwhile by one more client."""
    url, stop, took = args[0], threading.Event(), []

    def ask_info() -> None:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while not stop.wait(0.02):
            began = time.perf_counter()
            connection.request("GET", "/api/info")
            connection.getresponse().read()
            took.append(time.perf_counter() - began)
        connection.close()

    prober = threading.Thread(target=ask_info)
    before = cpu_seconds(pid)
    prober.start()
    report = run_load(*args, **kwargs)
    stop.set()
    prober.join()
    info_p95 = statistics.quantiles(took, n=20)[-1] if len(took) > 1 else (took or [0.0])[0]
    return report, cpu_seconds(pid) - before, info_p95


def measure(model: str, batching: str, url: str, pid: int, args, reference: dict | None
            ) -> tuple[list[str], dict, bool]:
    """Rows of the table for one server; the sequential answers; whether everything held."""
    ids = [v["id"] for v in get_json(f"{url}/api/videos")["videos"]]
    bodies = [{"video": vid, "queries": [sentence]} for vid in ids for sentence in SENTENCES]
    run_load(url, bodies[:3], clients=1, rounds=1)  # warm-up: first-touch costs out of the timings
    sequential = run_load(url, bodies, clients=1, rounds=1)
    answers = {i: next(iter(a)) for i, a in sequential.answers.items() if len(a) == 1}
    ok = not sequential.failures and len(answers) == len(bodies)
    if reference is not None and answers != reference:
        print(f"{model}, batching {batching}: the sequential answers differ from the other server's", file=sys.stderr)
        ok = False
    rows, batch_sizes = [], []
    for clients in args.clients:
        before = get_json(f"{url}/api/info")["batching"]
        report, cpu, info_p95 = loaded(pid, url, bodies, clients, rounds_for(clients, len(bodies), args.requests))
        after = get_json(f"{url}/api/info")["batching"]
        batches = max(1, after["batches_run"] - before["batches_run"])
        batch_sizes.append(f"{clients}: {(after['requests_run'] - before['requests_run']) / batches:.1f}")
        differing = sum(len(got - {answers.get(i)}) for i, got in report.answers.items())
        if report.failures or differing:
            print(f"{model}, batching {batching}, {clients} clients: {len(report.failures)} failed "
                  f"{report.failures[:3]}, {differing} answers differ from the sequential ones", file=sys.stderr)
            ok = False
        rows.append(table_row(model, batching, clients, report, differing, cpu, info_p95))
    for clients in HTTP_FLOOR_CLIENTS:
        floor, cpu, info_p95 = loaded(pid, url, [None], clients, rounds_for(clients, 1, args.requests),
                                      path="/api/info")
        rows.append(table_row(model, "GET /api/info", clients, floor, 0, cpu, info_p95))
    if get_json(f"{url}/api/info")["batching"]["workers"] == 1:  # with more, /api/info counts one worker's
        print(f"{model}, batching {batching}: requests per forward pass by clients: {', '.join(batch_sizes)}")
    return rows, answers, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", choices=sorted(MODELS), default=["tiny", "drn"])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--batching", nargs="+", choices=("on", "off"), default=["on", "off"])
    parser.add_argument("--requests", type=int, default=200, help="requests per client count, at least")
    parser.add_argument("--server-args", default="", help="more drn serve options, e.g. \"--workers 2\"")
    args = parser.parse_args()
    rows, ok, info = [], True, {}
    began = time.strftime("%Y-%m-%d %H:%M")
    loads = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.model:
            dim, widths = MODELS[model]
            checkpoint = random_checkpoint(Path(tmp) / f"{model}.pt", feature_dim=dim, model=widths)
            features = features_folder(Path(tmp) / f"{model}_features", VIDEOS, feature_dim=dim)
            reference = None
            for batching in args.batching:
                server_args = [str(checkpoint), "--features", str(features), *shlex.split(args.server_args)]
                if batching == "off":
                    server_args += ["--batch-window-ms", "0"]
                with serve_process(*server_args, env=server_env()) as server:
                    info[(model, batching)] = get_json(f"{server.url}/api/info")["batching"]
                    got, answers, held = measure(model, batching, server.url, server.process.pid, args, reference)
                    rows += got
                    ok &= held
                    reference = reference or answers
                loads.append(os.getloadavg())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, started {began}; "
          f"load averages (1/5/15 min) at the start and after each server: "
          f"{'; '.join(', '.join(f'{x:.1f}' for x in load) for load in loads)}")
    for (model, batching), settings in info.items():
        print(f"server {model}, batching {batching}: {json.dumps(settings)}")
    print("\n| model | batching | clients | requests | requests/s | p50 ms | p95 ms | p99 ms | server CPU ms/request | "
          "/api/info p95 ms meanwhile | 503 | failed | differing |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
