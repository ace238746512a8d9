"""The persistent cache: watches a bot's events, writes them through a batching writer, answers queries."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("KINDS", "Cache", "CacheStats", "PruneProgress")

import asyncio
import collections
import collections.abc
import contextlib
import inspect
import logging
import os
import time
import typing

import attrs
import hikari

from hikaripersist import events as events_
from hikaripersist._internal import ops
from hikaripersist._internal.chunking import MemberChunker
from hikaripersist._internal.engine import Engine
from hikaripersist._internal.kinds import KINDS, SINGULAR
from hikaripersist._internal.spill import Spilled, SpillFile
from hikaripersist.backend import BackendError, CacheStartupError, ChangeRequest
from hikaripersist.view import CacheView

if typing.TYPE_CHECKING:
    import types
    from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence

    from hikaripersist._internal.engine import Change
    from hikaripersist.backend import Backend, WriteResult
    from hikaripersist.rules import Rule

_LOGGER = logging.getLogger("hikaripersist")

_CLOSE_ATTEMPTS: typing.Final[int] = 3
# Seconds the intake may stay over its budgets before a warning says the writer is behind.
_THROTTLE_WARNING_AFTER: typing.Final[float] = 10.0
_GUILD_CREATE_PARTS: typing.Final = (
    "members",
    "presences",
    "voice_states",
    "channels",
    "threads",
    "roles",
    "emojis",
    "stickers",
)
# Events carrying entity collections, and those collections: an event weighs 1 + their entities in
# the intake budget (a member chunk holds a thousand members, a message one).
_WEIGHED: typing.Final[dict[type[hikari.Event], tuple[str, ...]]] = {
    hikari.MemberChunkEvent: ("members", "presences"),
    hikari.GuildAvailableEvent: _GUILD_CREATE_PARTS,
    hikari.GuildJoinEvent: _GUILD_CREATE_PARTS,
    hikari.ThreadListSyncEvent: ("threads",),
    hikari.ThreadMembersUpdateEvent: ("added_members", "removed_member_ids"),
    hikari.EmojisUpdateEvent: ("emojis",),
    hikari.StickersUpdateEvent: ("stickers",),
    hikari.GuildBulkMessageDeleteEvent: ("message_ids",),
    hikari.ShardReadyEvent: ("unavailable_guilds",),
}
# What each kind of `Rule(shed=...)` lets the cache drop under pressure. Only events that add or
# refresh data: removals are never dropped, so nothing deleted lingers in the store.
_SHED_EVENTS: typing.Final[dict[str, tuple[type[hikari.Event], ...]]] = {
    "presence": (hikari.PresenceUpdateEvent,),
    "voice_state": (hikari.VoiceStateUpdateEvent,),
    "message": (
        hikari.GuildMessageCreateEvent,
        hikari.DMMessageCreateEvent,
        hikari.GuildMessageUpdateEvent,
        hikari.DMMessageUpdateEvent,
    ),
    "member": (hikari.MemberChunkEvent,),
}
# Rows a prune step looks at (or removes) per transaction, so the bot's own writes interleave.
_PRUNE_STEP: typing.Final[int] = 500
_PRUNE_LOG_INTERVAL: typing.Final[float] = 5.0
_STORED_EVENT_TYPES: typing.Final = frozenset(Engine.handled_event_types())
# Heaviest event written to the spill file: encoding takes about half as long as hikari's parse,
# on the loop too, so one huge guild create would add a long stall; such events wait in memory.
_SPILL_MAX_WEIGHT: typing.Final[int] = 5_000
# Entities read back from the spill file for one batch at most (the writer holds them all at once).
_SPILL_BATCH_WEIGHT: typing.Final[int] = 10_000
# Our own events, and exception events (confirming those could loop when a listener keeps failing).
_NEVER_CONFIRMED: typing.Final = (events_.Confirmed, events_.PersistEvent, ops.InternalOp, hikari.ExceptionEvent)
_EventT = typing.TypeVar("_EventT", bound=hikari.Event)
_CallbackT = typing.TypeVar("_CallbackT", bound="Callable[..., Coroutine[typing.Any, typing.Any, None]]")
_Listener = typing.Callable[[_EventT], "Coroutine[typing.Any, typing.Any, None]"]
# A queued event: (submission number, the event or where it waits in the spill file, when it was
# received in ns since the epoch, its weight in the intake budget).
_Queued: typing.TypeAlias = "tuple[int, hikari.Event | Spilled, int, int]"


class _App(typing.Protocol):
    @property
    def event_manager(self) -> hikari.api.EventManager: ...


@attrs.frozen(kw_only=True, eq=False, weakref_slot=False)
class CacheStats(collections.abc.Mapping[str, int]):
    """What [`Cache.stats`][hikaripersist.cache.Cache.stats] reports: stored rows and writer counters.

    It is also a read-only mapping of kind -> stored entities (``stats["members"]``,
    ``stats.items()``, ``dict(stats)``), as ``stats()`` used to return, and compares equal to any
    mapping with the same counts (the counters are left out of ``==``).

    Examples
    --------
    ```py
    stats = await cache.stats()
    print(stats["members"], stats.database_size, stats.last_flush_latency)
    ```
    """

    rows: Mapping[str, int] = attrs.field()
    """Entities stored per kind, as the cache's queries count them, in the order of ``cache.KINDS``."""
    database_size: int | None = attrs.field()
    """Size of the store in bytes (``None`` if the backend cannot tell)."""
    queue_depth: int = attrs.field()
    """Events received but not committed yet ([`Cache.pending`][hikaripersist.cache.Cache.pending])."""
    batches_written: int = attrs.field()
    """Transactions the writer committed since the cache was created."""
    events_written: int = attrs.field()
    """Gateway events applied and committed (the cache's own operations are not counted)."""
    rows_written: int = attrs.field()
    """Rows the committed events inserted, updated or deleted (0 if the backend cannot tell)."""
    events_failed: int = attrs.field()
    """Events that could not be stored and were skipped (each rolled back alone)."""
    last_flush_latency: float = attrs.field()
    """Seconds the last committed batch took to write (0 before the first one)."""
    schema_version: int = attrs.field()
    """Schema version recorded in the store."""
    queue_weight: int = attrs.field(default=0)
    """What the queued events weigh in the intake budget: one per event plus the entities it carries
    (a member chunk of 1,000 members weighs 1,001); see ``Cache(max_pending_entities=...)``."""
    events_shed: int = attrs.field(default=0)
    """Events dropped unstored while the writer was far behind, as the rule's ``shed`` allows."""
    member_requests: int = attrs.field(default=0)
    """Member chunk requests the cache sent (``Cache(chunk_members=True)``)."""
    guilds_to_chunk: int = attrs.field(default=0)
    """Guilds whose members the cache will ask for or is receiving (``Cache(chunk_members=True)``)."""
    queue_spilled: int = attrs.field(default=0)
    """Queued events waiting in the spill file rather than in memory (``Cache(spill=...)``)."""
    events_spilled: int = attrs.field(default=0)
    """Events that waited in the spill file since the cache was created."""

    def __getitem__(self, kind: str) -> int:
        return self.rows[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


class PruneProgress(typing.NamedTuple):
    """Where a [`Cache.prune`][hikaripersist.cache.Cache.prune] is, passed to its ``progress`` callback."""

    steps: int
    """Steps (one transaction each) committed so far."""
    phase: str
    """The kind the last step worked on."""
    removed: Mapping[str, int]
    """Entities removed so far, per kind."""
    done: bool
    """Whether this was the last step."""


class Cache(CacheView):
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
        Events queued for the writer above which the cache is under pressure (see below).
    max_pending_entities
        The same budget weighed by size: each queued event counts one plus the entities it carries
        (members, presences, voice states, channels... of a member chunk or a guild create), so a
        flood of member chunks is held back long before 10,000 of them (10 million members) wait
        in memory.
    chunk_members
        Ask Discord for the members of large guilds (and of every guild without the presences
        intent) itself, one guild per shard at a time, the next once the previous one's chunks
        arrived and the writer's queue has room. Build the bot with
        ``hikari.GatewayBot(..., auto_chunk_members=False)``: hikari would otherwise ask for every
        guild at once as the guilds arrive, and a flood Discord already sends cannot be slowed.
        Guilds whose members the rule does not store are not asked for.
    spill
        Where events wait while the queue in memory is over a budget: ``True`` (the default) in a
        temporary file next to an SQLite or JSON store (the system's temporary folder for other
        stores), a folder path for a file there, ``False`` to keep every queued event in memory.
        The file is unlinked (nothing is left behind, even after a crash) and emptied each time
        the writer catches up.

    Notes
    -----
    The backend opens on `hikari.StartingEvent` (before any shard connects) and drains and closes
    on `hikari.StoppedEvent` (after every shard closed). Scripts can use ``async with cache:``.

    While the queue is over either budget (backpressure), producers that can wait
    ([`wait_for_room`][]) are held back, events of the kinds the rule lets it shed
    (``Rule(shed=...)``) are dropped and counted, further events wait in the spill file instead of
    in memory (each read back when the writer reaches it, in order), and a warning is logged when
    this lasts. hikari hands gateway events over synchronously, so a shard itself cannot be
    slowed: without a spill file, a long flood grows the queue in memory. Member chunks, the
    biggest flood, come only when asked for: with ``chunk_members=True`` the cache asks at the
    writer's pace.

    What changed in the store is announced with change events
    ([`PersistEvent`][hikaripersist.events.PersistEvent] and subclasses) after each commit, for
    the kinds someone listens to. The message rule's ``max_per_channel`` and ``max_age`` are
    applied by the writer as messages arrive (``max_age`` a few hundred messages per transaction,
    also while idle); [`prune`][] applies a changed rule to what was stored before.
    """

    __slots__: typing.Sequence[str] = (
        "__weakref__",
        "_batches_written",
        "_bot",
        "_chunker",
        "_closing",
        "_committed",
        "_confirm_wrappers",
        "_detached",
        "_events_failed",
        "_events_shed",
        "_events_written",
        "_flush_waiters",
        "_last_event",
        "_last_flush_latency",
        "_last_of_guild",
        "_last_received",
        "_max_pending",
        "_max_pending_entities",
        "_memory_count",
        "_memory_weight",
        "_open_lock",
        "_pending",
        "_pending_weight",
        "_pressure",
        "_retain_queued",
        "_rows_written",
        "_rule",
        "_space",
        "_spill",
        "_started_shards",
        "_submitted",
        "_subscribed",
        "_urgent",
        "_wake",
        "_writer_task",
    )

    def __init__(
        self,
        bot: _App,
        backend: Backend,
        *,
        rule: Rule | None = None,
        max_pending: int = 10_000,
        max_pending_entities: int = 50_000,
        chunk_members: bool = False,
        spill: bool | str | os.PathLike[str] = True,
    ) -> None:
        if not hasattr(bot, "event_manager"):
            msg = f"Cache needs a hikari app with an event manager, got {type(bot).__name__}"
            raise TypeError(msg)
        self._bot = bot
        super().__init__(backend, typing.cast("hikari.RESTAware", bot), self.store)
        self._rule = rule
        self._max_pending = max_pending
        self._max_pending_entities = max_pending_entities
        self._pending: collections.deque[_Queued] = collections.deque()
        self._pending_weight = 0
        # The part of the queue held in memory (the rest waits in the spill file).
        self._memory_count = 0
        self._memory_weight = 0
        self._spill = SpillFile(_spill_directory(backend) if spill is True else spill) if spill is not False else None
        self._pressure: _Pressure | None = None
        self._events_shed = 0
        self._last_received = 0
        self._submitted = 0
        self._committed = 0
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._urgent: asyncio.Event | None = None
        self._space: asyncio.Event | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._closing = False
        self._open_lock = asyncio.Lock()
        self._detached = False
        self._last_event: hikari.Event | None = None
        # guild id -> submission number of the newest event queued for that guild (for flush(guild=)).
        self._last_of_guild: dict[int, int] = {}
        self._last_flush_latency = 0.0
        self._batches_written = 0
        self._events_written = 0
        self._events_failed = 0
        self._rows_written = 0
        self._retain_queued = False
        self._subscribed: set[type[hikari.Event]] = set()
        # Shards that delivered a READY since the bot started (their later sessions keep hikari's cache);
        # None until this cache sees the bot start: attached to a running bot, whose cache may already
        # hold the shards' state, it keeps hikari's semantics for every READY.
        self._started_shards: set[int] | None = None
        # (event type, callback) -> the wrappers subscribed for it, newest last.
        self._confirm_wrappers: dict[tuple[type[hikari.Event], typing.Any], list[typing.Any]] = {}

        manager = bot.event_manager
        manager.subscribe(hikari.StartingEvent, self._on_starting)
        manager.subscribe(hikari.StoppedEvent, self._on_stopped)
        for event_type in Engine.handled_event_types():
            self._subscribe(event_type)
        for event_type in events_.requested_confirmed_event_types():
            self._subscribe(event_type)
        events_.watch_confirmed_types(self)
        self._chunker = MemberChunker(manager, self.wait_for_room, rule, backend.name) if chunk_members else None

    # --- properties -------------------------------------------------------------------------

    @property
    def bot(self) -> _App:
        """The app whose events are cached."""
        return self._bot

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

    # --- lifetime -----------------------------------------------------------------------------

    async def _on_starting(self, _: hikari.StartingEvent) -> None:
        # hikari empties its cache when the bot closes, so it starts empty: each shard's next READY
        # begins anew (see `_on_event`).
        self._started_shards = set()
        try:
            await self.open()
        except Exception as exc:
            _LOGGER.critical("cannot open %s, the bot will not start: %s", self._backend.name, exc)
            msg = f"hikari-persist could not open {self._backend.name}: {exc}"
            raise CacheStartupError(msg) from exc

    async def _on_stopped(self, _: hikari.StoppedEvent) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the backend and start the writer (idempotent; concurrent calls open once)."""
        async with self._open_lock:
            await self._open()

    async def _open(self) -> None:
        if self._writer_task is not None:
            return
        await self._backend.open()
        self._closing = False
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._writer_task = asyncio.create_task(self._write_loop(), name="hikaripersist writer")
        if self._retention_interval() is not None:
            # Messages may have aged past max_age while the bot was off.
            self._queue_retention()
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
        if self._chunker is not None:
            self._chunker.close()
        self._notify(urgent=True)
        try:
            await task
        finally:
            self._writer_task = None
            if self._spill is not None and not self._spill.held:
                self._spill.close()  # (reopened by the next spill)
            await self._backend.close()
            self._fail_waiters(BackendError("the cache closed before this write was committed"))

    def detach(self) -> None:
        """Stop receiving the bot's events (idempotent).

        The cache no longer queues events, and no longer opens on `hikari.StartingEvent` nor
        closes on `hikari.StoppedEvent`; what is already queued stays queued, and an open cache
        stays open (close it with [`close`][hikaripersist.cache.Cache.close]). Queries keep
        working. Framework adapters use this when an extension that created a cache is unloaded.
        """
        manager = self._bot.event_manager
        subscriptions: list[tuple[type[hikari.Event], typing.Any]] = [
            (hikari.StartingEvent, self._on_starting),
            (hikari.StoppedEvent, self._on_stopped),
        ]
        subscriptions.extend((event_type, self._on_event) for event_type in self._subscribed)
        for event_type, callback in subscriptions:
            with contextlib.suppress(ValueError, LookupError):
                manager.unsubscribe(event_type, callback)
        self._subscribed.clear()
        if self._chunker is not None:
            self._chunker.detach()
        # Confirmed[E] types created from now on must not subscribe this cache again.
        events_.unwatch_confirmed_types(self)
        self._detached = True

    @property
    def is_detached(self) -> bool:
        """Whether [`detach`][hikaripersist.cache.Cache.detach] was called."""
        return self._detached

    async def __aenter__(self) -> Cache:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        await self.close()

    async def flush(self, *, guild: hikari.SnowflakeishOr[hikari.PartialGuild] | None = None) -> None:
        """Return once everything received so far is durable.

        Parameters
        ----------
        guild
            Only wait for the events received so far that belong to this guild (and whatever the
            writer commits with them). Events of other guilds queued later are not waited for,
            which keeps a command in a quiet guild fast while a big guild is being written.

        Raises
        ------
        BackendError
            If the cache is not open while something is still queued, or closes before the
            write is committed.
        """
        # Let the cache's intake run for events hikari already dispatched (its listener tasks are
        # queued behind the caller), so that they count as received.
        await asyncio.sleep(0)
        if guild is None:
            await self._wait_for(self._submitted)
            return
        target = self._last_of_guild.get(int(guild), 0)
        await self._wait_for(target)

    async def wait_for_room(self) -> None:
        """Return once the writer's queue is under its budgets (at once when it is).

        For producers that can wait, e.g. a loop storing thousands of members fetched over REST
        with [`store`][hikaripersist.cache.Cache.store], or a replay of recorded events: awaiting
        this before each step keeps the queue, and the memory it holds, bounded by
        ``max_pending`` and ``max_pending_entities``. Once over a budget it waits until the queue
        is back under half of both.

        Raises
        ------
        BackendError
            If the queue is over a budget while the cache is not open (nothing would drain it).
        """
        # Like flush(): events hikari already dispatched count first.
        await asyncio.sleep(0)
        while self._over_budget():
            if self._writer_task is None or self._space is None:
                msg = "the cache is not open; its queue is over budget and nothing drains it"
                raise BackendError(msg)
            self._space.clear()
            self._notify(urgent=True)
            await self._space.wait()

    async def _wait_for(self, target: int) -> None:
        """Return once everything up to submission number ``target`` is committed."""
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
        if self._detached or event_type in self._subscribed or issubclass(event_type, _NEVER_CONFIRMED):
            return
        intents = getattr(self._bot, "intents", None)
        if isinstance(intents, hikari.Intents) and not _receivable(event_type, intents):
            # The bot's intents never deliver it: no listener needed (hikari would warn about one).
            return
        self._subscribed.add(event_type)
        self._bot.event_manager.subscribe(event_type, self._on_event)

    async def _on_event(self, event: hikari.Event) -> None:
        # hikari calls this once per subscribed type the event dispatches as; the tasks for one
        # event run back to back, so comparing with the previous event removes duplicates.
        if event is self._last_event or isinstance(event, _NEVER_CONFIRMED):
            return
        self._last_event = event
        started = self._started_shards
        if isinstance(event, hikari.ShardReadyEvent) and started is not None and event.shard.id not in started:
            # The shard's first session since the bot started: hikari's cache is empty but the store
            # may hold older state. Queued before the READY so that its confirmation comes after.
            started.add(event.shard.id)
            self._enqueue(
                ops.SessionOp(
                    app=typing.cast("hikari.RESTAware", self._bot),
                    shard_id=event.shard.id,
                    shard_count=event.shard.shard_count,
                    guild_ids=tuple(int(guild_id) for guild_id in event.unavailable_guilds),
                )
            )
        if type(event) not in _STORED_EVENT_TYPES and not self._confirmation_wanted(type(event)):
            # Subscribed only so that someone's Confirmed[...] fires; nobody on this bot wants it.
            return
        if self._over_budget() and self._shed(event):
            return
        self._submitted += 1
        weight = _weight(event)
        guild_id = _guild_id_of(event)
        if guild_id is not None:
            self._last_of_guild[guild_id] = self._submitted
        spilled = self._spilled(event, weight)
        self._pending.append((self._submitted, event if spilled is None else spilled, self._received_now(), weight))
        self._pending_weight += weight
        if spilled is None:
            self._memory_count += 1
            self._memory_weight += weight
        self._notify()
        # Backpressure: wait (after queueing, so order is kept) while the writer is far behind.
        if self._space is not None and self._over_budget():
            self._space.clear()
            if spilled is None:
                # (Not for a spilled event: hikari's task running this listener holds the event,
                # which must be freed now that it waits on disk.)
                await self._space.wait()

    def _spilled(self, event: hikari.Event, weight: int) -> Spilled | None:
        """Write ``event`` to the spill file if the queue in memory is over a budget (and it fits)."""
        if self._spill is None or (
            self._memory_count < self._max_pending and self._memory_weight + weight <= self._max_pending_entities
        ):
            return None
        if weight > _SPILL_MAX_WEIGHT:
            # A guild create of a huge guild: encoding it at once would stall the event loop.
            return None
        return self._spill.put(event)

    def _over_budget(self) -> bool:
        """Whether the queue is over a budget; starts (or goes on with) a pressure episode if so."""
        if len(self._pending) < self._max_pending and self._pending_weight < self._max_pending_entities:
            return False
        now = time.monotonic()
        pressure = self._pressure
        if pressure is None:
            pressure = self._pressure = _Pressure(now)
        elif not pressure.warned and now - pressure.since >= _THROTTLE_WARNING_AFTER:
            pressure.warned = True
            _LOGGER.warning(
                "the writer of %s is behind for %.0fs: %s events weighing %s wait (max_pending=%s, "
                "max_pending_entities=%s); listeners and confirmations of the cache wait for it%s",
                self._backend.name,
                now - pressure.since,
                len(self._pending),
                self._pending_weight,
                self._max_pending,
                self._max_pending_entities,
                "" if self._rule is None or not self._rule.shed else f", {sorted(self._rule.shed)} are shed",
            )
        return True

    def _shed(self, event: hikari.Event) -> bool:
        """Drop ``event`` if the rule lets the cache shed it; return whether it was dropped."""
        rule = self._rule
        if rule is None or not rule.shed:
            return False
        kind = next((k for k in rule.shed if isinstance(event, _SHED_EVENTS[k])), None)
        if kind is None:
            return False
        self._events_shed += 1
        pressure = self._pressure
        assert pressure is not None  # _over_budget() started the episode
        if not pressure.shed:
            _LOGGER.warning(
                "the writer of %s is behind (%s events weighing %s wait): shedding %s events as the rule allows",
                self._backend.name,
                len(self._pending),
                self._pending_weight,
                ", ".join(sorted(rule.shed)),
            )
        pressure.shed[kind] = pressure.shed.get(kind, 0) + 1
        return True

    def _relieve(self) -> None:
        """The queue is back under half its budgets: wake what waits for room, end the episode."""
        if self._space is not None:
            self._space.set()
        pressure, self._pressure = self._pressure, None
        if pressure is not None and (pressure.warned or pressure.shed):
            _LOGGER.warning(
                "the writer of %s caught up after %.1fs under pressure; events shed: %s",
                self._backend.name,
                time.monotonic() - pressure.since,
                pressure.shed or "none",
            )

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
                interval = self._retention_interval()
                if interval is None:
                    await self._wake.wait()
                else:
                    try:
                        await asyncio.wait_for(self._wake.wait(), interval)
                    except asyncio.TimeoutError:
                        # Idle: messages keep ageing, so give the retention a batch of its own.
                        self._queue_retention()
                continue
            if len(self._pending) < backend.batch_size and not self._closing and not self._flush_waiters:
                # Give a batch a moment to fill; a flush, a close or a full batch cuts the wait short.
                self._urgent.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), backend.flush_interval)
            batch = await self._next_batch(backend.batch_size)
            count = len(batch)
            events = ops.Batch((e for _, e, _, _ in batch), (r for _, _, r, _ in batch))
            wanted = self._wanted_changes()
            started = time.perf_counter()
            try:
                if wanted:
                    request = ChangeRequest(wanted, typing.cast("hikari.RESTAware", self._bot))
                    result = await backend.write_with_changes(events, rule=self._rule, changes=request)
                else:
                    # Nobody listens to change events: the writer collects nothing.
                    result = await backend.write(events, rule=self._rule)
            except Exception as exc:
                # The whole transaction failed (disk full, lost connection): keep the batch and retry.
                failures += 1
                if self._closing and failures >= _CLOSE_ATTEMPTS:
                    # Closing must end: report what could not be written instead of hanging.
                    _LOGGER.critical(
                        "closing %s: %s queued events could not be written (%s)", backend.name, len(self._pending), exc
                    )
                    error = BackendError(f"{backend.name} kept failing while closing: {exc}")
                    self._fail_waiters(error)
                    self._fail_confirmations(self._queued_events(), error)
                    self._pending.clear()
                    self._pending_weight = self._memory_weight = self._memory_count = 0
                    if self._spill is not None:
                        self._spill.close()
                    self._relieve()
                    return
                if failures == 1:
                    _LOGGER.exception("writing a batch of %s events to %s failed; retrying", count, backend.name)
                else:
                    # The traceback was logged once; a store that stays broken gets one line per attempt.
                    _LOGGER.warning(
                        "writing to %s still fails (attempt %s, %s events queued): %s",
                        backend.name,
                        failures,
                        len(self._pending),
                        exc,
                    )
                await asyncio.sleep(min(0.25 * 2**failures, 5.0))
                continue
            if failures:
                _LOGGER.warning("writing to %s works again after %s failed attempts", backend.name, failures)
            failures = 0
            self._last_flush_latency = time.perf_counter() - started
            for _ in range(count):
                weight = self._pending.popleft()[3]
                self._pending_weight -= weight
                self._memory_weight -= weight
                self._memory_count -= 1
            self._committed = batch[-1][0]
            self._count(batch, result)
            self._after_commit(events, result)
            if len(self._pending) < self._max_pending // 2 and self._pending_weight < self._max_pending_entities // 2:
                self._relieve()

    async def _next_batch(self, size: int) -> list[tuple[int, hikari.Event, int, int]]:
        """The first ``size`` queued events, each read back from the spill file if it waits there.

        Reading back stops once the batch weighs `_SPILL_BATCH_WEIGHT` (or the entity budget, if
        lower): the writer holds a whole batch in memory.
        """
        pending = self._pending
        limit = min(_SPILL_BATCH_WEIGHT, self._max_pending_entities)
        count = weight = 0
        spilled: list[int] = []
        for index in range(min(len(pending), size)):
            _, event, _, event_weight = pending[index]
            if type(event) is Spilled:
                if count and weight >= limit:
                    break
                spilled.append(index)
            count += 1
            weight += event_weight
        if spilled:
            # Decoding costs about what hikari's parse did: in a worker thread, so that the event
            # loop keeps running (at the GIL's switches) however much is read back. Only this task
            # removes queued events, so the indexes stay valid meanwhile.
            places = [typing.cast("Spilled", pending[index][1]) for index in spilled]
            events = await asyncio.to_thread(lambda: [self._read_back(place) for place in places])
            for index, event in zip(spilled, events, strict=True):
                submitted, _, received, event_weight = pending[index]
                # Kept decoded in the queue: a failed write retries the same batch.
                pending[index] = (submitted, event, received, event_weight)
                self._memory_count += 1
                self._memory_weight += event_weight
        return [typing.cast("tuple[int, hikari.Event, int, int]", pending[index]) for index in range(count)]

    def _read_back(self, spilled: Spilled) -> hikari.Event:
        assert self._spill is not None
        app = typing.cast("hikari.RESTAware", self._bot)
        try:
            return self._spill.take(spilled, app)
        except (OSError, ValueError) as exc:
            # Cannot happen short of a damaged disk; the event is lost, loudly, and the rest goes on.
            _LOGGER.error("an event queued in the spill file could not be read back and is lost: %s", exc)
            return ops.LostOp(app=app)

    def _queued_events(self) -> Iterator[hikari.Event]:
        """Every queued event, those in the spill file read back."""
        for _, event, _, _ in self._pending:
            yield self._read_back(event) if type(event) is Spilled else typing.cast("hikari.Event", event)

    def _count(self, batch: Sequence[tuple[int, hikari.Event, int, int]], result: WriteResult) -> None:
        self._batches_written += 1
        self._rows_written += result.rows
        for (_, event, _, _), error in zip(batch, result.errors, strict=True):
            if error is not None or type(event) is ops.LostOp:
                self._events_failed += 1
            elif not isinstance(event, ops.InternalOp):
                self._events_written += 1
            if isinstance(event, ops.RetainOp):
                self._retain_queued = False
        if result.retention_backlog and not self._closing:
            # More messages are due than one batch expires: continue in the next transaction.
            self._queue_retention()

    def _retention_interval(self) -> float | None:
        """Seconds between age-retention runs while idle, if the message rule has a ``max_age``."""
        rule = self._rule
        if rule is None or rule.message.max_age is None or not rule.message.enabled:
            return None
        return min(60.0, max(1.0, rule.message.max_age.total_seconds() / 10))

    def _queue_retention(self) -> None:
        if not self._retain_queued:
            self._retain_queued = True
            self._enqueue(ops.RetainOp(app=typing.cast("hikari.RESTAware", self._bot)))

    def _wanted_changes(self) -> dict[str, frozenset[str]]:
        """The change events someone listens to (or waits for), as kind -> actions.

        ``get_listeners(PersistEvent, polymorphic=True)`` would miss listeners of the subclasses
        and count listeners of `hikari.Event` itself, so each change event type is looked up on its
        own. A catch-all `hikari.Event` listener does not make the writer collect changes.
        """
        manager = self._bot.event_manager
        listeners = typing.cast("Mapping[type[hikari.Event], object] | None", getattr(manager, "_listeners", None))
        waiters = typing.cast("Mapping[type[hikari.Event], object] | None", getattr(manager, "_waiters", None))
        wanted: dict[str, set[str]] = {}
        for cls in events_.change_event_types():
            if isinstance(listeners, collections.abc.Mapping):
                listened = cls in listeners or (isinstance(waiters, collections.abc.Mapping) and cls in waiters)
            else:
                # Another event manager: only its public API.
                listened = bool(manager.get_listeners(cls, polymorphic=False))
            if not listened:
                continue
            if cls._kind is None:
                return dict(_EVERY_CHANGE)
            wanted.setdefault(cls._kind, set()).add(typing.cast("str", cls._action))
        return {kind: frozenset(actions) for kind, actions in wanted.items()}

    def _fail_confirmations(self, dropped: Iterable[hikari.Event], error: BackendError) -> None:
        """Fail the ``bot.wait_for(Confirmed[...])`` calls waiting for confirmations of ``dropped`` events.

        Those confirmations will never come; the waiters get ``error`` instead of waiting forever.
        hikari keeps `wait_for` waiters apart from listeners, as (predicate, future) pairs per type.
        """
        waiters = getattr(self._bot.event_manager, "_waiters", None)
        if not isinstance(waiters, collections.abc.Mapping) or not waiters:
            return
        pending = typing.cast(
            "Mapping[type[hikari.Event], Iterable[tuple[typing.Any, asyncio.Future[typing.Any]]]]", waiters
        )
        for event in dropped:
            if isinstance(event, ops.InternalOp):
                continue
            confirmed = events_.confirmed_type(type(event), notify=False)(event, self)
            for cls in confirmed.dispatches():
                for predicate, future in tuple(pending.get(cls, ())):
                    if future.done():
                        continue
                    try:
                        matches = predicate is None or bool(predicate(confirmed))
                    except Exception:  # a predicate that raises does not match
                        continue
                    if matches:
                        future.set_exception(error)

    def _fail_waiters(self, error: BackendError) -> None:
        for _, waiter in self._flush_waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._flush_waiters.clear()

    def _after_commit(self, batch: Sequence[hikari.Event], result: WriteResult) -> None:
        still_waiting: list[tuple[int, asyncio.Future[None]]] = []
        for target, waiter in self._flush_waiters:
            if target <= self._committed:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still_waiting.append((target, waiter))
        self._flush_waiters = still_waiting
        manager = self._bot.event_manager
        app = typing.cast("hikari.RESTAware", self._bot)
        changes: dict[int, list[Change]] = {}
        for index, change in result.changes:
            changes.setdefault(index, []).append(change)
        for index, (event, error) in enumerate(zip(batch, result.errors, strict=True)):
            if error is not None:
                # A rolled-back event changed nothing: nothing to announce.
                if isinstance(event, ops.PruneOp):
                    event.error = error
                continue
            for change in changes.get(index, ()):
                manager.dispatch(_change_event(app, change))
            if not isinstance(event, ops.InternalOp):
                manager.dispatch(events_.confirmed_type(type(event), notify=False)(event, self))
        for change in changes.get(len(batch), ()):
            manager.dispatch(_change_event(app, change))

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
        """Write a consistent copy of the store to ``path``, everything received so far included.

        The copy runs off the event loop and does not hold the writer: the bot keeps writing
        meanwhile. SQLite writes an SQLite database (its online backup), JSON and Redis a
        hikari-persist JSON file, PostgreSQL and MySQL the portable export format (JSON lines,
        gzipped when ``path`` ends in ``.gz``; ``python -m hikaripersist import`` reads it too).

        Raises
        ------
        hikaripersist.BackendError
            If the cache is not open or ``path`` cannot be written.
        """
        from hikaripersist._internal import portable

        await self.flush()
        backup = getattr(self._backend, "backup", None)
        if backup is None:
            await portable.export_store(self._backend, path)
            return
        await backup(path)

    def _received_now(self) -> int:
        # Strictly increasing even if the wall clock steps back: one process's events keep their order.
        self._last_received = max(time.time_ns(), self._last_received + 1)
        return self._last_received

    def _enqueue(self, op: ops.InternalOp) -> int:
        self._submitted += 1
        self._pending.append((self._submitted, op, self._received_now(), 1))
        self._pending_weight += 1
        self._memory_count += 1
        self._memory_weight += 1
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
        """Replace the store's content with a backup made by [`backup`][] (queued writes land on top).

        Every backend also restores the portable export format (``python -m hikaripersist
        export``). An export is checked whole before anything changes, then its rows are queued
        behind everything received so far, with nothing in between, and written by the writer.

        Raises
        ------
        hikaripersist.BackendError
            If the cache is not open, there is no backup at ``path`` or it cannot be written.
        hikaripersist.SchemaError
            If ``path`` is not a backup, is damaged, or comes from a newer version.
        """
        from hikaripersist._internal import portable

        await self.flush()
        restore = getattr(self._backend, "restore", None)
        if restore is not None and not await asyncio.to_thread(portable.is_export, path):
            await restore(path)
            return
        if self._writer_task is None:
            msg = "the cache is not open; nothing can be restored"
            raise BackendError(msg)
        info = await asyncio.to_thread(portable.read_info, path)
        queued: list[ops.ImportOp] = []

        async def collect(op: ops.ImportOp) -> None:
            queued.append(op)

        app = typing.cast("hikari.RESTAware", self._bot)
        await portable.import_export(info, collect, app, replace=True)
        # Queued in one go: no gateway event lands between the emptying and the last row.
        last = 0
        for op in queued:
            last = self._enqueue(op)
        await self._wait_for(last)
        failed = next((op for op in queued if not op.applied), None)
        if failed is not None:
            msg = f"restoring {path} into {self._backend.name} failed at table {failed.table!r}: {failed.error}"
            raise BackendError(msg) from failed.error

    async def stats(self) -> CacheStats:
        """Report what is stored and how the writer is doing.

        Returns
        -------
        CacheStats
            Entities per kind (also readable as a mapping, as this method used to return), the
            store's size, the writer's queue depth and counters, and the schema version.

        Raises
        ------
        hikaripersist.BackendError
            If the cache is not open.
        """
        rows = await self._row_counts()
        size = getattr(self._backend, "database_size", None)
        return CacheStats(
            rows=rows,
            database_size=int(await size()) if size is not None else None,
            queue_depth=self.pending,
            batches_written=self._batches_written,
            events_written=self._events_written,
            rows_written=self._rows_written,
            events_failed=self._events_failed,
            last_flush_latency=self._last_flush_latency,
            schema_version=await self._backend.schema_version(),
            queue_weight=self._pending_weight,
            events_shed=self._events_shed,
            member_requests=self._chunker.requests if self._chunker is not None else 0,
            guilds_to_chunk=self._chunker.waiting if self._chunker is not None else 0,
            queue_spilled=self._spill.held if self._spill is not None else 0,
            events_spilled=self._spill.spilled if self._spill is not None else 0,
        )

    async def prune(self, *, progress: Callable[[PruneProgress], None] | None = None) -> dict[str, int]:
        """Apply the current rule to what is already stored, e.g. after changing it.

        Removes what the rule would not store today: everything of guilds its guild lists refuse,
        kinds it disables, entities its predicates and id lists refuse, and messages beyond the
        message rule's ``max_per_channel`` or ``max_age``. Removals follow the gateway's own (a
        member leaving, a message deleted), so users and referenced messages stay consistent.

        The work goes through the writer, queued after everything received so far, in steps of
        a few hundred rows per transaction so that the bot's own writes keep flowing in between.

        Parameters
        ----------
        progress
            Called after every step with a [`PruneProgress`][hikaripersist.cache.PruneProgress].
            Long runs are also logged on the ``hikaripersist`` logger.

        Returns
        -------
        dict[str, int]
            Entities removed per kind (every kind of ``KINDS``, zeros included), as the cache's
            queries count them: users leave with the last entity that showed them.

        Raises
        ------
        hikaripersist.BackendError
            If the cache is not open or a step could not be applied.
        """
        if self._writer_task is None:
            msg = "the cache is not open; nothing can be pruned"
            raise BackendError(msg)
        app = typing.cast("hikari.RESTAware", self._bot)
        removed: dict[str, int] = dict.fromkeys(KINDS, 0)
        cursor: ops.PruneCursor | None = None
        steps = 0
        started = last_log = time.monotonic()
        # Like flush(): events hikari already dispatched are queued before the first step.
        await asyncio.sleep(0)
        while True:
            op = ops.PruneOp(app=app, cursor=cursor, limit=_PRUNE_STEP)
            await self._wait_for(self._enqueue(op))
            if op.error is not None:
                msg = f"pruning {self._backend.name} failed: {op.error}"
                raise BackendError(msg) from op.error
            steps += 1
            for kind, count in op.removed.items():
                removed[kind] = removed.get(kind, 0) + count
            done = op.next_cursor is None
            now = time.monotonic()
            if done and steps > 1:
                _LOGGER.info("pruned %s in %s steps (%.1fs): %s", self._backend.name, steps, now - started, removed)
            elif now - last_log >= _PRUNE_LOG_INTERVAL:
                last_log = now
                _LOGGER.info(
                    "pruning %s: step %s, at %s, removed so far: %s", self._backend.name, steps, op.phase, removed
                )
            if progress is not None:
                progress(PruneProgress(steps, op.phase, dict(removed), done))
            if done:
                return removed
            cursor = op.next_cursor


