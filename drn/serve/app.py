"""The FastAPI application of `drn serve`: the page, its JSON API and the guards around them.

Routes (JSON unless said otherwise; every error is {"error": "one line"} with a 4xx/5xx status):
    GET  /                          the page (static/index.html)
    GET  /api/info                  the checkpoint, what it can encode, the limits, example words
    GET  /api/videos                the videos and pre-extracted features the page may pick from
    POST /api/uploads               multipart `file`: store and probe a video, start its extraction -> {video, job}
    POST /api/jobs                  {"video": ID}: start (or find) the extraction of a listed video -> job
    GET  /api/jobs/{job}            {id, video, state, progress, message}
    POST /api/predict               {"video": ID, "queries": [...], "dense": bool} or multipart `file` +
                                    `query` fields -> {video, predictions: [rows]}; waits for extraction
    GET  /api/videos/{id}/file      the video, for the page's player (range requests)
    GET  /api/videos/{id}/thumbnail?t=SECONDS   a small JPEG frame
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from drn.errors import UserError
from drn.inference.grounder import QueryError
from drn.serve.jobs import BusyError, Job, JobQueue
from drn.serve.library import Entry, Library
from drn.serve.runner import NoExtractorError, ServeModel, renamed
from drn.serve.settings import ServeSettings
from drn.serve.sockets import is_loopback
from drn.serve.thumbnails import Thumbnails
from drn.serve.uploads import (
    FORM_OVERHEAD_BYTES,
    UploadError,
    check_duration,
    limited_receive,
    media_type_of,
    probe_container,
    save_stream,
    too_large,
)

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
JSON_BODY_LIMIT = 256 * 1024
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}


def _status_of(exc: UserError) -> int:
    if isinstance(exc, UploadError):
        return exc.status
    if isinstance(exc, BusyError):
        return 503
    if isinstance(exc, NoExtractorError):
        return 409
    return 400


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _shown_name(filename: str | None) -> str:
    """A display name (and `vid`) for an upload: the file name's stem, reduced to safe characters."""
    stem = Path(filename or "upload").name.rsplit(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "upload"




def create_app(settings: ServeSettings, model: ServeModel | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The application. `model` may be shared (tests); `host` is what the server binds, and a
    loopback host accepts only loopback Host headers (no DNS-rebinding from a web page)."""
    model = model or ServeModel(settings)
    upload_dir = Path(tempfile.mkdtemp(prefix="drn-serve-uploads-"))
    try:
        library = Library(settings.videos, settings.features, upload_dir, settings.keep_uploads)
        if library.features_settings is not None:
            model.check_features_folder(library.features_root, library.features_settings)
    except BaseException:
        shutil.rmtree(upload_dir, ignore_errors=True)
        raise
    jobs = JobQueue(settings.max_pending_jobs)
    thumbnails = Thumbnails()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            jobs.shutdown()
            shutil.rmtree(upload_dir, ignore_errors=True)

    # No /docs: its assets come from a CDN, and nothing here reaches the network.
    app = FastAPI(title="drn serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.model, app.state.library, app.state.jobs = model, library, jobs
    if is_loopback(host):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS + [host])

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError):
        return _error(_status_of(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        problem = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in problem.get("loc", ()) if part not in ("query", "path"))
        return _error(400, f"{where or 'request'}: {problem.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        logger.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({exc.__class__.__name__}); the server log has the details")

    def entry_or_404(entry_id) -> Entry:
        entry = library.get(entry_id)
        if entry is None:
            shown = str(entry_id)[:40] if isinstance(entry_id, str) else type(entry_id).__name__
            raise UploadError(f"no video with id {shown!r} (ids come from /api/videos or an upload; "
                              f"uploads expire after {settings.keep_uploads} newer ones)", status=404)
        return entry

    def start(entry: Entry) -> Job:
        """The job that makes `entry`'s features ready (already done when they are)."""
        if entry.kind == "features":
            return jobs.done(entry.id, ("features", entry.id))
        model.require_extractor()
        key = model.cache_key(model.content_hash(entry.video))
        if model.cache.get(key) is not None:
            return jobs.done(entry.id, key)
        return jobs.submit(entry.id, key, lambda report: model.extract(entry.video, key, report, shown=entry.name))

    def features_of(entry: Entry):
        if entry.kind == "features":
            return model.load_features(entry)
        job = start(entry)
        if job.future is not None:
            return job.future.result()
        return model.extract(entry.video, job.key, lambda _: None, shown=entry.name)  # cached: returns at once

    def check_queries(queries) -> list[str]:
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise QueryError('"queries" must be a list of sentences')
        queries = [q.strip() for q in queries if q.strip()]
        if not queries:
            raise QueryError("give at least one sentence (queries)")
        if len(queries) > settings.max_queries:
            raise QueryError(f"at most {settings.max_queries} sentences per request, got {len(queries)}")
        longest = max(len(q) for q in queries)
        if longest > settings.max_query_chars:
            raise QueryError(f"a sentence may have at most {settings.max_query_chars} characters, got {longest}")
        return queries

    async def read_form(request: Request):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_upload_bytes + FORM_OVERHEAD_BYTES:
            raise too_large(int(length), settings.max_upload_bytes)
        limited = Request(request.scope, limited_receive(request.receive, settings.max_upload_bytes + FORM_OVERHEAD_BYTES,
                                                         too_large(None, settings.max_upload_bytes)))
        return await limited.form(max_files=1, max_fields=settings.max_queries + 8)

    def store_upload(upload: UploadFile) -> Entry:
        name = _shown_name(upload.filename)
        upload_id = "u" + uuid.uuid4().hex
        part = upload_dir / f"{upload_id}.part"
        try:
            content_hash, size = save_stream(upload.file, part, settings.max_upload_bytes)
            if size == 0:
                raise UploadError(f"{name}: the file is empty")
            probed = probe_container(part, name)
            check_duration(probed, settings.max_duration, name)
            stored = upload_dir / f"{upload_id}.{probed.suffix}"
            os.replace(part, stored)
        finally:
            part.unlink(missing_ok=True)
        model.remember_hash(stored, content_hash)
        entry = Entry(upload_id, name, "upload", video=stored, duration=probed.duration)
        library.add_upload(entry)
        return entry

    def upload_in(form) -> UploadFile:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadError("send the video as the multipart form field 'file'")
        return upload

    async def read_json(request: Request) -> dict:
        length = request.headers.get("content-length", "")
        too_big = UploadError(f"the JSON body is larger than {JSON_BODY_LIMIT // 1024} KiB", status=413)
        if length.isdigit() and int(length) > JSON_BODY_LIMIT:
            raise too_big
        try:
            body = await Request(request.scope, limited_receive(request.receive, JSON_BODY_LIMIT, too_big)).json()
        except UploadError:
            raise
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            raise UploadError("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise UploadError('expected a JSON object such as {"video": "ID", "queries": ["..."]}')
        return body

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/info")
    def info():
        words = list(model.grounder.vocab.word2id)
        return {
            "checkpoint": Path(settings.checkpoint).name,
            "can_extract": model.can_extract,
            "extraction": model.extraction,
            "feature_dim": model.feature_dim,
            "example_words": [w for w in words if w.isalpha()][:40],
            "limits": {"max_upload_mb": settings.max_upload_mb, "max_duration": settings.max_duration,
                       "max_queries": settings.max_queries, "max_query_chars": settings.max_query_chars},
        }

    @app.get("/api/videos")
    def videos():
        return {"videos": [entry.public() for entry in library.listed()]}

    @app.post("/api/uploads", status_code=202)
    async def upload_video(request: Request):
        model.require_extractor()  # before a byte is stored
        form = await read_form(request)
        try:
            entry = await run_in_threadpool(store_upload, upload_in(form))
        finally:
            await form.close()  # the spooled copy of the upload
        job = await run_in_threadpool(start, entry)
        return {"video": entry.public(), "job": job.public()}

    @app.post("/api/jobs", status_code=202)
    async def start_job(request: Request):
        entry = entry_or_404((await read_json(request)).get("video"))
        return (await run_in_threadpool(start, entry)).public()

    @app.get("/api/jobs/{job_id}")
    def job_state(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise UploadError("no such job (it finished long ago, or the id is wrong)", status=404)
        return job.public()

    @app.post("/api/predict")
    async def predict(request: Request):
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            model.require_extractor()
            form = await read_form(request)
            try:
                queries = check_queries(form.getlist("query"))
                model.grounder.encode(queries)  # a sentence the model cannot read fails before the upload is kept
                dense = form.get("dense") in ("1", "true")
                entry = await run_in_threadpool(store_upload, upload_in(form))
            finally:
                await form.close()
        elif content_type.startswith("application/json"):
            body = await read_json(request)
            queries = check_queries(body.get("queries"))
            dense = body.get("dense") is True
            entry = entry_or_404(body.get("video"))
        else:
            raise UploadError('send JSON {"video": ID, "queries": [...]} or a multipart form with a file '
                              'field and query fields', status=415)

        def run():
            return model.ground(features_of(entry), queries, entry.name, dense=dense)

        return {"video": entry.public(), "predictions": await run_in_threadpool(run)}

    @app.get("/api/videos/{entry_id}/file")
    def video_file(entry_id: str):
        entry = entry_or_404(entry_id)
        if entry.video is None:
            raise UploadError(f"{entry.name}: only its features are served, not the video", status=404)
        return FileResponse(entry.video, media_type=media_type_of(entry.video))

    @app.get("/api/videos/{entry_id}/thumbnail")
    def thumbnail(entry_id: str, t: float = 0.0):
        entry = entry_or_404(entry_id)
        if entry.video is None:
            raise UploadError(f"{entry.name}: only its features are served, not the video", status=404)
        if not math.isfinite(t) or t < 0:
            raise UploadError(f"t must be a time in seconds >= 0, got {t}")
        try:
            data = thumbnails.jpeg(entry.video, min(t, entry.duration or t))
        except UserError as exc:
            raise renamed(exc, entry.video, entry.name) from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    return app

