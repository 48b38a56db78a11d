"""The `ServeState` of the app a request came to (a FastAPI dependency)."""

from __future__ import annotations

from fastapi import Request

from drn.serve.state import ServeState


def serve_state(request: Request) -> ServeState:
    return request.app.state.serve
