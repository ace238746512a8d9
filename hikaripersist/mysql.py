"""The MySQL / MariaDB backend (asyncmy), for stores shared by several processes or hosts."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("MySQLBackend",)

import asyncio
import contextlib
import hashlib
import importlib
import logging
import re
import typing
import urllib.parse

from hikaripersist._internal import dialect, schema, server
from hikaripersist._internal import engine as engine_
from hikaripersist.backend import BackendError, Row

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator, Sequence

_INSTALL_HINT: typing.Final[str] = 'the MySQL backend needs asyncmy: pip install "hikari-persist[mysql]"'
# Seconds a writer waits for its turn (another process's batch) before the batch fails and is retried.
_LOCK_TIMEOUT: typing.Final[int] = 60
_SQL_MODE: typing.Final[str] = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"
_ELSEWHERE: typing.Final[str] = "use a database of its own for the store"
# The store's tables: none means no store yet.
_TABLES: typing.Final[str] = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
# Server errors after which the connection or the whole transaction is gone.
_FATAL_CODES: typing.Final[frozenset[int]] = frozenset(
    (
        1053,  # server shutdown
        1205,  # lock wait timeout
        1213,  # deadlock: the transaction was rolled back
        1927,  # connection killed (MariaDB)
        4031,  # disconnected for inactivity (MySQL)
    )
)


def _asyncmy() -> typing.Any:
    return server.driver("asyncmy", _INSTALL_HINT)


_WRITES: typing.Final = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.I)


def _statement(sql: str, parameters: typing.Any) -> tuple[str, Sequence[typing.Any]]:
    translated = dialect.to_mysql(sql)
    return dialect.render_mysql(translated, server.arguments(parameters, translated.names))


class _SyncConnection(server.SyncConnection):
    """The engine's synchronous connection over asyncmy."""

    __slots__: typing.Sequence[str] = ("cursor",)

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: server.Connection) -> None:
        super().__init__(loop, connection)
        self.cursor = connection.cursor()

    def query(self, sql: str, *args: typing.Any) -> list[tuple[typing.Any, ...]]:
        """Run MySQL SQL (``%s`` placeholders) of the backend itself, returning its rows."""
        return self.run(_run(self.cursor, sql, args))

    def run_command(self, sql: str, *args: typing.Any) -> None:
        self.query(sql, *args)

    def run_execute(self, sql: str, parameters: typing.Any, /) -> server.Rows:
        text, args = _statement(sql, parameters)
        rows, count = self.run(_execute(self.cursor, text, args))
        self.changes += count
        return server.Rows(rows)

    def inline(self, sql: str, parameters: typing.Any, /) -> str | None:
        translated = dialect.to_mysql(sql)
        if translated.json or not _WRITES.match(translated.sql):
            return None
        text, args = dialect.render_mysql(translated, server.arguments(parameters, translated.names))
        # The driver writes values into the text anyway (MySQL's text protocol): the same escaping.
        return typing.cast("str", self.cursor.mogrify(text, tuple(args)))

    def run_script(self, statements: list[str]) -> None:
        self.run(_script(self.cursor, ";\n".join(statements)))

    def execute_rows(self, sql: str, rows: list[typing.Any], /) -> bool:
        translated = dialect.to_mysql(sql)
        if translated.json or not translated.sql.startswith("INSERT"):
            return False
        # asyncmy sends simple INSERT ... VALUES rows as multi-row statements.
        self.run(self.cursor.executemany(translated.sql, [server.arguments(r, translated.names) for r in rows]))
        return True


async def _execute(
    cursor: typing.Any, sql: str, args: Sequence[typing.Any]
) -> tuple[list[tuple[typing.Any, ...]], int]:
    await cursor.execute(sql, args)
    if cursor.description is None:
        return [], max(cursor.rowcount, 0)
    return [tuple(r) for r in await cursor.fetchall()], 0


async def _script(cursor: typing.Any, sql: str) -> None:
    # Several statements in one (asyncmy connects with CLIENT.MULTI_STATEMENTS); reading every
    # result raises the error of a statement that failed (the ones after it did not run).
    await cursor.execute(sql)
    while await cursor.nextset():
        pass


