"""Feed a recorded gateway session into a real hikari bot without any network.

:func:`replay` hands every record to ``bot.event_manager.consume_raw_event`` through an
:class:`OfflineShard`, the only stand-in involved: hikari's own event manager, event factory, entity
factory, cache and listeners all run for real.  :func:`make_offline_bot`, :func:`start_offline` and
:func:`stop_offline` give a real :class:`hikari.GatewayBot` whose lifetime events fire without it ever
connecting to Discord.
"""

from __future__ import annotations

__all__ = [
    "OFFLINE_TOKEN",
    "OfflineShard",
    "ReplayFailure",
    "ReplayStats",
    "ShardCall",
    "make_offline_bot",
    "replay",
    "start_offline",
    "stop_offline",
]

import asyncio
import dataclasses
import logging
import typing
from typing import Any, Final

import hikari
from hikari import snowflakes, undefined
from hikari.api import shard as shard_api

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence

    from hikari import channels, guilds, presences, traits
    from hikari import users as users_

    from hikaripersist._internal.gateway_session import GatewayRecord

_LOGGER: Final = logging.getLogger(__name__)

OFFLINE_TOKEN: Final = "MTIzNDU2Nzg5MDEyMzQ1Njc4.x.y"
"""A syntactically valid bot token whose id part is ``123456789012345678``; never sent anywhere."""

_MAX_FAILURES: Final = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class ShardCall:
    """A call an :class:`OfflineShard` received instead of sending it to Discord."""

    method: str
    """The :class:`hikari.api.GatewayShard` method called, e.g. ``"request_guild_members"``."""
    arguments: Mapping[str, Any]
    """The arguments it was called with, by name."""


