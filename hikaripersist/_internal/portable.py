"""The portable export format: a store's rows as JSON lines, readable into any backend.

Format (``hikari-persist-export``, version 1), one JSON document per line, optionally gzipped
(when the file name ends in ``.gz``):

* a header: ``{"format": "hikari-persist-export", "version": 1, "schema_version": 4,
  "created": "2025-01-31T12:00:00.000Z", "source": "...", "tables": {"guilds": ["id", ...], ...}}``
* one line per row: ``{"t": "guilds", "r": {"id": 1, "name": "...", "data": {...}}}``; integer
  and text columns hold their value, the ``data`` columns (the encoded entities, JSON already)
  hold the JSON value itself rather than a string;
* a trailer: ``{"end": {"rows": 1234}}``. A file without it is truncated and refused.

Keys are sorted, so two exports of the same content are byte-identical whatever backend they come
from (row order aside). The ``meta`` table is not exported: the header carries the schema version.

Rows are read through [`Backend.fetch`][hikaripersist.backend.Backend.fetch] in one statement
(one snapshot, so the copy is consistent while a bot writes) and written through the engine as
[`ImportOp`][hikaripersist._internal.ops.ImportOp]s, so every backend reads and writes the format.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "FORMAT",
    "FORMAT_VERSION",
    "ExportInfo",
    "count_rows",
    "export_store",
    "import_export",
    "is_export",
    "read_info",
    "sqlite_backup",
    "table_columns",
)

import asyncio
import contextlib
import datetime
import functools
import gzip
import os
import pathlib
import re
import secrets
import sqlite3
import tempfile
import typing

import orjson

from hikaripersist._internal import dialect, ops, schema
from hikaripersist.backend import BackendError, SchemaError

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    import hikari

    from hikaripersist.backend import Backend, Row

FORMAT: typing.Final[str] = "hikari-persist-export"
"""The ``format`` field of an export's header."""
FORMAT_VERSION: typing.Final[int] = 1
"""The version of the export format this release writes and reads."""

_CHUNK: typing.Final[int] = 2000
# Rows per ImportOp: large enough to amortise a transaction, small enough to keep batches short.
_OP_ROWS: typing.Final[int] = 2000
_SQLITE_APPLICATION_ID: typing.Final[int] = 0x48505354  # SQLiteBackend's mark ("HPST")
_CREATE_TABLE: typing.Final = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)$", re.DOTALL)


@functools.cache
def _column_types(version: int) -> dict[str, dict[str, str]]:
    """Table -> column -> declared type (``INTEGER``, ``TEXT``, ``BLOB``...) at schema ``version``."""
    tables: dict[str, dict[str, str]] = {}
    for statement in schema.create_statements(version):
        match = _CREATE_TABLE.match(statement)
        if match is None:
            continue
        columns: dict[str, str] = {}
        for part in dialect._split_columns(match.group(2)):
            words = part.split()
            if len(words) >= 2 and words[0].upper() != "PRIMARY":
                columns[words[0]] = words[1].upper()
        tables[match.group(1)] = columns
    return tables


def table_columns(version: int = schema.SCHEMA_VERSION) -> dict[str, tuple[str, ...]]:
    """Table -> its columns, in schema order, at schema ``version`` (``meta`` included)."""
    return {table: tuple(columns) for table, columns in _column_types(version).items()}


def _exported_tables(version: int = schema.SCHEMA_VERSION) -> dict[str, dict[str, str]]:
    return {t: c for t, c in _column_types(version).items() if t != "meta"}


def _is_postgresql(backend: Backend) -> bool:
    return type(backend).__name__ == "PostgreSQLBackend"


