"""Running `drn serve`: one server in this process, or `--workers N` server processes sharing the
listening socket, each with its own model and caches (the kernel hands each new connection to one of
them). The parent of N workers only supervises: it reports the first start-up error, replaces a
worker that dies, and stops them all on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait

from drn.errors import UserError, one_line
from drn.serve.server import GRACEFUL_SHUTDOWN_SECONDS, run_server
from drn.serve.settings import ServeSettings

logger = logging.getLogger(__name__)
STOP_SECONDS = GRACEFUL_SHUTDOWN_SECONDS + 5  # then a worker is killed


class WorkerStartError(UserError):
    """A worker process could not start its server (its message is the worker's one-line error)."""


def resolve_threads(settings: ServeSettings) -> ServeSettings:
    """`settings` with torch's CPU threads per process decided once: --threads, else OMP_NUM_THREADS,
    else the idle cores less one per server process (its event loop reads and writes the HTTP),
    shared between the workers; at least 1. Decided in the parent, so every worker computes with the
    same threads (an answer's last digits may depend on them)."""
    from drn.utils.threads import choose_threads, idle_cores

    threads, why = choose_threads(settings.threads)
    if why not in ("--threads", "OMP_NUM_THREADS"):
        threads = max(1, (idle_cores() - settings.workers) // settings.workers)
    return dataclasses.replace(settings, threads=threads)


def torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def serve(settings: ServeSettings, sock: socket.socket, host: str, ready: Callable[[], None]) -> None:
    """Serve until stopped; `ready()` once every worker has loaded its model. Start-up problems raise
    `UserError`; Ctrl-C raises KeyboardInterrupt once everything has stopped."""
    settings = resolve_threads(settings)
    if settings.workers == 1:
        from drn.serve.app import create_app

        torch_threads(settings.threads)
        app = create_app(settings, host=host)
        ready()
        run_server(app, sock)
        return
    _Supervisor(settings, sock, host).run(ready)


def _worker(settings: ServeSettings, sock: socket.socket, host: str, pipe: Connection) -> None:
    """A worker process: load the model, say so (or say why not, in one line), serve."""
    try:
        from drn.serve.app import create_app

        torch_threads(settings.threads)
        app = create_app(settings, host=host)
    except UserError as exc:
        pipe.send(one_line(exc))
        return
    pipe.send(None)
    run_server(app, sock)  # SIGTERM from the parent: a graceful shutdown, then the signal ends the process


class _Supervisor:
    def __init__(self, settings: ServeSettings, sock: socket.socket, host: str):
        self.settings, self.sock, self.host = settings, sock, host
        self.context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
        self.workers: list = []
        self.stopping = False

    def start_worker(self):
        parent, child = self.context.Pipe(duplex=False)
        # Not a daemon: extraction may start processes of its own. stop() ends it.
        process = self.context.Process(target=_worker, args=(self.settings, self.sock, self.host, child),
                                       name="drn-serve-worker")
        # Born ignoring SIGINT (inherited through exec): a terminal's Ctrl-C reaches the whole group, and
        # a worker still loading must not print a traceback for it; the parent stops workers with SIGTERM.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        child.close()
        return process, parent

    def run(self, ready: Callable[[], None]) -> None:
        previous = signal.signal(signal.SIGTERM, self._terminate)
        try:
            self.workers = [self.start_worker() for _ in range(self.settings.workers)]
            for process, pipe in self.workers:
                self._wait_ready(process, pipe)
            ready()
            while True:
                wait([process.sentinel for process, _ in self.workers])
                for i, (process, pipe) in enumerate(self.workers):
                    if not process.is_alive():
                        logger.warning("drn serve worker %d exited (code %s); starting another", process.pid,
                                       process.exitcode)
                        self.workers[i] = self.start_worker()
                        self._wait_ready(*self.workers[i])
        finally:
            self.stop()
            signal.signal(signal.SIGTERM, previous)

    def _wait_ready(self, process, pipe: Connection) -> None:
        try:
            message = pipe.recv()
        except EOFError:  # it died before a word
            process.join()
            raise WorkerStartError(f"a worker process exited while loading the model (code {process.exitcode})"
                                   ) from None
        if message is not None:
            raise WorkerStartError(message)

    def _terminate(self, signum, frame) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the workers as Ctrl-C does

    def stop(self) -> None:
        """SIGTERM to every worker still running (a graceful shutdown), then a kill after STOP_SECONDS."""
        for process, _ in self.workers:
            if process.is_alive():
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:  # it ended meanwhile
                    pass
        deadline = time.monotonic() + STOP_SECONDS
        for process, _ in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