class OfflineShard(shard_api.GatewayShard):
    """A :class:`hikari.api.GatewayShard` for offline replay.

    It is "connected" once it knows the bot's user id (from ``READY``) and alive until closed.
    Everything that would talk to Discord is recorded in :attr:`calls` and otherwise does nothing, so
    hikari's automatic member chunk requests on ``GUILD_CREATE`` succeed quietly.

    Parameters
    ----------
    shard_id
        The 0-based shard id.
    shard_count
        The total number of shards.
    intents
        The intents the shard pretends to have identified with.
    user_id
        The bot's user id, if already known (otherwise it is set from ``READY`` by :func:`replay`).
    on_call
        Called with each :class:`ShardCall` as it is recorded, e.g. to answer member requests with
        the requested guild's chunks, as Discord would.
    """

    __slots__ = ("_calls", "_closed", "_intents", "_on_call", "_shard_count", "_shard_id", "_user_id")

    def __init__(
        self,
        shard_id: int = 0,
        shard_count: int = 1,
        *,
        intents: hikari.Intents = hikari.Intents.ALL,
        user_id: snowflakes.Snowflakeish | None = None,
        on_call: Callable[[ShardCall], None] | None = None,
    ) -> None:
        self._shard_id = shard_id
        self._on_call = on_call
        self._shard_count = shard_count
        self._intents = intents
        self._user_id = snowflakes.Snowflake(user_id) if user_id is not None else None
        self._calls: list[ShardCall] = []
        self._closed: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"OfflineShard(id={self._shard_id}, shard_count={self._shard_count}, user_id={self._user_id})"

    @property
    def calls(self) -> Sequence[ShardCall]:
        """Calls that would have been sent to Discord, oldest first."""
        return self._calls

    @property
    def capabilities(self) -> hikari.GatewayCapabilities:
        """Capabilities set on this shard (none)."""
        return hikari.GatewayCapabilities.NONE

    @property
    def heartbeat_latency(self) -> float:
        """Heartbeat latency; always ``0.0`` as nothing goes over a network."""
        return 0.0

    @property
    def id(self) -> int:
        """0-based shard ID for this shard."""
        return self._shard_id

    @property
    def intents(self) -> hikari.Intents:
        """Intents set on this shard."""
        return self._intents

    @property
    def is_alive(self) -> bool:
        """Whether the shard is alive (until :meth:`close`)."""
        return self._closed is None or not self._closed.is_set()

    @property
    def is_connected(self) -> bool:
        """Whether the shard is "connected": alive and ready (its user id is known)."""
        return self.is_alive and self._user_id is not None

    @property
    def shard_count(self) -> int:
        """The total number of shards expected in the entire application."""
        return self._shard_count

    def set_ready(self, user_id: snowflakes.Snowflakeish, shard_count: int | None = None) -> None:
        """Record what a real shard learns from ``READY``.

        Parameters
        ----------
        user_id
            The bot's user id.
        shard_count
            The shard count from the ``READY`` payload's ``shard`` field, if present.
        """
        self._user_id = snowflakes.Snowflake(user_id)
        if shard_count is not None:
            self._shard_count = shard_count

    def get_user_id(self) -> snowflakes.Snowflake:
        """Return the bot's user id.

        Returns
        -------
        hikari.snowflakes.Snowflake
            The user ID for the application user.

        Raises
        ------
        hikari.errors.ComponentStateConflictError
            Before ``READY`` was replayed (a real shard is not connected then either).
        """
        if self._user_id is None:
            msg = f"shard {self._shard_id} has not received READY yet"
            raise hikari.ComponentStateConflictError(msg)
        return self._user_id

    async def close(self) -> None:
        """Mark the shard as closed; :meth:`join` returns."""
        self._record("close")
        self._closed_event().set()

    async def join(self) -> None:
        """Wait until :meth:`close` is called."""
        await self._closed_event().wait()

    async def start(self) -> None:
        """Do nothing: an offline shard is ready as soon as ``READY`` is replayed."""
        self._record("start")

    async def update_presence(
        self,
        *,
        idle_since: undefined.UndefinedNoneOr[datetime.datetime] = undefined.UNDEFINED,
        afk: undefined.UndefinedOr[bool] = undefined.UNDEFINED,
        activity: undefined.UndefinedNoneOr[presences.Activity] = undefined.UNDEFINED,
        status: undefined.UndefinedOr[presences.Status] = undefined.UNDEFINED,
    ) -> None:
        """Record a presence update instead of sending it.

        Parameters
        ----------
        idle_since
            The datetime that the user started being idle.
        afk
            Whether to mark the user as AFK.
        activity
            The activity to appear to be playing.
        status
            The web status to show.
        """
        self._record("update_presence", idle_since=idle_since, afk=afk, activity=activity, status=status)

    async def update_voice_state(
        self,
        guild: snowflakes.SnowflakeishOr[guilds.PartialGuild],
        channel: snowflakes.SnowflakeishOr[channels.GuildVoiceChannel] | None,
        *,
        self_mute: undefined.UndefinedOr[bool] = undefined.UNDEFINED,
        self_deaf: undefined.UndefinedOr[bool] = undefined.UNDEFINED,
    ) -> None:
        """Record a voice state update instead of sending it.

        Parameters
        ----------
        guild
            The guild or guild ID to update the voice state for.
        channel
            The channel or channel ID to join, or [`None`][] to leave.
        self_mute
            Whether to mute itself.
        self_deaf
            Whether to deafen itself.
        """
        self._record("update_voice_state", guild=guild, channel=channel, self_mute=self_mute, self_deaf=self_deaf)

    async def request_guild_members(
        self,
        guild: snowflakes.SnowflakeishOr[guilds.PartialGuild],
        *,
        include_presences: undefined.UndefinedOr[bool] = undefined.UNDEFINED,
        query: str = "",
        limit: int = 0,
        users: undefined.UndefinedOr[snowflakes.SnowflakeishSequence[users_.User]] = undefined.UNDEFINED,
        nonce: undefined.UndefinedOr[str] = undefined.UNDEFINED,
    ) -> None:
        """Record a member chunk request instead of sending it (the session holds the chunks).

        Parameters
        ----------
        guild
            The guild to request chunk for.
        include_presences
            Whether to request presences.
        query
            Username prefix to filter by.
        limit
            Maximum number of members to send matching the query.
        users
            The users to request for.
        nonce
            The nonce to be sent with guild chunks.
        """
        self._record(
            "request_guild_members",
            guild=guild,
            include_presences=include_presences,
            query=query,
            limit=limit,
            users=users,
            nonce=nonce,
        )

    async def request_channel_info(
        self,
        guild: snowflakes.SnowflakeishOr[guilds.PartialGuild],
        *,
        fields: Sequence[shard_api.ChannelInfoField],
    ) -> None:
        """Record a channel info request instead of sending it.

        Parameters
        ----------
        guild
            The guild to request channel info for.
        fields
            The fields to request.
        """
        self._record("request_channel_info", guild=guild, fields=tuple(fields))

    def _closed_event(self) -> asyncio.Event:
        # Created lazily so a shard can be built outside a running event loop.
        if self._closed is None:
            self._closed = asyncio.Event()
        return self._closed

    def _record(self, method: str, **arguments: Any) -> None:
        call = ShardCall(method, arguments)
        self._calls.append(call)
        if self._on_call is not None:
            self._on_call(call)


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayFailure:
    """A record whose consumption raised."""

    index: int
    """0-based position of the record in the replayed stream."""
    event_name: str
    """The record's event name."""
    shard_id: int
    """The record's shard id."""
    exception: BaseException
    """What was raised."""


