"""The `drn` command line. Each subcommand lives in its own module with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading

# name -> module under drn.cli; a module provides add_parser(subparsers) and run(args) -> int.
SUBCOMMANDS = ("info", "train", "eval", "predict", "demo", "score", "extract", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drn", description="Dense Regression Network for temporal video grounding.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"drn.cli.{name}")
        module.add_parser(sub).set_defaults(_run=module.run)
    return parser


def _thread_errors(hook_args) -> None:
    """threading.excepthook: an OSError in a helper thread (TensorBoard's writer on a full disk) is
    re-raised in the main thread, which reports it in one line; anything else prints as usual."""
    if isinstance(hook_args.exc_value, OSError):
        return
    _default_thread_hook(hook_args)


_default_thread_hook = threading.excepthook


# Exit status of a run stopped by Ctrl-C, as a shell reports it (128 + SIGINT).
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    threading.excepthook = _thread_errors
    command = "drn"
    try:
        args = build_parser().parse_args(argv)
        command = f"drn {args.command}"
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
        return int(args._run(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C, also while torch loads: one line, not a traceback
        print(f"{command}: stopped", file=sys.stderr, flush=True)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
