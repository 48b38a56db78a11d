"""The guards around every response of `drn serve`: a loopback server answers only to loopback Host
headers (no DNS rebinding from a web page), and every response carries the security headers."""

from __future__ import annotations

from drn.serve.errors import error_response

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}
_RAW_HEADERS = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


def host_name(header: str) -> str:
    """The host of a Host header, without its port: "127.0.0.1:80" -> "127.0.0.1", "[::1]:80" -> "::1"."""
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guards:
    """ASGI middleware. `allowed_hosts`: the Host names to answer (None: any)."""

    def __init__(self, app, allowed_hosts: tuple[str, ...] | None = None):
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else {host.strip("[]").lower() for host in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_RAW_HEADERS]
            await send(message)

        if self.allowed_hosts is not None:
            raw = next((value for name, value in scope["headers"] if name == b"host"), b"").decode("latin-1")
            if host_name(raw).lower() not in self.allowed_hosts:
                response = error_response(400, f"this server answers only to {', '.join(sorted(self.allowed_hosts))} "
                                               f"in the Host header, got {raw[:80]!r}")
                await response(scope, receive, send_guarded)
                return
        await self.app(scope, receive, send_guarded)
