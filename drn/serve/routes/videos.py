"""The served videos: GET /api/videos (the listing), GET /api/videos/{id}/file (for the player, with
range requests) and GET /api/videos/{id}/thumbnail?t=SECONDS (a small JPEG frame)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response

from drn.errors import UserError
from drn.serve.features import renamed
from drn.serve.library import Entry
from drn.serve.routes.dependencies import serve_state
from drn.serve.state import ServeState
from drn.serve.uploads import UploadError, media_type_of

router = APIRouter()


def playable(state: ServeState, entry_id: str) -> Entry:
    entry = state.entry(entry_id)
    if entry.video is None:
        raise UploadError(f"{entry.name}: only its features are served, not the video", status=404)
    return entry


@router.get("/api/videos")
def videos(state: ServeState = Depends(serve_state)):
    return {"videos": [entry.public() for entry in state.library.listed()]}


@router.get("/api/videos/{entry_id}/file")
def video_file(entry_id: str, state: ServeState = Depends(serve_state)):
    entry = playable(state, entry_id)
    return FileResponse(entry.video, media_type=media_type_of(entry.video))


@router.get("/api/videos/{entry_id}/thumbnail")
def thumbnail(entry_id: str, t: float = 0.0, state: ServeState = Depends(serve_state)):
    entry = playable(state, entry_id)
    if not math.isfinite(t) or t < 0:
        raise UploadError(f"t must be a time in seconds >= 0, got {t}")
    try:
        data = state.thumbnails.jpeg(entry.video, min(t, entry.duration or t))
    except UserError as exc:
        raise renamed(exc, entry.video, entry.name) from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
