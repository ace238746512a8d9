"""The MySQL / MariaDB backend (asyncmy), for stores shared by several processes or hosts."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("MySQLBackend",)

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib
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
# asyncmy's objects are typed loosely here.
_Connection: typing.TypeAlias = typing.Any
_Pool: typing.TypeAlias = typing.Any
_LOGGER = logging.getLogger("hikaripersist.mysql")
_INSTALL_HINT: typing.Final[str] = 'the MySQL backend needs asyncmy: pip install "hikari-persist[mysql]"'
# Marks databases written by hikari-persist (SQLite's application id).
_APPLICATION: typing.Final[str] = "hikari-persist"
# Most messages the age retention expires per batch (as with SQLite).
RETENTION_STEP: typing.Final[int] = 250
# Seconds a writer waits for its turn (another process's batch) before the batch fails and is retried.
_LOCK_TIMEOUT: typing.Final[int] = 60
_SQL_MODE: typing.Final[str] = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"
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
    try:
        return importlib.import_module("asyncmy")
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc


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
    return tuple(parameters)


def _statement(sql: str, parameters: typing.Any) -> tuple[str, Sequence[typing.Any]]:
    translated = dialect.to_mysql(sql)
    return dialect.render_mysql(translated, _arguments(parameters, translated.names))


class _SyncConnection:
    """The engine's synchronous connection over asyncmy, run on the writer thread's own event loop."""

    __slots__: typing.Sequence[str] = ("changes", "connection", "cursor", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: _Connection) -> None:
        self.loop = loop
        self.connection = connection
        self.cursor = connection.cursor()
        # Rows changed by the statements run (the server's count; trigger bookkeeping excluded).
        self.changes = 0

    def run(self, awaitable: Awaitable[_T]) -> _T:
        return self.loop.run_until_complete(awaitable)

    def command(self, sql: str, *args: typing.Any) -> list[tuple[typing.Any, ...]]:
        """Run MySQL SQL (``%s`` placeholders) of the backend itself."""
        return self.run(_run(self.cursor, sql, args))

    def execute(self, sql: str, parameters: typing.Any = (), /) -> _Rows:
        text, args = _statement(sql, parameters)
        rows, count = self.run(_execute(self.cursor, text, args))
        self.changes += count
        return _Rows(rows)

    def executemany(self, sql: str, parameters: Iterable[typing.Any], /) -> None:
        rows = list(parameters)
        if not rows:
            return
        translated = dialect.to_mysql(sql)
        if translated.json or not translated.sql.startswith("INSERT"):
            for row in rows:
                self.execute(sql, row)
            return
        args = [_arguments(row, translated.names) for row in rows]
        # asyncmy sends simple INSERT ... VALUES rows as multi-row statements.
        self.run(self.cursor.executemany(translated.sql, args))
        self.changes += len(rows)


async def _execute(
    cursor: typing.Any, sql: str, args: Sequence[typing.Any]
) -> tuple[list[tuple[typing.Any, ...]], int]:
    await cursor.execute(sql, args)
    if cursor.description is None:
        return [], max(cursor.rowcount, 0)
    return [tuple(r) for r in await cursor.fetchall()], 0


async def _run(cursor: typing.Any, sql: str, args: Sequence[typing.Any]) -> list[tuple[typing.Any, ...]]:
    await cursor.execute(sql, args or None)
    if cursor.description is None:
        return []
    return [tuple(r) for r in await cursor.fetchall()]


def _error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _fatal(exc: BaseException, connection: _Connection | None) -> bool:
    """Whether an error aborts the whole batch (connection lost, deadlock...)."""
    asyncmy = _asyncmy()
    if connection is None or not connection.connected:
        return True
    if isinstance(exc, (OSError, asyncio.TimeoutError, asyncmy.errors.InterfaceError)):
        return True
    code = _error_code(exc)
    # 2000-2999: client errors (lost connection, server gone away...).
    return (
        isinstance(exc, asyncmy.errors.OperationalError)
        and code is not None
        and (code in _FATAL_CODES or 2000 <= code < 3000)
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
        """The connection, reconnecting after a lost one."""
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        if self.connection is None or not self.connection.connected:
            self.connection = None
            connection = self.loop.run_until_complete(self.connect())
            db = _SyncConnection(self.loop, connection)
            db.command("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            self.connection = connection
            return db
        return _SyncConnection(self.loop, self.connection)

    def drop_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        if self.connection is not None and self.loop is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait_for(self.connection.ensure_closed(), 5))
            self.drop_connection()
        if self.loop is not None:
            self.loop.close()
            self.loop = None

    def _lock(self, db: _SyncConnection) -> None:
        got = db.command("SELECT GET_LOCK(%s, %s)", self.lock_key, _LOCK_TIMEOUT)
        if not got or got[0][0] != 1:
            msg = f"{self.name}: another writer held the store's lock for {_LOCK_TIMEOUT}s"
            raise BackendError(msg)

    def _unlock(self, db: _SyncConnection) -> None:
        if self.connection is not None and self.connection.connected:
            with contextlib.suppress(Exception):
                db.command("SELECT RELEASE_LOCK(%s)", self.lock_key)

    # --- schema ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        db = self.db()
        self._lock(db)
        try:
            _prepare_schema(db, self.name)
        finally:
            self._unlock(db)

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
        # Writers of one store (shards in several processes) take turns, one batch at a time;
        # readers are never blocked. Under READ COMMITTED each statement then sees every batch
        # committed before this one.
        self._lock(db)
        try:
            db.command("BEGIN")
            try:
                if tracking is not None:
                    db.command(f"SET {dialect.MYSQL_TRACK_VARIABLE} = %s", "," + ",".join(sorted(kinds)) + ",")
                    db.command("DELETE FROM persist_touched")
                for index, event in enumerate(batch):
                    db.command("SAVEPOINT ev")
                    before = db.changes
                    try:
                        engine.apply(event)
                        written = db.changes - before
                        found = engine.take_changes(event)
                    except Exception as exc:
                        if _fatal(exc, connection):
                            raise
                        db.command("ROLLBACK TO SAVEPOINT ev")
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
                if rule is not None and rule.message.max_age is not None and rule.message.enabled:
                    expired, written, found = self._expire(db, engine)
                    rows += written
                    changes.extend((len(batch), change) for change in found)
                if tracking is not None:
                    db.command(f"SET {dialect.MYSQL_TRACK_VARIABLE} = NULL")
                db.command("COMMIT")
            except BaseException:
                if connection.connected:
                    with contextlib.suppress(Exception):
                        db.command("ROLLBACK")
                    with contextlib.suppress(Exception):
                        db.command(f"SET {dialect.MYSQL_TRACK_VARIABLE} = NULL")
                raise
        finally:
            self._unlock(db)
        return WriteResult(
            errors, changes=changes, rows=rows, expired=expired, retention_backlog=expired >= RETENTION_STEP
        )

    def _expire(self, db: _SyncConnection, engine: engine_.Engine) -> tuple[int, int, list[engine_.Change]]:
        db.command("SAVEPOINT retention")
        before = db.changes
        try:
            expired = engine.expire_messages(RETENTION_STEP)
            written = db.changes - before
            found = engine.take_changes(None)
        except Exception as exc:
            if _fatal(exc, db.connection):
                raise
            db.command("ROLLBACK TO SAVEPOINT retention")
            engine.discard_changes()
            if "retention" not in self.reported:
                self.reported.add("retention")
                _LOGGER.exception("expiring old messages failed; retrying with the next batch (logged once)")
            expired, written, found = 0, 0, []
        db.command("RELEASE SAVEPOINT retention")
        return expired, written, found


def _prepare_schema(db: _SyncConnection, name: str) -> None:
    """Create, check or migrate the store's schema (the caller holds the store's lock)."""
    tables = {
        r[0] for r in db.command("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    }
    if not tables:
        for statement in dialect.mysql_schema():
            db.command(statement)
        db.command(
            "INSERT INTO meta (`key`, value) VALUES (%s, %s), (%s, %s)",
            "application",
            _APPLICATION,
            "schema_version",
            str(schema.SCHEMA_VERSION),
        )
    else:
        marker: str | None = None
        version = 0
        if "meta" in tables:
            rows = dict(db.command("SELECT `key`, value FROM meta"))
            marker = rows.get("application")
            version = int(rows.get("schema_version") or 0)
        if marker != _APPLICATION:
            msg = (
                f"{name} holds tables that are not hikari-persist's; refusing to touch it;"
                " use a database of its own for the store"
            )
            raise SchemaError(msg)
        if version > schema.SCHEMA_VERSION:
            msg = (
                f"{name} was written by a newer hikari-persist (schema {version}, this version reads up to"
                f" {schema.SCHEMA_VERSION}); upgrade hikari-persist or use another database"
            )
            raise SchemaError(msg)
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
        for r in db.command(
            "SELECT table_name, index_name FROM information_schema.statistics WHERE table_schema = DATABASE()"
        )
    }
    for index, table, columns in dialect.mysql_indexes():
        if (table, index) not in existing:
            db.command(f"CREATE INDEX {index} ON {table} ({columns})")
    triggers = {
        r[0]
        for r in db.command("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()")
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


class MySQLBackend(Backend):
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

    __slots__: typing.Sequence[str] = (
        "_address",
        "_batch_size",
        "_executor",
        "_flush_interval",
        "_name",
        "_pool",
        "_pool_size",
        "_safe_url",
        "_writer",
    )

    def __init__(
        self, dsn_or_url: str, *, batch_size: int = 1000, flush_interval: float = 0.05, pool_size: int = 10
    ) -> None:
        _asyncmy()
        if batch_size < 1:
            msg = "batch_size must be at least 1"
            raise ValueError(msg)
        if flush_interval < 0:
            msg = "flush_interval cannot be negative"
            raise ValueError(msg)
        if pool_size < 2:
            msg = "pool_size must be at least 2 (an iteration reads related rows on a second connection)"
            raise ValueError(msg)
        self._address = _parse(dsn_or_url)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._pool_size = pool_size
        self._name, self._safe_url = _describe(dsn_or_url)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._writer: _Writer | None = None
        self._pool: _Pool | None = None

    def __repr__(self) -> str:
        return f"MySQLBackend({self._safe_url!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def database(self) -> str:
        """The database holding the store."""
        return self._address.database

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

    def _connect_options(self) -> dict[str, typing.Any]:
        address = self._address
        return {
            "host": address.host,
            "port": address.port,
            "user": address.user or "root",
            "password": address.password or "",
            "database": address.database,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": 10,
            "init_command": f"SET SESSION sql_mode = '{_SQL_MODE}'",
        }

    async def _connect(self) -> _Connection:
        asyncmy = _asyncmy()
        try:
            return await asyncmy.connect(**self._connect_options())
        except Exception as exc:
            raise self._open_error(exc) from exc

    def _open_error(self, exc: BaseException) -> BackendError:
        if isinstance(exc, BackendError):
            return exc
        code = _error_code(exc)
        password = self._address.password
        text = str(exc).replace(password, "***") if password else str(exc)
        if code == 1049:
            reason = f"the database does not exist ({text})"
        elif code in (1045, 1044, 1698):
            reason = f"the server refused the credentials ({text})"
        elif isinstance(exc, ConnectionRefusedError) or code == 2003:
            reason = f"connection refused (is the server running and listening there?) ({text})"
        elif isinstance(exc, (OSError, asyncio.TimeoutError)) or (code is not None and 2000 <= code < 3000):
            reason = f"cannot reach the server ({text or type(exc).__name__})"
        else:
            reason = f"{type(exc).__name__}: {text}"
        return BackendError(f"cannot open {self.name}: {reason}")

    async def open(self) -> None:
        if self.is_open:
            return
        asyncmy = _asyncmy()
        loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hikaripersist-mysql")
        key = f"hikari-persist:{self._address.database}"
        if len(key) > 64:
            key = "hikari-persist:" + hashlib.sha256(key.encode()).hexdigest()[:40]
        self._writer = _Writer(self._connect, self.name, key)
        try:
            try:
                await loop.run_in_executor(self._executor, self._writer.prepare)
            except BackendError:
                raise
            except Exception as exc:
                if _error_code(exc) is None:
                    raise
                raise BackendError(f"cannot open {self.name}: {exc}") from exc
            try:
                self._pool = await asyncmy.create_pool(minsize=1, maxsize=self._pool_size, **self._connect_options())
            except Exception as exc:
                raise self._open_error(exc) from exc
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.wait_closed(), 10)
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

    async def _query(self, sql: str, params: Sequence[typing.Any]) -> list[tuple[typing.Any, ...]]:
        pool = self._require_pool()
        text, args = _statement(sql, params)
        async with pool.acquire() as connection, connection.cursor() as cursor:
            # One statement: one consistent snapshot of what writers committed.
            rows, _ = await _execute(cursor, text, args)
            return rows

    async def fetch(self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500) -> AsyncIterator[list[Row]]:
        rows = await self._query(sql, params)
        for start in range(0, len(rows), chunk):
            yield rows[start : start + chunk]

    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> Row | None:
        rows = await self._query(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        return int(await self.scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)

    async def database_size(self) -> int:
        """Bytes used by the store's tables and their indexes."""
        pool = self._require_pool()
        async with pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute(
                "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"
                " WHERE table_schema = DATABASE()"
            )
            row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0