class _Pressure:
    """One stretch of time the intake spent over its budgets."""

    __slots__: typing.Sequence[str] = ("shed", "since", "warned")

    def __init__(self, since: float) -> None:
        self.since = since
        self.warned = False
        # kind -> events shed in this stretch
        self.shed: dict[str, int] = {}


def _guild_id_of(event: hikari.Event) -> int | None:
    """The guild ``event`` is about, if any (an invite without a guild asserts in hikari's property)."""
    try:
        guild_id = getattr(event, "guild_id", None)
    except AssertionError:
        return None
    return int(guild_id) if guild_id is not None else None


def _spill_directory(backend: Backend) -> str | None:
    """Where the spill file goes by default: next to a store that is a file, else the temporary folder."""
    path = getattr(backend, "path", None)
    if isinstance(path, str) and path and path != ":memory:":
        return os.path.dirname(os.path.abspath(path))
    return None


def _weight(event: hikari.Event) -> int:
    """What ``event`` weighs in the intake budget: one, plus the entities it carries."""
    parts = _WEIGHED.get(type(event))
    if parts is None:
        return 1
    return 1 + sum(len(getattr(event, part, ())) for part in parts)


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


_EVERY_CHANGE: typing.Final[dict[str, frozenset[str]]] = {
    kind: frozenset(("insert", "update", "remove", "bulk")) for kind in KINDS
}
# The own id field of remove events, per kind keyed by a single id.
_ID_FIELDS: typing.Final[dict[str, str]] = {
    "channels": "channel_id",
    "threads": "thread_id",
    "roles": "role_id",
    "users": "user_id",
    "emojis": "emoji_id",
    "stickers": "sticker_id",
    "messages": "message_id",
}
_BULK_ID_FIELDS: typing.Final[dict[str, str]] = {"channels": "channel_ids", "members": "user_ids", "roles": "role_ids"}
_CHANGE_EVENTS: typing.Final[dict[tuple[str, str], type[events_.PersistEvent]]] = {
    (cls._kind, cls._action): cls
    for cls in events_.change_event_types()
    if cls._kind is not None and cls._action is not None
}


