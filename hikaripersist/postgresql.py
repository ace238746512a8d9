"""The PostgreSQL backend (asyncpg), for stores shared by several processes or hosts."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("PostgreSQLBackend",)

import asyncio
import contextlib
import json
import logging
import typing
import urllib.parse

from hikaripersist._internal import dialect, schema, server
from hikaripersist._internal import engine as engine_

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence

    from hikaripersist.backend import Row

_INSTALL_HINT: typing.Final[str] = 'the PostgreSQL backend needs asyncpg: pip install "hikari-persist[postgresql]"'
_STATEMENT_CACHE: typing.Final[int] = 1024
_ELSEWHERE: typing.Final[str] = "use another schema"
# The store's tables and views: none means no store yet.
_TABLES: typing.Final[str] = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
)


def _asyncpg() -> typing.Any:
    return server.driver("asyncpg", _INSTALL_HINT)


def _encode_jsonb(value: object) -> bytes:
    # Entities arrive encoded already; filter values are encoded here. Binary jsonb is version 1 + text.
    if isinstance(value, bytes):
        return b"\x01" + value
    return b"\x01" + json.dumps(value, ensure_ascii=False).encode()


def _decode_jsonb(data: bytes) -> bytes:
    return data[1:]


async def _init_connection(connection: server.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )


def _status_count(status: str) -> int:
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class _SyncConnection(server.SyncConnection):
    """The engine's synchronous connection over asyncpg."""

    __slots__: typing.Sequence[str] = ("prepared",)

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: server.Connection) -> None:
        super().__init__(loop, connection)
        # Statement text -> the name it is prepared under on this connection (for scripts).
        self.prepared: dict[str, str] = {}

    def run_command(self, sql: str, *args: typing.Any) -> None:
        self.run(self.connection.execute(sql, *args))

    def run_execute(self, sql: str, parameters: typing.Any, /) -> server.Rows:
        translated = dialect.to_postgresql(sql)
        args = server.arguments(parameters, translated.names)
        if translated.returns_rows:
            records = self.run(self.connection.fetch(translated.sql, *args))
            return server.Rows([tuple(r) for r in records])
        status = self.run(self.connection.execute(translated.sql, *args))
        self.changes += _status_count(status)
        return server.Rows([])

    def execute_rows(self, sql: str, rows: list[typing.Any], /) -> bool:
        translated = dialect.to_postgresql(sql)
        # asyncpg pipelines the rows (one round trip per batch of them).
        self.run(self.connection.executemany(translated.sql, [server.arguments(r, translated.names) for r in rows]))
        return True

    def inline(self, sql: str, parameters: typing.Any, /) -> str | None:
        translated = dialect.to_postgresql(sql)
        if translated.returns_rows:
            return None
        values = dialect.postgresql_literals(server.arguments(parameters, translated.names))
        if values is None:
            return None
        name = self.prepared.get(translated.sql)
        if name is None:
            # Prepared once per connection, so the server plans it once, as asyncpg would.
            name = f"persist_{len(self.prepared)}"
            self.run(self.connection.execute(f"PREPARE {name} AS {translated.sql}"))
            self.prepared[translated.sql] = name
        return f"EXECUTE {name}({values})" if values else f"EXECUTE {name}"

    def run_script(self, statements: list[str]) -> None:
        # Without arguments asyncpg sends the text as a simple query: every statement, one round trip.
        self.run(self.connection.execute(";\n".join(statements)))


class _Writer(server.ServerWriter[_SyncConnection]):
    """The PostgreSQL writer: advisory locks, the change log in a temporary table."""

    __slots__: typing.Sequence[str] = ("lock_id", "schema_name")

    logger = logging.getLogger("hikaripersist.postgresql")
    # One round trip releases the previous event's savepoint and opens this one's.
    next_savepoint = "RELEASE SAVEPOINT ev; SAVEPOINT ev"

    def __init__(
        self,
        connect: Callable[[], Awaitable[server.Connection]],
        name: str,
        lock_key: str,
        schema_name: str,
    ) -> None:
        super().__init__(connect, name, lock_key)
        self.schema_name = schema_name
        # hashtext(lock_key): the advisory lock's key, inlined so that BEGIN and the lock take one round trip.
        self.lock_id: int | None = None

    def adapt(self, loop: asyncio.AbstractEventLoop, connection: server.Connection) -> _SyncConnection:
        db = _SyncConnection(loop, connection)
        db.command(dialect.TOUCHED_TABLE)
        return db

    def is_alive(self, connection: server.Connection) -> bool:
        return not connection.is_closed()

    def is_lost(self, exc: BaseException) -> bool:
        asyncpg = _asyncpg()
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

    def terminate(self, connection: server.Connection) -> None:
        connection.terminate()

    async def close_connection(self, connection: server.Connection) -> None:
        await connection.close()

    def prepare_store(self, db: _SyncConnection) -> None:
        db.run(_prepare_schema(db.connection, self.schema_name, self.name, self.lock_key))

    @contextlib.contextmanager
    def transaction(self, db: _SyncConnection, tracked: frozenset[str]) -> Generator[None, None, None]:
        # Writers of one store (shards in several processes) take turns, one batch at a time;
        # readers are never blocked. Under READ COMMITTED each statement then sees every batch
        # committed before this one. All in one round trip: the values are literals of ours.
        if self.lock_id is None:
            self.lock_id = int(db.run(db.connection.fetchval("SELECT hashtext($1)", self.lock_key)))
        statements = ["BEGIN", f"SELECT pg_advisory_xact_lock({self.lock_id})"]
        if tracked:
            kinds = ("," + ",".join(sorted(tracked)) + ",").replace("'", "''")
            statements.append(f"SELECT set_config('{dialect.TRACK_SETTING}', '{kinds}', true)")
            statements.append("DELETE FROM pg_temp.persist_touched")
        try:
            db.command("; ".join(statements))
            yield
            db.command("COMMIT")
        except BaseException:
            self.rollback(db)
            raise


