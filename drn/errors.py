"""The one base class of every error a user can cause (bad config, data, checkpoint, argument).

The CLI turns any `UserError` into one line, `drn COMMAND: error: MESSAGE`, and exit status 2; every
other exception is a bug and keeps its traceback. Raise a subclass (or `UserError` itself) with a
message that names the argument or file, what was expected and what came.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user caused and can fix; its message is the whole, single-line explanation."""
