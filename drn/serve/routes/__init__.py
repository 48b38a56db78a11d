"""The routes of `drn serve`, one module per concern; each reads the shared `ServeState` from the app."""

from drn.serve.routes.info import router as info_router
from drn.serve.routes.jobs import router as jobs_router
from drn.serve.routes.page import router as page_router
from drn.serve.routes.predict import router as predict_router
from drn.serve.routes.videos import router as videos_router

ROUTERS = (page_router, info_router, videos_router, jobs_router, predict_router)

__all__ = ["ROUTERS"]