@dataclasses.dataclass(slots=True)
class ReplayStats:
    """What :func:`replay` fed and what failed."""

    events: int
    """Number of records fed to the event manager."""
    events_by_name: dict[str, int]
    """Number of records fed, per event name."""
    unknown: dict[str, int]
    """Records whose event name hikari has no consumer for (a real shard ignores them too), per name."""
    failures: list[ReplayFailure]
    """Records whose consumption raised, oldest first (the first 1000)."""
    shards: dict[int, OfflineShard]
    """The shards records were fed through, by id (their :attr:`OfflineShard.calls` show chunk requests)."""

    @property
    def errors(self) -> dict[str, int]:
        """Number of records whose consumption raised, per event name."""
        counts: dict[str, int] = {}
        for failure in self.failures:
            counts[failure.event_name] = counts.get(failure.event_name, 0) + 1
        return counts

    @property
    def error_count(self) -> int:
        """Total number of records whose consumption raised."""
        return len(self.failures)


class _Current:
    """The record being consumed, so the loop exception handler can attribute hikari's reports."""

    __slots__ = ("index", "name", "payload", "shard_id")

    def __init__(self) -> None:
        self.index = -1
        self.name = ""
        self.shard_id = 0
        self.payload: object = None


async def replay(
    bot: traits.EventManagerAware,
    records: Iterable[GatewayRecord] | AsyncIterable[GatewayRecord],
    *,
    shard_count: int | None = None,
    progress: Callable[[int], None] | None = None,
    yield_every: int = 1,
    shards: Mapping[int, OfflineShard] | None = None,
) -> ReplayStats:
    """Feed recorded gateway dispatches to ``bot.event_manager.consume_raw_event``, in order.

    One :class:`OfflineShard` is created per shard id; a ``READY`` record tells its shard the bot's
    user id (and the shard count), as a real shard learns them.  A record whose consumption raises is
    counted and the stream goes on; the first failure of each event name is logged with its traceback.
    hikari itself catches exceptions of its consumers and reports them to the event loop's exception
    handler, so those are caught there for the duration of the replay.

    Parameters
    ----------
    bot
        Anything with an ``event_manager`` (a :class:`hikari.GatewayBot`, or a test double around one).
    records
        ``(event_name, shard_id, payload)`` records, e.g. from
        :func:`hikaripersist._internal.gateway_session.generate_session` or ``read_session``.
    shard_count
        The total number of shards; by default taken from the first ``READY`` (or the highest shard id
        seen so far plus one).
    progress
        Called with the number of records fed so far, every 1000 records and at the end.
    yield_every
        Yield to the event loop (``await asyncio.sleep(0)``) after every this many records so listeners
        run and their tasks do not pile up; ``0`` never yields until the end.
    shards
        Shards to feed the records of their ids through (e.g. with an ``on_call`` hook); the
        others are created.

    Returns
    -------
    ReplayStats
        What was fed and what failed.

    Raises
    ------
    ValueError
        If ``yield_every`` is negative.
    """
    if yield_every < 0:
        msg = "yield_every must not be negative"
        raise ValueError(msg)

    event_manager = bot.event_manager
    stats = ReplayStats(events=0, events_by_name={}, unknown={}, failures=[], shards=dict(shards or {}))
    logged: set[str] = set()
    current = _Current()
    total_failures = 0

    def fail(exception: BaseException) -> None:
        nonlocal total_failures
        total_failures += 1
        if len(stats.failures) < _MAX_FAILURES:
            stats.failures.append(ReplayFailure(current.index, current.name, current.shard_id, exception))
        if current.name not in logged:
            logged.add(current.name)
            _LOGGER.warning(
                "replaying %s (record %s) raised %r; further %s failures are only counted",
                current.name,
                current.index,
                exception,
                current.name,
                exc_info=exception,
            )

    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()

    def handler(handler_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        # hikari reports consumer exceptions with the payload being consumed; claim only those.
        payload = context.get("payload")
        if isinstance(exception, BaseException) and payload is not None and payload is current.payload:
            fail(exception)
        elif previous_handler is not None:
            previous_handler(handler_loop, context)
        else:
            handler_loop.default_exception_handler(context)

    def shard_for(shard_id: int) -> OfflineShard:
        shard = stats.shards.get(shard_id)
        if shard is None:
            count = shard_count if shard_count is not None else max([shard_id, *stats.shards]) + 1
            shard = OfflineShard(shard_id, count, intents=_intents_of(bot))
            stats.shards[shard_id] = shard
        return shard

    async def feed(name: str, shard_id: int, payload: dict[str, Any]) -> None:
        shard = shard_for(shard_id)
        if name == "READY":
            raw_shard = payload.get("shard")
            count = shard_count if shard_count is not None else (int(raw_shard[1]) if raw_shard else None)
            shard.set_ready(payload["user"]["id"], count)
        current.index = stats.events
        current.name = name
        current.shard_id = shard_id
        current.payload = payload
        try:
            event_manager.consume_raw_event(name, shard, payload)
        except LookupError:
            # Like hikari's own shard: an event name without a consumer is ignored.
            stats.unknown[name] = stats.unknown.get(name, 0) + 1
        except Exception as exception:  # one bad record must not stop the stream
            fail(exception)
        finally:
            current.payload = None
        stats.events += 1
        stats.events_by_name[name] = stats.events_by_name.get(name, 0) + 1
        if progress is not None and stats.events % 1000 == 0:
            progress(stats.events)
        if yield_every and stats.events % yield_every == 0:
            await asyncio.sleep(0)

    loop.set_exception_handler(handler)
    try:
        if isinstance(records, typing.AsyncIterable):
            async for name, shard_id, payload in records:
                await feed(name, shard_id, payload)
        else:
            for name, shard_id, payload in records:
                await feed(name, shard_id, payload)
        # Let tasks spawned by the last records (listeners, chunk requests) take their first step.
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous_handler)

    if total_failures > len(stats.failures):
        _LOGGER.warning("replay: %s failures, only the first %s kept", total_failures, len(stats.failures))
    if progress is not None:
        progress(stats.events)
    return stats


