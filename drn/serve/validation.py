"""Reading and checking request bodies: JSON objects and multipart forms, both bounded while they
stream in, and the sentences of a request."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from drn.inference.grounder import QueryError
from drn.serve.settings import ServeSettings
from drn.serve.uploads import FORM_OVERHEAD_BYTES, UploadError, limited_receive, too_large

JSON_BODY_LIMIT = 256 * 1024


def check_queries(queries: object, settings: ServeSettings) -> list[str]:
    """The request's sentences, stripped, within the server's limits; `QueryError` otherwise."""
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


async def read_json(request: Request) -> dict:
    """The body as a JSON object (at most `JSON_BODY_LIMIT` bytes, however it is sent)."""
    length = request.headers.get("content-length", "")
    too_big = UploadError(f"the JSON body is larger than {JSON_BODY_LIMIT // 1024} KiB", status=413)
    if length.isdigit() and int(length) > JSON_BODY_LIMIT:
        raise too_big
    try:
        body = await Request(request.scope, limited_receive(request.receive, JSON_BODY_LIMIT, too_big)).json()
    except UploadError:  # too big (an UploadError is a ValueError too)
        raise
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise UploadError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise UploadError('expected a JSON object such as {"video": "ID", "queries": ["..."]}')
    return body


async def read_form(request: Request, settings: ServeSettings) -> FormData:
    """The multipart form, refused (413) as soon as it passes the upload limit."""
    limit = settings.max_upload_bytes + FORM_OVERHEAD_BYTES
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large(int(length), settings.max_upload_bytes)
    refusal = too_large(None, settings.max_upload_bytes)
    limited = Request(request.scope, limited_receive(request.receive, limit, refusal))
    return await limited.form(max_files=1, max_fields=settings.max_queries + 8)


def upload_in(form: FormData) -> UploadFile:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise UploadError("send the video as the multipart form field 'file'")
    return upload
