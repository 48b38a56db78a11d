"""Load on a running `drn serve`: N clients sending requests at once over loopback, with every answer
kept so that a caller can check nobody got another user's result, or another answer than alone.

`background_server(app)` runs an app on a free loopback port in a thread (tests, benchmarks);
`run_load(url, bodies, clients, rounds)` measures it. A 503 that says when to retry (JSON body and a
Retry-After header) is counted apart from failures: it is the server's back-pressure, not an error.
Nothing here prints.
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
    """requests sent; failures ("body i: what went wrong"); rejected: 503s with Retry-After; wall
    seconds; latencies of the answered requests in seconds; answers: body index -> the distinct
    `predictions` JSON texts it received (GET requests: their status)."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    rejected: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answers: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def requests_per_second(self) -> float:
        """Answered requests per second of wall time."""
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Latency at quantile q in (0, 1), seconds."""
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1]


def _outcome(which: int, status: int, headers: http.client.HTTPMessage,
             payload: bytes) -> tuple[str | None, str | None]:
    """(answer, problem) of one response; both None for a well-formed 503."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None, f"body {which}: HTTP {status}, not JSON: {payload[:200]!r}"
    if status == 200:
        return (json.dumps(body["predictions"]) if "predictions" in body else "200"), None
    if status == 503 and isinstance(body.get("error"), str) and (headers.get("Retry-After") or "").isdigit():
        return None, None
    return None, f"body {which}: HTTP {status} {payload[:200]!r}"


def run_load(base_url: str, bodies: list[dict | None], clients: int, rounds: int, timeout: float = 60.0,
             path: str = "/api/predict") -> LoadReport:
    """`clients` threads, each sending every body of `bodies` `rounds` times to `path` over one
    keep-alive connection (client i starts at body i, so different requests overlap): a dict is
    POSTed as JSON, None is a GET."""
    parts = urllib.parse.urlsplit(base_url)
    report = LoadReport()
    lock = threading.Lock()
    start_together = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        start_together.wait()
        for step in range(rounds * len(bodies)):
            which = (index + step) % len(bodies)
            body = bodies[which]
            began = time.perf_counter()
            try:
                if body is None:
                    connection.request("GET", path)
                else:
                    connection.request("POST", path, body=json.dumps(body),
                                       headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                took = time.perf_counter() - began
                answer, problem = _outcome(which, response.status, response.headers, payload)
            except (OSError, http.client.HTTPException) as exc:  # dropped, refused, timed out: a failure to report
                took, answer, problem = time.perf_counter() - began, None, f"body {which}: {exc!r}"
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            with lock:
                report.requests += 1
                if problem:
                    report.failures.append(problem)
                elif answer is None:
                    report.rejected += 1
                else:
                    report.latencies.append(took)
                    report.answers[which].add(answer)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), name=f"load-client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    start_together.wait()
    began = time.perf_counter()
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

    from drn.serve.server import server_config
    from drn.serve.sockets import bind

    sock = bind(host, 0)
    server = uvicorn.Server(server_config(app))
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
