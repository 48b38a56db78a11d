"""The FastAPI application of `drn serve`: the page, its JSON API and the guards around them.

Routes (drn/serve/routes/, JSON unless said otherwise; every error is {"error": "one line"} with a
4xx/5xx status, see drn/serve/errors.py):
    GET  /                          the page (static/index.html; its assets under /static)
    GET  /api/info                  the checkpoint, what it can encode, the limits, the batching, example words
    GET  /api/videos                the videos and pre-extracted features the page may pick from
    POST /api/uploads               multipart `file`: store and probe a video, start its extraction -> {video, job}
    POST /api/jobs                  {"video": ID}: start (or find) the extraction of a listed video -> job
    GET  /api/jobs/{job}            {id, video, state, progress, message}
    POST /api/predict               {"video": ID, "queries": [...], "dense": bool} or multipart `file` +
                                    `query` fields -> {video, predictions: [rows]}
    GET  /api/videos/{id}/file      the video, for the page's player (range requests)
    GET  /api/videos/{id}/thumbnail?t=SECONDS   a small JPEG frame

The model runs on a worker thread (drn/serve/runner.py), so the page, uploads and /api/info answer
while it works.
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from drn.serve.errors import install_error_handlers
from drn.serve.guards import LOOPBACK_HOSTS, Guards
from drn.serve.routes import ROUTERS
from drn.serve.routes.page import STATIC
from drn.serve.settings import ServeSettings
from drn.serve.sockets import is_loopback
from drn.serve.state import ServeState


def create_app(settings: ServeSettings, host: str = "127.0.0.1") -> FastAPI:
    """The application, its model loaded. `host` is what the server binds: a loopback host answers
    only to loopback Host headers (no DNS rebinding from a web page)."""
    state = ServeState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            state.close()

    # No /docs: its assets come from a CDN, and nothing here reaches the network.
    app = FastAPI(title="drn serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.serve = state
    app.add_middleware(Guards, allowed_hosts=(*LOOPBACK_HOSTS, host) if is_loopback(host) else None)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
