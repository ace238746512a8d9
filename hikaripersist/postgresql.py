"""The PostgreSQL backend (asyncpg), for stores shared by several processes or hosts."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("PostgreSQLBackend",)

import asyncio
import concurrent.futures
import contextlib
import importlib
import json
import logging
import typing
import urllib.parse

from hikaripersist._internal import dialect, ops, schema
from hikaripersist._internal import engine as engine_
from hikaripersist.backend import Backend, BackendError, ChangeRequest, Row, SchemaError, WriteResult

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence

    import hikari

    from hikaripersist.rules import Rule

_T = typing.TypeVar("_T")
# asyncpg ships no type information: its objects are typed as Any here.
_Connection: typing.TypeAlias = typing.Any
_Pool: typing.TypeAlias = typing.Any
_LOGGER = logging.getLogger("hikaripersist.postgresql")
_INSTALL_HINT: typing.Final[str] = 'the PostgreSQL backend needs asyncpg: pip install "hikari-persist[postgresql]"'
# Marks schemas written by hikari-persist (SQLite's application id).
_APPLICATION: typing.Final[str] = "hikari-persist"
# Most messages the age retention expires per batch (as with SQLite).
RETENTION_STEP: typing.Final[int] = 250
_STATEMENT_CACHE: typing.Final[int] = 1024


def _asyncpg() -> typing.Any:
    try:
        return importlib.import_module("asyncpg")
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc


def _encode_jsonb(value: object) -> bytes:
    # Entities arrive encoded already; filter values are encoded here. Binary jsonb is version 1 + text.
    if isinstance(value, bytes):
        return b"\x01" + value
    return b"\x01" + json.dumps(value, ensure_ascii=False).encode()


def _decode_jsonb(data: bytes) -> bytes:
    return data[1:]


async def _init_connection(connection: _Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )


def _status_count(status: str) -> int:
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class _Rows:
    """The cursor-like result of a statement the engine runs."""

    __slots__: typing.Sequence[str] = ("_rows",)

    def __init__(self, rows: list[tuple[typing.Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[typing.Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[typing.Any, ...]]:
        return self._rows


def _arguments(parameters: typing.Any, names: tuple[str, ...] | None) -> Sequence[typing.Any]:
    if names is not None:
        return [parameters[n] for n in names]
    return parameters


class _SyncConnection:
    """The engine's synchronous connection over asyncpg, run on the writer thread's own event loop."""

    __slots__: typing.Sequence[str] = ("changes", "connection", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: _Connection) -> None:
        self.loop = loop
        self.connection = connection
        # Rows changed by the statements run (PostgreSQL's own count; trigger bookkeeping excluded).
        self.changes = 0

    def run(self, awaitable: Awaitable[_T]) -> _T:
        return self.loop.run_until_complete(awaitable)

    def execute(self, sql: str, parameters: typing.Any = (), /) -> _Rows:
        translated = dialect.to_postgresql(sql)
        args = _arguments(parameters, translated.names)
        if translated.returns_rows:
            records = self.run(self.connection.fetch(translated.sql, *args))
            return _Rows([tuple(r) for r in records])
        status = self.run(self.connection.execute(translated.sql, *args))
        self.changes += _status_count(status)
        return _Rows([])

    def executemany(self, sql: str, parameters: Iterable[typing.Any], /) -> None:
        rows = list(parameters)
        if not rows:
            return
        translated = dialect.to_postgresql(sql)
        if len(rows) <= 4 and not translated.sql.startswith("INSERT"):
            # Few rows: one statement each, so the count of changed rows is exact.
            for row in rows:
                self.execute(sql, row)
            return
        args = [_arguments(row, translated.names) for row in rows]
        # asyncpg pipelines the rows (one round trip per batch of them); it reports no counts, so
        # each row counts as one changed row.
        self.run(self.connection.executemany(translated.sql, args))
        self.changes += len(rows)


def _fatal(exc: BaseException, connection: _Connection | None) -> bool:
    """Whether an error aborts the whole batch (connection lost, serialization failure...)."""
    asyncpg = _asyncpg()
    if connection is None or connection.is_closed():
        return True
    return isinstance(
        exc,
        (
            OSError,
            asyncio.TimeoutError,
            asyncpg.InterfaceError,
            asyncpg.PostgresConnectionError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.TransactionRollbackError,
            asyncpg.exceptions.InsufficientResourcesError,
            asyncpg.exceptions.InFailedSQLTransactionError,
        ),
    )


class _Writer:
    """What the writer thread owns: its event loop, its connection, what it remembers between batches."""

    __slots__: typing.Sequence[str] = ("connect", "connection", "lock_key", "loop", "name", "reported")

    def __init__(self, connect: typing.Callable[[], typing.Awaitable[_Connection]], name: str, lock_key: str):
        self.connect = connect
        self.name = name
        self.lock_key = lock_key
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connection: _Connection | None = None
        self.reported: set[str] = set()

    def db(self) -> _SyncConnection:
        """The connection, reconnecting after a lost one (the change log is per connection)."""
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        if self.connection is None or self.connection.is_closed():
            self.connection = None
            connection = self.loop.run_until_complete(self.connect())
            self.loop.run_until_complete(connection.execute(dialect.TOUCHED_TABLE))
            self.connection = connection
        return _SyncConnection(self.loop, self.connection)

    def drop_connection(self) -> None:
        if self.connection is not None:
            self.connection.terminate()
            self.connection = None

    def close(self) -> None:
        if self.connection is not None and self.loop is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.connection.close(timeout=5))
            self.connection = None
        if self.loop is not None:
            self.loop.close()
            self.loop = None

    # --- schema ---------------------------------------------------------------------------------

    def prepare(self, schema_name: str) -> None:
        db = self.db()
        db.run(_prepare_schema(db.connection, schema_name, self.name, self.lock_key))

    # --- batches --------------------------------------------------------------------------------

    def apply(self, batch: Sequence[hikari.Event], rule: Rule | None, request: ChangeRequest | None) -> WriteResult:
        db = self.db()
        try:
            return self._apply(db, batch, rule, request)
        except BaseException as exc:
            if _fatal(exc, self.connection):
                # Start the next attempt on a fresh connection.
                self.drop_connection()
            raise

    def _apply(
        self, db: _SyncConnection, batch: Sequence[hikari.Event], rule: Rule | None, request: ChangeRequest | None
    ) -> WriteResult:
        pruning = any(isinstance(event, ops.PruneOp) for event in batch)
        wanted: Mapping[str, frozenset[str]] = request.wanted if request is not None else {}
        kinds = engine_.TRACKED_KINDS if pruning else frozenset(kind for kind, actions in wanted.items() if actions)
        tracking = engine_.Tracking(kinds, wanted, request.app if request is not None else None) if kinds else None
        engine = engine_.Engine(db, rule=rule, tracking=tracking)
        errors: list[BaseException | None] = []
        changes: list[tuple[int, engine_.Change]] = []
        rows = 0
        expired = 0
        connection = db.connection
        db.run(connection.execute("BEGIN"))
        try:
            # Writers of one store (shards in several processes) take turns, one batch at a time;
            # readers are never blocked. Under READ COMMITTED each statement then sees every
            # batch committed before this one.
            db.run(connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.lock_key))
            if tracking is not None:
                db.run(
                    connection.execute(
                        "SELECT set_config($1, $2, true)", dialect.TRACK_SETTING, "," + ",".join(sorted(kinds)) + ","
                    )
                )
                db.run(connection.execute("DELETE FROM pg_temp.persist_touched"))
            savepoint = "SAVEPOINT ev"
            for index, event in enumerate(batch):
                # One round trip releases the previous event's savepoint and opens this one's.
                db.run(connection.execute(savepoint))
                savepoint = "RELEASE SAVEPOINT ev; SAVEPOINT ev"
                before = db.changes
                try:
                    engine.apply(event)
                    written = db.changes - before
                    found = engine.take_changes(event)
                except Exception as exc:
                    if _fatal(exc, connection):
                        raise
                    db.run(connection.execute("ROLLBACK TO SAVEPOINT ev"))
                    engine.discard_changes()
                    if isinstance(event, ops.PruneOp):
                        event.removed = {}
                    errors.append(exc)
                    name = type(event).__name__
                    if name not in self.reported:
                        self.reported.add(name)
                        _LOGGER.exception("could not store %s; skipping it (logged once per event type)", name)
                else:
                    errors.append(None)
                    rows += written
                    changes.extend((index, change) for change in found)
            if batch:
                db.run(connection.execute("RELEASE SAVEPOINT ev"))
            if rule is not None and rule.message.max_age is not None and rule.message.enabled:
                expired, written, found = self._expire(db, engine)
                rows += written
                changes.extend((len(batch), change) for change in found)
            db.run(connection.execute("COMMIT"))
        except BaseException:
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    db.run(connection.execute("ROLLBACK"))
            raise
        return WriteResult(
            errors, changes=changes, rows=rows, expired=expired, retention_backlog=expired >= RETENTION_STEP
        )

    def _expire(self, db: _SyncConnection, engine: engine_.Engine) -> tuple[int, int, list[engine_.Change]]:
        connection = db.connection
        db.run(connection.execute("SAVEPOINT retention"))
        before = db.changes
        try:
            expired = engine.expire_messages(RETENTION_STEP)
            written = db.changes - before
            found = engine.take_changes(None)
        except Exception as exc:
            if _fatal(exc, connection):
                raise
            db.run(connection.execute("ROLLBACK TO SAVEPOINT retention"))
            engine.discard_changes()
            if "retention" not in self.reported:
                self.reported.add("retention")
                _LOGGER.exception("expiring old messages failed; retrying with the next batch (logged once)")
            expired, written, found = 0, 0, []
        db.run(connection.execute("RELEASE SAVEPOINT retention"))
        return expired, written, found


async def _prepare_schema(connection: _Connection, schema_name: str, name: str, lock_key: str) -> None:
    """Create, check or migrate the store's schema (one process at a time)."""
    quoted = dialect.quote_identifier(schema_name)
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key)
        exists = await connection.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema_name)
        tables: set[str] = set()
        if exists:
            tables = {
                r[0]
                for r in await connection.fetch(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                    schema_name,
                )
            }
        else:
            await connection.execute(f"CREATE SCHEMA {quoted}")
        if not tables:
            for statement in dialect.postgresql_schema():
                await connection.execute(statement)
            await connection.executemany(
                "INSERT INTO meta (key, value) VALUES ($1, $2)",
                [("application", _APPLICATION), ("schema_version", str(schema.SCHEMA_VERSION))],
            )
        else:
            marker: str | None = None
            version = 0
            if "meta" in tables:
                rows = dict(await connection.fetch("SELECT key, value FROM meta"))
                marker = rows.get("application")
                version = int(rows.get("schema_version") or 0)
            if marker != _APPLICATION:
                msg = (
                    f"{name} holds tables that are not hikari-persist's (schema {schema_name!r});"
                    " refusing to touch it; choose another schema"
                )
                raise SchemaError(msg)
            if version > schema.SCHEMA_VERSION:
                msg = (
                    f"{name} was written by a newer hikari-persist (schema {version}, this version reads up to"
                    f" {schema.SCHEMA_VERSION}); upgrade hikari-persist or use another schema"
                )
                raise SchemaError(msg)
            for migration in schema.MIGRATIONS:
                if migration.version <= version:
                    continue
                statements = (
                    migration.postgresql
                    if migration.postgresql is not None
                    else tuple(dialect.to_postgresql(s).sql for s in migration.statements)
                )
                for statement in statements:
                    await connection.execute(statement)
                version = migration.version
            for statement in dialect.postgresql_schema():
                await connection.execute(statement)
            await connection.execute(
                "UPDATE meta SET value = $1 WHERE key = 'schema_version'", str(max(version, schema.SCHEMA_VERSION))
            )
        for statement in dialect.postgresql_functions(schema_name):
            await connection.execute(statement)
        for statement in dialect.postgresql_tracking(schema_name, engine_.TRACKED):
            await connection.execute(statement)


