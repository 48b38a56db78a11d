"""Errors of the video front end: each is a `UserError` (one line, exit status 2 in the CLI)."""

from __future__ import annotations

from drn.errors import UserError


class VideoError(UserError):
    """A video file cannot be read: missing, not a video, truncated or corrupt (names the file)."""


class BackboneError(UserError):
    """No such backbone, or its weights cannot be found, read or loaded (says what to do)."""
