"""Every error of `drn serve`'s API in one shape: {"error": "one line"} with a 4xx/5xx status (503s
also say when to retry, in Retry-After)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from drn.errors import UserError, one_line
from drn.serve.batcher import Overloaded
from drn.serve.features import NoExtractorError
from drn.serve.jobs import BusyError
from drn.serve.uploads import UploadError

logger = logging.getLogger(__name__)
EXTRACTION_RETRY_SECONDS = 60  # a busy extractor frees up in about a video's encoding


def error_response(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def user_error_response(exc: UserError) -> JSONResponse:
    """The response for a user error: its message, and the status its kind calls for."""
    if isinstance(exc, Overloaded):
        return error_response(503, str(exc), exc.retry_after)
    if isinstance(exc, BusyError):
        return error_response(503, str(exc), EXTRACTION_RETRY_SECONDS)
    if isinstance(exc, UploadError):
        return error_response(exc.status, str(exc))
    if isinstance(exc, NoExtractorError):
        return error_response(409, str(exc))
    return error_response(400, str(exc))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError):
        return user_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        problem = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in problem.get("loc", ()) if part not in ("query", "path"))
        return error_response(400, f"{where or 'request'}: {problem.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug: this request fails, the server goes on
        logger.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, f"internal error ({exc.__class__.__name__}); the server log has the details")