def _export_query(typed_nulls: bool) -> tuple[str, dict[str, list[tuple[str, int]]]]:
    """One ``UNION ALL`` statement over every table (one snapshot), and where each column lands.

    Columns of one type share slots across tables, so every branch has the same column types.
    """
    tables = _exported_tables()
    slot_counts: dict[str, int] = {}
    for columns in tables.values():
        per_type: dict[str, int] = {}
        for kind in columns.values():
            per_type[_slot_type(kind)] = per_type.get(_slot_type(kind), 0) + 1
        for kind, count in per_type.items():
            slot_counts[kind] = max(slot_counts.get(kind, 0), count)
    order = [(kind, i) for kind in sorted(slot_counts) for i in range(slot_counts[kind])]
    position = {slot: 1 + index for index, slot in enumerate(order)}
    # PostgreSQL types each branch of a UNION pairwise: untyped NULLs would become text.
    nulls = {"BLOB": "CAST(NULL AS JSONB)", "INTEGER": "CAST(NULL AS BIGINT)", "TEXT": "CAST(NULL AS TEXT)"}
    layout: dict[str, list[tuple[str, int]]] = {}
    branches: list[str] = []
    for table, columns in tables.items():
        used: dict[str, int] = {}
        chosen: dict[int, str] = {}
        placed: list[tuple[str, int]] = []
        for column, kind in columns.items():
            slot_kind = _slot_type(kind)
            index = position[(slot_kind, used.get(slot_kind, 0))]
            used[slot_kind] = used.get(slot_kind, 0) + 1
            chosen[index] = column
            placed.append((column, index))
        cells = [
            chosen.get(index, nulls[kind] if typed_nulls else "NULL") for index, (kind, _) in enumerate(order, start=1)
        ]
        branches.append(f"SELECT '{table}', {', '.join(cells)} FROM {table}")
        layout[table] = placed
    return " UNION ALL ".join(branches), layout


def _slot_type(declared: str) -> str:
    if declared == "BLOB":
        return "BLOB"
    return "INTEGER" if "INT" in declared else "TEXT"


async def count_rows(backend: Backend) -> dict[str, int]:
    """Rows per table of the store (``meta`` left out), in one statement."""
    tables = list(_exported_tables())
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables)
    row = await backend.fetch_one(sql)
    return {t: int(n or 0) for t, n in zip(tables, row or (), strict=False)}


def _json_value(raw: typing.Any) -> typing.Any:
    return None if raw is None else orjson.loads(raw)


def _encode_rows(chunk: list[Row], layout: dict[str, list[tuple[str, int]]]) -> bytes:
    lines: list[bytes] = []
    types = _exported_tables()
    for row in chunk:
        table = str(row[0])
        record = {
            column: _json_value(row[index]) if types[table][column] == "BLOB" else _plain(row[index])
            for column, index in layout[table]
        }
        lines.append(orjson.dumps({"t": table, "r": record}, option=orjson.OPT_SORT_KEYS))
    return b"\n".join(lines) + b"\n" if lines else b""


def _plain(value: typing.Any) -> typing.Any:
    if isinstance(value, bytes):
        return value.decode()
    return value


