"""Writes that do not come from the gateway, queued through the writer like events.

They are hikari events only so that they share the writer's queue and ordering with gateway
events; they are never dispatched to listeners.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "Batch",
    "ClearOp",
    "ImportOp",
    "InternalOp",
    "LostOp",
    "PruneOp",
    "RetainOp",
    "SessionOp",
    "StoreOp",
    "received_times",
)

import typing

import attrs
import hikari


class Batch(list[hikari.Event]):
    """The events of one batch, with when the bot received each (``time.time_ns()``).

    A plain list to backends that do not look at the times; the engine keeps the newest data of a
    user shared by guilds of several shard processes, whatever order their batches commit in.
    """

    __slots__: typing.Sequence[str] = ("received",)

    def __init__(self, events: typing.Iterable[hikari.Event], received: typing.Iterable[int | None]) -> None:
        super().__init__(events)
        self.received: list[int | None] = list(received)


def received_times(batch: typing.Sequence[hikari.Event]) -> typing.Sequence[int | None]:
    """When each event of ``batch`` was received (``None`` when not known)."""
    received = getattr(batch, "received", None)
    if isinstance(received, list) and len(typing.cast("list[int | None]", received)) == len(batch):
        return typing.cast("list[int | None]", received)
    return [None] * len(batch)


@attrs.define(kw_only=True, weakref_slot=False)
class InternalOp(hikari.Event):
    """Base of the cache's own writes (never dispatched)."""

    _app: hikari.RESTAware = attrs.field(alias="app", repr=False)

    @property
    def app(self) -> hikari.RESTAware:
        """The bot the cache belongs to."""
        return self._app


@attrs.define(kw_only=True, weakref_slot=False)
class StoreOp(InternalOp):
    """Store an entity obtained elsewhere (e.g. fetched over REST), as hikari's cache would set it."""

    entity: hikari.Member | hikari.PermissibleGuildChannel | hikari.GuildThreadChannel | hikari.Role = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class ClearOp(InternalOp):
    """Remove every stored entity of the given kinds."""

    kinds: frozenset[str] = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class SessionOp(InternalOp):
    """A shard's first session since the bot started: what is stored for its guilds may predate it.

    Queued just before the shard's first ``READY`` of the process. hikari's own cache starts empty
    then, while the store may hold state from before a restart (or from another process).
    """

    shard_id: int = attrs.field()
    shard_count: int = attrs.field()
    guild_ids: tuple[int, ...] = attrs.field()
    """The guilds ``READY`` lists (all of the shard's guilds)."""


@attrs.define(kw_only=True, weakref_slot=False)
class LostOp(InternalOp):
    """Stands in the writer's batch for a queued event that could not be read back: writes nothing."""


@attrs.define(kw_only=True, weakref_slot=False)
class RetainOp(InternalOp):
    """Give the writer a batch to run its bounded age-retention step in, when no event comes."""


PruneCursor: typing.TypeAlias = "tuple[int, tuple[typing.Any, ...] | None]"
"""Where a prune resumes: the index of its phase and the last key that phase handled."""


@attrs.define(kw_only=True, weakref_slot=False)
class PruneOp(InternalOp):
    """One bounded step of applying the current rules to what is stored.

    The writer thread fills in the outcome fields; the cache reads them once the step committed
    and queues the next step from ``next_cursor``.
    """

    cursor: PruneCursor | None = attrs.field(default=None)
    limit: int = attrs.field(default=500)
    next_cursor: PruneCursor | None = attrs.field(default=None, init=False)
    phase: str = attrs.field(default="", init=False)
    removed: dict[str, int] = attrs.field(factory=dict[str, int], init=False)
    error: BaseException | None = attrs.field(default=None, init=False)


@attrs.define(kw_only=True, weakref_slot=False)
class ImportOp(InternalOp):
    """Insert raw rows of one table, as exported by :mod:`hikaripersist._internal.portable`.

    The engine checks the table and column names against the current schema (they come from a
    file). With ``clear``, every table of the store is emptied first (a restore's first step).
    """

    table: str = attrs.field()
    columns: tuple[str, ...] = attrs.field()
    rows: list[tuple[typing.Any, ...]] = attrs.field(factory=list[tuple[typing.Any, ...]])
    clear: bool = attrs.field(default=False)
    applied: bool = attrs.field(default=False, init=False)
    """Set by the writer thread once the rows are written (their batch may still roll back)."""
    error: BaseException | None = attrs.field(default=None, init=False)
    """Why the rows could not be written (set by the writer thread)."""
