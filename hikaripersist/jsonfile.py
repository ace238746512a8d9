"""A backend keeping the whole cache in one JSON file, for tiny bots and debugging.

The file is meant to be read by people: every table of the SQL schema is a list with one JSON
object per row (one line per row unless ``indent`` is given), and an entity's ``data`` is embedded
as a JSON object, not as an escaped string:

```json
{
  "format": "hikari-persist",
  "schema_version": 2,
  "tables": {
    "channels": [
      {"id":41771983423143937,"guild_id":197038439483310086,...,"data":{"!":"channels.GuildTextChannel",...}},
      ...
    ],
    "dm_channels": [],
    ...
  }
}
```

Views (``members``, ``users``) are derived from the tables and not written.

Design
------
The working store is a private in-memory SQLite database driven by the SQLite backend's own writer
code, so every kind, rule, retention, change event and query behaves exactly as with
[`SQLiteBackend`][hikaripersist.sqlite.SQLiteBackend]. It is loaded from the file when the backend
opens (files of older schema versions are loaded into tables of their version and migrated by the
SQLite migrations), and the file is rewritten atomically (temporary file in the same folder, fsync,
rename, fsync of the folder) when a batch commits, before its transaction commits in memory: when
writing the file fails, the batch is rolled back in memory too and the cache retries it, so the
file and the memory never disagree and a confirmed event is always on disk. Everything (writes,
reads, dumps) runs in one worker thread, off the event loop.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("JSONBackend",)

import asyncio
import concurrent.futures
import contextlib
import errno
import json
import logging
import os
import pathlib
import re
import secrets
import sqlite3
import stat
import typing

import orjson

from hikaripersist import sqlite as sqlite_
from hikaripersist._internal import filelock, schema
from hikaripersist._internal.batching import Batching
from hikaripersist.backend import Backend, BackendError, ChangeRequest, Row, SchemaError, WriteResult

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    import hikari

    from hikaripersist.rules import Rule

_LOGGER = logging.getLogger("hikaripersist.jsonfile")
_FORMAT: typing.Final[str] = "hikari-persist"
# Past this size, rewriting the whole file after every batch is a poor trade: suggest SQLite.
_LARGE_FILE: typing.Final[int] = 50_000_000
# Schema versions whose layout `schema.create_statements` can build (to load and migrate old files).
_LOADABLE_VERSIONS: typing.Final[frozenset[int]] = frozenset(range(1, schema.SCHEMA_VERSION + 1))
_INTERNAL_TABLE = re.compile(r"sqlite_")

_Signature = tuple[int, int, int]
"""(inode, size, modification time) of a loaded file, to notice when another process rewrote it."""


class _Connection(sqlite3.Connection):
    """The in-memory working store: runs ``before_commit`` when a batch's transaction commits."""

    __slots__: typing.Sequence[str] = ("before_commit",)

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_commit: Callable[[], None] | None = None

    def execute(self, sql: str, parameters: typing.Any = (), /) -> sqlite3.Cursor:
        hook = self.before_commit
        if hook is not None and _is_commit(sql):
            # Write the file first: if that fails, the caller rolls the batch back.
            hook()
        return super().execute(sql, parameters)