class _Output:
    """An export being written: to a temporary file beside the target, renamed when complete."""

    __slots__: typing.Sequence[str] = ("_file", "_raw", "_target", "_temp")

    def __init__(self, target: pathlib.Path) -> None:
        self._target = target
        try:
            target.absolute().parent.mkdir(parents=True, exist_ok=True)
            self._temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
            self._raw = open(self._temp, "wb")  # noqa: SIM115 - closed by finish/abort
        except OSError as exc:
            msg = f"cannot write {str(target)!r}: {exc}"
            raise BackendError(msg) from exc
        self._file: typing.BinaryIO = (
            typing.cast("typing.BinaryIO", gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=5, mtime=0))
            if target.name.endswith(".gz")
            else self._raw
        )

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            msg = f"cannot write {str(self._target)!r}: {exc}"
            raise BackendError(msg) from exc

    def finish(self) -> None:
        try:
            if self._file is not self._raw:
                self._file.close()  # a GzipFile writes its trailer, leaving the file open
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            os.replace(self._temp, self._target)
        except OSError as exc:
            self.abort()
            msg = f"cannot write {str(self._target)!r}: {exc}"
            raise BackendError(msg) from exc

    def abort(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.close()
        with contextlib.suppress(OSError, ValueError):
            self._raw.close()
        self._temp.unlink(missing_ok=True)


def _write_chunk(output: _Output, chunk: list[Row], layout: dict[str, list[tuple[str, int]]]) -> None:
    output.write(_encode_rows(chunk, layout))


def _now() -> str:
    return schema.iso_time(datetime.datetime.now(datetime.timezone.utc))


async def export_store(
    backend: Backend, path: str | os.PathLike[str], *, progress: Callable[[int, int], None] | None = None
) -> int:
    """Write every row of the open ``backend`` to ``path`` in the export format; return the row count.

    The rows come from one statement, so the export is one consistent snapshot; encoding and
    writing run in a worker thread, never on the event loop.

    Parameters
    ----------
    backend
        An open store (read-only is enough).
    path
        The file to write (``.gz``: gzipped); replaced atomically once complete.
    progress
        Called with (rows written, rows expected) after every chunk.
    """
    version = await backend.schema_version()
    if version != schema.SCHEMA_VERSION:
        msg = f"{backend.name} has schema {version}; migrate it to {schema.SCHEMA_VERSION} before exporting it"
        raise SchemaError(msg)
    total = sum((await count_rows(backend)).values()) if progress is not None else 0
    sql, layout = _export_query(_is_postgresql(backend))
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "schema_version": version,
        "created": _now(),
        "source": backend.name,
        "tables": {table: list(columns) for table, columns in _exported_tables().items()},
    }
    output = await asyncio.to_thread(_Output, pathlib.Path(path))
    written = 0
    try:
        await asyncio.to_thread(output.write, orjson.dumps(header) + b"\n")
        async for chunk in backend.fetch(sql, chunk=_CHUNK):
            await asyncio.to_thread(_write_chunk, output, chunk, layout)
            written += len(chunk)
            if progress is not None:
                progress(written, max(total, written))
        await asyncio.to_thread(output.write, orjson.dumps({"end": {"rows": written}}) + b"\n")
        await asyncio.to_thread(output.finish)
    except BaseException:
        await asyncio.to_thread(output.abort)
        raise
    return written


# --- reading ---------------------------------------------------------------------------------------


class ExportInfo(typing.NamedTuple):
    """What an export file holds (checked from its first line to its trailer)."""

    path: pathlib.Path
    schema_version: int
    created: str
    source: str
    tables: dict[str, tuple[str, ...]]
    rows: dict[str, int]
    """Rows per table."""

    @property
    def total(self) -> int:
        """Rows in the file."""
        return sum(self.rows.values())


def _open_text(path: pathlib.Path) -> typing.BinaryIO:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return typing.cast("typing.BinaryIO", gzip.open(path, "rb"))
    return open(path, "rb")


