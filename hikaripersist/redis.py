"""The Redis backend (redis-py's asyncio client; Redis 6.2+ or Valkey), for stores shared by several processes.

Layout
------
Every key lives under a prefix (``hikari-persist`` by default), so several bots can share one
server or database:

``{prefix}:meta`` (hash)
    ``format`` (``hikari-persist``), ``schema_version``, ``store`` (a random id given when the
    store is created; a new id tells every process the store was replaced).
``{prefix}:rows:{table}`` (hash, one per table of the SQL schema)
    One field per row: the field is the JSON array of the row's primary key (``[guild_id,user_id]``
    for ``member_records``), the value is the row as a JSON object with the entity embedded, the
    same rows as a [`JSONBackend`][hikaripersist.jsonfile.JSONBackend] file holds. ``HGET
    hikari-persist:rows:guilds "[81384788765712384]"`` answers a point lookup from any language.
``{prefix}:by:{table}:{column}:{value}`` (set; sorted set by creation time for messages)
    The keys of the rows with that value, for lookups without scanning: a guild's channels,
    roles, members... (``guild_id``), a channel's threads, voice states, invites and messages.
``{prefix}:seq`` (integer)
    The number of batches committed.
``{prefix}:log`` (stream)
    One entry per batch, with the id ``{seq}-1``, listing the rows the batch changed (``k``: JSON
    list of ``[table, key]``), or ``reset`` when the whole store was replaced (migration, restore).
    Capped at about ``log_length`` entries.
``{prefix}:lock`` (string with an expiry)
    Held by the process writing a batch.

Design
------
hikari's cache semantics (reference-counted users and members, snapshots of users shown by
messages, "referenced" messages...) are shared code that runs on SQL. Each process therefore keeps
a replica of the store in a private SQLite file (in the temporary folder) and follows the store
through the log:

* Writing a batch takes the lock, brings the replica up to date with the batches other processes
  committed since (the rows the log names, read in one ``MULTI``), applies the batch to the replica
  with the SQLite backend's own code, and, before the replica commits, writes the rows the batch
  changed to the store in one ``MULTI``/``EXEC`` that also bumps ``seq`` and appends the log entry.
  The ``EXEC`` is guarded by ``WATCH`` on ``seq``: if the lock expired and another process wrote
  meanwhile, nothing is written, the replica rolls back and the cache retries the batch. When the
  store cannot be reached, the batch fails the same way and the cache retries it with backoff.
* Reading first brings the replica up to date (one round trip when nothing changed), then runs the
  query on the replica's indexes. Reads see whole batches only. While the server is unreachable,
  reads answer from the replica as last updated (a warning is logged once per outage).
* A process whose replica fell behind more than the log holds, or that sees a ``reset``, reloads
  the whole store (``HSCAN``, without blocking the server).
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("RedisBackend",)

import asyncio
import concurrent.futures
import contextlib
import importlib
import logging
import os
import pathlib
import secrets
import shutil
import sqlite3
import tempfile
import typing
import urllib.parse

import orjson

from hikaripersist import jsonfile as jsonfile_
from hikaripersist import sqlite as sqlite_
from hikaripersist._internal import filelock, schema
from hikaripersist._internal.batching import Batching
from hikaripersist.backend import Backend, BackendError, ChangeRequest, Row, SchemaError, WriteResult

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence

    import hikari

    from hikaripersist.rules import Rule

_T = typing.TypeVar("_T")
_LOGGER = logging.getLogger("hikaripersist.redis")
_INSTALL_HINT: typing.Final[str] = 'the Redis backend needs redis-py: pip install "hikari-persist[redis]"'
_FORMAT: typing.Final[bytes] = b"hikari-persist"
# Rows per HSET/HMGET/HSCAN call: large enough to be cheap, small enough not to stall the server.
_CHUNK: typing.Final[int] = 2000
# How often a writer retries a held lock: short first (batches are short), then backing off.
_LOCK_POLL: typing.Final[tuple[float, float]] = (0.002, 0.05)
# Takes the lock, or renews it when this process already holds it (a retried batch).
_ACQUIRE: typing.Final[str] = """
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
_RELEASE: typing.Final[str] = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
# Creates the store unless another process did first.
_CREATE: typing.Final[str] = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
redis.call('HSET', KEYS[1], 'format', ARGV[1], 'schema_version', ARGV[2], 'store', ARGV[3])
redis.call('SETNX', KEYS[2], 0)
return 1
"""
# Lookups other clients get from the store without scanning: a set of row keys per value of these
# columns (`{prefix}:by:{table}:{column}:{value}`), a sorted set by creation time for a channel's
# messages. Rows the cache's queries do not show (member records kept only for a message, messages
# kept only as replied to) are left out.
_LOOKUPS: typing.Final[Mapping[str, tuple[str, ...]]] = {
    "channels": ("guild_id", "parent_id"),
    "threads": ("guild_id", "parent_id"),
    "roles": ("guild_id",),
    "member_records": ("guild_id",),
    "emojis": ("guild_id",),
    "stickers": ("guild_id",),
    "presences": ("guild_id",),
    "voice_states": ("guild_id", "channel_id"),
    "messages": ("channel_id",),
    "invites": ("guild_id", "channel_id"),
}
_SORTED_LOOKUPS: typing.Final[frozenset[tuple[str, str]]] = frozenset({("messages", "channel_id")})
_HIDDEN: typing.Final[Mapping[str, tuple[str, typing.Callable[[typing.Any], bool]]]] = {
    "member_records": ("is_deleted", lambda value: value != 0),
    "messages": ("is_reference", lambda value: value is None or value >= 2),
}
_Indexed = dict[str, typing.Any]
"""Column -> value of a row's lookups (values that are ``None`` left out)."""
# Where a replica records which store and batch it holds, in the same transactions as the rows.
_STATE_TABLE: typing.Final[str] = "persist_replica"
_STATE_SCHEMA: typing.Final[str] = (
    "CREATE TABLE IF NOT EXISTS persist_replica (id INTEGER PRIMARY KEY CHECK (id = 1), prefix TEXT NOT NULL,"
    " store TEXT NOT NULL, seq INTEGER NOT NULL, schema_version INTEGER NOT NULL)"
)
_SET_STATE: typing.Final[str] = "INSERT OR REPLACE INTO persist_replica VALUES (1, ?, ?, ?, ?)"
# The primary keys of the rows a batch wrote (duplicates allowed: appending is what keeps the
# triggers cheap); no declared types, so values keep the type they had in their table.
_KEY_COLUMNS: typing.Final[tuple[str, ...]] = ("k1", "k2", "k3")
_DIRTY_TABLE: typing.Final[str] = "CREATE TEMP TABLE IF NOT EXISTS persist_dirty (tbl TEXT NOT NULL, k1, k2, k3)"


