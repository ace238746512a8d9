"""What `setup` installs on an arc client, and the background work it may leave running."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("Installation", "close_soon", "detach", "find", "track", "wait_closed")

import asyncio
import contextlib
import logging
import typing

import hikaripersist as persist

if typing.TYPE_CHECKING:
    from collections.abc import Coroutine

    import arc

    from hikaripersist_arc._hooks import CommandHook

_LOGGER = logging.getLogger("hikaripersist.arc")

# Background work (opening a cache set up while the bot runs, closing one an unloader removed),
# kept referenced until done so the event loop cannot drop it.
_opening: set[asyncio.Task[None]] = set()
_closing: set[asyncio.Task[None]] = set()


class Installation:
    """One client's hikari-persist setup, kept in the client's injector under this type."""

    __slots__: typing.Sequence[str] = ("cache", "flush_before_commands", "hook", "open_error", "opening", "owned")

    def __init__(self, cache: persist.Cache, *, flush_before_commands: bool, owned: bool) -> None:
        self.cache = cache
        self.flush_before_commands = flush_before_commands
        # Whether the extension's loader created the cache (its unloader then closes it).
        self.owned = owned
        # The task opening the cache when it was set up while the bot was already running.
        self.opening: asyncio.Task[None] | None = None
        self.open_error: Exception | None = None
        self.hook: CommandHook | None = None

    async def wait_open(self) -> None:
        """Return once a cache set up while the bot was running is open (immediately otherwise).

        Raises
        ------
        hikaripersist.BackendError
            If opening it failed.
        """
        opening = self.opening
        if opening is not None and not opening.done():
            # Shielded: a cancelled command must not cancel the opening shared by every command.
            await asyncio.shield(opening)
        if self.open_error is not None:
            msg = f"hikari-persist could not open {self.cache.backend.name}: {self.open_error}"
            raise persist.BackendError(msg) from self.open_error

    def open_soon(self) -> None:
        """Open the cache in the background (the bot is already running, its StartingEvent is past)."""
        self.opening = track(_opening, self._open(), name=f"hikaripersist_arc open {self.cache.backend.name}")

    async def _open(self) -> None:
        # A cache the extension is still closing may hold the same store (an extension reload).
        # Its failures were logged by its close; they do not concern this cache.
        with contextlib.suppress(Exception):
            await wait_closed()
        try:
            await self.cache.open()
        except Exception as exc:
            self.open_error = exc
            _LOGGER.critical("cannot open %s: %s", self.cache.backend.name, exc)


def find(client: arc.abc.Client[typing.Any]) -> Installation | None:
    """The installation on ``client``, if `setup` ran for it."""
    return client.get_type_dependency(Installation, default=None)


def track(
    tasks: set[asyncio.Task[None]], coro: Coroutine[typing.Any, typing.Any, None], *, name: str
) -> asyncio.Task[None]:
    """Run ``coro`` as a task kept in ``tasks`` until it ends."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: asyncio.Task[None]) -> None:
    # Failures are logged where they happen; marking them retrieved keeps asyncio from repeating them.
    if not task.cancelled():
        task.exception()


def detach(cache: persist.Cache) -> None:
    """Stop ``cache`` from receiving the bot's events (it neither queues, opens nor closes any more)."""
    cache.detach()


def close_soon(cache: persist.Cache, after: asyncio.Task[None] | None) -> None:
    """Close ``cache`` in the background, once ``after`` (its opening) is over."""

    async def close() -> None:
        if after is not None:
            # Whether the opening worked or not (asyncio.wait does not raise its error).
            await asyncio.wait((after,))
        try:
            await cache.close()
        except Exception:
            _LOGGER.exception("closing %s failed", cache.backend.name)
            raise

    track(_closing, close(), name=f"hikaripersist_arc close {cache.backend.name}")


async def wait_closed() -> None:
    """Wait until the caches the extension's unloader (or `teardown`) is closing are closed.

    arc calls unloaders synchronously, so a cache the unloader closes finishes writing what it
    had queued in the background. Scripts that unload the extension and then end the event loop,
    and tests, await this to be sure the store is complete and closed. Loading the extension
    again while the bot runs waits for it by itself before opening the new cache.

    Raises
    ------
    hikaripersist.BackendError
        If a cache failed to write what it had queued while closing.
    """
    while _closing:
        tasks = tuple(_closing)
        # asyncio.wait, unlike gather, leaves the closes running if this wait is cancelled.
        await asyncio.wait(tasks)
        _closing.difference_update(tasks)
        for task in tasks:
            # A close cancelled with its event loop is not an error of the store.
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
