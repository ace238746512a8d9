"""What the adapter keeps per cache: a late opening, the guilds delivered in this session, detaching it.

Everything here is shared by the tanjun clients set up with one cache.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("CacheState", "close_soon", "state_of", "wait_closed")

import asyncio
import contextlib
import logging
import typing
import weakref

import hikari

import hikaripersist as persist

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

_LOGGER = logging.getLogger("hikaripersist.tanjun")

# Kinds whose every entity of a guild arrives in its GUILD_CREATE and is kept current by gateway
# events (given the intents): for these, "not stored" can mean "does not exist".
_COMPLETE_KINDS: typing.Final[dict[str, hikari.Intents]] = {
    "channel": hikari.Intents.GUILDS,
    "role": hikari.Intents.GUILDS,
    "emoji": hikari.Intents.GUILDS | hikari.Intents.GUILD_EMOJIS,
    "sticker": hikari.Intents.GUILDS | hikari.Intents.GUILD_EMOJIS,
    "voice_state": hikari.Intents.GUILDS | hikari.Intents.GUILD_VOICE_STATES,
}

_states: weakref.WeakKeyDictionary[persist.Cache, CacheState] = weakref.WeakKeyDictionary()
# Background work (opening a cache set up while the bot runs, closing one an unloader removed),
# kept referenced until done so that the event loop cannot drop it.
_opening: set[asyncio.Task[None]] = set()
_closing: set[asyncio.Task[None]] = set()


def state_of(cache: persist.Cache) -> CacheState:
    """The adapter's state for ``cache``, created (and its subscriptions made) on first use."""
    state = _states.get(cache)
    if state is None:
        state = _states[cache] = CacheState(cache)
    return state


class CacheState:
    """Guild bookkeeping and background opening for one cache.

    It records the guilds whose GUILD_CREATE came in this gateway session, to tell a missing
    entity from an entity not stored, and opens a cache set up while the bot was already running.

    Parameters
    ----------
    cache
        The cache.
    """

    __slots__: typing.Sequence[str] = ("__weakref__", "_cache", "_delivered", "_manager", "_open_error", "_opening")

    def __init__(self, cache: persist.Cache) -> None:
        # Weak: the states map is keyed by the cache, a strong reference would keep it forever.
        self._cache = weakref.ref(cache)
        self._manager = cache.bot.event_manager
        self._opening: asyncio.Task[None] | None = None
        self._open_error: Exception | None = None
        self._delivered: set[int] = set()
        for event_type, callback in self._subscriptions():
            self._manager.subscribe(event_type, callback)

    def _subscriptions(self) -> list[tuple[type[hikari.Event], Callable[..., Coroutine[typing.Any, typing.Any, None]]]]:
        return [
            (hikari.ShardReadyEvent, self._on_ready),
            (hikari.GuildAvailableEvent, self._on_guild_delivered),
            (hikari.GuildJoinEvent, self._on_guild_delivered),
            (hikari.GuildLeaveEvent, self._on_guild_gone),
            (hikari.GuildUnavailableEvent, self._on_guild_gone),
            (hikari.StoppedEvent, self._on_stopped),
        ]

    @property
    def cache(self) -> persist.Cache | None:
        """The cache (``None`` once it was garbage collected)."""
        return self._cache()

    # --- opening ----------------------------------------------------------------------------

    @property
    def opening(self) -> asyncio.Task[None] | None:
        """The background opening of a cache set up while the bot was running, if any."""
        return self._opening

    def open_soon(self) -> None:
        """Open the cache in the background: the bot is already running, its StartingEvent is past.

        Raises
        ------
        RuntimeError
            If no event loop is running in this thread.
        """
        cache = self._cache()
        if cache is None or cache.is_open or (self._opening is not None and not self._opening.done()):
            return
        name = f"hikaripersist_tanjun open {cache.backend.name}"
        self._opening = _track(_opening, self._open_late(cache), name=name)

    async def _open_late(self, cache: persist.Cache) -> None:
        # A cache an unloader is still closing may hold the same store (a module reload); its
        # failure to close was logged where it happened.
        with contextlib.suppress(persist.BackendError):
            await wait_closed()
        try:
            await cache.open()
        except Exception as exc:
            self._open_error = exc
            _LOGGER.critical("cannot open %s: %s", cache.backend.name, exc)
        else:
            self._open_error = None

    async def wait_open(self) -> None:
        """Wait for a background opening in progress (returns at once if there is none).

        Raises
        ------
        hikaripersist.BackendError
            If opening a cache set up while the bot was running failed.
        """
        opening = self._opening
        if opening is not None and not opening.done():
            # Shielded: a cancelled command must not cancel the opening shared by every command.
            await asyncio.shield(opening)
        if self._open_error is not None:
            cache = self._cache()
            name = cache.backend.name if cache is not None else "the cache"
            msg = f"hikari-persist could not open {name}: {self._open_error}"
            raise persist.BackendError(msg) from self._open_error

    # --- guilds delivered in this session -------------------------------------------------------

    async def _on_ready(self, event: hikari.ShardReadyEvent) -> None:
        # A new session: its guilds come again in their own GUILD_CREATE.
        self._delivered.difference_update(int(guild_id) for guild_id in event.unavailable_guilds)

    async def _on_guild_delivered(self, event: hikari.GuildAvailableEvent | hikari.GuildJoinEvent) -> None:
        self._delivered.add(int(event.guild_id))

    async def _on_guild_gone(self, event: hikari.GuildLeaveEvent | hikari.GuildUnavailableEvent) -> None:
        self._delivered.discard(int(event.guild_id))

    async def _on_stopped(self, _: hikari.StoppedEvent) -> None:
        self._delivered.clear()

    async def stores_all(self, kind: str, guild_id: hikari.Snowflakeish) -> bool:
        """Whether the cache holds every ``kind`` entity of the guild, so a missing one does not exist.

        True only when all of these hold: ``kind`` is one that GUILD_CREATE delivers in full and
        gateway events keep current (channels, roles, emojis, stickers, voice states); the bot's
        intents cover those events; the guild's GUILD_CREATE came in this gateway session; the
        cache's rule stores every entity of that kind for the guild; and, after waiting for the
        guild's queued events to be committed, the guild is stored.

        Parameters
        ----------
        kind
            A rule kind name (``"role"``, ``"channel"``...).
        guild_id
            The guild.

        Returns
        -------
        bool
            Whether a ``kind`` entity of the guild that is not stored does not exist.
        """
        cache = self._cache()
        needed = _COMPLETE_KINDS.get(kind)
        if cache is None or needed is None or int(guild_id) not in self._delivered:
            return False
        intents = getattr(cache.bot, "intents", None)
        if not isinstance(intents, hikari.Intents) or (intents & needed) != needed:
            return False
        if not _rule_stores_all(cache.rule, kind, guild_id):
            return False
        # The GUILD_CREATE (or an entity's create event) may still be queued.
        await cache.flush(guild=guild_id)
        return int(guild_id) in self._delivered and await cache.guilds.get(id=guild_id) is not None

    # --- detaching ----------------------------------------------------------------------------

    def detach(self) -> None:
        """Detach the cache from the bot (`Cache.detach`) and drop this state's own subscriptions."""
        cache = self._cache()
        for event_type, callback in self._subscriptions():
            with contextlib.suppress(ValueError, LookupError):
                self._manager.unsubscribe(event_type, callback)
        if cache is not None:
            cache.detach()
            _states.pop(cache, None)