async def _prepare_schema(connection: server.Connection, schema_name: str, name: str, lock_key: str) -> None:
    """Create, check or migrate the store's schema (one process at a time)."""
    quoted = dialect.quote_identifier(schema_name)
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key)
        exists = await connection.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema_name)
        tables: set[str] = {r[0] for r in await connection.fetch(_TABLES, schema_name)} if exists else set()
        if not exists:
            await connection.execute(f"CREATE SCHEMA {quoted}")
        if not tables:
            for statement in dialect.postgresql_schema():
                await connection.execute(statement)
            await connection.executemany(
                "INSERT INTO meta (key, value) VALUES ($1, $2)",
                [("application", server.APPLICATION), ("schema_version", str(schema.SCHEMA_VERSION))],
            )
        else:
            meta = dict(await connection.fetch("SELECT key, value FROM meta")) if "meta" in tables else {}
            version = server.stored_version(name, tables, meta, _ELSEWHERE)
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


class PostgreSQLBackend(server.ServerBackend):
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

    __slots__: typing.Sequence[str] = ("_dsn", "_safe_dsn", "_schema")

    _thread_name = "hikaripersist-postgresql"
    _elsewhere = _ELSEWHERE

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
        name, self._safe_dsn = _describe(dsn, schema)
        super().__init__(name, batch_size=batch_size, flush_interval=flush_interval, pool_size=pool_size)
        if not schema:
            msg = "schema cannot be empty"
            raise ValueError(msg)
        self._dsn = dsn
        self._schema = schema

    def __repr__(self) -> str:
        return f"PostgreSQLBackend({self._safe_dsn!r}, schema={self._schema!r})"

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding the store."""
        return self._schema

    # --- lifetime ---------------------------------------------------------------------------

    def _server_settings(self, role: str, *, read_only: bool = False) -> dict[str, str]:
        # The application name tells the store's connections apart in pg_stat_activity.
        application = f"hikari-persist {role} {self._schema}"[:63]
        settings = {
            "search_path": dialect.quote_identifier(self._schema),
            "application_name": application,
            # The writer writes values into statements as literals (see dialect.inline_postgresql).
            "standard_conforming_strings": "on",
        }
        if read_only:
            settings["default_transaction_read_only"] = "on"
        return settings

    async def _connect(self, role: str) -> server.Connection:
        connection = await self._connecting(
            _asyncpg().connect(
                self._dsn,
                timeout=10,
                statement_cache_size=_STATEMENT_CACHE,
                server_settings=self._server_settings(role),
            )
        )
        await _init_connection(connection)
        return connection

    def _failure(self, exc: Exception) -> server.Failure | None:
        asyncpg = _asyncpg()
        if isinstance(exc, asyncpg.InvalidCatalogNameError):
            return "database"
        if isinstance(exc, (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
            return "credentials"
        if isinstance(exc, (ValueError, asyncpg.ClientConfigurationError)):
            return "address"
        return None

    def _redact(self, text: str) -> str:
        try:
            password = urllib.parse.urlsplit(self._dsn).password
        except ValueError:
            password = None
        return text.replace(password, "***") if password else text

    def _new_writer(self) -> _Writer:
        return _Writer(lambda: self._connect("writer"), self.name, f"hikari-persist:{self._schema}", self._schema)

    async def _create_pool(self, *, read_only: bool) -> server.Pool:
        return await _asyncpg().create_pool(
            self._dsn,
            min_size=1,
            max_size=self._pool_size,
            timeout=10,
            statement_cache_size=_STATEMENT_CACHE,
            server_settings=self._server_settings("reader", read_only=read_only),
            init=_init_connection,
        )

    async def _close_pool(self, pool: server.Pool) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.close(), 10)
        pool.terminate()

    def _is_server_error(self, exc: Exception) -> bool:
        return isinstance(exc, _asyncpg().PostgresError)

    async def _tables(self) -> set[str]:
        return {r[0] for r in await self._require_pool().fetch(_TABLES, self._schema)}

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

    async def database_size(self) -> int:
        """Bytes used by the store's tables and their indexes."""
        pool = self._require_pool()
        size = await pool.fetchval(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            self._schema,
        )
        return int(size or 0)
