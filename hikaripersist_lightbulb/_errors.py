"""The adapter's own error."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("SetupError",)

import typing


class SetupError(RuntimeError):
    """A cache cannot be set up on a lightbulb client as asked.

    Raised by [`setup`][hikaripersist_lightbulb.setup] when the client already has another cache,
    when the cache belongs to another bot, or when it is too late: lightbulb's dependency
    injection already started, so its registry takes no new dependencies. The message says what
    to do instead.
    """