def _rule_stores_all(rule: persist.Rule | None, kind: str, guild_id: hikari.Snowflakeish) -> bool:
    if rule is None:
        return True
    if not rule.allows_guild_id(guild_id):
        return False
    kind_rule = rule.kind_rule(typing.cast("typing.Any", kind))
    if not kind_rule.enabled or kind_rule.predicate is not None:
        return False
    for dimension in kind_rule.dimensions:
        if dimension == "guild":
            if not kind_rule.allows_ids(guild=guild_id):
                return False
        elif kind_rule.allowlist(dimension) or kind_rule.denylist(dimension):
            return False
    return True


def _track(
    tasks: set[asyncio.Task[None]], coro: Coroutine[typing.Any, typing.Any, None], *, name: str
) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: asyncio.Task[None]) -> None:
    # Failures are logged where they happen; retrieving them keeps asyncio from reporting them again.
    if not task.cancelled():
        task.exception()


def close_soon(cache: persist.Cache, *, after: asyncio.Future[None] | None) -> None:
    """Close ``cache`` in the background, once ``after`` (its opening) is over.

    Raises
    ------
    RuntimeError
        If no event loop is running in this thread.
    """

    async def close() -> None:
        if after is not None and not after.done():
            await asyncio.wait((after,))
        try:
            await cache.close()
        except Exception:
            _LOGGER.exception("closing %s failed", cache.backend.name)
            raise

    _track(_closing, close(), name=f"hikaripersist_tanjun close {cache.backend.name}")


async def wait_closed() -> None:
    """Wait until the caches the ``hikaripersist_tanjun`` unloader is closing are closed.

    tanjun calls unloaders synchronously, so a cache the unloader removes while the bot runs
    finishes writing what it had queued, and closes, in the background. Scripts that unload the
    module and then end the event loop, and tests, await this to be sure the store is complete
    and closed. Loading the module again while the bot runs waits for it by itself before opening
    the new cache.

    Raises
    ------
    hikaripersist.BackendError
        If a cache failed to write what it had queued while closing.
    """
    while _closing:
        tasks = tuple(_closing)
        # asyncio.wait, unlike gather, leaves the closes running if this wait is cancelled.
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and (error := task.exception()) is not None:
                if isinstance(error, persist.BackendError):
                    raise error
                msg = f"closing a hikari-persist cache failed: {error}"
                raise persist.BackendError(msg) from error
