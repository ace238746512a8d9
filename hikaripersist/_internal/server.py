"""What the database-server backends (PostgreSQL, MySQL / MariaDB) share.

Internal: [`ServerBackend`][] is the base of ``PostgreSQLBackend`` and ``MySQLBackend``. It owns the
lifetime (a writer thread, a reader pool, the read-only mode) and the writing: a
[`ServerWriter`][] runs on the writer thread with an event loop of its own and drives the engine
through a [`SyncConnection`][] (the driver's coroutines, each run to completion), one transaction
per batch and one savepoint per event. A backend module adds its driver and dialect: how to
connect, translate, lock, tell a lost connection, and create or migrate its schema.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "APPLICATION",
    "RETENTION_STEP",
    "Connection",
    "Failure",
    "Pool",
    "Rows",
    "ServerBackend",
    "ServerWriter",
    "SyncConnection",
    "arguments",
    "driver",
    "stored_version",
)

import abc
import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import re
import typing

from hikaripersist._internal import engine as engine_
from hikaripersist._internal import ops, schema
from hikaripersist._internal.batching import Batching
from hikaripersist.backend import Backend, BackendError, ChangeRequest, SchemaError, WriteResult

if typing.TYPE_CHECKING:
    import logging
    from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence

    import hikari

    from hikaripersist.rules import Rule

_T = typing.TypeVar("_T")
_DB = typing.TypeVar("_DB", bound="SyncConnection")

Connection: typing.TypeAlias = typing.Any
"""A driver's connection (the drivers ship no or loose type information)."""
Pool: typing.TypeAlias = typing.Any
"""A driver's connection pool."""
Failure: typing.TypeAlias = typing.Literal["database", "credentials", "refused", "unreachable", "address"]
"""Why a connection failed: no such database, refused credentials or connection, no route, a bad address."""

APPLICATION: typing.Final[str] = "hikari-persist"
"""Marks stores written by hikari-persist (the ``application`` row of ``meta``; SQLite's application id)."""
RETENTION_STEP: typing.Final[int] = 250
"""Most messages the age retention expires per batch (as with SQLite)."""
# Statements kept for one script at most (a member chunk's own statements go as a pipeline instead).
_SCRIPT_STATEMENTS: typing.Final[int] = 500
# Rows of an `executemany` written into the script one statement each; more go as a pipeline.
_SCRIPT_ROWS: typing.Final[int] = 8
_REASONS: typing.Final[dict[str, str]] = {
    "database": "the database does not exist ({})",
    "credentials": "the server refused the credentials ({})",
    "refused": "connection refused (is the server running and listening there?) ({})",
    "unreachable": "cannot reach the server ({})",
    "address": "invalid DSN ({})",
}