def _intents_of(bot: object) -> hikari.Intents:
    intents = getattr(bot, "intents", None)
    return intents if isinstance(intents, hikari.Intents) else hikari.Intents.ALL


def make_offline_bot(**kwargs: Any) -> hikari.GatewayBot:
    """Create a real :class:`hikari.GatewayBot` meant to be driven offline.

    Defaults (each overridable through ``kwargs``): token :data:`OFFLINE_TOKEN`, all intents
    including privileged ones, no banner, no logging configuration and no optimisation warning.

    Parameters
    ----------
    **kwargs
        Keyword arguments for :class:`hikari.GatewayBot`, e.g. ``cache_settings``.

    Returns
    -------
    hikari.GatewayBot
        The bot; it is never started: use :func:`start_offline`, :func:`replay` and
        :func:`stop_offline`.
    """
    options: dict[str, Any] = {
        "token": OFFLINE_TOKEN,
        "intents": hikari.Intents.ALL,
        "banner": None,
        "logs": None,
        "suppress_optimization_warning": True,
    }
    options.update(kwargs)
    return hikari.GatewayBot(**options)


async def _dispatch_and_wait(bot: hikari.GatewayBot, event: hikari.Event) -> None:
    await bot.event_manager.dispatch(event, return_tasks=True)


async def start_offline(bot: hikari.GatewayBot) -> None:
    """Dispatch :class:`hikari.StartingEvent` then :class:`hikari.StartedEvent`, waiting for listeners.

    This is what :meth:`hikari.GatewayBot.start` does around connecting, minus the connecting.

    Parameters
    ----------
    bot
        The bot, e.g. from :func:`make_offline_bot`.
    """
    await _dispatch_and_wait(bot, hikari.StartingEvent(app=bot))
    await _dispatch_and_wait(bot, hikari.StartedEvent(app=bot))


async def stop_offline(bot: hikari.GatewayBot) -> None:
    """Dispatch :class:`hikari.StoppingEvent` then :class:`hikari.StoppedEvent`, waiting for listeners.

    Parameters
    ----------
    bot
        The bot, e.g. from :func:`make_offline_bot`.
    """
    await _dispatch_and_wait(bot, hikari.StoppingEvent(app=bot))
    await _dispatch_and_wait(bot, hikari.StoppedEvent(app=bot))
