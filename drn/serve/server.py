"""The uvicorn server of `drn serve`: HTTP/1.1 (h11) whose own refusals are JSON too, and a bounded
graceful shutdown."""

from __future__ import annotations

import json
import socket

import h11
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


def server_config(app):
    import uvicorn

    return uvicorn.Config(app, http=JSONErrorsProtocol, log_level="warning", access_log=False,
                          timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)


def run_server(app, sock: socket.socket) -> None:
    """Serve `app` on the listening `sock` until Ctrl-C or SIGTERM (uvicorn re-raises them after its
    graceful shutdown)."""
    import uvicorn

    uvicorn.Server(server_config(app)).run(sockets=[sock])
