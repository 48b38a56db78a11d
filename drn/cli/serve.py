"""`drn serve CHECKPOINT [--host 127.0.0.1] [--port 7860] [--videos DIR] [--features DIR]`: a web page
(and JSON API) that grounds sentences in uploaded or served videos, for many users at once."""

from __future__ import annotations

import logging

from drn.cli.common import add_overrides, add_precision, add_threads, positive_int, precision_given, report_errors
from drn.errors import UserError
from drn.serve.settings import DEFAULT_BATCH_WINDOW_MS
from drn.serve.sockets import bind, is_loopback

logger = logging.getLogger("drn")


def add_parser(sub):
    p = sub.add_parser("serve", help="a web page and JSON API to ground sentences in videos",
                       description="Serve a page where one uploads a video (or picks one from --videos or "
                                   "--features), types sentences and sees the ranked moments; the same as a JSON "
                                   "API (POST /api/predict). Requests of many users arriving together run as one "
                                   "batched forward pass. Binds to 127.0.0.1 unless --host says otherwise.")
    p.add_argument("checkpoint", help="a checkpoint written by drn train")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 serves everyone who can reach it)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--videos", help="a folder of videos the page may pick from")
    p.add_argument("--features", help="a folder written by drn extract whose videos the page may pick from")
    p.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload accepted, MiB (default 200)")
    p.add_argument("--max-duration", type=float, default=600.0, help="longest upload accepted, seconds (default 600)")
    p.add_argument("--max-queries", type=int, default=10, help="sentences per request (default 10)")
    p.add_argument("--cache-size", type=int, default=64, help="videos whose features stay in memory (default 64)")
    p.add_argument("--batch-window-ms", type=float, default=DEFAULT_BATCH_WINDOW_MS, metavar="MS",
                   help="requests arriving within MS of the first run as one forward pass "
                        f"(default {DEFAULT_BATCH_WINDOW_MS:g}; 0 runs each request on its own)")
    p.add_argument("--max-batch", type=int, default=32, help="sentences in one forward pass at most (default 32)")
    p.add_argument("--queue-size", type=int, default=256,
                   help="sentences waiting for the model at most; beyond, requests get 503 and Retry-After "
                        "(default 256)")
    p.add_argument("--encoding-cache-mb", type=float, default=256.0,
                   help="memory for the video encodings kept per process, MiB (default 256)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="server processes, each with its own model and caches (default 1; see docs/serve.md)")
    add_threads(p, "the idle cores less one per worker for its HTTP, shared between the workers")
    p.add_argument("--device", help="where the model runs (default: the checkpoint config's train.device)")
    add_overrides(p)
    add_precision(p, "fp32: answers batched across users are exact only in fp32; bf16 answers each "
                     "request alone, faster for one user")
    return p


@report_errors
def run(args) -> int:
    """Serve until Ctrl-C, which `drn.serve.server.run_server` raises as KeyboardInterrupt after the
    graceful shutdown (drn.cli.main turns it into one line and exit status 130)."""
    from pathlib import Path

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401

        from drn.serve import ServeSettings
        from drn.serve.workers import serve
    except ImportError as exc:
        raise UserError(f"drn serve needs FastAPI, uvicorn, python-multipart and PyAV ({exc}); "
                        "pip install 'drn[serve]'") from None

    overrides = list(args.overrides)
    if not precision_given(overrides):  # batching across users needs fp32 (drn.inference.invariant)
        overrides.append("eval.precision=fp32")
    settings = ServeSettings(checkpoint=Path(args.checkpoint), videos=Path(args.videos) if args.videos else None,
                             features=Path(args.features) if args.features else None,
                             max_upload_mb=args.max_upload_mb, max_duration=args.max_duration,
                             max_queries=args.max_queries, cache_size=args.cache_size, device=args.device,
                             overrides=tuple(overrides), batch_window_ms=args.batch_window_ms,
                             max_batch=args.max_batch, queue_size=args.queue_size,
                             encoding_cache_mb=args.encoding_cache_mb, workers=args.workers, threads=args.threads)
    sock = bind(args.host, args.port)  # before the model loads: a taken port fails fast
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        logger.warning("serving on %s: anyone who can reach this machine can use the page and upload videos", host)

    def ready() -> None:
        print(f"drn serve: http://{shown}:{port}/ (Ctrl-C stops)", flush=True)

    serve(settings, sock, args.host, ready)
    return 0
