"""The operator commands of ``python -m hikaripersist``: stats, inspect, export/import, backup/restore...

Every command takes stores as backend URLs (see ``hikaripersist.config.backend_from_url``) and
raises [`BackendError`][hikaripersist.backend.BackendError] (or ``ValueError``/``OSError``) for
what an operator can fix; the command line turns those into exit code 1 and one message.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "MIGRATION_NEEDED",
    "backup",
    "export",
    "import_",
    "inspect",
    "migrate",
    "prune",
    "restore",
    "stats",
    "vacuum",
)

import asyncio
import contextlib
import datetime
import os
import pathlib
import re
import sqlite3
import tempfile
import typing

import orjson

from hikaripersist import rules as rules_
from hikaripersist._internal import codec, offline, ops, portable, schema
from hikaripersist._internal.kinds import KINDS, SINGULAR
from hikaripersist._internal.progress import Progress
from hikaripersist.backend import BackendError, SchemaError
from hikaripersist.cache import Cache
from hikaripersist.config import _RULE_CLASSES, backend_from_url
from hikaripersist.jsonfile import JSONBackend
from hikaripersist.readonly import ReadOnlyCache
from hikaripersist.sqlite import SQLiteBackend

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence

    from hikaripersist.backend import Backend


MIGRATION_NEEDED: typing.Final[int] = 3
"""Exit code of ``migrate --check`` when the store needs a migration."""

_SQLITE_HEADER: typing.Final[bytes] = b"SQLite format 3\x00"
_HAS_SCHEMA: typing.Final = re.compile(r"has schema (\d+)")


def _backend(url: str) -> Backend:
    try:
        return backend_from_url(url)
    except ImportError as exc:
        raise BackendError(str(exc)) from None


def _is_server(backend: Backend) -> bool:
    return type(backend).__name__ in {"PostgreSQLBackend", "MySQLBackend"}


@contextlib.asynccontextmanager
async def _opened(backend: Backend, *, read_only: bool) -> AsyncGenerator[Backend, None]:
    if read_only:
        await backend.open_read_only()
    else:
        await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


def _bar(label: str, enabled: bool) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A ``progress(done, total)`` callback drawing a bar on stderr, and what closes it."""
    if not enabled:
        return None, lambda: None
    holder: list[Progress] = []

    def progress(done: int, total: int) -> None:
        if not holder:
            holder.append(Progress(label, total))
        holder[0](done)

    def close() -> None:
        if holder:
            holder[0].close()

    return progress, close


# --- stats / inspect -----------------------------------------------------------------------------


async def stats(url: str) -> int:
    """Print the entities per kind, the store's size and its schema version."""
    backend = _backend(url)
    async with ReadOnlyCache(backend) as cache:
        found = await cache.stats()
    print(backend.name)
    width = max(len(k) for k in (*found, "size (MB)"))
    for kind, count in found.items():
        print(f"  {kind:<{width}}  {count:>12,}")
    if found.database_size is not None:
        print(f"  {'size (MB)':<{width}}  {found.database_size / 1e6:>12,.1f}")
    print(f"  {'schema':<{width}}  {found.schema_version:>12}")
    return 0