class Rows:
    """The cursor-like result of a statement the engine runs."""

    __slots__: typing.Sequence[str] = ("_rows",)

    def __init__(self, rows: list[tuple[typing.Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[typing.Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[typing.Any, ...]]:
        return self._rows


_NO_ROWS: typing.Final[Rows] = Rows([])
_WRITE: typing.Final = re.compile(r"^\s*(?:INSERT(?: OR REPLACE)? INTO|UPDATE|DELETE FROM)\s+(?:main\.)?(\w+)", re.I)
_WORD: typing.Final = re.compile(r"\w+")
_READ: typing.Final = re.compile(r"^\s*SELECT\b", re.I)
# The change log: the tracking triggers write it whatever table a statement writes.
_CHANGE_LOG: typing.Final[str] = "persist_touched"
_ANY_TABLE: typing.Final[str] = "*"


@functools.lru_cache(maxsize=4096)
def _written_table(sql: str) -> str:
    """The table an engine statement that returns nothing writes (``*`` when it cannot be told)."""
    found = _WRITE.match(sql)
    return found.group(1) if found else _ANY_TABLE


# The store's views and the tables behind them: a read of a view reads those tables.
_VIEW_TABLES: typing.Final[dict[str, frozenset[str]]] = {
    view: frozenset(_WORD.findall(query)) for view, query in schema.VIEWS.items()
}


@functools.lru_cache(maxsize=4096)
def _read_words(sql: str) -> frozenset[str] | None:
    """The words of a read (the tables it reads are among them); ``None`` for anything but a read."""
    if not _READ.match(sql):
        return None
    words = frozenset(_WORD.findall(sql))
    return words.union(*(_VIEW_TABLES[view] for view in words & _VIEW_TABLES.keys()))


def driver(module: str, install_hint: str) -> typing.Any:
    """Import a backend's driver; a missing one is an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(install_hint) from exc


def arguments(parameters: typing.Any, names: tuple[str, ...] | None) -> Sequence[typing.Any]:
    """The positional arguments of a translated statement (named ones in the order it uses them)."""
    if names is not None:
        return [parameters[n] for n in names]
    return parameters


def stored_version(name: str, tables: Collection[str], meta: Mapping[str, str], elsewhere: str) -> int:
    """The schema version of a store holding ``tables`` (not none) whose ``meta`` table holds ``meta``.

    Raises
    ------
    hikaripersist.SchemaError
        If the tables are not hikari-persist's, or a newer version wrote them; the message ends with
        ``elsewhere`` (what to do instead, e.g. ``"use another schema"``).
    """
    if "meta" not in tables or meta.get("application") != APPLICATION:
        msg = f"{name} holds tables that are not hikari-persist's; refusing to touch it; {elsewhere}"
        raise SchemaError(msg)
    version = int(meta.get("schema_version") or 0)
    if version > schema.SCHEMA_VERSION:
        msg = (
            f"{name} was written by a newer hikari-persist (schema {version}, this version reads up to"
            f" {schema.SCHEMA_VERSION}); upgrade hikari-persist or {elsewhere}"
        )
        raise SchemaError(msg)
    return version


class _Isolate(Exception):
    """An event of a batch written without savepoints failed: the batch is written again with them."""


class SyncConnection(abc.ABC):
    """The engine's synchronous connection over an async driver, run on the writer thread's own loop.

    [`execute`][] and [`executemany`][] take the engine's SQLite SQL and translate it;
    [`command`][] runs the backend's own SQL as it is.

    Statements that return nothing are not sent one by one: a backend that can write a statement's
    values into its text ([`inline`][]) keeps it, and what is kept goes to the server as one script,
    one round trip, before anything reads, commits or opens a savepoint ([`flush`][]). The engine's
    statements of one event mostly write, so this saves most of the round trips a server costs.
    """

    __slots__: typing.Sequence[str] = ("changes", "connection", "loop", "pending", "pending_tables")

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: Connection) -> None:
        self.loop = loop
        self.connection = connection
        # Rows changed by the statements run (the server's own count; trigger bookkeeping excluded;
        # a statement sent in a script counts as one row).
        self.changes = 0
        # Statements written with their values, waiting to be sent together, and the tables they write.
        self.pending: list[str] = []
        self.pending_tables: set[str] = set()

    def run(self, awaitable: Awaitable[_T]) -> _T:
        return self.loop.run_until_complete(awaitable)

    def command(self, sql: str, *args: typing.Any) -> None:
        """Run SQL of the backend itself (native placeholders) for its effect, after what is kept."""
        self.flush()
        self.run_command(sql, *args)

    def execute(self, sql: str, parameters: typing.Any = (), /) -> Rows:
        """Run one statement of the engine, or keep it for the next script if it returns nothing."""
        inlined = self.inline(sql, parameters)
        if inlined is not None:
            self.pending.append(inlined)
            self.pending_tables.add(_written_table(sql))
            if len(self.pending) >= _SCRIPT_STATEMENTS:
                self.flush()
            return _NO_ROWS
        if self.pending:
            read = _read_words(sql)
            # A read of tables nothing kept writes to gives the same answer before the kept
            # statements; anything else (a write, the change log, an unknown write) goes after them.
            if (
                read is None
                or _CHANGE_LOG in read
                or _ANY_TABLE in self.pending_tables
                or not self.pending_tables.isdisjoint(read)
            ):
                self.flush()
        return self.run_execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[typing.Any], /) -> None:
        """Run one statement of the engine once per row of ``parameters``."""
        rows = list(parameters)
        if not rows:
            return
        if len(rows) <= _SCRIPT_ROWS:
            for row in rows:
                self.execute(sql, row)
            return
        self.flush()
        if self.execute_rows(sql, rows):
            self.changes += len(rows)
            return
        for row in rows:
            self.execute(sql, row)

    def flush(self) -> None:
        """Send the statements kept so far, as one script."""
        if self.pending:
            script, self.pending = self.pending, []
            self.pending_tables.clear()
            self.changes += len(script)
            self.run_script(script)

    def discard(self) -> None:
        """Forget the statements kept so far (their transaction or savepoint is being rolled back)."""
        self.pending.clear()
        self.pending_tables.clear()

    @abc.abstractmethod
    def run_command(self, sql: str, *args: typing.Any) -> None:
        """Run SQL of the backend itself now."""

    @abc.abstractmethod
    def run_execute(self, sql: str, parameters: typing.Any, /) -> Rows:
        """Run one statement of the engine now."""

    @abc.abstractmethod
    def execute_rows(self, sql: str, rows: list[typing.Any], /) -> bool:
        """Run one statement of the engine for all ``rows`` at once, if the driver can; whether it did.

        The drivers report no counts then: each row counts as one changed row.
        """

    def inline(self, sql: str, parameters: typing.Any, /) -> str | None:
        """The statement in the backend's SQL with its values written in, if it returns nothing and can be.

        ``None`` runs it at once. The default keeps nothing.
        """
        del sql, parameters
        return None

    def run_script(self, statements: list[str]) -> None:
        """Run ``statements`` (from [`inline`][]) in order, in one round trip if the driver can."""
        for statement in statements:
            self.run_command(statement)


class ServerWriter(abc.ABC, typing.Generic[_DB]):
    """What the writer thread owns: its event loop, its connection, what it remembers between batches.

    Every method but the constructor runs on the writer thread.
    """

    __slots__: typing.Sequence[str] = ("_db", "connect", "isolate", "lock_key", "loop", "name", "reported")

    logger: typing.ClassVar[logging.Logger]
    """Where failed events and retention steps are logged."""
    next_savepoint: typing.ClassVar[str] = "SAVEPOINT ev"
    """What ends one event's savepoint and opens the next one's (a savepoint replaces its namesake)."""

    def __init__(self, connect: Callable[[], Awaitable[Connection]], name: str, lock_key: str) -> None:
        self.connect = connect
        self.name = name
        self.lock_key = lock_key
        self.loop: asyncio.AbstractEventLoop | None = None
        self._db: _DB | None = None
        # Event types whose failure was logged already: one log line per type, not per event.
        self.reported: set[str] = set()
        # Whether the next batch starts with a savepoint per event (the last one had a failing event).
        self.isolate = False

    # --- the driver -----------------------------------------------------------------------------

    @abc.abstractmethod
    def adapt(self, loop: asyncio.AbstractEventLoop, connection: Connection) -> _DB:
        """The engine's connection over a new driver connection, set up for writing."""

    @abc.abstractmethod
    def is_alive(self, connection: Connection) -> bool:
        """Whether the driver connection is still usable."""

    @abc.abstractmethod
    def is_lost(self, exc: BaseException) -> bool:
        """Whether the driver error lost the connection or the whole transaction."""

    @abc.abstractmethod
    def terminate(self, connection: Connection) -> None:
        """Drop the driver connection at once."""

    @abc.abstractmethod
    async def close_connection(self, connection: Connection) -> None:
        """Close the driver connection politely."""

    @abc.abstractmethod
    def prepare_store(self, db: _DB) -> None:
        """Create, check or migrate the store's schema."""

    @abc.abstractmethod
    def transaction(self, db: _DB, tracked: frozenset[str]) -> contextlib.AbstractContextManager[None]:
        """One batch's transaction, holding the store's writer lock, noting changes to the ``tracked`` kinds.

        It commits when the body returns and rolls back (see [`rollback`][]) when it raises.
        """

    # --- the connection -------------------------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """The driver connection, if one is open."""
        return self._db.connection if self._db is not None else None

    def db(self) -> _DB:
        """The connection, reconnecting after a lost one (the change log is per connection)."""
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        if self._db is None or not self.is_alive(self._db.connection):
            self._db = None
            connection = self.loop.run_until_complete(self.connect())
            try:
                self._db = self.adapt(self.loop, connection)
            except BaseException:
                self.terminate(connection)
                raise
        return self._db

    def fatal(self, exc: BaseException) -> bool:
        """Whether an error aborts the whole batch (connection lost, deadlock, serialization failure...)."""
        return self._db is None or not self.is_alive(self._db.connection) or self.is_lost(exc)

    def drop_connection(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):
                self.terminate(db.connection)

    def close(self) -> None:
        if self._db is not None and self.loop is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait_for(self.close_connection(self._db.connection), 5))
        self.drop_connection()
        if self.loop is not None:
            self.loop.close()
            self.loop = None

    def rollback(self, db: _DB, *then: str) -> None:
        """Roll a failed batch back, then run ``then``, if the connection survived (errors are the caller's)."""
        db.discard()
        if self.is_alive(db.connection):
            for sql in ("ROLLBACK", *then):
                with contextlib.suppress(Exception):
                    db.command(sql)

    # --- batches --------------------------------------------------------------------------------

    def prepare(self) -> None:
        self.prepare_store(self.db())

    def apply(self, batch: Sequence[hikari.Event], rule: Rule | None, request: ChangeRequest | None) -> WriteResult:
        db = self.db()
        try:
            if not self.isolate:
                # Most batches have no failing event: written without a savepoint per event, they
                # take one round trip less per event. A failure rolls the whole batch back.
                with contextlib.suppress(_Isolate):
                    return self._apply(db, batch, rule, request, isolated=False)
            result = self._apply(db, batch, rule, request, isolated=True)
            # Failures come in runs (one broken event type): keep isolating until a batch has none.
            self.isolate = any(error is not None for error in result.errors)
            return result
        except BaseException as exc:
            if self.fatal(exc):
                # Start the next attempt on a fresh connection.
                self.drop_connection()
            raise

    def _apply(
        self,
        db: _DB,
        batch: Sequence[hikari.Event],
        rule: Rule | None,
        request: ChangeRequest | None,
        *,
        isolated: bool,
    ) -> WriteResult:
        """Write ``batch`` in one transaction; ``isolated``: each event in a savepoint, else raise `_Isolate`."""
        # A prune counts its removals per kind through the change tracking, whoever listens.
        pruning = any(isinstance(event, ops.PruneOp) for event in batch)
        wanted: Mapping[str, frozenset[str]] = request.wanted if request is not None else {}
        kinds = engine_.TRACKED_KINDS if pruning else frozenset(kind for kind, actions in wanted.items() if actions)
        tracking = engine_.Tracking(kinds, wanted, request.app if request is not None else None) if kinds else None
        engine = engine_.Engine(db, rule=rule, tracking=tracking)
        errors: list[BaseException | None] = []
        changes: list[tuple[int, engine_.Change]] = []
        rows = 0
        expired = 0
        received = ops.received_times(batch)
        with self.transaction(db, kinds):
            savepoint = "SAVEPOINT ev"
            for index, event in enumerate(batch):
                if isolated:
                    db.command(savepoint)
                    savepoint = self.next_savepoint
                before = db.changes
                try:
                    engine.apply(event, received=received[index])
                    if isolated:
                        # The event's kept statements fail inside its own savepoint.
                        db.flush()
                    written = db.changes - before
                    found = engine.take_changes(event)
                except Exception as exc:
                    if self.fatal(exc):
                        raise
                    if not isolated:
                        raise _Isolate from exc
                    name = type(event).__name__
                    self._undo(
                        db, engine, "ev", name, "could not store %s; skipping it (logged once per event type)", name
                    )
                    if isinstance(event, ops.PruneOp):
                        event.removed = {}
                    errors.append(exc)
                else:
                    errors.append(None)
                    rows += written
                    changes.extend((index, change) for change in found)
            if not isolated:
                before = db.changes
                try:
                    db.flush()
                except Exception as exc:
                    if self.fatal(exc):
                        raise
                    raise _Isolate from exc
                rows += db.changes - before
            # COMMIT releases the last event's savepoint.
            if rule is not None and rule.message.max_age is not None and rule.message.enabled:
                expired, written, found = self._expire(db, engine)
                rows += written
                changes.extend((len(batch), change) for change in found)
        return WriteResult(
            errors, changes=changes, rows=rows, expired=expired, retention_backlog=expired >= RETENTION_STEP
        )

    def _expire(self, db: _DB, engine: engine_.Engine) -> tuple[int, int, list[engine_.Change]]:
        """The age retention's step of a batch, in its own savepoint: (expired, rows written, changes)."""
        db.command("SAVEPOINT retention")
        before = db.changes
        try:
            expired = engine.expire_messages(RETENTION_STEP)
            db.flush()
            written = db.changes - before
            found = engine.take_changes(None)
        except Exception as exc:
            if self.fatal(exc):
                raise
            self._undo(
                db,
                engine,
                "retention",
                "retention",
                "expiring old messages failed; retrying with the next batch (logged once)",
            )
            expired, written, found = 0, 0, []
        db.command("RELEASE SAVEPOINT retention")
        return expired, written, found

    def _undo(self, db: _DB, engine: engine_.Engine, savepoint: str, key: str, message: str, *args: object) -> None:
        """Roll a failed step back to its ``savepoint``; log the error once per ``key`` (event type, retention)."""
        db.discard()
        db.command(f"ROLLBACK TO SAVEPOINT {savepoint}")
        engine.discard_changes()
        if key not in self.reported:
            self.reported.add(key)
            self.logger.exception(message, *args)


class ServerBackend(Batching, Backend, abc.ABC):
    """A store on a database server: one writer connection on a thread of its own, a pool of readers.

    Internal base of the server backends; see [`Backend`][hikaripersist.backend.Backend] for the
    contract. Subclasses provide the driver (connecting, the pool, the schema) and the reads.
    """

    __slots__: typing.Sequence[str] = (
        "_batch_size",
        "_executor",
        "_flush_interval",
        "_name",
        "_pool",
        "_pool_size",
        "_writer",
    )

    _thread_name: typing.ClassVar[str]
    """Prefix of the writer thread's name."""
    _elsewhere: typing.ClassVar[str]
    """What to do with a store that is not ours or too new, e.g. ``"use another schema"``."""

    def __init__(self, name: str, *, batch_size: int, flush_interval: float, pool_size: int) -> None:
        self._init_batching(batch_size, flush_interval)
        if pool_size < 2:
            msg = "pool_size must be at least 2 (an iteration reads related rows on a second connection)"
            raise ValueError(msg)
        self._name = name
        self._pool_size = pool_size
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._writer: ServerWriter[typing.Any] | None = None
        self._pool: Pool | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    # --- the driver ---------------------------------------------------------------------------

    @abc.abstractmethod
    def _failure(self, exc: Exception) -> Failure | None:
        """What a driver's error while connecting means, if it is one the driver reports its own way."""

    @abc.abstractmethod
    def _redact(self, text: str) -> str:
        """``text`` without the password."""

    @abc.abstractmethod
    def _new_writer(self) -> ServerWriter[typing.Any]:
        """The writer of an opening store."""

    @abc.abstractmethod
    async def _create_pool(self, *, read_only: bool) -> Pool:
        """The readers' pool (connections that cannot write when ``read_only``)."""

    @abc.abstractmethod
    async def _close_pool(self, pool: Pool) -> None:
        """Close the readers' pool."""

    @abc.abstractmethod
    def _is_server_error(self, exc: Exception) -> bool:
        """Whether the server refused something while opening (rather than a bug of ours)."""

    @abc.abstractmethod
    async def _tables(self) -> set[str]:
        """The names of the tables and views in the store's schema or database, read through the pool."""

    # --- lifetime ---------------------------------------------------------------------------

    def _open_error(self, exc: Exception) -> BackendError:
        """A failure to connect as a BackendError saying why (without the password)."""
        if isinstance(exc, BackendError):
            return exc
        text = self._redact(str(exc))
        failure = self._failure(exc)
        if failure is None and isinstance(exc, ConnectionRefusedError):
            failure = "refused"
        elif failure is None and isinstance(exc, (OSError, asyncio.TimeoutError)):
            failure = "unreachable"
        reason = _REASONS[failure].format(text or type(exc).__name__) if failure else f"{type(exc).__name__}: {text}"
        return BackendError(f"cannot open {self.name}: {reason}")

    async def _connecting(self, connecting: Awaitable[_T]) -> _T:
        """Await a new connection or pool; failures are BackendErrors."""
        try:
            return await connecting
        except Exception as exc:
            raise self._open_error(exc) from exc

    @contextlib.asynccontextmanager
    async def _opening(self) -> AsyncGenerator[None, None]:
        # A store that fails to open leaves nothing open; the server's refusals are BackendErrors.
        try:
            yield
        except BaseException as exc:
            await self.close()
            if isinstance(exc, Exception) and not isinstance(exc, BackendError) and self._is_server_error(exc):
                raise BackendError(f"cannot open {self.name}: {exc}") from exc
            raise

    async def open(self) -> None:
        if self.is_open:
            return
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        self._writer = writer = self._new_writer()
        async with self._opening():
            await asyncio.get_running_loop().run_in_executor(self._executor, writer.prepare)
            self._pool = await self._connecting(self._create_pool(read_only=False))

    async def open_read_only(self) -> None:
        """Open the store for reads only: no writer, and reader connections that cannot write.

        Nothing is created, migrated or changed.

        Raises
        ------
        hikaripersist.BackendError
            If the server cannot be reached or the store does not exist yet (the bot's cache
            creates it).
        hikaripersist.SchemaError
            If the store holds another application's tables or its schema is not this version's
            (the bot's cache migrates it when it opens).
        """
        if self.is_open:
            return
        async with self._opening():
            self._pool = await self._connecting(self._create_pool(read_only=True))
            tables = await self._tables()
            if not tables:
                msg = f"cannot open {self.name} for reading: the store does not exist (the bot's cache creates it)"
                raise BackendError(msg)
            meta: dict[str, str] = {}
            if "meta" in tables:
                async for rows in self.fetch("SELECT key, value FROM meta"):
                    meta.update((str(key), str(value)) for key, value in rows)
            version = stored_version(self.name, tables, meta, self._elsewhere)
            if version != schema.SCHEMA_VERSION:
                msg = (
                    f"{self.name} has schema {version}, this version reads schema {schema.SCHEMA_VERSION};"
                    " open it with the bot's cache (a read-only cache never migrates)"
                )
                raise SchemaError(msg)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._close_pool(pool)
        writer, self._writer = self._writer, None
        executor, self._executor = self._executor, None
        if writer is not None and executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, writer.close)
        if executor is not None:
            executor.shutdown(wait=False)

    def _require_writer(self) -> ServerWriter[typing.Any]:
        if self._pool is not None and self._writer is None:
            msg = f"{self.name} is open read-only"
            raise BackendError(msg)
        if self._writer is None or self._pool is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        return self._writer

    def _require_pool(self) -> Pool:
        if self._pool is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        return self._pool

    # --- writing ------------------------------------------------------------------------------

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        writer = self._require_writer()
        return await asyncio.get_running_loop().run_in_executor(self._executor, writer.apply, batch, rule, None)

    async def write_with_changes(
        self, batch: Sequence[hikari.Event], *, rule: Rule | None, changes: ChangeRequest
    ) -> WriteResult:
        writer = self._require_writer()
        return await asyncio.get_running_loop().run_in_executor(self._executor, writer.apply, batch, rule, changes)

    # --- reading ------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        return int(await self.scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)
