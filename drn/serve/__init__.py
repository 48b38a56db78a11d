"""`drn serve`: a web page and a JSON API that ground sentences in a video with a trained DRN, for
many users at once.

`create_app(settings)` builds the FastAPI application; `ServeSettings` holds what the command line
chose (checkpoint, served folders, limits, batching). Everything the page needs is served from
`drn/serve/static/` (no CDN, no network). Both are imported on first use, so importing a small part
of this package (the CLI's socket check) does not import FastAPI.
"""

from __future__ import annotations

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from drn.serve.app import create_app

        return create_app
    if name == "ServeSettings":
        from drn.serve.settings import ServeSettings

        return ServeSettings
    raise AttributeError(f"module 'drn.serve' has no attribute {name!r}")
