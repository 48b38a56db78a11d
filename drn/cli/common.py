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
