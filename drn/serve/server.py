"""The uvicorn server of `drn serve`: HTTP/1.1 (h11) whose own refusals are JSON too, and a bounded
graceful shutdown."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from drn.serve.guards import SECURITY_HEADERS

GRACEFUL_SHUTDOWN_SECONDS = 10  # requests still running at Ctrl-C get this long to finish
BAD_REQUEST = json.dumps({"error": "not a valid HTTP/1.1 request (it needs a request line, exactly one Host header "
                                   "and well-formed headers)"}).encode()


class JSONErrorsProtocol(H11Protocol):
    """h11's protocol, but a request it cannot parse (no Host header, two of them, a malformed line)
    gets the API's one error shape instead of uvicorn's plain text."""

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BAD_REQUEST)).encode()),
                   (b"connection", b"close"),
                   *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items())]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=BAD_REQUEST),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def server_config(app) -> uvicorn.Config:
    return uvicorn.Config(app, http=JSONErrorsProtocol, log_level="warning", access_log=False,
                          timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)


class SignalledServer(uvicorn.Server):
    """uvicorn's server, but the signal that stopped it (`stopped_by`) is left to `run_server` to act
    on once the event loop is gone: uvicorn re-raises it from inside asyncio.run, whose own SIGINT
    handling can then let the process end with status 0 and no word instead of Ctrl-C's one line."""

    stopped_by: int | None = None

    def handle_exit(self, sig, frame) -> None:
        self.stopped_by = self.stopped_by or sig
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_server(app, sock: socket.socket) -> None:
    """Serve `app` on the listening `sock` until Ctrl-C (then KeyboardInterrupt) or SIGTERM (then the
    signal ends the process), each after a graceful shutdown."""
    server = SignalledServer(server_config(app))
    server.run(sockets=[sock])
    if server.stopped_by == signal.SIGINT:
        raise KeyboardInterrupt
    if server.stopped_by is not None:
        signal.raise_signal(server.stopped_by)  # SIGTERM: its handler (by default, the end of the process)