def _filter_value(text: str) -> object:
    """A ``--where`` value: integers, ``true``/``false``/``null``, ``"quoted"`` text, otherwise the text itself."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"null", "none"}:
        return None
    with contextlib.suppress(ValueError):
        return int(text)
    return text


async def inspect(
    url: str,
    kind: str,
    *,
    guild: int | None,
    entity_id: int | None,
    where: Sequence[str],
    limit: int | None,
    output: str,
) -> int:
    """Print the stored entities of ``kind`` matching the filters, one per line."""
    if kind not in KINDS:
        msg = f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}"
        raise ValueError(msg)
    filters: dict[str, object] = {}
    for item in where:
        field, sep, value = item.partition("=")
        if not sep or not field:
            msg = f"--where takes FIELD=VALUE, got {item!r}"
            raise ValueError(msg)
        filters[field.strip()] = _filter_value(value)
    backend = _backend(url)
    async with ReadOnlyCache(backend) as cache:
        query = getattr(cache, kind)
        fields: tuple[str, ...] = query.fields
        for name, value in (("guild_id" if kind != "guilds" else "id", guild), ("id", entity_id)):
            if value is None:
                continue
            if name not in fields:
                alternative = "user_id" if "user_id" in fields else None
                if name == "id" and alternative:
                    name = alternative
                else:
                    msg = f"{kind} cannot be filtered by {name}; fields: {', '.join(fields)}"
                    raise ValueError(msg)
            filters[name] = value
        try:
            entities: AsyncIterator[typing.Any] = aiter(query.where(limit=limit, **filters))
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        shown = 0
        # Printed as read: a large kind streams instead of piling up in memory.
        async for entity in entities:
            shown += 1
            if output == "json":
                print(orjson.dumps(codec.encode(entity), option=orjson.OPT_SORT_KEYS).decode())
            else:
                key = getattr(entity, "id", None) or getattr(entity, "user_id", None) or getattr(entity, "code", "")
                print(f"{type(entity).__name__:<24} {key!s:<20} {entity}")
    if output != "json":
        print(f"({shown} {kind if shown != 1 else SINGULAR[kind]})")
    return 0


# --- export / import -------------------------------------------------------------------------------


async def export(url: str, file: pathlib.Path, *, progress: bool) -> int:
    """Write the store's rows to ``file`` in the portable format."""
    backend = _backend(url)
    async with _opened(backend, read_only=True):
        count = await _export_rows(backend, file, f"exporting to {file.name}", progress=progress)
    print(f"exported {count:,} rows of {backend.name} to {file}")
    return 0


async def _export_rows(backend: Backend, file: pathlib.Path, label: str, *, progress: bool) -> int:
    """Write an open store's rows to ``file`` in the portable format, with a progress bar; the row count."""
    bar, close = _bar(label, progress)
    try:
        return await portable.export_store(backend, file, progress=bar)
    finally:
        close()


async def _writer_submit(backend: Backend) -> Callable[[ops.ImportOp], typing.Awaitable[None]]:
    async def submit(op: ops.ImportOp) -> None:
        result = await backend.write([op], rule=None)
        error = result.errors[0]
        if error is not None:
            msg = f"cannot write the rows of {op.table!r} into {backend.name}: {error}"
            raise BackendError(msg) from error

    return submit


async def _load(
    info: portable.ExportInfo, backend: Backend, *, replace: bool, progress: bool, label: str | None = None
) -> int:
    if not replace:
        held = sum((await portable.count_rows(backend)).values())
        if held:
            msg = f"{backend.name} is not empty ({held:,} rows); pass --replace to replace its content"
            raise BackendError(msg)
    bar, close = _bar(label or f"importing {info.path.name}", progress)
    try:
        return await portable.import_export(
            info, await _writer_submit(backend), offline.make_offline_bot(), replace=replace, progress=bar
        )
    finally:
        close()


async def import_(file: pathlib.Path, url: str, *, replace: bool, progress: bool) -> int:
    """Load an export into a store (created if missing); refuse a non-empty one unless ``replace``."""
    info = await asyncio.to_thread(portable.read_info, file)
    backend = _backend(url)
    async with _opened(backend, read_only=False):
        count = await _load(info, backend, replace=replace, progress=progress)
    note = f" (migrated from schema {info.schema_version})" if info.schema_version != schema.SCHEMA_VERSION else ""
    print(f"imported {count:,} rows from {file} into {backend.name}{note}")
    return 0


# --- backup / restore ------------------------------------------------------------------------------


async def backup(url: str, file: pathlib.Path, *, progress: bool) -> int:
    """Copy the store consistently while a bot may be writing it."""
    backend = _backend(url)
    if isinstance(backend, SQLiteBackend):
        # Checks the file is a store of ours, then copies it from a connection of its own.
        await _require_store(backend)
        source = pathlib.Path(backend.path)
        await asyncio.to_thread(lambda: portable.sqlite_backup(source.absolute().as_uri(), file))
        print(f"backed up {backend.name} to {file} (SQLite online backup)")
        return 0
    async with _opened(backend, read_only=True):
        native = getattr(backend, "backup", None)
        if native is not None and not _is_server(backend):
            await native(file)
            print(f"backed up {backend.name} to {file} (hikari-persist JSON file)")
            return 0
        count = await _export_rows(backend, file, f"backing up to {file.name}", progress=progress)
    print(f"backed up {count:,} rows of {backend.name} to {file} (export format)")
    return 0


