"""`drn serve` started as a user starts it: the real command in a subprocess, on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request

from tests.helpers.cli import cli_env

START_TIMEOUT = 120.0  # seconds; loading torch on a busy 2-core machine is slow


@contextlib.contextmanager
def running_server(*args: str, env: dict | None = None):
    """Yield the base URL of `drn serve ARGS --port 0` once /api/info answers; stop it after."""
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty server never blocks on it
    process = subprocess.Popen([sys.executable, "-m", "drn.cli", "serve", *args, "--port", "0"], env=env or cli_env(),
                               stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = process.stdout.readline()  # "drn serve: http://127.0.0.1:PORT/ (Ctrl-C stops)"
        if not line.startswith("drn serve: http://"):
            process.kill()
            process.wait()
            log.seek(0)
            raise AssertionError(f"drn serve did not start: {line!r} {log.read()}")
        url = line.split()[2].rstrip("/")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/info", timeout=5) as response:
                    json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
