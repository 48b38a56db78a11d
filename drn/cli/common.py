"""Pieces the subcommands share: the --set option and turning user errors into one clear line."""

from __future__ import annotations

import functools
import logging
import sys

from drn.errors import UserError

logger = logging.getLogger("drn")

# Exit status of a run stopped by a user error (bad config, data, checkpoint); argparse uses 2 too.
USER_ERROR = 2


def add_overrides(parser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=16 (repeatable; values are YAML)")


def report_errors(run):
    """Wrap a subcommand's run(args): a user error prints `drn <command>: error: ...` and returns 2."""

    @functools.wraps(run)
    def wrapper(args) -> int:
        try:
            return run(args)
        except (UserError, FileNotFoundError) as exc:
            if getattr(args, "verbose", False):
                logger.exception("%s failed", args.command)
            print(f"drn {args.command}: error: {exc}", file=sys.stderr)
            return USER_ERROR

    return wrapper


def writable_file(path: str, option: str):
    """`path` as a Path when a file can be written there (checked before any work): not a folder,
    and no file where a parent folder must be; a UserError naming `option` otherwise."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise UserError(f"{option} {path} is a folder; expected a file name")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{option} {path}: {parent} is a file, not a folder")
            break
    return target