def _receivable(event_type: type[hikari.Event], intents: hikari.Intents) -> bool:
    groups = hikari.events.base_events.get_required_intents_for(event_type)
    return not groups or any((intents & group) == group for group in groups)


def _snowflake(value: int | None) -> hikari.Snowflake | None:
    return hikari.Snowflake(value) if value is not None else None


def _change_event(app: hikari.RESTAware, change: Change) -> events_.PersistEvent:
    """The change event announcing ``change``."""
    cls = _CHANGE_EVENTS[(change.kind, change.action)]
    kind = change.kind
    fields: dict[str, typing.Any]
    if change.action in ("insert", "update"):
        fields = {SINGULAR[kind]: change.entity}
    elif change.action == "bulk":
        fields = {
            "guild_id": hikari.Snowflake(change.guild_id or 0),
            _BULK_ID_FIELDS[kind]: tuple(hikari.Snowflake(i) for i in change.ids),
        }
    elif kind == "guilds":
        fields = {"guild_id": hikari.Snowflake(change.key[0])}
    elif kind in ("members", "presences", "voice_states"):
        fields = {"guild_id": hikari.Snowflake(change.key[0]), "user_id": hikari.Snowflake(change.key[1])}
        if kind == "voice_states":
            fields["channel_id"] = _snowflake(change.channel_id)
    elif kind == "invites":
        fields = {
            "code": str(change.key[0]),
            "guild_id": _snowflake(change.guild_id),
            "channel_id": _snowflake(change.channel_id),
        }
    else:
        fields = {_ID_FIELDS[kind]: hikari.Snowflake(change.key[0])}
        if kind == "messages":
            fields["channel_id"] = hikari.Snowflake(change.channel_id or 0)
            fields["guild_id"] = _snowflake(change.guild_id)
        elif kind != "users":
            fields["guild_id"] = hikari.Snowflake(change.guild_id or 0)
    return cls(app=app, **fields)
