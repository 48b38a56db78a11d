"""`drn serve` started as a user starts it: the real command in a subprocess, on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass

from tests.helpers.cli import cli_env

START_TIMEOUT = 120.0  # seconds; loading torch on a busy 2-core machine is slow


@dataclass
class ServeProcess:
    url: str
    process: subprocess.Popen
    log: object  # the file its stderr goes to

    def interrupt(self, timeout: float = START_TIMEOUT) -> tuple[int, str]:
        """Ctrl-C (SIGINT) as a terminal sends it; (exit status, what it wrote to stderr from then on)."""
        written = os.fstat(self.log.fileno()).st_size
        began = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"drn serve still running {time.monotonic() - began:.0f} s after Ctrl-C (load "
                                 f"{os.getloadavg()}); its stderr: {self.stderr()[written:]!r}") from None
        return self.process.returncode, self.stderr()[written:]

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()


@contextlib.contextmanager
def serve_process(*args: str, env: dict | None = None):
    """Yield a `ServeProcess` of `drn serve ARGS --port 0` once /api/info answers; stop it after."""
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
        yield ServeProcess(url, process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@contextlib.contextmanager
def running_server(*args: str, env: dict | None = None):
    """Yield the base URL of `drn serve ARGS --port 0` once /api/info answers; stop it after."""
    with serve_process(*args, env=env) as served:
        yield served.url