def _is_commit(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head == "COMMIT" or head.rstrip() == "END" or head.startswith("END ")


def _connect() -> _Connection:
    return sqlite3.connect(":memory:", factory=_Connection, isolation_level=None, check_same_thread=False)


class JSONBackend(Batching, Backend):
    """Store the cache in one human-readable JSON file, rewritten atomically after every batch.

    Meant for tiny bots and debugging: the file can be read, diffed and edited by hand (while the
    bot is off). Every batch rewrites the whole file, so writes cost in proportion to the size of
    the cache; past about 50 MB a warning suggests [`SQLiteBackend`][hikaripersist.sqlite.SQLiteBackend]
    instead. Everything else (kinds, native hikari objects, queries, rules, retention, change and
    confirmed events) behaves exactly as with SQLite: the working store is an in-memory SQLite
    database loaded from the file when the backend opens.

    Parameters
    ----------
    path
        The JSON file; created with its parent folder if missing. Only one process may write a
        file at a time (others can read it with
        [`ReadOnlyCache`][hikaripersist.readonly.ReadOnlyCache]).
    batch_size
        Most events written in one transaction (and so one rewrite of the file).
    flush_interval
        Seconds the writer waits for a batch to fill before writing what it has; longer intervals
        rewrite the file less often.
    indent
        ``None`` (the default) writes one row per line; a number of spaces indents every row and
        entity field by field, which is easier to read but larger and slower to write.

    Raises
    ------
    ValueError
        If ``batch_size`` is below 1, ``flush_interval`` is negative or ``indent`` is negative.
    hikaripersist.BackendError
        From [`open`][hikaripersist.backend.Backend.open] when the file or its folder cannot be
        read or written (e.g. a read-only folder).
    hikaripersist.SchemaError
        From [`open`][hikaripersist.backend.Backend.open] when the file is not a hikari-persist JSON
        file (another document, corrupt or truncated JSON) or was written by a newer version; such a
        file is never changed.

    Notes
    -----
    * The whole cache is held in memory, and a read waits while a batch is being written (reads
      and writes share one worker thread); both are negligible at the sizes this backend is for.
    * The file is replaced by a new one on every write, so its folder must be writable; the file's
      permissions are kept. A writer that dies while writing leaves the previous file whole (and
      a ``.<name>.<random>.tmp`` file that the next writer to open removes).
    * Two processes writing the same file would overwrite each other's batches: give each bot
      process its own file, or use SQLite.
    * [`backup`][hikaripersist.jsonfile.JSONBackend.backup] writes a JSON file of the same format,
      which [`restore`][hikaripersist.jsonfile.JSONBackend.restore] and this backend read.

    Examples
    --------
    ```py
    cache = persist.Cache(bot, persist.JSONBackend("cache.json"))
    ```
    """

    __slots__: typing.Sequence[str] = (
        "_batch_size",
        "_db",
        "_executor",
        "_file",
        "_file_size",
        "_flush_interval",
        "_indent",
        "_lock",
        "_path",
        "_read_only",
        "_signature",
        "_state",
        "_warned",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 1000,
        flush_interval: float = 0.25,
        indent: int | None = None,
    ) -> None:
        self._init_batching(batch_size, flush_interval)
        if indent is not None and indent < 0:
            msg = "indent cannot be negative"
            raise ValueError(msg)
        self._path = os.fspath(path)
        self._file = pathlib.Path(self._path)
        self._indent = indent
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._db: _Connection | None = None
        self._read_only = False
        self._signature: _Signature | None = None
        self._file_size = 0
        self._warned = False
        self._state = sqlite_._WriterState()
        # The writer's hold on the file's lock: one writer per file (readers need none).
        self._lock: int | None = None

    def __repr__(self) -> str:
        return f"JSONBackend({self._path!r})"

    @property
    def name(self) -> str:
        return f"JSON file {self._path!r}"

    @property
    def path(self) -> str:
        """The JSON file."""
        return self._path

    @property
    def indent(self) -> int | None:
        """Spaces rows are indented by, or ``None`` for one row per line."""
        return self._indent

    @property
    def is_open(self) -> bool:
        return self._db is not None

    # --- lifetime ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Load the file (creating it if missing, migrating an older schema) and rewrite it.

        Raises
        ------
        hikaripersist.BackendError
            If the file or its folder cannot be read or written, or the file is read-only.
        hikaripersist.SchemaError
            If the file is not a hikari-persist JSON file or was written by a newer version.
        """
        await self._start(read_only=False)

    async def open_read_only(self) -> None:
        """Load the file for reads only; it is reloaded whenever its writer has rewritten it.

        Raises
        ------
        hikaripersist.BackendError
            If the file does not exist yet (the bot's cache creates it).
        hikaripersist.SchemaError
            If the file is not a hikari-persist JSON file or its schema is not this version's (the
            writer migrates it when it opens).
        """
        await self._start(read_only=True)

    async def _start(self, *, read_only: bool) -> None:
        if self.is_open:
            return
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hikaripersist-json")
        self._read_only = read_only
        self._state.installed = frozenset()  # temporary triggers live with the connection
        try:
            opener = self._open_reader if read_only else self._open_writer
            self._db = await asyncio.get_running_loop().run_in_executor(self._executor, opener)
        except BaseException:
            await self.close()
            raise

    def _open_writer(self) -> _Connection:
        try:
            self._file.absolute().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the folder of {self.name}: {exc}"
            raise BackendError(msg) from exc
        raw, _ = _read(self._file, self.name)
        if raw is not None and not os.access(self._file, os.W_OK):
            # Replacing it would work (only its folder's permissions count), but someone made it read-only.
            msg = f"{self.name} is read-only; the bot's cache rewrites it (a ReadOnlyCache only reads)"
            raise BackendError(msg)
        db = _load(raw, self.name, migrate=True)
        try:
            # Two writers would each rewrite the file without the other's commits (and remove each
            # other's temporary files): the second one is refused before it writes anything.
            self._lock = filelock.hold(
                self._file, self.name, "a JSON file has one writer (a ReadOnlyCache can read it elsewhere)"
            )
            self._remove_leftovers()
            # Creates a missing file, saves a migration, and proves the folder is writable now
            # rather than at the first batch.
            self._dump(db)
        except BaseException:
            db.close()
            raise
        return db

    def _open_reader(self) -> _Connection:
        raw, signature = _read(self._file, self.name)
        if raw is None:
            msg = f"cannot open {self.name} for reading: the file does not exist (the bot's cache creates it)"
            raise BackendError(msg)
        db = _load(raw, self.name, migrate=False)
        db.execute("PRAGMA query_only=ON")
        self._signature = signature
        self._file_size = len(raw)
        return db

    async def close(self) -> None:
        """Close the store (idempotent); every committed batch is already in the file."""
        db, self._db = self._db, None
        executor, self._executor = self._executor, None
        self._read_only = False
        self._signature = None
        try:
            if executor is None:
                if db is not None:
                    db.close()
                return
            if db is not None:
                await asyncio.get_running_loop().run_in_executor(executor, db.close)
            executor.shutdown(wait=False)
        finally:
            lock, self._lock = self._lock, None
            filelock.release(lock)

    def _remove_leftovers(self) -> None:
        """Delete temporary files left by a writer that died while writing this file."""
        pattern = re.compile(_temp_pattern(self._file.name))
        folder = self._file.absolute().parent
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                        _LOGGER.info("removed %s, left over by an interrupted write of %s", entry.name, self.name)

    # --- the file ---------------------------------------------------------------------------

    def _dump(self, db: sqlite3.Connection) -> None:
        """Write the store (with the open transaction's changes) to the file, atomically."""
        content = _render(db, self._indent)
        self._write_atomically(self._file, content, self.name)
        self._file_size = len(content)
        if len(content) > _LARGE_FILE and not self._warned:
            self._warned = True
            _LOGGER.warning(
                "%s has grown to %.0f MB and is rewritten whole after every batch; a JSON file is a poor"
                " choice at this size, consider SQLiteBackend",
                self.name,
                len(content) / 1e6,
            )

    def _write_atomically(self, target: pathlib.Path, content: bytes, name: str) -> None:
        """Replace ``target`` with ``content``: a reader or a crash sees the old file or the new one."""
        folder = target.absolute().parent
        temp = folder / f".{target.name}.{secrets.token_hex(8)}.tmp"
        try:
            try:
                mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
            except FileNotFoundError:
                mode = None
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            try:
                with open(fd, "wb") as file:
                    self._write_temp(file, content)
                    file.flush()
                    os.fsync(file.fileno())
                if mode is not None:
                    os.chmod(temp, mode)  # keep the permissions someone gave the file
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            _fsync_folder(folder)
        except OSError as exc:
            msg = f"cannot write {name}: {exc}"
            if isinstance(exc, PermissionError):
                msg += " (the file is replaced by a new one on every write, so its folder must be writable)"
            raise BackendError(msg) from exc

    def _write_temp(self, file: typing.BinaryIO, content: bytes) -> None:
        """Write ``content`` to the temporary file (a seam for tests that simulate a full disk)."""
        file.write(content)

    def _current(self) -> _Connection:
        """The connection reads use (in the worker thread): a read-only store follows its file."""
        db = self._db
        if db is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        if not self._read_only:
            return db
        try:
            info = os.stat(self._file)
        except OSError as exc:
            msg = f"cannot read {self.name}: {exc}"
            raise BackendError(msg) from exc
        if (info.st_ino, info.st_size, info.st_mtime_ns) == self._signature:
            return db
        fresh = self._open_reader()
        if self._db is not db:  # closed meanwhile
            fresh.close()
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        self._db = fresh
        db.close()
        return fresh

    # --- writing ------------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., typing.Any], *args: typing.Any) -> typing.Any:
        if self._executor is None or self._db is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        result: WriteResult = await self._run(self._apply, batch, rule, None)
        return result

    async def write_with_changes(
        self, batch: Sequence[hikari.Event], *, rule: Rule | None, changes: ChangeRequest
    ) -> WriteResult:
        result: WriteResult = await self._run(self._apply, batch, rule, changes)
        return result

    def _apply(self, batch: Sequence[hikari.Event], rule: Rule | None, request: ChangeRequest | None) -> WriteResult:
        db = self._db
        if db is None or self._read_only:
            msg = f"{self.name} is not open for writing"
            raise BackendError(msg)
        before = db.total_changes
        dumped = False

        def before_commit() -> None:
            nonlocal dumped
            if db.total_changes != before:  # a batch that changed nothing leaves the file as it is
                self._dump(db)
            dumped = True

        db.before_commit = before_commit
        try:
            result = sqlite_._apply_batch(db, batch, rule, self._state, request)
        finally:
            db.before_commit = None
        if not dumped and db.total_changes != before:
            # The batch committed without passing through the hook: still make it durable.
            self._dump(db)
        return result

    # --- reading ------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[typing.Any, ...], one: bool) -> typing.Any:
        db = self._current()
        if self._read_only:
            cursor = db.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
        # Reads share the writer's connection (between batches, so they only see committed data).
        db.execute("PRAGMA query_only=ON")
        try:
            cursor = db.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
        finally:
            db.execute("PRAGMA query_only=OFF")

    async def fetch(self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500) -> AsyncIterator[list[Row]]:
        """Yield the rows of a read query in chunks, from one snapshot.

        The rows are read at once (the whole store is in memory anyway), so an iteration never
        holds anything that would delay the writer.
        """
        rows: list[Row] = await self._run(self._query, sql, tuple(params), False)
        step = max(1, chunk)
        for start in range(0, len(rows), step):
            yield rows[start : start + step]

    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> Row | None:
        row: Row | None = await self._run(self._query, sql, tuple(params), True)
        return row

    async def schema_version(self) -> int:
        return int(await self.scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)

    async def database_size(self) -> int:
        """Size of the JSON file in bytes, as last written or loaded."""
        return self._file_size

    # --- backups ------------------------------------------------------------------------------

    async def backup(self, path: str | os.PathLike[str]) -> None:
        """Write a consistent copy of the store to ``path``, as a JSON file of the same format.

        Raises
        ------
        hikaripersist.BackendError
            If the store is not open or ``path`` cannot be written.
        """
        if not os.fspath(path):
            return
        target = pathlib.Path(path)

        def run() -> None:
            content = _render(self._current(), self._indent)
            try:
                target.absolute().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                msg = f"cannot write the backup {str(target)!r}: {exc}"
                raise BackendError(msg) from exc
            self._write_atomically(target, content, f"the backup {str(target)!r}")

        await self._run(run)

    async def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace the store's content with the JSON backup at ``path`` (checked before anything changes).

        Raises
        ------
        hikaripersist.BackendError
            If there is no backup at ``path`` or the store's file cannot be written.
        hikaripersist.SchemaError
            If ``path`` is not a hikari-persist JSON file or was written by a newer version.
        """
        source = pathlib.Path(path)
        name = f"JSON backup {str(source)!r}"

        def run() -> None:
            if self._read_only:
                msg = f"{self.name} is open read-only"
                raise BackendError(msg)
            raw, _ = _read(source, name)
            if not raw:
                msg = f"no backup at {source}"
                raise BackendError(msg)
            fresh = _load(raw, name, migrate=True)
            try:
                self._dump(fresh)
            except BaseException:
                fresh.close()
                raise
            old, self._db = self._db, fresh
            self._state.installed = frozenset()
            if old is not None:
                old.close()

        await self._run(run)


# --- file format ----------------------------------------------------------------------------------


def _temp_pattern(name: str) -> str:
    return re.escape(f".{name}.") + r"[0-9a-f]{16}\.tmp"


def _fsync_folder(folder: pathlib.Path) -> None:
    """Make a rename durable (POSIX); filesystems that cannot sync a folder are skipped."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _read(path: pathlib.Path, name: str) -> tuple[bytes | None, _Signature | None]:
    """The file's content and signature, or ``(None, None)`` when it does not exist."""
    try:
        with open(path, "rb") as file:
            info = os.fstat(file.fileno())
            raw = file.read()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        msg = f"cannot read {name}: {exc}"
        raise BackendError(msg) from exc
    return raw, (info.st_ino, info.st_size, info.st_mtime_ns)


class _Column(typing.NamedTuple):
    name: str
    blob: bool  # declared BLOB: an embedded JSON document


def _columns(db: sqlite3.Connection, table: str) -> list[_Column]:
    """The table's columns, BLOB (entity data) ones last so that rows read well."""
    info = db.execute(f'PRAGMA table_info("{table}")').fetchall()
    columns = [_Column(str(row[1]), str(row[2]).upper() == "BLOB") for row in info]
    return sorted(columns, key=lambda column: column.blob)


def _primary_key(db: sqlite3.Connection, table: str) -> str:
    keys = sorted((int(row[5]), str(row[1])) for row in db.execute(f'PRAGMA table_info("{table}")') if row[5])
    return ", ".join(f'"{name}"' for _, name in keys) or "rowid"


def _tables(db: sqlite3.Connection) -> list[str]:
    names = (str(row[0]) for row in db.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'"))
    return sorted(name for name in names if not _INTERNAL_TABLE.match(name))


def _embedded(value: typing.Any, table: str, column: str) -> typing.Any:
    """A BLOB cell for the file: the JSON document it holds, embedded as is."""
    if value is None:
        return None
    if type(value) is bytes and value[:1] in (b"{", b"["):
        return orjson.Fragment(value)
    msg = f"{table}.{column} holds {type(value).__name__} data that is not a JSON document"
    raise BackendError(msg)


def _render(db: sqlite3.Connection, indent: int | None) -> bytes:
    """The whole store as a JSON document (the open transaction's changes included)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row is not None else schema.SCHEMA_VERSION
    dumps = orjson.dumps
    sections: list[bytes] = []
    for table in _tables(db):
        columns = _columns(db, table)
        names = [column.name for column in columns]
        blobs = [i for i, column in enumerate(columns) if column.blob]
        selected = ", ".join(f'"{name}"' for name in names)
        lines: list[bytes] = []
        for values in db.execute(f'SELECT {selected} FROM "{table}" ORDER BY {_primary_key(db, table)}'):
            cells = list(values)
            for i in blobs:
                cells[i] = _embedded(cells[i], table, names[i])
            lines.append(dumps(dict(zip(names, cells, strict=True))))
        body = b"[\n      " + b",\n      ".join(lines) + b"\n    ]" if lines else b"[]"
        sections.append(b"    " + dumps(table) + b": " + body)
    compact = (
        b'{\n  "format": '
        + dumps(_FORMAT)
        + b',\n  "schema_version": '
        + str(version).encode()
        + b',\n  "tables": {\n'
        + b",\n".join(sections)
        + b"\n  }\n}\n"
    )
    if indent is None:
        return compact
    document = orjson.loads(compact)
    if indent == 2:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    return json.dumps(document, indent=indent, ensure_ascii=False).encode() + b"\n"


def _refuse(name: str, reason: str) -> SchemaError:
    return SchemaError(f"{name} {reason}; refusing to touch it")


def _parse(raw: bytes, name: str) -> tuple[int, Mapping[str, typing.Any]]:
    """The schema version and tables of a file's content, checked to be ours."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _refuse(name, f"is not valid JSON, it may be truncated or corrupt ({exc})") from exc
    if not isinstance(document, dict) or typing.cast("dict[str, typing.Any]", document).get("format") != _FORMAT:
        raise _refuse(name, f'is not a hikari-persist JSON file (no "format": "{_FORMAT}")')
    document = typing.cast("dict[str, typing.Any]", document)
    version = document.get("schema_version")
    tables = document.get("tables")
    if type(version) is not int or version < 1 or not isinstance(tables, dict):
        raise _refuse(name, 'is not a usable hikari-persist JSON file (bad "schema_version" or "tables")')
    if version > schema.SCHEMA_VERSION:
        msg = (
            f"{name} was written by a newer hikari-persist (schema {version}, this version reads up to"
            f" {schema.SCHEMA_VERSION}); upgrade hikari-persist or use another file"
        )
        raise SchemaError(msg)
    return version, typing.cast("dict[str, typing.Any]", tables)


def _cell(value: typing.Any, blob: bool) -> typing.Any:
    if blob:
        if isinstance(value, (dict, list)):
            return orjson.dumps(value)
        if value is None:
            return None
        msg = f"expected a JSON object, got {type(value).__name__}"
        raise ValueError(msg)
    if value is None or type(value) in (int, str, float):
        return value
    if type(value) is bool:
        return int(value)
    msg = f"expected a number, a string or null, got {type(value).__name__}"
    raise ValueError(msg)


def _fill(db: sqlite3.Connection, version: int, tables: Mapping[str, typing.Any], name: str) -> None:
    """Create the tables of schema ``version`` and insert the file's rows."""
    if version not in _LOADABLE_VERSIONS:
        msg = (
            f"{name} has schema {version}, which this version cannot load (it loads schemas"
            f" {sorted(_LOADABLE_VERSIONS)}); open it once with the release that wrote it or a newer one"
            f" before this one"
        )
        raise SchemaError(msg)
    db.execute("BEGIN")
    try:
        for statement in schema.create_statements(version):
            db.execute(statement)
        db.execute(f"PRAGMA application_id = {sqlite_._APPLICATION_ID}")
        known = set(_tables(db))
        for table, rows in tables.items():
            if table not in known:
                raise _refuse(name, f"has a table {table!r} that schema {version} does not have")
            if not isinstance(rows, list):
                raise _refuse(name, f"has a table {table!r} that is not a list of rows")
            _insert(db, table, typing.cast("list[typing.Any]", rows), name)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _insert(db: sqlite3.Connection, table: str, rows: list[typing.Any], name: str) -> None:
    blob = {column.name: column.blob for column in _columns(db, table)}
    # Rows normally all have the same fields; insert each group of same-field rows in one go.
    groups: dict[tuple[str, ...], list[list[typing.Any]]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _refuse(name, f"has a row in {table!r} that is not an object (row {index})")
        fields = typing.cast("dict[str, typing.Any]", row)
        unknown = [field for field in fields if field not in blob]
        if unknown:
            raise _refuse(name, f"has a row in {table!r} with unknown fields {unknown} (row {index})")
        try:
            values = [_cell(value, blob[field]) for field, value in fields.items()]
        except (ValueError, TypeError, orjson.JSONEncodeError) as exc:
            raise _refuse(name, f"has a bad row in {table!r} (row {index}: {exc})") from exc
        groups.setdefault(tuple(fields), []).append(values)
    for fields, values in groups.items():
        columns = ", ".join(f'"{field}"' for field in fields)
        marks = ", ".join("?" for _ in fields)
        try:
            db.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', values)
        except (sqlite3.Error, OverflowError) as exc:
            raise _refuse(name, f"has rows in {table!r} that do not fit its schema ({exc})") from exc


def _load(raw: bytes | None, name: str, *, migrate: bool) -> _Connection:
    """A working store holding the file's content (``None`` or empty: a new store).

    With ``migrate``, an older schema is migrated; otherwise only the current schema is accepted.
    """
    db = _connect()
    try:
        if raw:
            version, tables = _parse(raw, name)
            if not migrate and version != schema.SCHEMA_VERSION:
                msg = (
                    f"{name} has schema {version}, this version reads schema {schema.SCHEMA_VERSION}; open it"
                    " with the bot's cache (a read-only cache never migrates)"
                )
                raise SchemaError(msg)
            _fill(db, version, tables, name)
        elif not migrate:
            msg = f"{name} is empty"
            raise BackendError(msg)
        if migrate:
            # Creates a new store, or migrates and completes a loaded one, as for an SQLite file.
            sqlite_._prepare_schema(db, name)
    except BaseException:
        db.close()
        raise
    return db
