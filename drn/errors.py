"""The one base class of every error a user can cause (bad config, data, checkpoint, argument), and
the helpers that turn the raw failures of reading and writing files into it.

The CLI turns any `UserError` into one line, `drn COMMAND: error: MESSAGE`, and exit status 2; every
other exception is a bug and keeps its traceback. Raise a subclass (or `UserError` itself) with a
message that names the argument or file, what was expected and what came.

Raw failures (OSError, UnicodeDecodeError, a parser's ValueError, h5py's or pickle's errors) are
caught where a file is read or written, by `reading(path, what)` and `writing(path)`, which re-raise
them as a `FileReadError` / `FileWriteError` naming the file: the message is built from the cause
in one place, so no call site needs its own special case.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import pickle
import zipfile
from os import PathLike


class UserError(Exception):
    """An error the user caused and can fix; its message is the whole, single-line explanation."""


class FileReadError(UserError, ValueError):
    """A file that cannot be read as what it should hold (missing, a folder, not UTF-8, malformed)."""


class FileWriteError(UserError):
    """A file that cannot be written (no space left, no permission, a path under a file);
    `errno` is the cause's."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


# What the parsers raise for bad bytes, besides OSError (json: ValueError; numpy: ValueError, EOFError;
# torch.load: UnpicklingError, or a RuntimeError from its zip reader; npz: BadZipFile; csv: csv.Error).
# Not TypeError, KeyError, AttributeError and the like: inside a reader those are bugs, and stay tracebacks.
_PARSE_ERRORS = (ValueError, EOFError, UnicodeDecodeError, pickle.UnpicklingError, zipfile.BadZipFile, csv.Error)


def _is_parse_error(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, *_PARSE_ERRORS)):
        return True
    if type(exc) is RuntimeError and "PytorchStreamReader" in str(exc):  # torch.load of a damaged file
        return True
    return type(exc).__module__.split(".")[0] == "yaml" and type(exc).__name__.endswith("Error")  # yaml.YAMLError


def one_line(text: object) -> str:
    """`text` with its line breaks folded into single spaces (an error message is one line)."""
    return " ".join(str(text).split())


def os_reason(exc: OSError) -> str:
    """A short reason for an OSError: "no space left" for ENOSPC, else its strerror."""
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    return exc.strerror or one_line(exc) or type(exc).__name__


def describe_failure(exc: BaseException) -> str:
    """One line saying what went wrong in `exc` (a UnicodeDecodeError says where, an OSError why)."""
    if isinstance(exc, UserError):
        return one_line(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_reason(exc)
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def reading(path: str | PathLike, what: str, error: type[UserError] = FileReadError):
    """Turn any failure to read `path` as `what` (e.g. "a JSON object {video: seconds}") into
    `error` with the message `PATH: cannot read WHAT: REASON`; a `UserError` passes unchanged."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        if not _is_parse_error(exc):
            raise
        raise error(f"{path}: cannot read {what}: {describe_failure(exc)}") from None


@contextlib.contextmanager
def writing(path: str | PathLike):
    """Turn an OSError while writing `path` into a `FileWriteError`: `cannot write PATH: REASON`
    ("no space left on the device" for a full disk)."""
    try:
        yield
    except FileWriteError:
        raise
    except Exception as exc:
        cause = _os_error_in_chain(exc)
        if cause is None:
            raise
        raise FileWriteError(f"cannot write {path}: {os_reason(cause)}", cause.errno) from None


def _os_error_in_chain(exc: BaseException | None) -> OSError | None:
    """The first OSError among `exc` and the exceptions it was raised from or while handling (a
    writer such as torch.save turns a failed write into a RuntimeError raised during it)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