def is_export(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts like an export file (gzipped or not)."""
    try:
        with _open_text(pathlib.Path(path)) as file:
            head = file.read(200)
    except (OSError, EOFError):
        return False
    return head.startswith(b"{") and FORMAT.encode() in head


def _lines(path: pathlib.Path) -> Iterator[tuple[int, typing.Any]]:
    try:
        with _open_text(path) as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    msg = (
                        f"{path} is not a hikari-persist export (its first line is not JSON)"
                        if number == 1
                        else f"{path}:{number} is not valid JSON ({exc}); the export is damaged"
                    )
                    raise SchemaError(msg) from None
    except FileNotFoundError:
        msg = f"no export file at {path}"
        raise BackendError(msg) from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        msg = f"cannot read {path}: {exc}"
        raise BackendError(msg) from exc


def _header(path: pathlib.Path, first: typing.Any) -> tuple[int, str, str, dict[str, tuple[str, ...]]]:
    if not isinstance(first, dict) or typing.cast("dict[str, typing.Any]", first).get("format") != FORMAT:
        msg = f"{path} is not a hikari-persist export (its first line is not a {FORMAT} header)"
        raise SchemaError(msg)
    header = typing.cast("dict[str, typing.Any]", first)
    if header.get("version") != FORMAT_VERSION:
        msg = f"{path} uses export format version {header.get('version')}; this release reads version {FORMAT_VERSION}"
        raise SchemaError(msg)
    version = header.get("schema_version")
    if not isinstance(version, int) or version < 1:
        msg = f"{path} has no valid schema_version in its header"
        raise SchemaError(msg)
    if version > schema.SCHEMA_VERSION:
        msg = (
            f"{path} was exported from schema {version}, newer than this release's {schema.SCHEMA_VERSION};"
            " upgrade hikari-persist to import it"
        )
        raise SchemaError(msg)
    known = table_columns(version)
    raw_tables = typing.cast("dict[str, list[str]]", header.get("tables") or {})
    tables = {str(t): tuple(str(c) for c in cols) for t, cols in raw_tables.items()}
    for table, columns in tables.items():
        if table not in known or table == "meta" or set(columns) - set(known[table]):
            msg = f"{path} lists table {table!r} with columns {list(columns)}, not of schema {version}"
            raise SchemaError(msg)
    return version, str(header.get("created", "")), str(header.get("source", "")), tables


def read_info(path: str | os.PathLike[str]) -> ExportInfo:
    """Check a whole export file (header, every line, trailer) and describe it; blocking.

    Raises
    ------
    hikaripersist.BackendError
        If the file is missing or unreadable.
    hikaripersist.SchemaError
        If it is not an export, is damaged or truncated, or comes from a newer schema.
    """
    source = pathlib.Path(path)
    lines = _lines(source)
    first = next(lines, None)
    if first is None:
        msg = f"{source} is empty; not a hikari-persist export"
        raise SchemaError(msg)
    version, created, origin, tables = _header(source, first[1])
    rows: dict[str, int] = dict.fromkeys(tables, 0)
    end: int | None = None
    for number, record in lines:
        if end is not None:
            msg = f"{source}:{number}: data after the end of the export"
            raise SchemaError(msg)
        if isinstance(record, dict) and "end" in record:
            end = int(typing.cast("dict[str, typing.Any]", record)["end"].get("rows", -1))
            continue
        table = typing.cast("dict[str, typing.Any]", record).get("t") if isinstance(record, dict) else None
        if table not in rows:
            msg = f"{source}:{number}: a row of unknown table {table!r}"
            raise SchemaError(msg)
        rows[str(table)] += 1
    counted = sum(rows.values())
    if end is None:
        msg = f"{source} is truncated (no end line after {counted:,} rows); export it again"
        raise SchemaError(msg)
    if end != counted:
        msg = f"{source} is damaged: its end line says {end:,} rows, it holds {counted:,}"
        raise SchemaError(msg)
    return ExportInfo(source, version, created, origin, tables, rows)


def _file_rows(info: ExportInfo) -> Iterator[tuple[str, tuple[typing.Any, ...]]]:
    """(table, values in the order of ``info.tables[table]``) of every row; data columns as bytes."""
    types = _column_types(info.schema_version)
    lines = _lines(info.path)
    next(lines, None)
    for _, record in lines:
        if "end" in record:
            return
        table = record["t"]
        values: dict[str, typing.Any] = record["r"]
        yield (
            table,
            tuple(
                (orjson.dumps(values.get(c)) if values.get(c) is not None else None)
                if types[table][c] == "BLOB"
                else values.get(c)
                for c in info.tables[table]
            ),
        )


def _migrated(info: ExportInfo, folder: str) -> tuple[sqlite3.Connection, dict[str, int]]:
    """An SQLite database holding ``info``'s rows migrated to the current schema (blocking)."""
    from hikaripersist import sqlite as sqlite_

    # Read later from other worker threads (one at a time).
    db = sqlite3.connect(os.path.join(folder, "migrating.db"), isolation_level=None, check_same_thread=False)
    for statement in schema.create_statements(info.schema_version):
        db.execute(statement)
    db.execute(f"PRAGMA application_id = {_SQLITE_APPLICATION_ID}")
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(info.schema_version),))
    db.execute("BEGIN")
    for table, values in _file_rows(info):
        columns = info.tables[table]
        db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", values)
    db.execute("COMMIT")
    sqlite_._prepare_schema(db, f"the export {info.path} (migrating from schema {info.schema_version})")
    counts = {t: int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in _exported_tables()}
    return db, counts


def _database_rows(db: sqlite3.Connection) -> Iterator[tuple[str, tuple[typing.Any, ...]]]:
    for table, columns in _exported_tables().items():
        for row in db.execute(f"SELECT {', '.join(columns)} FROM {table}"):
            yield table, tuple(row)


