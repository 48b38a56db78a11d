"""Getting a video's features ready: POST /api/uploads (multipart `file`: store and probe a video,
start its extraction -> {video, job}), POST /api/jobs ({"video": ID}: start or find the extraction of a
listed video -> job) and GET /api/jobs/{id} ({id, video, state, progress, message})."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from drn.serve.routes.dependencies import serve_state
from drn.serve.state import ServeState
from drn.serve.uploads import UploadError
from drn.serve.validation import read_form, read_json, upload_in

router = APIRouter()


@router.post("/api/uploads", status_code=202)
async def upload_video(request: Request, state: ServeState = Depends(serve_state)):
    state.features.require_extractor()  # before a byte is stored
    form = await read_form(request, state.settings)
    try:
        entry = await run_in_threadpool(state.store_upload, upload_in(form))
    finally:
        await form.close()  # the spooled copy of the upload
    job = await run_in_threadpool(state.start, entry)
    return {"video": entry.public(), "job": job.public()}


@router.post("/api/jobs", status_code=202)
async def start_job(request: Request, state: ServeState = Depends(serve_state)):
    entry = state.entry((await read_json(request)).get("video"))
    return (await run_in_threadpool(state.start, entry)).public()


@router.get("/api/jobs/{job_id}")
async def job_state(job_id: str, state: ServeState = Depends(serve_state)):
    job = state.jobs.get(job_id)
    if job is None:
        raise UploadError("no such job (it finished long ago, or the id is wrong)", status=404)
    return job.public()
