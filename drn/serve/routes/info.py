"""GET /api/info: the checkpoint, what it can encode, the limits, how requests are batched, example words."""

from __future__ import annotations

from pathlib import Path

import torch
from fastapi import APIRouter, Depends

from drn.serve.routes.dependencies import serve_state
from drn.serve.state import ServeState

router = APIRouter()


@router.get("/api/info")
async def info(state: ServeState = Depends(serve_state)):  # async: answered on the event loop, even under load
    settings, features = state.settings, state.features
    return {
        "checkpoint": Path(settings.checkpoint).name,
        "can_extract": features.can_extract,
        "extraction": features.extraction,
        "feature_dim": features.feature_dim,
        "example_words": state.example_words,
        "limits": {"max_upload_mb": settings.max_upload_mb, "max_duration": settings.max_duration,
                   "max_queries": settings.max_queries, "max_query_chars": settings.max_query_chars},
        "batching": {"window_ms": settings.batch_window_ms if state.runner.batching else 0,
                     "max_batch": settings.max_batch, "queue_size": settings.queue_size,
                     "workers": settings.workers, "threads": torch.get_num_threads(),
                     "batches_run": state.runner.batcher.batches, "requests_run": state.runner.batcher.items},
    }