async def _run(cursor: typing.Any, sql: str, args: Sequence[typing.Any]) -> list[tuple[typing.Any, ...]]:
    await cursor.execute(sql, args or None)
    if cursor.description is None:
        return []
    return [tuple(r) for r in await cursor.fetchall()]


def _error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


class _Writer(server.ServerWriter[_SyncConnection]):
    """The MySQL writer: a named lock (``GET_LOCK``), the change log in a table of the store."""

    __slots__: typing.Sequence[str] = ()

    logger = logging.getLogger("hikaripersist.mysql")

    def adapt(self, loop: asyncio.AbstractEventLoop, connection: server.Connection) -> _SyncConnection:
        db = _SyncConnection(loop, connection)
        db.command("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return db

    def is_alive(self, connection: server.Connection) -> bool:
        return bool(connection.connected)

    def is_lost(self, exc: BaseException) -> bool:
        errors = _asyncmy().errors
        if isinstance(exc, (OSError, asyncio.TimeoutError, errors.InterfaceError)):
            return True
        code = _error_code(exc)
        # 2000-2999: client errors (lost connection, server gone away...).
        return (
            isinstance(exc, errors.OperationalError)
            and code is not None
            and (code in _FATAL_CODES or code // 1000 == 2)
        )

    def terminate(self, connection: server.Connection) -> None:
        connection.close()

    async def close_connection(self, connection: server.Connection) -> None:
        await connection.ensure_closed()

    @contextlib.contextmanager
    def _locked(self, db: _SyncConnection) -> Generator[None, None, None]:
        got = db.query("SELECT GET_LOCK(%s, %s)", self.lock_key, _LOCK_TIMEOUT)
        if not got or got[0][0] != 1:
            msg = f"{self.name}: another writer held the store's lock for {_LOCK_TIMEOUT}s"
            raise BackendError(msg)
        try:
            yield
        finally:
            if self.is_alive(db.connection):
                with contextlib.suppress(Exception):
                    db.command("SELECT RELEASE_LOCK(%s)", self.lock_key)

    def prepare_store(self, db: _SyncConnection) -> None:
        with self._locked(db):
            _prepare_schema(db, self.name)

    @contextlib.contextmanager
    def transaction(self, db: _SyncConnection, tracked: frozenset[str]) -> Generator[None, None, None]:
        # Writers of one store (shards in several processes) take turns, one batch at a time;
        # readers are never blocked. Under READ COMMITTED each statement then sees every batch
        # committed before this one.
        with self._locked(db):
            db.command("BEGIN")
            try:
                if tracked:
                    db.command(f"SET {dialect.MYSQL_TRACK_VARIABLE} = %s", "," + ",".join(sorted(tracked)) + ",")
                    db.command("DELETE FROM persist_touched")
                yield
                if tracked:
                    db.command(f"SET {dialect.MYSQL_TRACK_VARIABLE} = NULL")
                db.command("COMMIT")
            except BaseException:
                self.rollback(db, f"SET {dialect.MYSQL_TRACK_VARIABLE} = NULL")
                raise


def _prepare_schema(db: _SyncConnection, name: str) -> None:
    """Create, check or migrate the store's schema (the caller holds the store's lock)."""
    tables = {r[0] for r in db.query(_TABLES)}
    if not tables:
        for statement in dialect.mysql_schema():
            db.command(statement)
        db.command(
            "INSERT INTO meta (`key`, value) VALUES (%s, %s), (%s, %s)",
            "application",
            server.APPLICATION,
            "schema_version",
            str(schema.SCHEMA_VERSION),
        )
    else:
        meta = dict(db.query("SELECT `key`, value FROM meta")) if "meta" in tables else {}
        version = server.stored_version(name, tables, meta, _ELSEWHERE)
        statements = dialect.mysql_schema()
        for statement in statements:
            if statement.startswith("CREATE TABLE"):
                db.command(statement)
        for migration in schema.MIGRATIONS:
            if migration.version <= version:
                continue
            # MySQL stores start at schema 2; tables and indexes of later versions are created
            # from the current schema, the rest of a migration is translated.
            for statement in migration.statements:
                if statement.lstrip().upper().startswith(("CREATE TABLE", "CREATE INDEX")):
                    continue
                text = dialect.to_mysql(statement).sql.replace("%%", "%")
                db.command(text)
            version = migration.version
        for statement in statements:
            if not statement.startswith("CREATE TABLE"):
                db.command(statement)
        db.command(
            "UPDATE meta SET value = %s WHERE `key` = 'schema_version'", str(max(version, schema.SCHEMA_VERSION))
        )
    existing = {
        (r[0], r[1])
        for r in db.query(
            "SELECT table_name, index_name FROM information_schema.statistics WHERE table_schema = DATABASE()"
        )
    }
    for index, table, columns in dialect.mysql_indexes():
        if (table, index) not in existing:
            db.command(f"CREATE INDEX {index} ON {table} ({columns})")
    triggers = {
        r[0] for r in db.query("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()")
    }
    for statement in dialect.mysql_tracking(engine_.TRACKED):
        if statement.startswith("DROP TRIGGER ") and statement.split()[-1] not in triggers:
            continue
        db.command(statement)


class _Address(typing.NamedTuple):
    host: str
    port: int
    user: str | None
    password: str | None
    database: str


def _parse(url: str) -> _Address:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("mysql", "mariadb"):
        msg = f"not a mysql:// or mariadb:// URL (scheme {parsed.scheme!r})"
        raise ValueError(msg)
    database = urllib.parse.unquote(parsed.path.lstrip("/"))
    if not database:
        msg = "the URL names no database (mysql://user:password@host:3306/database)"
        raise ValueError(msg)
    return _Address(
        parsed.hostname or "localhost",
        parsed.port or 3306,
        urllib.parse.unquote(parsed.username) if parsed.username else None,
        urllib.parse.unquote(parsed.password) if parsed.password is not None else None,
        database,
    )


def _describe(url: str) -> tuple[str, str]:
    """(name of the store without credentials, repr-safe URL)."""
    try:
        address = _parse(url)
        scheme = urllib.parse.urlsplit(url).scheme
    except ValueError:
        return "MySQL store (unparsable URL)", "<unparsable URL>"
    host = f"[{address.host}]" if ":" in address.host else address.host
    netloc = (f"{address.user}@" if address.user else "") + f"{host}:{address.port}"
    safe = f"{scheme}://{netloc}/{address.database}"
    return f"MySQL database {address.database!r} on {host}:{address.port}", safe


class MySQLBackend(server.ServerBackend):
    """Store the cache in a MySQL 8 or MariaDB (10.6+) database (asyncmy).

    Several processes (shards) may write one store at once: each batch is one transaction taken
    under the store's named lock (``GET_LOCK``), so batches of different writers never interleave
    while readers are never blocked. A lost connection fails the batch (the cache retries it on a
    new connection). The database holds one store; the account needs the ``TRIGGER`` privilege
    (change events are noted by triggers).

    Parameters
    ----------
    url
        ``mysql://user[:password]@host[:port]/database`` (or ``mariadb://``).
    batch_size
        Most events written in one transaction.
    flush_interval
        Seconds the writer waits for a batch to fill before writing what it has.
    pool_size
        Most connections the readers use at once.

    Raises
    ------
    ImportError
        If asyncmy is not installed (``pip install "hikari-persist[mysql]"``).
    ValueError
        If the URL is not a ``mysql://`` / ``mariadb://`` URL naming a database.
    hikaripersist.BackendError
        From [`open`][hikaripersist.backend.Backend.open] when the server cannot be reached, refuses
        the credentials or has no such database.
    hikaripersist.SchemaError
        From [`open`][hikaripersist.backend.Backend.open] when the database holds another
        application's tables or was written by a newer version.
    """

    __slots__: typing.Sequence[str] = ("_address", "_safe_url")

    _thread_name = "hikaripersist-mysql"
    _elsewhere = _ELSEWHERE

    def __init__(
        self, dsn_or_url: str, *, batch_size: int = 1000, flush_interval: float = 0.05, pool_size: int = 10
    ) -> None:
        _asyncmy()
        name, self._safe_url = _describe(dsn_or_url)
        super().__init__(name, batch_size=batch_size, flush_interval=flush_interval, pool_size=pool_size)
        self._address = _parse(dsn_or_url)

    def __repr__(self) -> str:
        return f"MySQLBackend({self._safe_url!r})"

    @property
    def database(self) -> str:
        """The database holding the store."""
        return self._address.database

    # --- lifetime ---------------------------------------------------------------------------

    def _connect_options(self, *, read_only: bool = False) -> dict[str, typing.Any]:
        address = self._address
        init = f"SET SESSION sql_mode = '{_SQL_MODE}'"
        if read_only:
            # asyncmy always allows several statements in one (CLIENT.MULTI_STATEMENTS).
            init += "; SET SESSION TRANSACTION READ ONLY"
        return {
            "host": address.host,
            "port": address.port,
            "user": address.user or "root",
            "password": address.password or "",
            "database": address.database,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": 10,
            "init_command": init,
        }

    async def _connect(self) -> server.Connection:
        return await self._connecting(_asyncmy().connect(**self._connect_options()))

    def _failure(self, exc: Exception) -> server.Failure | None:
        code = _error_code(exc)
        if code == 1049:
            return "database"
        if code in (1045, 1044, 1698):
            return "credentials"
        if code == 2003:
            return "refused"
        # 2000-2999: client errors (lost connection, server gone away...).
        return "unreachable" if code is not None and code // 1000 == 2 else None

    def _redact(self, text: str) -> str:
        password = self._address.password
        return text.replace(password, "***") if password else text

    def _new_writer(self) -> _Writer:
        key = f"hikari-persist:{self._address.database}"
        if len(key) > 64:
            key = "hikari-persist:" + hashlib.sha256(key.encode()).hexdigest()[:40]
        return _Writer(self._connect, self.name, key)

    async def _create_pool(self, *, read_only: bool) -> server.Pool:
        return await _asyncmy().create_pool(
            minsize=1, maxsize=self._pool_size, **self._connect_options(read_only=read_only)
        )

    async def _close_pool(self, pool: server.Pool) -> None:
        pool.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.wait_closed(), 10)

    def _is_server_error(self, exc: Exception) -> bool:
        return _error_code(exc) is not None

    async def _tables(self) -> set[str]:
        return {r[0] for r in await self._query(_TABLES, ())}

    # --- reading ------------------------------------------------------------------------------

    async def _query(self, sql: str, params: Sequence[typing.Any]) -> list[tuple[typing.Any, ...]]:
        pool = self._require_pool()
        text, args = _statement(sql, params)
        async with pool.acquire() as connection, connection.cursor() as cursor:
            # One statement: one consistent snapshot of what writers committed.
            rows, _ = await _execute(cursor, text, args)
            return rows

    async def fetch(self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500) -> AsyncIterator[list[Row]]:
        pool = self._require_pool()
        text, args = _statement(sql, params)
        connection = await pool.acquire()
        finished = False
        try:
            # Rows stream from the server as they are read (one statement: one consistent snapshot),
            # so iterating a big table holds one chunk at a time.
            cursor = connection.cursor(importlib.import_module("asyncmy.cursors").SSCursor)
            await cursor.execute(text, args)
            while rows := await cursor.fetchmany(chunk):
                yield [tuple(r) for r in rows]
            finished = True
            await cursor.close()
        finally:
            if not finished:
                # Stopped early (or failed) with rows unread: the connection can serve no other
                # query until it has read them all, so it is dropped instead (the pool makes another).
                connection.close()
            pool.release(connection)

    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> Row | None:
        rows = await self._query(sql, params)
        return rows[0] if rows else None

    async def database_size(self) -> int:
        """Bytes used by the store's tables and their indexes."""
        rows = await self._query(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"
            " WHERE table_schema = DATABASE()",
            (),
        )
        return int(rows[0][0] or 0) if rows else 0