def _file_kind(file: pathlib.Path) -> str:
    if not file.is_file():
        msg = f"no backup at {file}"
        raise BackendError(msg)
    with open(file, "rb") as handle:
        head = handle.read(len(_SQLITE_HEADER))
    if head == _SQLITE_HEADER:
        return "sqlite"
    if portable.is_export(file):
        return "export"
    return "json"


async def restore(file: pathlib.Path, url: str, *, progress: bool) -> int:
    """Replace the store's content with a backup: an SQLite file, a JSON file or an export."""
    kind = await asyncio.to_thread(_file_kind, file)
    backend = _backend(url)
    if kind == "export":
        info = await asyncio.to_thread(portable.read_info, file)
        async with _opened(backend, read_only=False):
            count = await _load(info, backend, replace=True, progress=progress, label=f"restoring {file.name}")
        print(f"restored {count:,} rows from {file} into {backend.name}")
        return 0
    native_match = (kind == "sqlite" and isinstance(backend, SQLiteBackend)) or (
        kind == "json" and type(backend).__name__ in {"JSONBackend", "RedisBackend"}
    )
    if native_match:
        async with _opened(backend, read_only=False):
            native: Callable[[pathlib.Path], typing.Awaitable[None]] = getattr(backend, "restore")  # noqa: B009
            await native(file)
        print(f"restored {backend.name} from {file}")
        return 0
    # Another backend's backup: read it as a store of its kind and copy its rows.
    source: Backend = SQLiteBackend(file) if kind == "sqlite" else JSONBackend(file)
    with tempfile.TemporaryDirectory(prefix="hikaripersist-restore-") as folder:
        temp = pathlib.Path(folder) / "backup.jsonl"
        async with _opened(source, read_only=True):
            await portable.export_store(source, temp)
        info = await asyncio.to_thread(portable.read_info, temp)
        async with _opened(backend, read_only=False):
            count = await _load(info, backend, replace=True, progress=progress, label=f"restoring {file.name}")
    print(f"restored {count:,} rows from {file} into {backend.name}")
    return 0


# --- migrate / vacuum / prune ----------------------------------------------------------------------


async def _require_store(backend: Backend) -> None:
    """Fail unless the store exists at this release's schema (a mistyped path must not create one)."""
    async with _opened(backend, read_only=True):
        pass


async def _stored_version(backend: Backend) -> int | None:
    """The store's schema version without changing it (``None``: no store yet)."""
    try:
        async with _opened(backend, read_only=True):
            return await backend.schema_version()
    except SchemaError as exc:
        found = _HAS_SCHEMA.search(str(exc))
        if found is None:
            raise
        return int(found.group(1))
    except BackendError as exc:
        if "does not exist" in str(exc):
            return None
        raise


async def migrate(url: str, *, check: bool) -> int:
    """Bring the store to the current schema (``check``: only report whether that is needed)."""
    backend = _backend(url)
    before = await _stored_version(backend)
    current = schema.SCHEMA_VERSION
    if before is not None and before > current:
        msg = f"{backend.name} has schema {before}, newer than this release's {current}; upgrade hikari-persist"
        raise SchemaError(msg)
    if before is None:
        msg = f"{backend.name} does not exist: nothing to migrate (the bot's cache creates it)"
        raise BackendError(msg)
    if check:
        if before == current:
            print(f"{backend.name} is at schema {current}, this release's; nothing to migrate")
            return 0
        print(f"{backend.name} is at schema {before}; a migration to schema {current} is needed")
        return MIGRATION_NEEDED
    async with _opened(backend, read_only=False):
        after = await backend.schema_version()
    if before == after:
        print(f"{backend.name} is at schema {after}, this release's; nothing to migrate")
    else:
        print(f"migrated {backend.name} from schema {before} to {after}")
    return 0