def _redis() -> typing.Any:
    try:
        return importlib.import_module("redis.asyncio")
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc


def _errors() -> typing.Any:
    return importlib.import_module("redis.exceptions")


def _safe_url(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is None:
        return url
    host = parsed.hostname or ""
    if parsed.port is not None:
        host = f"{host}:{parsed.port}"
    user = f"{parsed.username}:***@" if parsed.username else ":***@"
    return urllib.parse.urlunsplit(parsed._replace(netloc=user + host))


class _Table:
    """How a replica table's rows become store rows and back."""

    __slots__: typing.Sequence[str] = (
        "arity",
        "blob",
        "columns",
        "delete",
        "dirty",
        "hidden",
        "keyed_lookups",
        "keys",
        "lookups",
        "marker",
        "name",
        "select",
        "upsert",
    )

    def __init__(self, db: sqlite3.Connection, name: str) -> None:
        info = db.execute(f'PRAGMA table_info("{name}")').fetchall()
        self.name = name
        self.columns = [str(row[1]) for row in info]
        blobs = [i for i, row in enumerate(info) if str(row[2]).upper() == "BLOB"]
        # The entity (the one BLOB column) goes last, embedded as is: no parsing to write or load it.
        self.blob = blobs[0] if len(blobs) == 1 else None
        self.lookups = [(self.columns.index(c), c) for c in _LOOKUPS.get(name, ()) if c in self.columns]
        hidden = _HIDDEN.get(name)
        self.hidden = (self.columns.index(hidden[0]), hidden[1]) if hidden and hidden[0] in self.columns else None
        self.marker = f',"{self.columns[blobs[0]]}":'.encode() if self.blob is not None else b""
        keys = [str(row[1]) for row in sorted((row for row in info if row[5]), key=lambda row: int(row[5]))]
        if not keys or len(keys) > len(_KEY_COLUMNS):
            msg = f"table {name!r} needs a primary key of 1 to {len(_KEY_COLUMNS)} columns to be stored in Redis"
            raise SchemaError(msg)
        self.keys = keys
        self.arity = len(keys)
        # Lookups read from the primary key (a member's guild): no need to read the old row back.
        self.keyed_lookups = bool(self.lookups) and all(column in keys for _, column in self.lookups)
        quoted = ", ".join(f'"{column}"' for column in self.columns)
        selected = ", ".join(f"t.{c}" for c in map(_quote, self.columns))
        marks = ", ".join("?" for _ in self.columns)
        self.select = f'SELECT {", ".join(f"t.{c}" for c in map(_quote, keys))}, {selected} FROM "{name}" t'
        self.upsert = f'INSERT OR REPLACE INTO "{name}" ({quoted}) VALUES ({marks})'
        self.delete = f'DELETE FROM "{name}" WHERE ' + " AND ".join(f'"{column}" = ?' for column in keys)
        # The rows a batch touched, joined to their current state (no rowid: deleted).
        noted = ", ".join(_KEY_COLUMNS[: len(keys)])
        joined = " AND ".join(f't."{column}" = d.{k}' for column, k in zip(keys, _KEY_COLUMNS, strict=False))
        self.dirty = (
            f"SELECT {', '.join(f'd.{k}' for k in _KEY_COLUMNS[: len(keys)])}, t.rowid, {selected}"
            f" FROM (SELECT DISTINCT {noted} FROM temp.persist_dirty WHERE tbl = ?) d"
            f' LEFT JOIN "{name}" t ON {joined}'
        )

    def lookups_of_key(self, key: bytes) -> _Indexed:
        """The lookup values a row has by its key alone (for tables whose lookups are all in it)."""
        values = dict(zip(self.keys, orjson.loads(key), strict=True))
        return {column: values[column] for _, column in self.lookups if values.get(column) is not None}

    def key_of(self, values: Sequence[typing.Any]) -> bytes:
        """The store's field for a row: the JSON array of its primary key."""
        return orjson.dumps(list(values))

    def indexed(self, cells: Sequence[typing.Any]) -> _Indexed | None:
        """The row's lookup values, or ``None`` when the cache's queries do not show it."""
        if self.hidden is not None and self.hidden[1](cells[self.hidden[0]]):
            return None
        return {column: cells[i] for i, column in self.lookups if cells[i] is not None}

    def encode(self, cells: Sequence[typing.Any]) -> bytes:
        """The row as a JSON object, its entity embedded last."""
        blob = self.blob
        if blob is None:
            return orjson.dumps(dict(zip(self.columns, cells, strict=True)))
        data = cells[blob]
        if type(data) is not bytes or data[:1] not in (b"{", b"["):
            jsonfile_._embedded(data, self.name, self.columns[blob])  # raises the clear error
        head = {column: value for i, (column, value) in enumerate(zip(self.columns, cells, strict=True)) if i != blob}
        return orjson.dumps(head)[:-1] + self.marker + data + b"}"

    def decode(self, raw: bytes) -> list[typing.Any]:
        """The row's cells in column order (the inverse of [`encode`][])."""
        blob = self.blob
        # A quote cannot appear unescaped inside a JSON string, so the first `,"data":` is the field's.
        at = raw.find(self.marker) if blob is not None else -1
        if blob is None or at < 0:
            document = orjson.loads(raw)
            return [jsonfile_._cell(document.get(column), i == blob) for i, column in enumerate(self.columns)]
        head = orjson.loads(raw[:at] + b"}")
        cells = [head.get(column) for column in self.columns]
        cells[blob] = raw[at + len(self.marker) : -1]
        return cells


def _insert(db: sqlite3.Connection, table: _Table, rows: list[list[typing.Any]], name: str) -> None:
    try:
        db.executemany(table.upsert, rows)
    except (sqlite3.Error, OverflowError, ValueError) as exc:
        msg = f"{name} has rows in {table.name!r} that do not fit its schema ({exc}); refusing to touch it"
        raise SchemaError(msg) from exc


class _Changes:
    """The rows of one table a batch changed, and their lookups before and after."""

    __slots__: typing.Sequence[str] = ("before", "deletes", "indexed", "table", "upserts")

    def __init__(self, table: _Table) -> None:
        self.table = table
        self.upserts: dict[bytes, bytes] = {}
        self.deletes: list[bytes] = []
        self.indexed: dict[bytes, _Indexed | None] = {}
        self.before: dict[bytes, _Indexed | None] = {}

    def moves(self) -> Iterable[tuple[bytes, _Indexed, _Indexed]]:
        for key in (*self.upserts, *self.deletes):
            old, new = self.before.get(key), self.indexed.get(key)
            if old or new:
                yield key, old or {}, new or {}


def _replicated(db: sqlite3.Connection) -> list[str]:
    """The replica's tables that mirror the store (its own bookkeeping left out)."""
    return [name for name in jsonfile_._tables(db) if name != _STATE_TABLE]


def _quote(column: str) -> str:
    return f'"{column}"'


def _triggers(table: _Table) -> list[str]:
    """Temporary triggers noting every row of ``table`` a batch inserts, updates or deletes."""
    name = table.name
    noted = ", ".join(_KEY_COLUMNS[: table.arity])

    def note(row: str) -> str:
        values = ", ".join(f'{row}."{column}"' for column in table.keys)
        return f"INSERT INTO persist_dirty (tbl, {noted}) VALUES ('{name}', {values});"

    moved = " OR ".join(f'OLD."{column}" IS NOT NEW."{column}"' for column in table.keys)
    return [
        f'CREATE TEMP TRIGGER IF NOT EXISTS "persist_r_{name}_i" AFTER INSERT ON main."{name}" BEGIN {note("NEW")} END',
        f'CREATE TEMP TRIGGER IF NOT EXISTS "persist_r_{name}_u" AFTER UPDATE ON main."{name}" BEGIN {note("NEW")} END',
        # A changed primary key moves the row: its old key is gone.
        f'CREATE TEMP TRIGGER IF NOT EXISTS "persist_r_{name}_m" AFTER UPDATE ON main."{name}" WHEN {moved}'
        f" BEGIN {note('OLD')} END",
        f'CREATE TEMP TRIGGER IF NOT EXISTS "persist_r_{name}_d" AFTER DELETE ON main."{name}" BEGIN {note("OLD")} END',
    ]


class RedisBackend(Batching, Backend):
    """Store the cache in Redis (or Valkey), shared by every process of a sharded bot.

    Several processes, each running some of the bot's shards, can write one store at once: their
    batches are serialised by a lock in the store and each process follows the others' writes (see
    the module's documentation for the layout and the design). Any process can read it, e.g. a
    dashboard with a [`ReadOnlyCache`][hikaripersist.readonly.ReadOnlyCache].

    Each process keeps a replica of the store in a private SQLite file in the temporary folder
    (``TMPDIR``), which queries run on: it takes about as much disk as an SQLite store of the same
    data, is rebuilt from Redis when the backend opens, and is deleted when it closes.

    Parameters
    ----------
    url
        A redis-py URL: ``redis://[[user]:password@]host[:port][/database]``, ``rediss://`` for
        TLS, ``unix:///path/to/socket``.
    prefix
        The prefix of every key of the store; give each bot its own.
    batch_size
        Most events written in one transaction.
    flush_interval
        Seconds the writer waits for a batch to fill before writing what it has.
    lock_timeout
        Seconds a writer holds the store's lock at most (a writer that died frees it after this).
    log_length
        About how many batches the store's log keeps for processes catching up; one that fell
        further behind reloads the whole store.
    replica
        A file for this process's replica, kept when the backend closes: the next open (a restart)
        only applies the batches written since, as long as the store's log still holds them,
        instead of reloading the whole store. One process per file. ``None`` (the default) keeps
        the replica in a temporary folder, deleted when the backend closes.

    Raises
    ------
    ValueError
        If ``prefix`` is empty, ``batch_size`` or ``log_length`` is below 1, or ``flush_interval``
        or ``lock_timeout`` is not positive.
    ImportError
        If redis-py is not installed (``pip install "hikari-persist[redis]"``).
    hikaripersist.BackendError
        From [`open`][hikaripersist.backend.Backend.open] when the server cannot be reached or
        refuses the credentials.
    hikaripersist.SchemaError
        From [`open`][hikaripersist.backend.Backend.open] when the keys under ``prefix`` are not a
        hikari-persist store or were written by a newer version.

    Examples
    --------
    ```py
    cache = persist.Cache(bot, persist.RedisBackend("redis://127.0.0.1:6379/0", prefix="my-bot"))
    ```
    """

    __slots__: typing.Sequence[str] = (
        "_batch_size",
        "_client",
        "_db",
        "_executor",
        "_flush_interval",
        "_folder",
        "_lock_timeout",
        "_log_length",
        "_loop",
        "_offline",
        "_path",
        "_prefix",
        "_read_only",
        "_replica",
        "_replica_lock",
        "_seq",
        "_state",
        "_store",
        "_tables",
        "_token",
        "_url",
        "_writing",
    )

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "hikari-persist",
        batch_size: int = 1000,
        flush_interval: float = 0.25,
        lock_timeout: float = 30.0,
        log_length: int = 10_000,
        replica: str | os.PathLike[str] | None = None,
    ) -> None:
        if not prefix:
            msg = "prefix cannot be empty"
            raise ValueError(msg)
        self._init_batching(batch_size, flush_interval)
        if log_length < 1:
            msg = "log_length must be at least 1"
            raise ValueError(msg)
        if lock_timeout <= 0:
            msg = "lock_timeout must be positive"
            raise ValueError(msg)
        _redis()  # fail at construction, naming the extra, when redis-py is missing
        self._url = url
        self._prefix = prefix
        self._lock_timeout = lock_timeout
        self._log_length = log_length
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: typing.Any = None
        self._db: jsonfile_._Connection | None = None
        self._folder: str | None = None
        self._replica = pathlib.Path(replica) if replica is not None else None
        self._replica_lock: int | None = None
        self._tables: dict[str, _Table] = {}
        self._seq = 0
        self._store: bytes | None = None
        self._read_only = False
        self._offline = False
        self._path: str | None = None  # the replica's file, for readers' own connections
        self._writing = 0  # batches in the worker thread (it may be waiting for another process)
        self._token = secrets.token_hex(16)
        self._state = sqlite_._WriterState()

    def __repr__(self) -> str:
        return f"RedisBackend({_safe_url(self._url)!r}, prefix={self._prefix!r})"

    @property
    def name(self) -> str:
        return f"Redis store {self._prefix!r} at {_safe_url(self._url)}"

    @property
    def url(self) -> str:
        """The server's URL (with its password, if any)."""
        return self._url

    @property
    def prefix(self) -> str:
        """The prefix of every key of the store."""
        return self._prefix

    @property
    def is_open(self) -> bool:
        return self._db is not None

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    # --- the worker thread ----------------------------------------------------------------------
    # The replica, the client and its event loop belong to one worker thread: the engine is
    # synchronous, and the bot's event loop must never wait on SQLite or on a batch's round trips.

    def _call(self, awaitable: Awaitable[_T]) -> _T:
        assert self._loop is not None
        return self._loop.run_until_complete(awaitable)

    async def _run(self, fn: Callable[..., _T], *args: typing.Any) -> _T:
        if self._executor is None or self._db is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # --- lifetime ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create the store if it does not exist (or migrate it), and load the replica.

        Raises
        ------
        hikaripersist.BackendError
            If the server cannot be reached or refuses the credentials.
        hikaripersist.SchemaError
            If the keys under the prefix are not a hikari-persist store or were written by a newer
            version.
        """
        await self._start(read_only=False)

    async def open_read_only(self) -> None:
        """Connect and load the replica without creating, migrating or changing the store.

        Raises
        ------
        hikaripersist.BackendError
            If the server cannot be reached or there is no store under the prefix yet.
        hikaripersist.SchemaError
            If the store's schema is not this version's (the bot's cache migrates it when it opens).
        """
        await self._start(read_only=True)

    async def _start(self, *, read_only: bool) -> None:
        if self.is_open:
            return
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hikaripersist-redis")
        self._read_only = read_only
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._open)
        except BaseException:
            await self.close()
            raise

    def _open(self) -> None:
        self._loop = asyncio.new_event_loop()
        redis = _redis()
        self._client = redis.Redis.from_url(self._url, socket_connect_timeout=10, health_check_interval=30)
        try:
            self._call(self._client.ping())
        except Exception as exc:
            raise self._error("cannot connect to", exc) from exc
        self._folder = tempfile.mkdtemp(prefix="hikari-persist-redis-")
        meta = self._meta()
        if not meta:
            if self._read_only:
                msg = f"cannot open {self.name} for reading: there is no store there yet (the bot's cache creates it)"
                raise BackendError(msg)
            self._create()
            meta = self._meta()
        version = self._check(meta)
        if self._replica is not None:
            self._lock_replica(self._replica)
        if version != schema.SCHEMA_VERSION:
            if self._read_only:
                msg = (
                    f"{self.name} has schema {version}, this version reads schema {schema.SCHEMA_VERSION}; open it"
                    " with the bot's cache (a read-only cache never migrates)"
                )
                raise SchemaError(msg)
            self._locked(self._migrate)
        elif not self._resume(meta):
            self._reload()

    def _lock_replica(self, path: pathlib.Path) -> None:
        """Hold ``path``'s lock file while open: two processes must not share a replica."""
        self._replica_lock = filelock.hold(
            path, f"the replica file {str(path)!r} of {self.name}", "give each process its own replica file"
        )

    def _resume(self, meta: Mapping[bytes, bytes]) -> bool:
        """Use the kept replica file if it holds this store; whether it did."""
        path = self._replica
        if path is None or not path.exists():
            return False
        try:
            db = self._connect(path)
        except sqlite3.Error as exc:
            _LOGGER.warning("cannot use the replica file %s (%s); reloading %s", path, exc, self.name)
            return False
        try:
            state = db.execute(f"SELECT prefix, store, seq, schema_version FROM {_STATE_TABLE}").fetchone()
        except sqlite3.Error:
            state = None
        store = meta.get(b"store", b"").decode()
        if state is None or tuple(state[:2]) != (self._prefix, store) or state[3] != schema.SCHEMA_VERSION:
            db.close()
            _LOGGER.info("the replica file %s holds another store; reloading %s", path, self.name)
            return False
        self._install(db)
        self._seq, self._store = int(state[2]), store.encode()
        _LOGGER.info("resuming the replica file %s of %s at batch %s", path, self.name, self._seq)
        # Catches up from the log, or reloads when the log no longer reaches back that far.
        self._catch_up()
        return True

    def _error(self, action: str, exc: BaseException) -> BackendError:
        errors = _errors()
        if isinstance(exc, errors.AuthenticationError | errors.AuthorizationError) or "WRONGPASS" in str(exc):
            return BackendError(f"{action} {self.name}: the server refused the credentials ({exc})")
        return BackendError(f"{action} {self.name}: {exc}")

    def _meta(self) -> dict[bytes, bytes]:
        try:
            meta: dict[bytes, bytes] = self._call(self._client.hgetall(self._key("meta")))
        except Exception as exc:
            raise self._error("cannot read", exc) from exc
        return meta

    def _check(self, meta: Mapping[bytes, bytes]) -> int:
        """The schema version of a store known to be ours and not newer than this version."""
        if meta.get(b"format") != _FORMAT:
            msg = f"{self.name}: the key {self._key('meta')!r} is not a hikari-persist store's; refusing to touch it"
            raise SchemaError(msg)
        try:
            version = int(meta[b"schema_version"])
        except (KeyError, ValueError) as exc:
            msg = f"{self.name} has no usable schema version; refusing to touch it"
            raise SchemaError(msg) from exc
        if version > schema.SCHEMA_VERSION:
            msg = (
                f"{self.name} was written by a newer hikari-persist (schema {version}, this version reads up to"
                f" {schema.SCHEMA_VERSION}); upgrade hikari-persist or use another prefix"
            )
            raise SchemaError(msg)
        if version not in jsonfile_._LOADABLE_VERSIONS:
            msg = f"{self.name} has schema {version}, which this version cannot migrate"
            raise SchemaError(msg)
        return version

    def _create(self) -> None:
        async def create() -> None:
            found = [key async for key in self._client.scan_iter(match=self._key("rows", "*"), count=1000)]
            if found:
                msg = f"{self.name}: keys under {self._prefix!r} exist but are not a hikari-persist store's"
                raise SchemaError(msg)
            # One script, so that another process opening at the same time sees no half-made store.
            await self._client.eval(
                _CREATE,
                2,
                self._key("meta"),
                self._key("seq"),
                _FORMAT,
                schema.SCHEMA_VERSION,
                secrets.token_hex(8),
            )

        try:
            self._call(create())
        except SchemaError:
            raise
        except Exception as exc:
            raise self._error("cannot create", exc) from exc

    async def close(self) -> None:
        """Close the store (idempotent); every committed batch is already in Redis."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._shutdown)
            executor.shutdown(wait=False)
        self._read_only = False

    def _shutdown(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()
        client, self._client = self._client, None
        loop, self._loop = self._loop, None
        if loop is not None:
            if client is not None:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(client.aclose())
            loop.close()
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        lock, self._replica_lock = self._replica_lock, None
        filelock.release(lock)
        self._tables = {}
        self._seq = 0
        self._store = None
        self._state.installed = frozenset()

    # --- the replica ----------------------------------------------------------------------------

    def _connect(self, path: pathlib.Path) -> jsonfile_._Connection:
        db = sqlite3.connect(path, factory=jsonfile_._Connection, isolation_level=None, check_same_thread=False)
        # WAL lets an iteration read its snapshot through another connection while batches commit.
        db.execute("PRAGMA journal_mode=WAL")
        # A temporary replica is rebuilt whenever it is opened: durability is Redis's business. A
        # kept one must survive a crash consistent (its state row commits with its rows).
        db.execute(f"PRAGMA synchronous={'OFF' if self._replica is None else 'NORMAL'}")
        return db

    def _new_replica(self) -> jsonfile_._Connection:
        assert self._folder is not None
        return self._connect(pathlib.Path(self._folder) / f"replica-{secrets.token_hex(4)}.db")

    def _set_state(self, db: sqlite3.Connection, seq: int, store: bytes | None) -> None:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        db.execute(_STATE_SCHEMA)
        db.execute(_SET_STATE, (self._prefix, (store or b"").decode(), seq, int(version[0]) if version else 0))

    def _adopt(self, db: jsonfile_._Connection) -> None:
        """Make the freshly built ``db`` the replica (copied into the kept file, if there is one)."""
        path = self._replica
        if path is None:
            self._install(db)
            return
        target = self._db if self._db is not None else self._connect(path)
        built = str(db.execute("PRAGMA database_list").fetchone()[2])
        try:
            # One atomic replacement: a crash leaves the old replica or the new one.
            db.backup(target)
        except BaseException:
            if target is not self._db:
                target.close()
            raise
        finally:
            db.close()
            _remove_database(built)
        self._install(target)

    def _install(self, db: jsonfile_._Connection) -> None:
        """Make ``db`` the replica: note its tables and the triggers that find what a batch changed."""
        db.execute(_DIRTY_TABLE)
        names = _replicated(db)
        tables = {name: _Table(db, name) for name in names}
        for table in tables.values():
            for statement in _triggers(table):
                db.execute(statement)
        old, self._db = self._db, db
        self._path = str(db.execute("PRAGMA database_list").fetchone()[2])
        self._tables = tables
        self._state.installed = frozenset()  # the engine's temporary triggers lived with the old connection
        if old is not None and old is not db:
            path = str(old.execute("PRAGMA database_list").fetchone()[2])
            old.close()
            if self._replica is None:
                # An iteration still reading the old file keeps it open until it ends (POSIX).
                _remove_database(path)

    def _load(self, version: int) -> tuple[jsonfile_._Connection, int, bytes | None]:
        """A new replica holding the whole store (schema ``version``), and the batch it is at."""

        async def snapshot(db: sqlite3.Connection) -> tuple[int, bytes | None]:
            seq = int(await self._client.get(self._key("seq")) or 0)
            store: bytes | None = await self._client.hget(self._key("meta"), "store")
            for name in _replicated(db):
                table = _Table(db, name)
                rows: list[list[typing.Any]] = []
                async for _, raw in self._client.hscan_iter(self._key("rows", name), count=_CHUNK):
                    rows.append(table.decode(raw))
                    if len(rows) >= _CHUNK:
                        _insert(db, table, rows, self.name)
                        rows = []
                if rows:
                    _insert(db, table, rows, self.name)
            return seq, store

        db = self._new_replica()
        try:
            db.execute("BEGIN")
            statements = schema.create_statements(version)
            # Indexes are built once the rows are in: faster than keeping them up to date row by row.
            for statement in statements:
                if statement.startswith("CREATE TABLE"):
                    db.execute(statement)
            db.execute(f"PRAGMA application_id = {sqlite_._APPLICATION_ID}")
            try:
                seq, store = self._call(snapshot(db))
            except SchemaError:
                raise
            except Exception as exc:
                raise self._error("cannot read", exc) from exc
            for statement in statements:
                if not statement.startswith("CREATE TABLE"):
                    db.execute(statement)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version),),
            )
            self._set_state(db, seq, store)
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db, seq, store

    def _reload(self) -> None:
        """Rebuild the replica from the store and catch up with what was written meanwhile."""
        db, seq, store = self._load(schema.SCHEMA_VERSION)
        self._adopt(db)
        self._seq, self._store = seq, store
        # Rows copied while other processes wrote may be newer than `seq`: replaying the log from
        # there rewrites them with their current values, which makes the replica whole again.
        self._catch_up()

    def _catch_up(self) -> None:
        """Apply the batches committed since the replica's; reload it when the log cannot tell."""
        for _ in range(5):
            state = self._call(self._changes_since(self._seq))
            if state is None:
                return
            if isinstance(state, str):
                _LOGGER.info("reloading the replica of %s (%s)", self.name, state)
                db, seq, store = self._load(schema.SCHEMA_VERSION)
                self._adopt(db)
                self._seq, self._store = seq, store
                continue
            seq, rows = state
            self._apply_rows(rows, seq)
            self._seq = seq
            return
        msg = f"{self.name} is being replaced faster than this process can reload it"
        raise BackendError(msg)

    async def _changes_since(self, seq: int) -> tuple[int, list[tuple[str, bytes, bytes | None]]] | str | None:
        """``None`` when up to date, the rows changed up to the current batch, or why to reload."""
        client = self._client
        pipe = client.pipeline(transaction=True)
        pipe.get(self._key("seq"))
        pipe.hget(self._key("meta"), "store")
        current, store = await pipe.execute()
        current = int(current or 0)
        if store != self._store:
            return "the store was replaced"
        if current == seq:
            return None
        if current < seq:
            return "the store went back in time"
        keys: dict[str, set[bytes]] = {}
        values: dict[tuple[str, bytes], bytes | None] = {}
        start = seq
        while True:
            entries = await client.xrange(self._key("log"), min=f"{start + 1}-0", max=f"{current}-1")
            numbers = [int(entry_id.split(b"-")[0]) for entry_id, _ in entries]
            if numbers != list(range(start + 1, current + 1)):
                return "it fell behind the store's log"
            for _, fields in entries:
                if b"reset" in fields:
                    return "the store was replaced"
                for table, key in orjson.loads(fields[b"k"]):
                    keys.setdefault(table, set()).add(key.encode())
            # The rows' values and the batch they belong to, read atomically: if more batches
            # landed meanwhile, add their rows and read again so the replica sees whole batches.
            pipe = client.pipeline(transaction=True)
            pipe.get(self._key("seq"))
            order: list[tuple[str, list[bytes]]] = []
            for table, names in keys.items():
                listed = sorted(names)
                for begin in range(0, len(listed), _CHUNK):
                    part = listed[begin : begin + _CHUNK]
                    pipe.hmget(self._key("rows", table), part)
                    order.append((table, part))
            results = await pipe.execute()
            latest = int(results[0] or 0)
            for (table, part), found in zip(order, results[1:], strict=True):
                for key, value in zip(part, found, strict=True):
                    values[(table, key)] = value
            if latest == current:
                return current, [(table, key, value) for (table, key), value in values.items()]
            start, current = current, latest

    def _apply_rows(self, rows: Iterable[tuple[str, bytes, bytes | None]], seq: int) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN")
        try:
            for table_name, key, value in rows:
                table = self._tables.get(table_name)
                if table is None:
                    continue  # a table a newer release added; it would have bumped the schema
                if value is None:
                    db.execute(table.delete, orjson.loads(key))
                else:
                    db.execute(table.upsert, table.decode(value))
            db.execute("DELETE FROM temp.persist_dirty")
            self._set_state(db, seq, self._store)
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    # --- writing --------------------------------------------------------------------------------

    def _locked(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` holding the store's lock (waiting for it while another process writes)."""
        self._call(self._acquire())
        try:
            return fn()
        finally:
            with contextlib.suppress(Exception):
                self._call(self._client.eval(_RELEASE, 1, self._key("lock"), self._token))

    async def _acquire(self) -> None:
        delay, longest = _LOCK_POLL
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self._lock_timeout
        ttl = str(int(self._lock_timeout * 1000))
        try:
            while not await self._client.eval(_ACQUIRE, 1, self._key("lock"), self._token, ttl):
                if delay == _LOCK_POLL[0]:
                    _LOGGER.debug("waiting for the lock of %s (another process is writing)", self.name)
                if loop.time() > deadline:
                    msg = f"timed out waiting for the lock of {self.name} (another writer holds it)"
                    raise BackendError(msg)
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
        except BackendError:
            raise
        except Exception as exc:
            raise self._error("cannot lock", exc) from exc

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        return await self._writing_batch(batch, rule, None)

    async def write_with_changes(
        self, batch: Sequence[hikari.Event], *, rule: Rule | None, changes: ChangeRequest
    ) -> WriteResult:
        return await self._writing_batch(batch, rule, changes)

    async def _writing_batch(
        self, batch: Sequence[hikari.Event], rule: Rule | None, request: ChangeRequest | None
    ) -> WriteResult:
        self._writing += 1
        try:
            return await self._run(self._write, batch, rule, request)
        finally:
            self._writing -= 1

    def _write(self, batch: Sequence[hikari.Event], rule: Rule | None, request: ChangeRequest | None) -> WriteResult:
        if self._read_only:
            msg = f"{self.name} is open read-only"
            raise BackendError(msg)

        def apply() -> WriteResult:
            try:
                self._catch_up()
            except BackendError:
                raise
            except Exception as exc:
                raise self._error("cannot read", exc) from exc
            db = self._db
            assert db is not None
            db.execute("DELETE FROM temp.persist_dirty")
            pushed: list[int] = []
            noted: list[int] = []

            def before_commit() -> None:
                # The rows the triggers noted count as written in SQLite's counter, not ours.
                noted.append(db.execute("SELECT COUNT(*) FROM temp.persist_dirty").fetchone()[0])
                seq = self._push(db)
                if seq is not None:
                    pushed.append(seq)
                    self._set_state(db, seq, self._store)

            db.before_commit = before_commit
            try:
                result = sqlite_._apply_batch(db, batch, rule, self._state, request)
            except BaseException:
                if pushed:
                    # Redis has the batch but the replica could not commit it: rebuild the replica.
                    self._store = None
                raise
            finally:
                db.before_commit = None
            if pushed:
                self._seq = pushed[0]
            self._offline = False
            return result._replace(rows=max(0, result.rows - sum(noted)))

        return self._locked(apply)

    def _push(self, db: sqlite3.Connection) -> int | None:
        """Write the rows the open transaction changed to the store; the new batch number or ``None``."""
        changed: dict[str, _Changes] = {}
        listed: list[tuple[str, str]] = []
        for (name,) in db.execute("SELECT DISTINCT tbl FROM temp.persist_dirty").fetchall():
            table = self._tables[name]
            changes = _Changes(table)
            arity = table.arity
            for row in db.execute(table.dirty, (name,)):
                key = table.key_of(row[:arity])
                listed.append((name, key.decode()))
                if row[arity] is None:
                    changes.deletes.append(key)
                else:
                    cells = row[arity + 1 :]
                    changes.upserts[key] = table.encode(cells)
                    if table.lookups:
                        changes.indexed[key] = table.indexed(cells)
            changed[name] = changes
        if not listed:
            return None
        db.execute("DELETE FROM temp.persist_dirty")
        try:
            return self._call(self._commit(changed, orjson.dumps(listed)))
        except BackendError:
            raise
        except Exception as exc:
            raise self._error("cannot write to", exc) from exc

    async def _commit(self, changed: Mapping[str, _Changes], log: bytes) -> int:
        errors = _errors()
        # The lookups the rows had before (this process holds the lock: nobody changes them meanwhile).
        reads = self._client.pipeline(transaction=False)
        order: list[tuple[_Changes, list[bytes]]] = []
        for name, changes in changed.items():
            table = changes.table
            if table.keyed_lookups:
                # Adding to or removing from a set is idempotent: where the row is shown now decides.
                for key in (*changes.upserts, *changes.deletes):
                    changes.before[key] = None if changes.indexed.get(key) else table.lookups_of_key(key)
            elif table.lookups:
                keys = [*changes.upserts, *changes.deletes]
                for begin in range(0, len(keys), _CHUNK):
                    part = keys[begin : begin + _CHUNK]
                    reads.hmget(self._key("rows", name), part)
                    order.append((changes, part))
        for (changes, part), found in zip(order, await reads.execute() if order else [], strict=True):
            for key, raw in zip(part, found, strict=True):
                changes.before[key] = changes.table.indexed(changes.table.decode(raw)) if raw is not None else None
        async with self._client.pipeline(transaction=True) as pipe:
            await pipe.watch(self._key("seq"))
            current = int(await pipe.get(self._key("seq")) or 0)
            if current != self._seq:
                msg = f"another process wrote to {self.name} while this batch was written (its lock expired)"
                raise BackendError(msg)
            seq = current + 1
            pipe.multi()
            for name, changes in changed.items():
                key = self._key("rows", name)
                items = list(changes.upserts.items())
                for begin in range(0, len(items), _CHUNK):
                    pipe.hset(key, mapping=dict(items[begin : begin + _CHUNK]))
                for begin in range(0, len(changes.deletes), _CHUNK):
                    pipe.hdel(key, *changes.deletes[begin : begin + _CHUNK])
                self._queue_lookups(pipe, name, changes.moves())
            pipe.set(self._key("seq"), seq)
            pipe.xadd(self._key("log"), {"k": log}, id=f"{seq}-1", maxlen=self._log_length, approximate=False)
            try:
                await pipe.execute()
            except errors.WatchError as exc:
                msg = f"another process wrote to {self.name} while this batch was written (its lock expired)"
                raise BackendError(msg) from exc
        return seq

    def _queue_lookups(self, pipe: typing.Any, table: str, moves: Iterable[tuple[bytes, _Indexed, _Indexed]]) -> None:
        """Queue the set updates moving each row key from its old lookup values to its new ones."""
        added: dict[str, list[bytes]] = {}
        removed: dict[str, list[bytes]] = {}
        scored: dict[str, dict[bytes, float]] = {}
        for key, old, new in moves:
            for column in {*old, *new}:
                before, after = old.get(column), new.get(column)
                if before == after:
                    continue
                if before is not None:
                    removed.setdefault(self._key("by", table, column, str(before)), []).append(key)
                if after is not None:
                    target = self._key("by", table, column, str(after))
                    if (table, column) in _SORTED_LOOKUPS:
                        # Scores are doubles: a snowflake's millisecond part orders exactly.
                        scored.setdefault(target, {})[key] = float(int(orjson.loads(key)[0]) >> 22)
                    else:
                        added.setdefault(target, []).append(key)
        for target, keys in removed.items():
            if any(target.startswith(self._key("by", t, c, "")) for t, c in _SORTED_LOOKUPS):
                pipe.zrem(target, *keys)
            else:
                pipe.srem(target, *keys)
        for target, keys in added.items():
            pipe.sadd(target, *keys)
        for target, mapping in scored.items():
            pipe.zadd(target, mapping)

    def _replace(self, db: jsonfile_._Connection) -> None:
        """Make the store hold exactly ``db``'s rows (holding the lock), then use ``db`` as the replica."""

        async def rewrite() -> bytes:
            store = secrets.token_hex(8).encode()
            existing = [key async for key in self._client.scan_iter(match=self._key("rows", "*"), count=1000)]
            existing += [key async for key in self._client.scan_iter(match=self._key("by", "*"), count=1000)]
            tables = {name: _Table(db, name) for name in _replicated(db)}
            async with self._client.pipeline(transaction=True) as pipe:
                seq = int(await self._client.get(self._key("seq")) or 0) + 1
                pipe.multi()
                if existing:
                    pipe.delete(*existing)
                for name, table in tables.items():
                    rows = db.execute(table.select).fetchall()
                    for begin in range(0, len(rows), _CHUNK):
                        part = rows[begin : begin + _CHUNK]
                        arity = table.arity
                        mapping = {table.key_of(r[:arity]): table.encode(r[arity:]) for r in part}
                        pipe.hset(self._key("rows", name), mapping=mapping)
                        if table.lookups:
                            moves: list[tuple[bytes, _Indexed, _Indexed]] = [
                                (table.key_of(r[:arity]), {}, table.indexed(r[arity:]) or {}) for r in part
                            ]
                            self._queue_lookups(pipe, name, moves)
                version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
                pipe.hset(self._key("meta"), mapping={"schema_version": version, "store": store})
                pipe.set(self._key("seq"), seq)
                pipe.xadd(self._key("log"), {"reset": b"1"}, id=f"{seq}-1", maxlen=self._log_length, approximate=False)
                await pipe.execute()
            self._seq = seq
            return store

        try:
            store = self._call(rewrite())
        except Exception as exc:
            raise self._error("cannot write to", exc) from exc
        self._set_state(db, self._seq, store)
        self._adopt(db)
        self._store = store

    def _migrate(self) -> None:
        meta = self._meta()
        version = self._check(meta)  # another process may have migrated it while this one waited
        db, _, _ = self._load(version)
        try:
            if version != schema.SCHEMA_VERSION:
                _LOGGER.info("migrating %s from schema %s to %s", self.name, version, schema.SCHEMA_VERSION)
                sqlite_._prepare_schema(db, self.name)
                self._replace(db)
                return
        except BaseException:
            db.close()
            raise
        db.close()
        self._reload()

    # --- reading ------------------------------------------------------------------------------

    def _fresh(self) -> jsonfile_._Connection:
        """The replica, brought up to date (or as last updated while the server is unreachable)."""
        db = self._db
        if db is None:
            msg = f"{self.name} is not open"
            raise BackendError(msg)
        try:
            self._catch_up()
        except SchemaError:
            raise
        except Exception as exc:
            if not self._offline:
                self._offline = True
                _LOGGER.warning("cannot reach %s, answering from the local replica: %s", self.name, exc)
        else:
            self._offline = False
        assert self._db is not None
        return self._db

    def _query(self, sql: str, params: tuple[typing.Any, ...], one: bool) -> typing.Any:
        db = self._fresh()
        db.execute("PRAGMA query_only=ON")
        try:
            cursor = db.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
        finally:
            db.execute("PRAGMA query_only=OFF")

    def _replica_path(self) -> str:
        db = self._fresh()
        return str(db.execute("PRAGMA database_list").fetchone()[2])

    async def fetch(self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500) -> AsyncIterator[list[Row]]:
        """Yield the rows of a read query in chunks, from one snapshot of the replica.

        The rows are read through a connection of their own, so a long iteration neither holds
        the rows in memory nor delays the writer.
        """
        path = self._path if self._writing and self._path else await self._run(self._replica_path)
        reader = await asyncio.to_thread(_open_reader, path)
        try:
            cursor = await asyncio.to_thread(reader.execute, sql, tuple(params))
            step = max(1, chunk)
            while rows := await asyncio.to_thread(cursor.fetchmany, step):
                yield rows
        finally:
            await asyncio.to_thread(reader.close)

    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> Row | None:
        """Return the first row of a read query.

        Between batches the replica is brought up to date first. While this process writes a
        batch (which may be waiting for another process's), the query reads the replica as last
        committed through a connection of its own instead of waiting for the batch.
        """
        if self._writing and self._path is not None and self._db is not None:
            row: Row | None = await asyncio.to_thread(_read_one, self._path, sql, tuple(params))
            return row
        found: Row | None = await self._run(self._query, sql, tuple(params), True)
        return found

    async def schema_version(self) -> int:
        return int(await self.scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)

    async def database_size(self) -> int:
        """Bytes the store's keys take in the server's memory (``MEMORY USAGE``)."""

        def run() -> int:
            async def measure() -> int:
                total = 0
                keys = [key async for key in self._client.scan_iter(match=self._key("*"), count=1000)]
                for begin in range(0, len(keys), _CHUNK):
                    pipe = self._client.pipeline(transaction=False)
                    for key in keys[begin : begin + _CHUNK]:
                        pipe.memory_usage(key)
                    total += sum(int(size or 0) for size in await pipe.execute())
                return total

            return self._call(measure())

        return await self._run(run)

    # --- backups ------------------------------------------------------------------------------

    async def backup(self, path: str | os.PathLike[str]) -> None:
        """Write a consistent copy of the store to ``path`` as a hikari-persist JSON file.

        The copy is the store as of one batch; [`restore`][hikaripersist.redis.RedisBackend.restore]
        and [`JSONBackend`][hikaripersist.jsonfile.JSONBackend] read it.

        Raises
        ------
        hikaripersist.BackendError
            If the store is not open or ``path`` cannot be written.
        """
        target = pathlib.Path(path)
        writer = jsonfile_.JSONBackend(target)

        def run() -> None:
            copy = sqlite3.connect(":memory:")
            try:
                self._fresh().backup(copy)
                copy.execute(f"DROP TABLE IF EXISTS {_STATE_TABLE}")  # the replica's own bookkeeping
                content = jsonfile_._render(copy, None)
            finally:
                copy.close()
            try:
                target.absolute().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                msg = f"cannot write the backup {str(target)!r}: {exc}"
                raise BackendError(msg) from exc
            writer._write_atomically(target, content, f"the backup {str(target)!r}")

        await self._run(run)

    async def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace the store's content with the JSON backup at ``path`` (checked before anything changes).

        Every process using the store reloads it.

        Raises
        ------
        hikaripersist.BackendError
            If there is no backup at ``path`` or the store cannot be written.
        hikaripersist.SchemaError
            If ``path`` is not a hikari-persist JSON file or was written by a newer version.
        """
        source = pathlib.Path(path)
        name = f"JSON backup {str(source)!r}"

        def run() -> None:
            if self._read_only:
                msg = f"{self.name} is open read-only"
                raise BackendError(msg)
            raw, _ = jsonfile_._read(source, name)
            if not raw:
                msg = f"no backup at {source}"
                raise BackendError(msg)
            loaded = jsonfile_._load(raw, name, migrate=True)
            db = self._new_replica()
            try:
                loaded.backup(db)
            finally:
                loaded.close()
            try:
                self._locked(lambda: self._replace(db))
            except BaseException:
                db.close()
                raise

        await self._run(run)


def _remove_database(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(path + suffix)


def _read_one(path: str, sql: str, params: tuple[typing.Any, ...]) -> Row | None:
    reader = _open_reader(path)
    try:
        row: Row | None = reader.execute(sql, params).fetchone()
        return row
    finally:
        reader.close()


def _open_reader(path: str) -> sqlite3.Connection:
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    reader.execute("PRAGMA query_only=ON")
    return reader
