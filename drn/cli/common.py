"""Pieces the subcommands share: the --set and --threads options, and turning user errors into one
clear line."""

from __future__ import annotations

import argparse
import functools
import logging
import sys

from drn.errors import UserError, describe_failure, one_line

logger = logging.getLogger("drn")

# Exit status of a run stopped by a user error (bad config, data, checkpoint); argparse uses 2 too.
USER_ERROR = 2


class ArgumentError(UserError, ValueError):
    """A command-line value the command cannot use."""


def add_overrides(parser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=16 (repeatable; values are YAML)")


class _PrecisionOverride(argparse.Action):
    """--precision X is --set eval.precision=X (after the --set options before it)."""

    def __call__(self, parser, namespace, value, option_string=None):
        namespace.overrides = [*namespace.overrides, f"eval.precision={value}"]


def add_precision(parser, default_help: str = "auto: bf16 where the CPU has AMX or AVX512-BF16, or the GPU "
                                              "bf16; else fp32") -> None:
    """--precision: the inference precision (eval.precision) of a checkpoint's model."""
    from drn.model.precision import PRECISIONS

    parser.add_argument("--precision", choices=PRECISIONS, action=_PrecisionOverride,
                        help=f"inference precision (eval.precision, default {default_help}). fp16: CUDA only")


def precision_given(overrides: list[str]) -> bool:
    """Whether --precision or --set eval.precision=... chose the inference precision."""
    return any(item.replace(" ", "").startswith("eval.precision=") for item in overrides)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_threads(parser, default_help: str = "$OMP_NUM_THREADS, else the cores the load average leaves idle; "
                                          "1 is often fastest for small models") -> None:
    """--threads, applied by `drn.utils.threads.set_threads` (or the command's own rule, named in
    `default_help`)."""
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help=f"CPU threads for torch (default: {default_help})")


def report_errors(run):
    """Wrap a subcommand's run(args): a user error prints `drn <command>: error: ...` (one line)
    and returns 2. An OSError that names a file (a folder where a file should be, no permission,
    a full disk) is the environment, not a bug, and is reported the same way."""

    @functools.wraps(run)
    def wrapper(args) -> int:
        try:
            return run(args)
        except (UserError, OSError) as exc:
            if not isinstance(exc, UserError) and exc.filename is None:
                raise
            if getattr(args, "verbose", False):
                logger.exception("%s failed", args.command)
            message = one_line(exc) if isinstance(exc, UserError) else f"{exc.filename}: {describe_failure(exc)}"
            print(f"drn {args.command}: error: {message}", file=sys.stderr)
            return USER_ERROR

    return wrapper

