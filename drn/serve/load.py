"""Load on a running `drn serve`: N clients posting JSON predictions at once over loopback, with
every answer kept so that a caller can check nobody got another user's result.

`background_server(app)` runs an app on a free loopback port in a thread (tests, benchmarks);
`run_load(url, bodies, clients, rounds)` measures it. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class LoadReport:
    """requests sent; failures ("body i: what went wrong"); wall seconds; latencies in seconds;
    answers: body index -> the distinct `predictions` JSON texts it received."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answers: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Latency at quantile q in (0, 1), seconds."""
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1]


def run_load(base_url: str, bodies: list[dict], clients: int, rounds: int, timeout: float = 60.0) -> LoadReport:
    """`clients` threads, each posting every body of `bodies` `rounds` times to /api/predict over
    one keep-alive connection (client i starts at body i, so different requests overlap)."""
    parts = urllib.parse.urlsplit(base_url)
    report = LoadReport()
    lock = threading.Lock()
    start_together = threading.Barrier(clients)

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        start_together.wait()
        for step in range(rounds * len(bodies)):
            which = (index + step) % len(bodies)
            began = time.perf_counter()
            try:
                connection.request("POST", "/api/predict", body=json.dumps(bodies[which]),
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                took = time.perf_counter() - began
                answer = json.dumps(json.loads(payload)["predictions"]) if response.status == 200 else None
                problem = None if answer is not None else f"body {which}: HTTP {response.status} {payload[:200]!r}"
            except Exception as exc:  # a dropped connection or a timeout is a failure to report, not a crash
                took, answer, problem = time.perf_counter() - began, None, f"body {which}: {exc!r}"
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            with lock:
                report.requests += 1
                report.latencies.append(took)
                if problem:
                    report.failures.append(problem)
                else:
                    report.answers[which].add(answer)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), name=f"load-client-{i}") for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * rounds * len(bodies))
    report.seconds = time.perf_counter() - began
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        report.failures.append(f"{stuck} client(s) still waiting after the time limit")
    return report


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1"):
    """Serve `app` with uvicorn on a free port of `host` in a thread; yields the base URL."""
    import uvicorn

    from drn.serve.sockets import bind

    sock = bind(host, 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="drn-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server thread did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
