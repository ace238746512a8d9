"""The embedded SQLite backend (the default)."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("SQLiteBackend",)

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import pathlib
import sqlite3
import threading
import time
import typing

import aiosqlite

from hikaripersist._internal import engine as engine_
from hikaripersist._internal import ops, schema
from hikaripersist._internal.batching import Batching
from hikaripersist.backend import Backend, BackendError, ChangeRequest, Row, SchemaError, WriteResult

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping, Sequence

    import hikari

    from hikaripersist.rules import Rule

_LOGGER = logging.getLogger("hikaripersist.sqlite")
_APPLICATION_ID: typing.Final[int] = 0x48505354  # "HPST": marks files written by hikari-persist
# Connections kept for iterations between uses.
_IDLE_READERS: typing.Final[int] = 4
# Most messages the age retention expires per batch, so a backlog never stalls one transaction.
RETENTION_STEP: typing.Final[int] = 250


class _WriterState:
    """What the writer thread remembers between batches."""

    __slots__: typing.Sequence[str] = ("failing", "installed", "reported")

    def __init__(self) -> None:
        # Whether the last batch failed whole (a full, locked or damaged file): close() then writes nothing.
        self.failing = False
        # Event types whose failure was logged already: one log line per type, not per event.
        self.reported: set[str] = set()
        # Kinds whose change-tracking triggers are installed on the connection.
        self.installed: frozenset[str] = frozenset()


class SQLiteBackend(Batching, Backend):
    """Store the cache in an SQLite database file (WAL mode).

    Parameters
    ----------
    filepath
        The database file; created with its parent folder if missing. ``":memory:"`` keeps the
        cache in memory (optionally copied to ``backup_path`` every ``backup_interval`` seconds).
    batch_size
        Most events written in one transaction.
    flush_interval
        Seconds the writer waits for a batch to fill before writing what it has.
    backup_interval
        With an in-memory database, seconds between copies to ``backup_path`` (0 disables).
    backup_path
        Where in-memory databases are copied to.
    lock_timeout
        Seconds a statement waits for a lock another process holds on the file before it fails:
        opening then raises `hikaripersist.BackendError`, a batch is retried.

    Raises
    ------
    hikaripersist.BackendError
        From [`open`][hikaripersist.backend.Backend.open] when the file cannot be opened, is not a
        database, is corrupt, read-only, or stays locked by another process for ``lock_timeout``.
    hikaripersist.SchemaError
        From [`open`][hikaripersist.backend.Backend.open] when the file was written by a newer
        version or by something else.
    """

    __slots__: typing.Sequence[str] = (
        "_backup_interval",
        "_backup_path",
        "_backup_task",
        "_batch_size",
        "_executor",
        "_flush_interval",
        "_idle_readers",
        "_integrity",
        "_lock_timeout",
        "_loop_reader",
        "_loop_reader_failed",
        "_path",
        "_read_only",
        "_reader",
        "_state",
        "_writer",
    )

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        *,
        batch_size: int = 1000,
        flush_interval: float = 0.05,
        backup_interval: float = 0,
        backup_path: str | os.PathLike[str] | None = None,
        lock_timeout: float = 10,
    ) -> None:
        self._init_batching(batch_size, flush_interval)
        self._path = str(filepath)
        self._lock_timeout = lock_timeout
        self._read_only = False
        self._backup_interval = backup_interval
        self._backup_path = str(backup_path) if backup_path is not None else None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._writer: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # Iterations hold a statement (and so a snapshot) open across awaits: each gets its own
        # connection, so point reads on `_reader` always see the latest commit.
        self._idle_readers: list[aiosqlite.Connection] = []
        # Short reads on the event loop's thread (opened on first use; see `_LoopReader`).
        self._loop_reader: _LoopReader | None = None
        self._loop_reader_failed = False
        self._backup_task: asyncio.Task[None] | None = None
        self._state = _WriterState()
        # A big file's structure check, running while the bot starts: what it found wrong, if anything.
        self._integrity: asyncio.Future[str | None] | None = None

    def __repr__(self) -> str:
        return f"SQLiteBackend({self._path!r})"

    @property
    def name(self) -> str:
        return f"SQLite database {self._path!r}"

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def is_open(self) -> bool:
        return self._writer is not None or (self._read_only and self._reader is not None)

    # --- lifetime ---------------------------------------------------------------------------

    def _uri(self) -> str:
        if self._path == ":memory:":
            # A named shared in-memory database lets the reader see the writer's data.
            return f"file:hikaripersist-{id(self)}?mode=memory&cache=shared"
        return pathlib.Path(self._path).absolute().as_uri()

    def _open_writer(self) -> sqlite3.Connection:
        _check_header(self._path, self.name)
        try:
            if self._path != ":memory:":
                pathlib.Path(self._path).absolute().parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self._uri(), uri=True, isolation_level=None, check_same_thread=False, timeout=self._lock_timeout
            )
        except (OSError, sqlite3.Error) as exc:
            msg = f"cannot open {self.name}: {exc}"
            raise BackendError(msg) from exc
        try:
            # Check what the file is before changing anything in it (even its journal mode).
            _prepare_schema(db, self.name, check=not self._checked_later())
            db.execute("PRAGMA synchronous=NORMAL")
            # Events land all over the tables' B-trees: a page cache of 16 MiB (not 2) keeps their
            # upper levels and hot pages in memory, about a sixth less writer time.
            db.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
            # Statement journals (a savepoint's undo data) and sorts stay in memory, not temp files.
            db.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.Error as exc:
            db.close()
            raise _open_error(self.name, exc, self._lock_timeout) from exc
        except BaseException:
            db.close()
            raise
        return db

    async def open(self) -> None:
        if self.is_open:
            return
        loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hikaripersist-sqlite")
        try:
            self._writer = await loop.run_in_executor(self._executor, self._open_writer)
            self._reader = await self._connect_reader()
            self._state.installed = frozenset()  # temporary triggers live with the connection
        except BaseException:
            await self.close()
            raise
        if self._checked_later():
            # Reading every page of a big file would delay the bot's start by a second per GB: the
            # check runs meanwhile on a connection of its own, and the first write waits for it.
            self._integrity = loop.run_in_executor(None, _quick_check, self._uri(), self.name)
        if self._path == ":memory:" and self._backup_interval > 0 and self._backup_path:
            self._backup_task = asyncio.create_task(self._backup_loop(), name="hikaripersist sqlite backup")

    def _check_readable(self) -> None:
        if not pathlib.Path(self._path).exists():
            msg = f"cannot open {self.name} for reading: the file does not exist (the bot's cache creates it)"
            raise BackendError(msg)
        _check_header(self._path, self.name)

    async def open_read_only(self) -> None:
        """Open the file for reads only: no writer connection, nothing created, migrated or changed.

        Raises
        ------
        hikaripersist.BackendError
            If the file does not exist (the bot's cache creates it) or is in memory.
        hikaripersist.SchemaError
            If the file is not a hikari-persist store or its schema is not this version's (a
            writer migrates it when it opens).
        """
        if self.is_open:
            return
        if self._path == ":memory:":
            msg = "an in-memory SQLite database belongs to the cache that created it; it cannot be opened read-only"
            raise BackendError(msg)
        await asyncio.to_thread(self._check_readable)
        self._read_only = True
        try:
            self._reader = await self._connect_reader()
            try:
                version = await self.schema_version()
            except sqlite3.DatabaseError as exc:
                if _error_code(exc) == _SQLITE_CANTOPEN:
                    msg = (
                        f"cannot open {self.name} for reading ({exc}); in a read-only folder SQLite needs the"
                        " -wal and -shm files that the bot's cache keeps next to it while it runs"
                    )
                    raise BackendError(msg) from exc
                if _error_code(exc) in _STORE_FAILURES:
                    raise _open_error(self.name, exc, self._lock_timeout) from exc
                msg = f"{self.name} is not a hikari-persist store ({exc})"
                raise SchemaError(msg) from exc
            if version != schema.SCHEMA_VERSION:
                msg = (
                    f"{self.name} has schema {version}, this version reads schema {schema.SCHEMA_VERSION}; "
                    + ("upgrade hikari-persist" if version > schema.SCHEMA_VERSION else "open it with the bot's cache")
                    + " (a read-only cache never migrates)"
                )
                raise SchemaError(msg)
        except BaseException:
            await self.close()
            raise

    def _checked_later(self) -> bool:
        """Whether the file is big enough for its structure check to run while the bot starts."""
        try:
            return self._path != ":memory:" and os.path.getsize(self._path) > _CHECK_AT_OPEN_BYTES
        except OSError:
            return False

    async def _require_sound(self) -> None:
        """Wait for the structure check of a big file; refuse to write to a damaged one."""
        if self._integrity is None:
            return
        problem = await asyncio.shield(self._integrity)
        if problem is not None:
            raise BackendError(problem)
        self._integrity = None

    async def close(self) -> None:
        self._read_only = False
        self._integrity = None
        if self._backup_task is not None:
            self._backup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._backup_task
            self._backup_task = None
            await self.backup(self._backup_path or "")
        idle, self._idle_readers = self._idle_readers, []
        for connection in idle:
            await connection.close()
        if self._loop_reader is not None:
            loop_reader, self._loop_reader = self._loop_reader, None
            loop_reader.close()
        self._loop_reader_failed = False
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
        if self._writer is not None and self._executor is not None:
            writer, self._writer = self._writer, None
            await asyncio.get_running_loop().run_in_executor(self._executor, _close_writer, writer, self._state)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _backup_loop(self) -> None:
        while True:
            await asyncio.sleep(self._backup_interval)
            await self.backup(self._backup_path or "")

    async def backup(self, path: str | os.PathLike[str]) -> None:
        """Copy a consistent snapshot of the database to ``path`` (SQLite's online backup).

        A file database is copied from a connection of its own in a worker thread: the writer
        keeps committing meanwhile (WAL), and ``path`` is replaced only once the copy is complete.
        """
        if not path:
            return
        db = self._require_writer()
        if self._path != ":memory:":
            from hikaripersist._internal import portable

            await asyncio.to_thread(portable.sqlite_backup, self._uri(), path)
            return

        def run() -> None:
            target = sqlite3.connect(str(path))
            try:
                db.backup(target)
            finally:
                target.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace the database's content with the backup at ``path`` (checked before anything changes)."""
        db = self._require_writer()
        source_path = pathlib.Path(path)

        def run() -> None:
            if not source_path.is_file():
                msg = f"no backup at {source_path}"
                raise BackendError(msg)
            source = sqlite3.connect(source_path.absolute().as_uri() + "?mode=ro", uri=True)
            try:
                _check_backup(source, str(source_path))
                source.backup(db)
            finally:
                source.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, run)

    def _require_writer(self) -> sqlite3.Connection:
        if self._writer is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        return self._writer

    def _require_reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        return self._reader

    # --- writing ------------------------------------------------------------------------------

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        db = self._require_writer()
        await self._require_sound()
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _apply_batch, db, batch, rule, self._state, None
        )

    async def write_with_changes(
        self, batch: Sequence[hikari.Event], *, rule: Rule | None, changes: ChangeRequest
    ) -> WriteResult:
        db = self._require_writer()
        await self._require_sound()
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _apply_batch, db, batch, rule, self._state, changes
        )

    async def run_sync(self, fn: typing.Callable[[sqlite3.Connection], typing.Any]) -> typing.Any:
        """Run ``fn(connection)`` in the writer thread, inside a transaction."""
        db = self._require_writer()

        def run() -> typing.Any:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    # --- reading ------------------------------------------------------------------------------

    async def _connect_reader(self) -> aiosqlite.Connection:
        uri = self._uri() + ("?mode=ro" if self._read_only else "")
        try:
            connection = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            msg = f"cannot open {self.name} for reading: {exc}"
            raise BackendError(msg) from exc
        await connection.execute("PRAGMA query_only=ON")
        return connection

    async def _read_in_writer_thread(self, sql: str, params: Sequence[typing.Any], *, one: bool) -> list[Row]:
        # In-memory databases share one cache between connections, where a reader's open statement
        # locks whole tables against the writer: their reads run between batches, on the writer.
        db = self._require_writer()

        def run() -> list[Row]:
            cursor = db.execute(sql, tuple(params))
            try:
                rows = [cursor.fetchone()] if one else cursor.fetchall()
            finally:
                cursor.close()
            return [tuple(r) for r in rows if r is not None]

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    def _connect_loop_reader(self) -> sqlite3.Connection:
        uri = self._uri() + ("?mode=ro" if self._read_only else "")
        # No busy timeout: a read that would wait for a lock goes to a thread instead.
        connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=0)
        try:
            connection.execute("PRAGMA query_only=ON")
            # Random lookups mostly find their pages cached (SQLite's default keeps 2 MiB). Not a
            # memory-mapped file: an I/O error there would be a SIGBUS instead of an exception.
            connection.execute(f"PRAGMA cache_size=-{_LOOP_READER_CACHE_KIB}")
        except BaseException:
            connection.close()
            raise
        return connection

    async def _open_loop_reader(self) -> _LoopReader | None:
        """The loop-thread reader, opened on first use; ``None`` where reads must go to a thread."""
        if self._loop_reader_failed or self._path == ":memory:":
            # In-memory databases lock whole tables against the writer (shared cache).
            return None
        try:
            connection = await asyncio.to_thread(self._connect_loop_reader)
        except sqlite3.Error:
            self._loop_reader_failed = True  # the thread readers report the problem
            return None
        if self._loop_reader is not None or self._reader is None:  # opened meanwhile, or closed
            connection.close()
            return self._loop_reader
        # `_fetch_one_now` stands for `fetch_one` only where a subclass does not wrap it.
        self._loop_reader = _LoopReader(connection, direct=type(self).fetch_one is SQLiteBackend.fetch_one)
        return self._loop_reader

    def _damaged(self, exc: sqlite3.DatabaseError) -> BackendError | None:
        """A read error that says the file is damaged, as an error naming it; ``None`` for others."""
        if _error_code(exc) not in _DAMAGED:
            return None
        return BackendError(f"cannot read {self.name}: {exc} (the file is damaged: restore a backup or move it away)")

    async def fetch(self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500) -> AsyncIterator[list[Row]]:
        rows = self._fetch(sql, params, chunk=chunk)
        try:
            async for chunk_rows in rows:
                yield chunk_rows
        except sqlite3.DatabaseError as exc:
            damaged = self._damaged(exc)
            if damaged is None:
                raise
            raise damaged from exc
        finally:
            await rows.aclose()

    async def _fetch(self, sql: str, params: Sequence[typing.Any], *, chunk: int) -> AsyncGenerator[list[Row], None]:
        self._require_reader()
        step = max(1, chunk)
        loop_reader = self._loop_reader or await self._open_loop_reader()
        if loop_reader is not None:
            # Small results are read at once on the loop's thread (one statement: one snapshot).
            found = loop_reader.read(sql, params, one=False)
            if found is not None:
                for start in range(0, len(found), step):
                    yield found[start : start + step]
                return
        if self._path == ":memory:":
            rows = await self._read_in_writer_thread(sql, params, one=False)
            for start in range(0, len(rows), step):
                yield rows[start : start + step]
            return
        connection = self._idle_readers.pop() if self._idle_readers else await self._connect_reader()
        try:
            # One statement pins one WAL snapshot for the whole iteration.
            async with connection.execute(sql, tuple(params)) as cursor:
                # The next chunk is read in the connection's thread while the caller uses this one
                # (a short first one, so that the caller starts early).
                pending = asyncio.ensure_future(cursor.fetchmany(min(step, _FIRST_CHUNK)))
                try:
                    while rows := await pending:
                        pending = asyncio.ensure_future(cursor.fetchmany(step))
                        yield typing.cast("list[Row]", rows)
                finally:
                    if not pending.done():
                        pending.add_done_callback(_ignore_outcome)
                        pending.cancel()
        finally:
            if self._reader is not None and len(self._idle_readers) < _IDLE_READERS:
                self._idle_readers.append(connection)
            else:
                await connection.close()

    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> Row | None:
        return await self._fetch_one_reported(sql, params, loop_tried=False)

    def _fetch_one_now(self, sql: str, params: Sequence[typing.Any]) -> list[Row] | Awaitable[Row | None]:
        """`fetch_one`, answered at once (``[]`` or ``[row]``) where the loop-thread reader can.

        Otherwise an awaitable of its answer (a read for a thread, a reader not open yet, or a
        subclass that wraps `fetch_one`). Lookups skip two coroutines this way.
        """
        loop_reader = self._loop_reader
        if loop_reader is None or not loop_reader.direct:
            return self.fetch_one(sql, params)
        found = loop_reader.read(sql, params, one=True)
        # (Refused: the loop reader is not asked twice, which would count twice against its backoff.)
        return found if found is not None else self._fetch_one_reported(sql, params, loop_tried=True)

    async def _fetch_one_reported(self, sql: str, params: Sequence[typing.Any], *, loop_tried: bool) -> Row | None:
        """`_read_one`, a damaged file reported as `BackendError`."""
        try:
            return await self._read_one(sql, params, loop_tried=loop_tried)
        except sqlite3.DatabaseError as exc:
            damaged = self._damaged(exc)
            if damaged is None:
                raise
            raise damaged from exc

    async def _read_one(self, sql: str, params: Sequence[typing.Any], *, loop_tried: bool) -> Row | None:
        reader = self._require_reader()
        loop_reader = None if loop_tried else self._loop_reader or await self._open_loop_reader()
        if loop_reader is not None:
            found = loop_reader.read(sql, params, one=True)
            if found is not None:
                return found[0] if found else None
        if self._path == ":memory:":
            rows = await self._read_in_writer_thread(sql, params, one=True)
            return rows[0] if rows else None
        async with reader.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def schema_version(self) -> int:
        return int(await self.scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)

    async def database_size(self) -> int:
        """Size of the database in bytes (pages in use, whether still in the WAL file or checkpointed)."""
        row = await self.fetch_one("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
        return int(row[0]) if row is not None else 0


_WRITER_CACHE_KIB: typing.Final = 16 * 1024

# A read on the event loop's thread (see `_LoopReader`) is interrupted after this long and run in a
# thread instead: far above an indexed lookup (microseconds), far below a noticeable loop stall.
_LOOP_READ_BUDGET: typing.Final[float] = 0.0005
# SQLite virtual machine steps between two checks of that budget.
_LOOP_READ_CHECK_STEPS: typing.Final[int] = 1000
# Statements that overran the budget are sent straight to a thread for a while (this many remembered),
# for twice as many calls after each further overrun, up to `_LOOP_MAX_BACKOFF` calls.
_LOOP_SLOW_STATEMENTS: typing.Final[int] = 256
_LOOP_MAX_BACKOFF: typing.Final[int] = 1024
_SQLITE_INTERRUPT: typing.Final[int] = 9
_LOOP_READER_CACHE_KIB: typing.Final[int] = 16 * 1024
# Rows of the first chunk an iteration reads in a thread (the later ones are prefetched).
_FIRST_CHUNK: typing.Final[int] = 100


class _LoopReader:
    """A read-only connection that answers short reads on the event loop's thread.

    Handing a query to a thread costs tens of microseconds (a future, a queue, two thread switches),
    many times what an indexed lookup costs SQLite itself. Each statement here runs in its own
    implicit read transaction (autocommit) that ends when its rows are read (the cursor is closed,
    which resets the statement), so it sees exactly the last commit (WAL) and never holds a snapshot
    between calls. SQLite's progress handler interrupts any statement that runs past
    `_LOOP_READ_BUDGET`; the caller then runs it in a thread, so a scan never stalls the loop. A
    statement that overran is sent straight to a thread for its next calls, for longer after each
    further overrun; it comes back as soon as it runs within budget again (an overrun may also be a
    lookup that was preempted, or waited for the disk).
    """

    __slots__: typing.Sequence[str] = ("_backoff", "_connection", "_deadline", "_thread", "direct")

    def __init__(self, connection: sqlite3.Connection, *, direct: bool = False) -> None:
        self._connection = connection
        # Whether its backend may answer lookups through it without a coroutine (`_fetch_one_now`).
        self.direct = direct
        self._deadline = 0.0
        # SQL text -> [calls still to send to a thread, length of the next such run].
        self._backoff: dict[str, list[int]] = {}
        # Only the thread that opened it (the loop's) uses it: a connection runs one statement at a time.
        self._thread = threading.get_ident()
        connection.set_progress_handler(self._over_budget, _LOOP_READ_CHECK_STEPS)

    def _over_budget(self) -> bool:
        return time.perf_counter() > self._deadline

    def read(self, sql: str, params: Sequence[typing.Any], *, one: bool) -> list[Row] | None:
        """The rows (with ``one``, at most the first), or ``None`` when the read must go to a thread."""
        if threading.get_ident() != self._thread:
            return None
        backoff = self._backoff.get(sql)
        if backoff is not None and backoff[0] > 0:
            backoff[0] -= 1
            return None
        self._deadline = time.perf_counter() + _LOOP_READ_BUDGET
        try:
            cursor = self._connection.execute(sql, params)
            try:
                if one:
                    row: Row | None = cursor.fetchone()
                    rows: list[Row] = [] if row is None else [row]
                else:
                    rows = cursor.fetchall()
            finally:
                cursor.close()  # resets the statement, ending its read transaction
        except sqlite3.Error as exc:
            # Over budget, busy, or an error the thread readers report the usual way.
            if int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF == _SQLITE_INTERRUPT:
                if backoff is not None:
                    backoff[0] = backoff[1]
                    backoff[1] = min(2 * backoff[1], _LOOP_MAX_BACKOFF)
                elif len(self._backoff) < _LOOP_SLOW_STATEMENTS:
                    self._backoff[sql] = [1, 2]
            return None
        if backoff is not None:
            del self._backoff[sql]
        return rows

    def close(self) -> None:
        self._connection.close()


def _ignore_outcome(future: asyncio.Future[typing.Any]) -> None:
    # A prefetch nobody waits for any more: retrieve its outcome so asyncio does not log it.
    if not future.cancelled():
        future.exception()


def _close_writer(db: sqlite3.Connection, state: _WriterState) -> None:
    if not state.failing:  # `optimize` may commit statistics, over damaged pages too
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA optimize")
    db.close()


_SQLITE_HEADER: typing.Final[bytes] = b"SQLite format 3\x00"
# SQLite's primary result codes (typeshed does not know the sqlite3 module's names for them).
_SQLITE_BUSY: typing.Final[int] = 5
_SQLITE_LOCKED: typing.Final[int] = 6
_SQLITE_NOMEM: typing.Final[int] = 7
_SQLITE_READONLY: typing.Final[int] = 8
_SQLITE_IOERR: typing.Final[int] = 10
_SQLITE_CORRUPT: typing.Final[int] = 11
_SQLITE_FULL: typing.Final[int] = 13
_SQLITE_CANTOPEN: typing.Final[int] = 14
_SQLITE_NOTADB: typing.Final[int] = 26
# Read errors that mean the file itself is damaged.
_DAMAGED: typing.Final[frozenset[int]] = frozenset((_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_NOTADB))


def _check_header(path: str, name: str) -> None:
    """Refuse a non-empty file that is not an SQLite database (SQLite would treat a tiny one as empty)."""
    if path == ":memory:":
        return
    try:
        with open(path, "rb") as file:
            head = file.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        msg = f"cannot open {name}: {exc}"
        raise BackendError(msg) from exc
    if head and head != _SQLITE_HEADER:
        msg = f"{name} is not an SQLite database; refusing to touch it"
        raise SchemaError(msg)


def _check_backup(db: sqlite3.Connection, name: str) -> None:
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        msg = f"{name} is not a hikari-persist backup ({exc})"
        raise SchemaError(msg) from exc
    if app_id != _APPLICATION_ID or row is None:
        msg = f"{name} is not a hikari-persist backup"
        raise SchemaError(msg)
    if int(row[0]) != schema.SCHEMA_VERSION:
        msg = f"{name} has schema {row[0]}; open it with hikari-persist once to migrate it, then restore it"
        raise SchemaError(msg)


def _error_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of ``exc`` (0 for errors raised by the sqlite3 module itself)."""
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def _open_error(name: str, exc: sqlite3.Error, lock_timeout: float) -> BackendError:
    """What an SQLite error met while opening means for the user, naming the file."""
    code = _error_code(exc)
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return BackendError(f"{name} stayed locked by another process for {lock_timeout} s ({exc})")
    if code == _SQLITE_READONLY:
        return BackendError(f"{name} is read-only ({exc}); the bot's cache writes it (a ReadOnlyCache only reads)")
    if code == _SQLITE_CANTOPEN:
        return BackendError(
            f"cannot open {name} ({exc}); it and its folder must be writable (SQLite creates"
            " the -wal and -shm files next to it)"
        )
    if code == _SQLITE_CORRUPT:
        return BackendError(f"{name} is corrupt ({exc}); refusing to write to it: restore a backup or move it away")
    if code == _SQLITE_NOTADB:
        return SchemaError(f"{name} is not a usable SQLite database ({exc}); refusing to touch it")
    if isinstance(exc, sqlite3.DatabaseError) and code == 0:
        return SchemaError(f"{name} is not a usable SQLite database ({exc}); refusing to touch it")
    return BackendError(f"cannot open {name}: {exc}")


_STORE_FAILURES: typing.Final[frozenset[int]] = frozenset(
    (
        _SQLITE_BUSY,
        _SQLITE_LOCKED,
        _SQLITE_NOMEM,
        _SQLITE_READONLY,
        _SQLITE_IOERR,
        _SQLITE_CORRUPT,
        _SQLITE_FULL,
        _SQLITE_CANTOPEN,
        _SQLITE_NOTADB,
    )
)


def _store_failure(db: sqlite3.Connection, exc: Exception) -> bool:
    """Whether an error applying one event is the file's (full, locked, corrupt...), not the event's.

    Skipping the event would lose it, and committing the rest would write over a damaged file.
    """
    if not isinstance(exc, sqlite3.Error):
        return False
    # SQLite may roll the whole transaction back itself (a full disk, an I/O error).
    return not db.in_transaction or _error_code(exc) in _STORE_FAILURES


# Files up to this size have their structure checked before the store opens (well under a second);
# bigger ones while the bot starts, before the first write (see SQLiteBackend._require_sound).
_CHECK_AT_OPEN_BYTES: typing.Final[int] = 64 * 1024 * 1024


def _corruption(db: sqlite3.Connection, name: str) -> str | None:
    """What ``PRAGMA quick_check`` finds wrong with the file's structure, as an error message, or ``None``."""
    problems = [line for (row,) in db.execute("PRAGMA quick_check(3)") for line in str(row).splitlines()]
    if problems == ["ok"]:
        return None
    found = "; ".join(line for line in problems if not line.startswith("***"))
    return f"{name} is corrupt ({found}); refusing to write to it: restore a backup or move it away"


def _quick_check(uri: str, name: str) -> str | None:
    """[`_corruption`][] of a file, on a read-only connection of its own (run in a thread)."""
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
        try:
            return _corruption(db, name)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"{name} is corrupt ({exc}); refusing to write to it: restore a backup or move it away"


def _prepare_schema(db: sqlite3.Connection, name: str, *, check: bool = True) -> None:
    """Create, check or migrate the schema of a freshly opened database (``check``: its structure too)."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id not in (0, _APPLICATION_ID) or (tables and (app_id != _APPLICATION_ID or "meta" not in tables)):
        msg = (
            f"{name} belongs to another application (its tables or application id are not hikari-persist's);"
            " refusing to touch it"
        )
        raise SchemaError(msg)
    if tables and check:
        # Writing to a damaged b-tree spreads the damage: check the structure (a read of every page,
        # about a second per GB) before anything is written.
        problem = _corruption(db, name)
        if problem is not None:
            raise BackendError(problem)
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        # Only a new (or rollback-journal) file needs converting, which takes an exclusive lock:
        # shards opening a store that others write already must not ask for one.
        db.execute("PRAGMA journal_mode=WAL")

    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process (a shard of the same bot) may have created the schema while this one
        # waited for the write lock: decide on what the file holds now.
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            msg = f"{name} belongs to another application (its tables are not hikari-persist's); refusing to touch it"
            raise SchemaError(msg)
        if not tables:
            for statement in schema.create_statements():
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(schema.SCHEMA_VERSION),))
        else:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > schema.SCHEMA_VERSION:
                msg = (
                    f"{name} was written by a newer hikari-persist (schema {version}, this version reads up to"
                    f" {schema.SCHEMA_VERSION}); upgrade hikari-persist or use another file"
                )
                raise SchemaError(msg)
            for migration in schema.MIGRATIONS:
                if migration.version <= version:
                    continue
                _LOGGER.info("migrating %s from schema %s to %s", name, version, migration.version)
                for statement in migration.statements:
                    db.execute(statement)
                version = migration.version
            # Tables or indexes added without a data migration.
            for statement in schema.create_statements():
                db.execute(statement)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            db.execute("ROLLBACK")
        raise


class _EventFailed(Exception):
    """An event of a batch run without a savepoint per event failed (the batch was rolled back)."""


def _apply_batch(
    db: sqlite3.Connection,
    batch: Sequence[hikari.Event],
    rule: Rule | None,
    state: _WriterState,
    request: ChangeRequest | None,
) -> WriteResult:
    # Almost no batch holds an event that fails, so batches run without a savepoint per event (each
    # makes SQLite keep undo data for every page the event touches, about a sixth of the writer's
    # time); the rare batch where one fails is rolled back and run again with them, so that only
    # that event is skipped.
    try:
        return _apply_events(db, batch, rule, state, request, isolate=len(batch) == 1)
    except _EventFailed:
        return _apply_events(db, batch, rule, state, request, isolate=True)


def _apply_events(
    db: sqlite3.Connection,
    batch: Sequence[hikari.Event],
    rule: Rule | None,
    state: _WriterState,
    request: ChangeRequest | None,
    *,
    isolate: bool,
) -> WriteResult:
    # A prune counts its removals per kind through the change tracking, whoever listens.
    pruning = ops.PruneOp in {type(event) for event in batch}  # (isinstance on hikari's ABCs is slow)
    wanted: Mapping[str, frozenset[str]] = request.wanted if request is not None else {}
    kinds = engine_.TRACKED_KINDS if pruning else frozenset(kind for kind, actions in wanted.items() if actions)
    state.installed = engine_.track_changes(db, kinds, state.installed)
    tracking = (
        engine_.Tracking(state.installed, wanted, request.app if request is not None else None)
        if state.installed
        else None
    )
    engine = engine_.Engine(db, rule=rule, tracking=tracking)
    errors: list[BaseException | None] = []
    changes: list[tuple[int, engine_.Change]] = []
    rows = 0
    expired = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        if tracking is not None:
            # Rows written outside a batch (run_sync) must not pass for the first event's changes.
            db.execute("DELETE FROM persist_touched")
        received = ops.received_times(batch)
        for index, event in enumerate(batch):
            if isolate:
                db.execute("SAVEPOINT ev")
            before = db.total_changes
            try:
                engine.apply(event, received=received[index])
                written = db.total_changes - before
                found = engine.take_changes(event)
            except Exception as exc:
                if _store_failure(db, exc):
                    raise  # the file failed, not the event: the whole batch is retried
                if not isolate:
                    raise _EventFailed from exc
                db.execute("ROLLBACK TO ev")
                engine.discard_changes()
                if isinstance(event, ops.PruneOp):
                    event.removed = {}
                errors.append(exc)
                name = type(event).__name__
                if name not in state.reported:
                    state.reported.add(name)
                    _LOGGER.exception("could not store %s; skipping it (logged once per event type)", name)
            else:
                errors.append(None)
                rows += written - engine.bookkeeping_rows
                changes.extend((index, change) for change in found)
            if isolate:
                db.execute("RELEASE ev")
        if rule is not None and rule.message.max_age is not None and rule.message.enabled:
            expired, written, found = _expire(db, engine, state)
            rows += written
            changes.extend((len(batch), change) for change in found)
        db.execute("COMMIT")
    except _EventFailed:
        with contextlib.suppress(sqlite3.Error):  # (SQLite may have rolled back already)
            db.execute("ROLLBACK")
        raise
    except BaseException:
        state.failing = True
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    state.failing = False
    return WriteResult(errors, changes=changes, rows=rows, expired=expired, retention_backlog=expired >= RETENTION_STEP)


def _expire(
    db: sqlite3.Connection, engine: engine_.Engine, state: _WriterState
) -> tuple[int, int, list[engine_.Change]]:
    """The age retention's step of a batch, in its own savepoint: (expired, rows written, changes)."""
    db.execute("SAVEPOINT retention")
    before = db.total_changes
    try:
        expired = engine.expire_messages(RETENTION_STEP)
        written = db.total_changes - before
        found = engine.take_changes(None)
    except Exception as exc:
        if _store_failure(db, exc):
            raise
        db.execute("ROLLBACK TO retention")
        engine.discard_changes()
        if "retention" not in state.reported:
            state.reported.add("retention")
            _LOGGER.exception("expiring old messages failed; retrying with the next batch (logged once)")
        expired, written, found = 0, 0, []
    else:
        written -= engine.bookkeeping_rows
    db.execute("RELEASE retention")
    return expired, written, found