async def import_export(
    info: ExportInfo,
    submit: Callable[[ops.ImportOp], Awaitable[None]],
    app: hikari.RESTAware,
    *,
    replace: bool,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the rows of a checked export through ``submit``; return how many.

    Exports of an older schema are migrated first (in a temporary SQLite database). Reading runs
    in a worker thread. With ``replace``, the first operation empties the store.

    Parameters
    ----------
    info
        The export, from [`read_info`][].
    submit
        Applies one operation durably (the writer, or a backend's ``write``); raises on failure.
    app
        The app the operations carry (they are events).
    replace
        Whether the store is emptied first.
    progress
        Called with (rows written, rows in all) after every operation.
    """
    current = table_columns()
    with tempfile.TemporaryDirectory(prefix="hikaripersist-import-") as folder:
        db: sqlite3.Connection | None = None
        if info.schema_version != schema.SCHEMA_VERSION:
            db, counts = await asyncio.to_thread(_migrated, info, folder)
            rows: Iterator[tuple[str, tuple[typing.Any, ...]]] = _database_rows(db)
            columns_of = {t: current[t] for t in counts}
            total = sum(counts.values())
        else:
            rows = _file_rows(info)
            columns_of = info.tables
            total = info.total
        try:
            done = 0
            first = True
            while True:
                batch = await asyncio.to_thread(_take, rows, _OP_ROWS)
                if not batch and not (first and replace):
                    break
                for op in _ops(batch, columns_of, app, clear=first and replace):
                    await submit(op)
                    done += len(op.rows)
                    if progress is not None:
                        progress(done, total)
                first = False
                if not batch:
                    break
        finally:
            if db is not None:
                db.close()
    return done


def _take(rows: Iterator[tuple[str, tuple[typing.Any, ...]]], count: int) -> list[tuple[str, tuple[typing.Any, ...]]]:
    taken: list[tuple[str, tuple[typing.Any, ...]]] = []
    for item in rows:
        taken.append(item)
        if len(taken) >= count:
            break
    return taken


def _ops(
    batch: list[tuple[str, tuple[typing.Any, ...]]],
    columns_of: dict[str, tuple[str, ...]],
    app: hikari.RESTAware,
    *,
    clear: bool,
) -> list[ops.ImportOp]:
    """Consecutive rows of one table become one operation."""
    result: list[ops.ImportOp] = []
    for table, values in batch:
        if not result or result[-1].table != table:
            result.append(ops.ImportOp(app=app, table=table, columns=columns_of[table], clear=clear and not result))
        result[-1].rows.append(values)
    if not result and clear:
        table = next(iter(_exported_tables()))
        result.append(ops.ImportOp(app=app, table=table, columns=table_columns()[table], clear=True))
    return result


# --- SQLite's online backup ----------------------------------------------------------------------


def sqlite_backup(source_uri: str, target: str | os.PathLike[str]) -> None:
    """Copy an SQLite database with SQLite's online backup, from a connection of its own (blocking).

    One backup step holds one read snapshot: in WAL mode the database's writer keeps committing
    meanwhile, and the copy is that snapshot. The copy is written beside ``target`` and renamed
    over it once complete.
    """
    destination = pathlib.Path(target)
    try:
        destination.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot write the backup {str(destination)!r}: {exc}"
        raise BackendError(msg) from exc
    temp = destination.with_name(f".{destination.name}.{secrets.token_hex(8)}.tmp")
    try:
        source = sqlite3.connect(source_uri, uri=True, timeout=30)
        try:
            copy = sqlite3.connect(temp)
            try:
                source.backup(copy)
                # The copy is a file of its own: no WAL beside it.
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        finally:
            source.close()
        # A WAL left beside an older file of that name would be replayed onto the new one.
        for suffix in ("-wal", "-shm"):
            pathlib.Path(f"{destination}{suffix}").unlink(missing_ok=True)
        os.replace(temp, destination)
    except (OSError, sqlite3.Error) as exc:
        temp.unlink(missing_ok=True)
        msg = f"cannot back up to {str(destination)!r}: {exc}"
        raise BackendError(msg) from exc
