"""The persistent cache: watches a bot's events, writes them through a batching writer, answers queries."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("KINDS", "Cache")

import asyncio
import collections
import contextlib
import inspect
import logging
import time
import typing

import hikari

from hikaripersist import events as events_
from hikaripersist import queries
from hikaripersist._internal import ops
from hikaripersist._internal.engine import Engine
from hikaripersist.backend import BackendError, CacheStartupError

if typing.TYPE_CHECKING:
    import os
    import types
    from collections.abc import Callable, Coroutine, Mapping, Sequence

    from hikaripersist.backend import Backend
    from hikaripersist.rules import Rule

_LOGGER = logging.getLogger("hikaripersist")
# Our own events, and exception events (confirming those could loop when a listener keeps failing).
KINDS: typing.Final[tuple[str, ...]] = (
    "guilds",
    "channels",
    "threads",
    "roles",
    "members",
    "users",
    "emojis",
    "stickers",
    "presences",
    "voice_states",
    "messages",
    "invites",
)
"""The kinds of entities stored, as named by the cache's query properties."""

_CLOSE_ATTEMPTS: typing.Final[int] = 3
_STORED_EVENT_TYPES: typing.Final = frozenset(Engine.handled_event_types())
_NEVER_CONFIRMED: typing.Final = (events_.Confirmed, events_.PersistEvent, ops.InternalOp, hikari.ExceptionEvent)
_EventT = typing.TypeVar("_EventT", bound=hikari.Event)
_CallbackT = typing.TypeVar("_CallbackT", bound="Callable[..., Coroutine[typing.Any, typing.Any, None]]")
_Listener = typing.Callable[[_EventT], "Coroutine[typing.Any, typing.Any, None]"]


class _App(typing.Protocol):
    @property
    def event_manager(self) -> hikari.api.EventManager: ...


