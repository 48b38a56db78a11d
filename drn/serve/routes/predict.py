"""POST /api/predict: {"video": ID, "queries": [...], "dense": bool} or a multipart form (`file` and
`query` fields) -> {video, predictions: [rows]}; waits for the video's extraction, then for the model
(batched with other users' requests; 503 with Retry-After when too many wait)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from drn.serve.routes.dependencies import serve_state
from drn.serve.state import ServeState
from drn.serve.uploads import UploadError
from drn.serve.validation import check_queries, read_form, read_json, upload_in

router = APIRouter()


@router.post("/api/predict")
async def predict(request: Request, state: ServeState = Depends(serve_state)):
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        state.features.require_extractor()
        form = await read_form(request, state.settings)
        try:
            queries = check_queries(form.getlist("query"), state.settings)
            state.runner.check(queries)  # a sentence the model cannot read fails before the upload is kept
            dense = form.get("dense") in ("1", "true")
            entry = await run_in_threadpool(state.store_upload, upload_in(form))
        finally:
            await form.close()
    elif content_type.startswith("application/json"):
        body = await read_json(request)
        queries = check_queries(body.get("queries"), state.settings)
        state.runner.check(queries)
        dense = body.get("dense") is True
        entry = state.entry(body.get("video"))
    else:
        raise UploadError('send JSON {"video": ID, "queries": [...]} or a multipart form with a file field and '
                          'query fields', status=415)
    # A features entry is ready at once; a video may wait for its extraction, on a worker thread.
    video = state.ready_video(entry) if entry.kind == "features" else await run_in_threadpool(state.ready_video, entry)
    return {"video": entry.public(), "predictions": await state.runner.ground(video, queries, dense)}
