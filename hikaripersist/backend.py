"""The interface every storage backend implements.

A backend owns durable storage and two duties: applying batches of hikari events in one
transaction each (the cache's writer calls [`Backend.write`][] and never anything else while a
batch is in flight), and answering reads ([`Backend.fetch`][] and friends). The semantics of each
event (what hikari's own cache would do with it) are shared code, so a backend only has to provide
a transactional SQL-like connection for the writer and row access for the readers.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "Backend",
    "BackendError",
    "CacheStartupError",
    "ChangeRequest",
    "SchemaError",
    "WriteResult",
)

import abc
import typing

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    import hikari

    from hikaripersist._internal.engine import Change
    from hikaripersist.rules import Rule

Row = tuple[typing.Any, ...]
"""A result row: column values in the order the query named them."""


class BackendError(RuntimeError):
    """A backend could not be opened or used (bad path, refused connection, locked file...)."""


class SchemaError(BackendError):
    """The store holds a schema this version cannot use: written by a newer release, or not ours."""


class CacheStartupError(BaseException):
    """The cache could not open its backend when the bot started; the bot does not start.

    It derives from `BaseException` (like `SystemExit`) so that hikari's listener error handling,
    which logs and swallows `Exception`s, cannot let the bot run without its cache: it propagates
    out of ``bot.start()`` / ``bot.run()``. The original error is its ``__cause__``.
    """


class WriteResult(typing.NamedTuple):
    """Outcome of one batch: per event, ``None`` when applied, else the exception it raised."""

    errors: Sequence[BaseException | None]
    changes: Sequence[tuple[int, Change]] = ()
    """What the batch changed, in order, when asked to report it: ``(index of the event in the
    batch, change)``; the index ``len(batch)`` stands for the writer's own retention step."""
    rows: int = 0
    """Rows the committed events inserted, updated or deleted (the store's bookkeeping included)."""
    expired: int = 0
    """Messages the message rule's ``max_age`` expired in this batch."""
    retention_backlog: bool = False
    """Whether more messages may be due to expire than one batch expires."""


class ChangeRequest(typing.NamedTuple):
    """Which changes a batch should report (see [`Backend.write_with_changes`][])."""

    wanted: Mapping[str, frozenset[str]]
    """Kind (``"members"``) -> the actions to report (``insert``, ``update``, ``remove``, ``bulk``)."""
    app: hikari.RESTAware | None
    """The app that inserted and updated entities are bound to."""


class Backend(abc.ABC):
    """A durable store for the cache.

    Contract
    --------
    * [`open`][] creates or migrates the schema and must fail with [`BackendError`][] (or
      [`SchemaError`][]) with a message naming the store when it cannot be used; it never
      overwrites data it does not understand.
    * [`write`][] applies every event of ``batch`` in order inside one transaction. An event whose
      application raises is rolled back alone (its error is returned at its index) and the rest of
      the batch still commits. When the method returns, the batch is durable.
    * Reads ([`fetch`][], [`fetch_one`][], [`scalar`][]) see only committed data and may run
      concurrently with a write.
    * [`close`][] is idempotent and releases every resource.
    """

    __slots__: typing.Sequence[str] = ()

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Human-readable description of the store, used in logs and errors."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """Whether [`open`][] succeeded and [`close`][] was not called since."""

    @property
    @abc.abstractmethod
    def batch_size(self) -> int:
        """Largest number of events the writer puts in one transaction."""

    @property
    @abc.abstractmethod
    def flush_interval(self) -> float:
        """Seconds the writer waits to fill a batch before writing what it has."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the store, creating or migrating its schema."""

    async def open_read_only(self) -> None:
        """Open the store for reads only (a [`ReadOnlyCache`][hikaripersist.readonly.ReadOnlyCache]).

        It must not create, migrate or change the store, and must fail with
        [`BackendError`][hikaripersist.backend.BackendError] when the store does not exist yet or
        holds a schema other than this version's. The default opens the store normally, for
        backends that have no read-only mode.
        """
        await self.open()

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the store; pending reads are cancelled."""

    @abc.abstractmethod
    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        """Apply ``batch`` durably, one savepoint per event (see the class contract)."""

    async def write_with_changes(
        self, batch: Sequence[hikari.Event], *, rule: Rule | None, changes: ChangeRequest
    ) -> WriteResult:
        """Like [`write`][], also reporting the changes ``changes`` asks for in the result.

        The cache calls it only while someone listens to change events. A backend that cannot
        report changes inherits this default, which writes and reports none.
        """
        return await self.write(batch, rule=rule)

    @abc.abstractmethod
    def fetch(self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500) -> AsyncIterator[list[Row]]:
        """Yield the rows of a read query in chunks of at most ``chunk`` rows, from one snapshot.

        A caller that stops early must close the iterator (``aclose()``, as the cache's
        iterators do): until then a backend may hold a connection for it, and leaving that to
        garbage collection can exhaust a connection pool.
        """

    @abc.abstractmethod
    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> Row | None:
        """Return the first row of a read query, or ``None``."""

    async def scalar(self, sql: str, params: Sequence[typing.Any] = ()) -> typing.Any:
        """Return the first column of the first row of a read query, or ``None``."""
        row = await self.fetch_one(sql, params)
        return row[0] if row is not None else None

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """Return the schema version recorded in the store."""
