"""The listening socket of `drn serve` (and of the load tests' background server)."""

from __future__ import annotations

import ipaddress
import socket

from drn.errors import UserError


class PortError(UserError, OSError):
    """The address to serve on cannot be bound (in use, not an address of this machine)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port), or `PortError` in one line."""
    if not 0 <= port <= 65535:
        raise PortError(f"--port must be in 0..65535, got {port}")
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET  # a host name such as localhost
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # Nagle holds a response body back for the client's delayed ACK (40 ms a request on Linux).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == 98 else f"cannot be bound ({exc.strerror or exc})"
        raise PortError(f"--host {host} --port {port}: the address {reason}") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