class Cache:
    """A persistent cache of everything hikari's in-memory cache holds.

    Parameters
    ----------
    bot
        A `hikari.GatewayBot` or any hikari app with an event manager (hikari-orchestrator
        clients, custom bots). Entities read back are bound to it (``entity.app is bot``).
    backend
        Where entities are stored, e.g. ``persist.SQLiteBackend("cache.db")``.
    rule
        Decides what is stored; everything when ``None``.
    max_pending
        Events queued for the writer above which listeners of the cache wait for it to catch
        up (backpressure) instead of letting the queue grow without bound.

    Notes
    -----
    The backend opens on `hikari.StartingEvent` (before any shard connects) and drains and closes
    on `hikari.StoppedEvent` (after every shard closed). Scripts can use ``async with cache:``.
    """

    __slots__: typing.Sequence[str] = (
        "__weakref__",
        "_backend",
        "_bot",
        "_closing",
        "_committed",
        "_confirm_wrappers",
        "_flush_waiters",
        "_last_event",
        "_last_flush_latency",
        "_max_pending",
        "_pending",
        "_queries",
        "_rule",
        "_space",
        "_submitted",
        "_subscribed",
        "_urgent",
        "_wake",
        "_writer_task",
    )

    def __init__(self, bot: _App, backend: Backend, *, rule: Rule | None = None, max_pending: int = 10_000) -> None:
        if not hasattr(bot, "event_manager"):
            msg = f"Cache needs a hikari app with an event manager, got {type(bot).__name__}"
            raise TypeError(msg)
        self._bot = bot
        self._backend = backend
        self._rule = rule
        self._max_pending = max_pending
        self._pending: collections.deque[tuple[int, hikari.Event]] = collections.deque()
        self._submitted = 0
        self._committed = 0
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._urgent: asyncio.Event | None = None
        self._space: asyncio.Event | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_event: hikari.Event | None = None
        self._last_flush_latency = 0.0
        self._subscribed: set[type[hikari.Event]] = set()
        # (event type, callback) -> the wrappers subscribed for it, newest last.
        self._confirm_wrappers: dict[tuple[type[hikari.Event], typing.Any], list[typing.Any]] = {}

        app = typing.cast("hikari.RESTAware", bot)
        getter = self._get_backend
        self._queries = {
            "guilds": queries.GuildQuery(getter, app, queries.GUILDS, self.store),
            "channels": queries.ChannelQuery(getter, app, queries.CHANNELS, self.store),
            "threads": queries.ThreadQuery(getter, app, queries.THREADS, self.store),
            "roles": queries.RoleQuery(getter, app, queries.ROLES, self.store),
            "members": queries.MemberQuery(getter, app, queries.MEMBERS, self.store),
            "users": queries.UserQuery(getter, app, queries.USERS, self.store),
            "emojis": queries.EmojiQuery(getter, app, queries.EMOJIS, self.store),
            "stickers": queries.StickerQuery(getter, app, queries.STICKERS, self.store),
            "presences": queries.PresenceQuery(getter, app, queries.PRESENCES, self.store),
            "voice_states": queries.VoiceStateQuery(getter, app, queries.VOICE_STATES, self.store),
            "messages": queries.MessageQuery(getter, app, queries.MESSAGES, self.store),
            "invites": queries.InviteQuery(getter, app, queries.INVITES, self.store),
        }

        manager = bot.event_manager
        manager.subscribe(hikari.StartingEvent, self._on_starting)
        manager.subscribe(hikari.StoppedEvent, self._on_stopped)
        for event_type in Engine.handled_event_types():
            self._subscribe(event_type)
        for event_type in events_.requested_confirmed_event_types():
            self._subscribe(event_type)
        events_.watch_confirmed_types(self)

    # --- properties -------------------------------------------------------------------------

    @property
    def bot(self) -> _App:
        """The app whose events are cached."""
        return self._bot

    @property
    def backend(self) -> Backend:
        """Where entities are stored."""
        return self._backend

    @property
    def rule(self) -> Rule | None:
        """What is stored (``None``: everything)."""
        return self._rule

    @property
    def is_open(self) -> bool:
        """Whether the backend is open and the writer running."""
        return self._writer_task is not None and self._backend.is_open

    @property
    def pending(self) -> int:
        """Events received but not yet committed."""
        return self._submitted - self._committed

    def _get_backend(self) -> Backend:
        return self._backend

    @property
    def guilds(self) -> queries.GuildQuery:
        """Stored guilds."""
        return typing.cast("queries.GuildQuery", self._queries["guilds"])

    @property
    def channels(self) -> queries.ChannelQuery:
        """Stored guild channels."""
        return typing.cast("queries.ChannelQuery", self._queries["channels"])

    @property
    def threads(self) -> queries.ThreadQuery:
        """Stored threads."""
        return typing.cast("queries.ThreadQuery", self._queries["threads"])

    @property
    def roles(self) -> queries.RoleQuery:
        """Stored roles."""
        return typing.cast("queries.RoleQuery", self._queries["roles"])

    @property
    def members(self) -> queries.MemberQuery:
        """Stored members."""
        return typing.cast("queries.MemberQuery", self._queries["members"])

    @property
    def users(self) -> queries.UserQuery:
        """Stored users."""
        return typing.cast("queries.UserQuery", self._queries["users"])

    @property
    def emojis(self) -> queries.EmojiQuery:
        """Stored custom emojis."""
        return typing.cast("queries.EmojiQuery", self._queries["emojis"])

    @property
    def stickers(self) -> queries.StickerQuery:
        """Stored guild stickers."""
        return typing.cast("queries.StickerQuery", self._queries["stickers"])

    @property
    def presences(self) -> queries.PresenceQuery:
        """Stored presences."""
        return typing.cast("queries.PresenceQuery", self._queries["presences"])

    @property
    def voice_states(self) -> queries.VoiceStateQuery:
        """Stored voice states."""
        return typing.cast("queries.VoiceStateQuery", self._queries["voice_states"])

    @property
    def messages(self) -> queries.MessageQuery:
        """Stored messages."""
        return typing.cast("queries.MessageQuery", self._queries["messages"])

    @property
    def invites(self) -> queries.InviteQuery:
        """Stored invites."""
        return typing.cast("queries.InviteQuery", self._queries["invites"])

    async def get_me(self) -> hikari.OwnUser | None:
        """The bot's own user as last seen in READY or USER_UPDATE."""
        raw = await self._backend.scalar("SELECT data FROM me WHERE id = 0")
        return self.guilds._reader().decode(raw) if raw is not None else None

    async def get_dm_channel_id(self, user: hikari.SnowflakeishOr[hikari.PartialUser]) -> hikari.Snowflake | None:
        """The id of the DM channel with ``user``, if one was seen."""
        value = await self._backend.scalar("SELECT channel_id FROM dm_channels WHERE user_id = ?", (int(user),))
        return hikari.Snowflake(value) if value is not None else None

    # --- lifetime -----------------------------------------------------------------------------

    async def _on_starting(self, _: hikari.StartingEvent) -> None:
        try:
            await self.open()
        except Exception as exc:
            _LOGGER.critical("cannot open %s, the bot will not start: %s", self._backend.name, exc)
            msg = f"hikari-persist could not open {self._backend.name}: {exc}"
            raise CacheStartupError(msg) from exc

    async def _on_stopped(self, _: hikari.StoppedEvent) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the backend and start the writer (idempotent)."""
        if self._writer_task is not None:
            return
        await self._backend.open()
        self._closing = False
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._writer_task = asyncio.create_task(self._write_loop(), name="hikaripersist writer")
        if self._pending:
            self._notify()

    async def close(self) -> None:
        """Write everything queued, stop the writer and close the backend (idempotent)."""
        task = self._writer_task
        if task is None:
            if self._backend.is_open:
                await self._backend.close()
            return
        self._closing = True
        self._notify(urgent=True)
        try:
            await task
        finally:
            self._writer_task = None
            await self._backend.close()
            self._fail_waiters(BackendError("the cache closed before this write was committed"))

    async def __aenter__(self) -> Cache:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        await self.close()

    async def flush(self) -> None:
        """Return once everything received so far is durable."""
        # Let the cache's intake run for events hikari already dispatched (its listener tasks are
        # queued behind the caller), so that they count as received.
        await asyncio.sleep(0)
        target = self._submitted
        if self._committed >= target:
            return
        if self._writer_task is None:
            msg = "the cache is not open; nothing can be flushed"
            raise BackendError(msg)
        waiter = asyncio.get_running_loop().create_future()
        self._flush_waiters.append((target, waiter))
        self._notify(urgent=True)
        await waiter

    # --- intake ---------------------------------------------------------------------------------

    def _subscribe(self, event_type: type[hikari.Event]) -> None:
        if event_type in self._subscribed or issubclass(event_type, _NEVER_CONFIRMED):
            return
        self._subscribed.add(event_type)
        self._bot.event_manager.subscribe(event_type, self._on_event)

    async def _on_event(self, event: hikari.Event) -> None:
        # hikari calls this once per subscribed type the event dispatches as; the tasks for one
        # event run back to back, so comparing with the previous event removes duplicates.
        if event is self._last_event or isinstance(event, _NEVER_CONFIRMED):
            return
        self._last_event = event
        if type(event) not in _STORED_EVENT_TYPES and not self._confirmation_wanted(type(event)):
            # Subscribed only so that someone's Confirmed[...] fires; nobody on this bot wants it.
            return
        self._submitted += 1
        self._pending.append((self._submitted, event))
        self._notify()
        # Backpressure: wait (after queueing, so order is kept) while the writer is far behind.
        if self._space is not None and len(self._pending) >= self._max_pending:
            self._space.clear()
            await self._space.wait()

    def _confirmation_wanted(self, event_type: type[hikari.Event]) -> bool:
        manager = self._bot.event_manager
        # hikari keeps `wait_for` waiters apart from listeners; other event managers may not have them.
        waiters = typing.cast("Mapping[type[hikari.Event], object] | None", getattr(manager, "_waiters", None))
        for cls in events_.confirmed_type(event_type, notify=False).dispatches():
            # Only Confirmed types count: a listener of hikari.Event itself wants no confirmation.
            if not issubclass(cls, events_.Confirmed):
                continue
            if manager.get_listeners(typing.cast("type[hikari.Event]", cls), polymorphic=False):
                return True
            if waiters is not None and cls in waiters:
                return True
        return False

    # --- writer -----------------------------------------------------------------------------------

    def _notify(self, *, urgent: bool = False) -> None:
        """Wake the writer; ``urgent`` (flush, close, full batch) also ends its wait for a batch to fill."""
        if self._wake is None or self._urgent is None:
            return
        self._wake.set()
        if urgent or len(self._pending) >= self._backend.batch_size:
            self._urgent.set()

    async def _write_loop(self) -> None:
        assert self._wake is not None
        assert self._urgent is not None
        backend = self._backend
        failures = 0
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._pending) < backend.batch_size and not self._closing and not self._flush_waiters:
                # Give a batch a moment to fill; a flush, a close or a full batch cuts the wait short.
                self._urgent.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), backend.flush_interval)
            count = min(len(self._pending), backend.batch_size)
            batch = [self._pending[i] for i in range(count)]
            started = time.perf_counter()
            try:
                result = await backend.write([e for _, e in batch], rule=self._rule)
            except Exception as exc:
                # The whole transaction failed (disk full, lost connection): keep the batch and retry.
                failures += 1
                if self._closing and failures >= _CLOSE_ATTEMPTS:
                    # Closing must end: report what could not be written instead of hanging.
                    _LOGGER.critical(
                        "closing %s: %s queued events could not be written (%s)", backend.name, len(self._pending), exc
                    )
                    self._fail_waiters(BackendError(f"{backend.name} kept failing while closing: {exc}"))
                    self._pending.clear()
                    return
                _LOGGER.exception("writing a batch of %s events to %s failed; retrying", count, backend.name)
                await asyncio.sleep(min(0.25 * 2**failures, 5.0))
                continue
            failures = 0
            self._last_flush_latency = time.perf_counter() - started
            for _ in range(count):
                self._pending.popleft()
            self._committed = batch[-1][0]
            self._after_commit([e for _, e in batch], result.errors)
            if self._space is not None and len(self._pending) < self._max_pending // 2:
                self._space.set()

    def _fail_waiters(self, error: BackendError) -> None:
        for _, waiter in self._flush_waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._flush_waiters.clear()

    def _after_commit(self, batch: Sequence[hikari.Event], errors: Sequence[BaseException | None]) -> None:
        still_waiting: list[tuple[int, asyncio.Future[None]]] = []
        for target, waiter in self._flush_waiters:
            if target <= self._committed:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still_waiting.append((target, waiter))
        self._flush_waiters = still_waiting
        manager = self._bot.event_manager
        for event, error in zip(batch, errors, strict=True):
            if error is None and not isinstance(event, ops.InternalOp):
                manager.dispatch(events_.confirmed_type(type(event), notify=False)(event, self))

    # --- listeners (the original library's API) -----------------------------------------------------

    @typing.overload
    def listen(
        self, event: type[_EventT] | None = None, *, confirm: bool = False
    ) -> Callable[[_CallbackT], _CallbackT]: ...

    @typing.overload
    def listen(self, event: _CallbackT, *, confirm: bool = False) -> _CallbackT: ...

    def listen(self, event: typing.Any = None, *, confirm: bool = False) -> typing.Any:
        """Register a listener; with ``confirm=True`` it runs only after the event's writes committed.

        The event type comes from ``event`` or the first parameter's annotation; base classes work
        as in hikari (a listener of `hikari.GuildEvent` receives every guild event once).
        """
        if callable(event) and not isinstance(event, type):
            callback = typing.cast("_Listener[hikari.Event]", event)
            self.subscribe(_annotation_type(callback), callback, confirm=confirm)
            return event

        def decorator(callback: _CallbackT) -> _CallbackT:
            event_type: type[hikari.Event] = event if event is not None else _annotation_type(callback)
            self.subscribe(event_type, typing.cast("_Listener[hikari.Event]", callback), confirm=confirm)
            return callback

        return decorator

    def subscribe(self, event: type[_EventT], callback: _Listener[_EventT], *, confirm: bool = False) -> None:
        """Subscribe ``callback`` to ``event`` (after commit when ``confirm``)."""
        if not inspect.iscoroutinefunction(callback) and not inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004
        ):
            msg = "listeners must be coroutine functions"
            raise TypeError(msg)
        if not confirm:
            self._bot.event_manager.subscribe(event, callback)
            return
        confirmed = events_.confirmed_type(event)

        async def unwrap(confirmed_event: events_.Confirmed[_EventT]) -> None:
            # Listeners registered on this cache wait for this cache's commit, not another's.
            if confirmed_event.cache is self:
                await callback(confirmed_event.event)

        unwrap.__name__ = getattr(callback, "__name__", "listener")
        self._confirm_wrappers.setdefault((event, callback), []).append(unwrap)
        self._bot.event_manager.subscribe(confirmed, unwrap)

    def unsubscribe(self, event: type[_EventT], callback: _Listener[_EventT]) -> None:
        """Remove a listener added with [`listen`][] or [`subscribe`][]."""
        wrappers = self._confirm_wrappers.get((event, callback))
        if wrappers:
            wrapper = wrappers.pop()
            if not wrappers:
                del self._confirm_wrappers[(event, callback)]
            self._bot.event_manager.unsubscribe(events_.confirmed_type(event, notify=False), wrapper)
        else:
            self._bot.event_manager.unsubscribe(event, callback)

    # --- maintenance ----------------------------------------------------------------------------------

    async def backup(self, path: str | os.PathLike[str]) -> None:
        """Write a consistent copy of the store to ``path`` (everything received so far included)."""
        await self.flush()
        backup = getattr(self._backend, "backup", None)
        if backup is None:
            msg = f"{self._backend.name} does not support backups"
            raise BackendError(msg)
        await backup(path)

    def _enqueue(self, op: ops.InternalOp) -> int:
        self._submitted += 1
        self._pending.append((self._submitted, op))
        self._notify()
        return self._submitted

    def store(
        self, entity: hikari.Member | hikari.PermissibleGuildChannel | hikari.GuildThreadChannel | hikari.Role
    ) -> None:
        """Queue ``entity`` (e.g. fetched over REST) to be stored as if the gateway had sent it."""
        self._enqueue(ops.StoreOp(app=typing.cast("hikari.RESTAware", self._bot), entity=entity))

    async def clear(
        self,
        *,
        channels: bool = False,
        guilds: bool = False,
        members: bool = False,
        roles: bool = False,
        kinds: Sequence[str] = (),
    ) -> None:
        """Remove stored entities: of the kinds flagged (the original library's keywords) or named in ``kinds``.

        With no flag and no kind, everything is removed. Returns once the removal is committed.
        Users that nothing references any more are removed with them.
        """
        selected = {
            name
            for name, on in (("channels", channels), ("guilds", guilds), ("members", members), ("roles", roles))
            if on
        }
        selected.update(kinds)
        unknown = selected - set(self._queries)
        if unknown:
            msg = f"unknown kinds {sorted(unknown)}; known: {', '.join(self._queries)}"
            raise ValueError(msg)
        if not selected:
            selected = set(self._queries)
        self._enqueue(ops.ClearOp(app=typing.cast("hikari.RESTAware", self._bot), kinds=frozenset(selected)))
        await self.flush()

    async def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace the store's content with a backup made by [`backup`][] (queued writes land on top)."""
        await self.flush()
        restore = getattr(self._backend, "restore", None)
        if restore is None:
            msg = f"{self._backend.name} does not support restoring backups"
            raise BackendError(msg)
        await restore(path)

    async def stats(self) -> dict[str, int]:
        """Rows per kind."""
        return {name: await query.count() for name, query in self._queries.items()}


def _annotation_type(callback: Callable[..., typing.Any]) -> type[hikari.Event]:
    try:
        signature = inspect.signature(callback, eval_str=True)
    except (NameError, TypeError) as exc:
        msg = f"cannot resolve the event type annotation of {callback!r}: {exc}"
        raise TypeError(msg) from exc
    params = list(signature.parameters.values())
    if not params or params[0].annotation is inspect.Parameter.empty:
        msg = f"{callback!r} needs an event type: pass it to listen() or annotate the first parameter"
        raise TypeError(msg)
    annotation = params[0].annotation
    if not (isinstance(annotation, type) and issubclass(annotation, hikari.Event)):
        msg = f"the first parameter of {callback!r} must be annotated with a hikari event type"
        raise TypeError(msg)
    return annotation