def _describe(dsn: str, schema_name: str) -> tuple[str, str]:
    """(name of the store without credentials, repr-safe DSN)."""
    try:
        parsed = urllib.parse.urlsplit(dsn)
        host = parsed.hostname or "localhost"
        port = parsed.port or 5432
        database = parsed.path.lstrip("/") or parsed.username or "postgres"
        user = parsed.username
    except ValueError:
        return f"PostgreSQL store (unparsable DSN), schema {schema_name!r}", "<unparsable DSN>"
    netloc = (f"{user}@" if user else "") + (f"[{host}]" if ":" in host else host) + f":{port}"
    safe = urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, "", ""))
    return f"PostgreSQL database {database!r} on {host}:{port} (schema {schema_name!r})", safe


class PostgreSQLBackend(Backend):
    """Store the cache in a PostgreSQL database (asyncpg).

    Several processes (shards) may write one store at once: each batch is one transaction that
    takes the store's transaction-level advisory lock first, so batches of different writers
    never interleave while readers are never blocked. A lost connection fails the batch (the cache
    retries it on a new connection).

    Parameters
    ----------
    dsn
        ``postgresql://user[:password]@host[:port]/database`` (libpq URL or keyword/value form).
    schema
        The PostgreSQL schema holding the store (created if missing); separate schemas keep
        separate stores in one database.
    batch_size
        Most events written in one transaction.
    flush_interval
        Seconds the writer waits for a batch to fill before writing what it has.
    pool_size
        Most connections the readers use at once.

    Raises
    ------
    ImportError
        If asyncpg is not installed (``pip install "hikari-persist[postgresql]"``).
    hikaripersist.BackendError
        From [`open`][hikaripersist.backend.Backend.open] when the server cannot be reached, refuses
        the credentials or has no such database.
    hikaripersist.SchemaError
        From [`open`][hikaripersist.backend.Backend.open] when the schema holds another
        application's tables or was written by a newer version.
    """

    __slots__: typing.Sequence[str] = (
        "_batch_size",
        "_dsn",
        "_executor",
        "_flush_interval",
        "_name",
        "_pool",
        "_pool_size",
        "_safe_dsn",
        "_schema",
        "_writer",
    )

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        batch_size: int = 1000,
        flush_interval: float = 0.05,
        pool_size: int = 10,
    ) -> None:
        _asyncpg()
        if batch_size < 1:
            msg = "batch_size must be at least 1"
            raise ValueError(msg)
        if flush_interval < 0:
            msg = "flush_interval cannot be negative"
            raise ValueError(msg)
        if pool_size < 2:
            msg = "pool_size must be at least 2 (an iteration reads related rows on a second connection)"
            raise ValueError(msg)
        if not schema:
            msg = "schema cannot be empty"
            raise ValueError(msg)
        self._dsn = dsn
        self._schema = schema
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._pool_size = pool_size
        self._name, self._safe_dsn = _describe(dsn, schema)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._writer: _Writer | None = None
        self._pool: _Pool | None = None

    def __repr__(self) -> str:
        return f"PostgreSQLBackend({self._safe_dsn!r}, schema={self._schema!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding the store."""
        return self._schema

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def flush_interval(self) -> float:
        return self._flush_interval

    # --- lifetime ---------------------------------------------------------------------------

    def _server_settings(self, role: str) -> dict[str, str]:
        # The application name tells the store's connections apart in pg_stat_activity.
        application = f"hikari-persist {role} {self._schema}"[:63]
        return {"search_path": dialect.quote_identifier(self._schema), "application_name": application}

    async def _connect(self, role: str) -> _Connection:
        asyncpg = _asyncpg()
        try:
            connection = await asyncpg.connect(
                self._dsn,
                timeout=10,
                statement_cache_size=_STATEMENT_CACHE,
                server_settings=self._server_settings(role),
            )
        except Exception as exc:
            raise self._open_error(exc) from exc
        await _init_connection(connection)
        return connection

    def _open_error(self, exc: BaseException) -> BackendError:
        asyncpg = _asyncpg()
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, asyncpg.InvalidCatalogNameError):
            reason = f"the database does not exist ({exc})"
        elif isinstance(exc, (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
            reason = f"the server refused the credentials ({exc})"
        elif isinstance(exc, ConnectionRefusedError):
            reason = "connection refused (is the server running and listening there?)"
        elif isinstance(exc, (OSError, asyncio.TimeoutError)):
            reason = f"cannot reach the server ({exc or type(exc).__name__})"
        elif isinstance(exc, (ValueError, asyncpg.ClientConfigurationError)):
            reason = f"invalid DSN ({_without_password(str(exc), self._dsn)})"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return BackendError(f"cannot open {self.name}: {reason}")

    async def open(self) -> None:
        if self.is_open:
            return
        asyncpg = _asyncpg()
        loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hikaripersist-postgresql")
        lock_key = f"hikari-persist:{self._schema}"
        self._writer = _Writer(lambda: self._connect("writer"), self.name, lock_key)
        try:
            await loop.run_in_executor(self._executor, self._writer.prepare, self._schema)
            try:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=10,
                    statement_cache_size=_STATEMENT_CACHE,
                    server_settings=self._server_settings("reader"),
                    init=_init_connection,
                )
            except Exception as exc:
                raise self._open_error(exc) from exc
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.close(), 10)
            pool.terminate()
        writer, self._writer = self._writer, None
        if writer is not None and self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, writer.close)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _require_writer(self) -> _Writer:
        if self._writer is None or self._pool is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        return self._writer

    def _require_pool(self) -> _Pool:
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

    async def fetch(self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500) -> AsyncIterator[list[Row]]:
        pool = self._require_pool()
        translated = dialect.to_postgresql(sql)
        async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
            # A server-side cursor: rows arrive chunk by chunk from one snapshot.
            cursor = await connection.cursor(translated.sql, *params)
            while rows := await cursor.fetch(chunk):
                yield [tuple(r) for r in rows]

    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> Row | None:
        pool = self._require_pool()
        row = await pool.fetchrow(dialect.to_postgresql(sql).sql, *params)
        return tuple(row) if row is not None else None

    async def schema_version(self) -> int:
        return int(await self.scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)

    async def database_size(self) -> int:
        """Bytes used by the store's tables and their indexes."""
        pool = self._require_pool()
        size = await pool.fetchval(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            self._schema,
        )
        return int(size or 0)


def _without_password(text: str, dsn: str) -> str:
    try:
        password = urllib.parse.urlsplit(dsn).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
