"""Errors of the video front end: each is a `UserError` (one line, exit status 2 in the CLI)."""

from __future__ import annotations

from drn.errors import UserError


class VideoError(UserError):
    """A video file cannot be read: missing, not a video, truncated or corrupt (names the file)."""


class BackboneError(UserError):
    """No such backbone, or its weights cannot be found, read or loaded (says what to do)."""


class MissingExtraError(UserError):
    """A command needs the `video` extra (PyAV, torchvision) and it is not installed."""


def require_video_extra(command: str) -> None:
    """A `MissingExtraError` naming `pip install 'drn[video]'` when PyAV or torchvision cannot be imported."""
    try:
        import av  # noqa: F401
        import torchvision.transforms.functional  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"{command} needs PyAV and torchvision ({exc}); pip install 'drn[video]'") from None