def _sqlite_vacuum(path: str) -> tuple[int, int]:
    def size() -> int:
        return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))

    before = size()
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA optimize")
    except sqlite3.Error as exc:
        msg = f"cannot vacuum {path}: {exc}"
        raise BackendError(msg) from exc
    finally:
        db.close()
    return before, size()


async def vacuum(url: str) -> int:
    """Reclaim free space and refresh the planner's statistics, where the backend has such a thing."""
    backend = _backend(url)
    name = type(backend).__name__
    await _require_store(backend)
    if name in {"RedisBackend", "JSONBackend"}:
        reason = "Redis frees memory itself" if name == "RedisBackend" else "the JSON file is rewritten compactly"
        print(f"nothing to vacuum in {backend.name}: {reason}")
        return 0
    async with _opened(backend, read_only=False):
        size = getattr(backend, "database_size", None)
        if isinstance(backend, SQLiteBackend):
            # A connection of its own: the backend's writer sits idle meanwhile.
            before, after = await asyncio.to_thread(_sqlite_vacuum, backend.path)
        else:
            before = int(await size()) if size is not None else 0
            tables = [t for t in portable.table_columns() if t != "meta"] + ["meta"]
            if name == "PostgreSQLBackend":
                # VACUUM cannot run in a transaction: straight on a pooled connection.
                pool: typing.Any = getattr(backend, "_require_pool")()  # noqa: B009
                for table in tables:
                    await pool.execute(f"VACUUM (ANALYZE) {table}")
            else:
                async for _ in backend.fetch(f"OPTIMIZE TABLE {', '.join(tables)}"):
                    pass
            after = int(await size()) if size is not None else 0
    print(f"vacuumed {backend.name}: {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB")
    return 0


def _age(text: str) -> datetime.timedelta:
    """``30d``, ``12h``, ``90m``, ``45s`` or a number of days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*", text)
    if match is None:
        msg = f"--max-age takes a duration such as 30d, 12h or 90m, got {text!r}"
        raise ValueError(msg)
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "days"}[match.group(2)]
    return datetime.timedelta(**{unit: float(match.group(1))})


def prune_rule(
    *,
    max_messages_per_channel: int | None,
    max_age: str | None,
    keep_guilds: Sequence[int],
    drop_guilds: Sequence[int],
    drop_kinds: Sequence[str],
) -> rules_.Rule:
    """The rule a prune applies, from the command's options."""
    if not (max_messages_per_channel or max_age or keep_guilds or drop_guilds or drop_kinds):
        msg = "prune needs at least one of --max-messages-per-channel, --max-age, --keep-guild, --drop-guild, --drop"
        raise ValueError(msg)
    kinds: dict[str, typing.Any] = {}
    for kind in drop_kinds:
        if kind not in SINGULAR:
            msg = f"--drop takes a kind ({', '.join(KINDS)}), got {kind!r}"
            raise ValueError(msg)
        kinds[SINGULAR[kind]] = _RULE_CLASSES[SINGULAR[kind]](enabled=False)
    if max_messages_per_channel is not None or max_age is not None:
        if "message" in kinds:
            msg = "--drop messages cannot be combined with message limits"
            raise ValueError(msg)
        kinds["message"] = rules_.MessageRule(
            max_per_channel=max_messages_per_channel, max_age=_age(max_age) if max_age else None
        )
    if keep_guilds or drop_guilds:
        kinds["guild"] = rules_.GuildRule(guild_allowlist=keep_guilds or None, guild_denylist=drop_guilds or None)
    return rules_.Rule(**kinds)


async def prune(url: str, rule: rules_.Rule, *, progress: bool) -> int:
    """Remove what ``rule`` would not store, through a writer of the store (the bot may be running)."""
    backend = _backend(url)
    await _require_store(backend)
    bot = offline.make_offline_bot()
    cache = Cache(bot, backend, rule=rule)
    bar = Progress("pruning", None) if progress else None
    async with cache:
        removed = await cache.prune(progress=(lambda p: bar(sum(p.removed.values()))) if bar is not None else None)
    if bar is not None:
        bar.close()
    total = sum(removed.values())
    details = ", ".join(f"{n:,} {kind}" for kind, n in removed.items() if n)
    print(f"pruned {backend.name}: removed {total:,} entities" + (f" ({details})" if details else ""))
    return 0
