"""`drn serve CHECKPOINT [--host 127.0.0.1] [--port 7860] [--videos DIR] [--features DIR]`: a web page
(and JSON API) that grounds sentences in uploaded or served videos."""

from __future__ import annotations

import logging

from drn.cli.common import add_overrides, report_errors
from drn.errors import UserError

logger = logging.getLogger("drn")


def add_parser(sub):
    p = sub.add_parser("serve", help="a web page and JSON API to ground sentences in videos",
                       description="Serve a page where one uploads a video (or picks one from --videos or "
                                   "--features), types sentences and sees the ranked moments; the same as a JSON "
                                   "API (POST /api/predict). Binds to 127.0.0.1 unless --host says otherwise.")
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
    p.add_argument("--device", help="where the model runs (default: the checkpoint config's train.device)")
    add_overrides(p)
    return p


@report_errors
def run(args) -> int:
    from pathlib import Path

    try:
        import uvicorn

        from drn.serve import ServeSettings, create_app
        from drn.serve.sockets import bind, is_loopback
    except ImportError as exc:
        raise UserError(f"drn serve needs FastAPI, uvicorn, python-multipart and PyAV ({exc}); "
                        "pip install 'drn[serve]'") from None

    settings = ServeSettings(checkpoint=Path(args.checkpoint), videos=Path(args.videos) if args.videos else None,
                             features=Path(args.features) if args.features else None,
                             max_upload_mb=args.max_upload_mb, max_duration=args.max_duration,
                             max_queries=args.max_queries, cache_size=args.cache_size, device=args.device,
                             overrides=tuple(args.overrides))
    sock = bind(args.host, args.port)  # before the model loads: a taken port fails fast
    app = create_app(settings, host=args.host)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        logger.warning("serving on %s: anyone who can reach this machine can use the page and upload videos", host)
    print(f"drn serve: http://{shown}:{port}/ (Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
    return 0
