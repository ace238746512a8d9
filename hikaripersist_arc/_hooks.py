"""The client-level pre-execution hook `setup` adds to the arc client."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("CommandHook",)

import typing

# Imported at run time (not only for type checking): arc's injector evaluates the annotations of
# the hooks it calls, ``ctx: arc.Context[typing.Any]`` included.
import arc  # noqa: TC002 - see above

if typing.TYPE_CHECKING:
    from hikaripersist_arc._state import Installation


class CommandHook:
    """Runs before every command of the client (arc runs client hooks before plugin and command hooks).

    It waits until a cache set up while the bot was already running is open and, when
    ``flush_before_commands`` is on, until the writes of everything the command's guild produced
    so far are committed (everything received so far, for commands used outside guilds).

    Parameters
    ----------
    installation
        The client's setup, read on every call so that a later ``setup`` can change the options.
    """

    # arc's injector caches what it learnt about each hook in a WeakKeyDictionary keyed by the hook.
    __slots__: typing.Sequence[str] = ("__weakref__", "_installation")

    def __init__(self, installation: Installation) -> None:
        self._installation = installation

    def __repr__(self) -> str:
        return f"hikaripersist_arc.CommandHook({self._installation.cache.backend.name})"

    async def __call__(self, ctx: arc.Context[typing.Any]) -> None:
        installation = self._installation
        await installation.wait_open()
        cache = installation.cache
        if not installation.flush_before_commands or not cache.is_open:
            # A closed cache answers queries with a clear error; flushing it would only fail here.
            return
        if ctx.guild_id is not None:
            await cache.flush(guild=ctx.guild_id)
        else:
            await cache.flush()
