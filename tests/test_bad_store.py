"""Bad stores: an SQLite file that is corrupt, read-only, on a full disk, from a newer schema or locked.

At open the cache raises a clear error naming the file and leaves the file as it was; while it runs
it logs the failing batch and retries it, so the writer never dies, no event is lost and nothing
stored is damaged. Every case uses a real file, a real offline ``hikari.GatewayBot`` fed raw
payloads, and for locks a real second process; waits are on real signals (log records, a lock
holder's output), with timeouts as safety nets only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sqlite3
import subprocess
import sys
import time
import typing

import pytest

import hikaripersist as persist
from hikaripersist import jsonfile
from hikaripersist import sqlite as sqlite_module
from hikaripersist._internal import offline, schema
from tests.conftest import make_bot
from tests.test_lifetime import Gateway, message_create, message_ids

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, Generator

    import hikari

TIMEOUT: typing.Final = 10.0  # safety net only
STORED: typing.Final = 300  # messages in a populated file
PAGE: typing.Final = 4096  # SQLite's default page size


# -- helpers ----------------------------------------------------------------------------------------------


async def populate(path: pathlib.Path, count: int = STORED) -> None:
    """A real store holding ``count`` messages, closed cleanly (no -wal or -shm file left)."""
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(path)) as cache:
        await Gateway(bot).feed(message_ids(count))
        await cache.flush()


def files(folder: pathlib.Path) -> dict[str, tuple[bytes, int]]:
    """Every file of ``folder`` with its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def query(path: pathlib.Path, sql: str) -> list[tuple[typing.Any, ...]]:
    """Rows read on a second, plain sqlite3 connection (committed data only)."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def stored_ids(path: pathlib.Path) -> set[int]:
    return {row[0] for row in query(path, "SELECT id FROM messages")}


def message_update(message_id: int, content: str) -> dict[str, typing.Any]:
    return {**message_create(message_id), "content": content}


class LogSignal(logging.Handler):
    """Counts the ``hikaripersist`` records containing ``text``; ``seen`` is set at the first."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.records.append(record)
            self.seen.set()


@contextlib.contextmanager
def log_signal(text: str) -> Generator[LogSignal]:
    handler = LogSignal(text)
    logger = logging.getLogger("hikaripersist")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def read_only(*paths: pathlib.Path) -> Generator[None]:
    """Make files or folders read-only, for root too (the immutable attribute); skip where impossible."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    try:
        done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, check=False)
    except FileNotFoundError:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    if done.returncode != 0:
        pytest.skip(f"running as root and chattr +i failed: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


_HOLDER: typing.Final = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
db.close()
print("released", flush=True)
"""


class LockHolder:
    """Another process holding an exclusive lock on the file until ``release()``."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def release(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        if self.process.returncode is None:
            self.process.stdin.write(b"\n")
            await self.process.stdin.drain()
            assert await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT) == b"released\n"
            await asyncio.wait_for(self.process.wait(), TIMEOUT)


@contextlib.asynccontextmanager
async def locked(path: pathlib.Path) -> AsyncGenerator[LockHolder]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, str(path), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    holder = LockHolder(process)
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), TIMEOUT) == b"locked\n"
        yield holder
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def assert_refused(
    cache: persist.Cache, error: type[persist.BackendError], path: pathlib.Path, *words: str
) -> persist.BackendError:
    """``open()`` raises ``error`` naming the file (and ``words``); the bot would not start either."""
    with pytest.raises(error) as info:
        await cache.open()
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    assert not cache.is_open
    assert not cache.backend.is_open
    with pytest.raises(persist.CacheStartupError) as startup:
        await offline.start_offline(typing.cast("hikari.GatewayBot", cache.bot))
    assert isinstance(startup.value.__cause__, error)
    assert not cache.is_open
    return info.value


# -- corrupt files -----------------------------------------------------------------------------------------


def corrupt_pages(path: pathlib.Path, first: int, count: int = 1, *, seed: int = 0) -> None:
    """Overwrite ``count`` whole pages from page number ``first`` (1-based) with random bytes."""
    data = bytearray(path.read_bytes())
    start = (first - 1) * PAGE
    assert start + count * PAGE <= len(data)
    data[start : start + count * PAGE] = random.Random(seed).randbytes(count * PAGE)
    path.write_bytes(bytes(data))


def quick_check(path: pathlib.Path) -> str:
    try:
        return "\n".join(str(row[0]) for row in query(path, "PRAGMA quick_check"))
    except sqlite3.DatabaseError as exc:
        return str(exc)


async def test_corrupt_pages_in_a_populated_file_are_refused_at_open_untouched(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    pages = path.stat().st_size // PAGE
    corrupt_pages(path, pages // 2, 2)
    assert quick_check(path) != "ok"  # the damage is real
    before = files(tmp_path)

    cache = persist.Cache(make_bot(), persist.SQLiteBackend(path))
    await assert_refused(cache, persist.BackendError, path, "corrupt", "refusing to write")
    assert files(tmp_path) == before


async def test_a_big_corrupt_file_opens_at_once_and_is_never_written(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the size checked at open, the structure check runs while the bot starts; the first write
    waits for it and is refused (logged, retried), so nothing is written over the damage."""
    monkeypatch.setattr(sqlite_module, "_CHECK_AT_OPEN_BYTES", 0)
    path = tmp_path / "cache.db"
    await populate(path)
    pages = path.stat().st_size // PAGE
    corrupt_pages(path, pages // 2, 2)
    damaged = path.read_bytes()

    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    await cache.open()
    try:
        with log_signal("failed; retrying") as failed:
            await Gateway(bot).feed(message_ids(3, start=STORED))
            await asyncio.wait_for(failed.seen.wait(), TIMEOUT)
        assert "is corrupt" in repr(failed.records[0].exc_info)
        assert cache.is_open
        assert path.read_bytes() == damaged
    finally:
        with log_signal("could not be written"):
            await asyncio.wait_for(cache.close(), TIMEOUT)
    assert path.read_bytes() == damaged


async def test_a_database_cut_short_is_refused_untouched(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = files(tmp_path)

    cache = persist.Cache(make_bot(), persist.SQLiteBackend(path))
    await assert_refused(cache, persist.BackendError, path)
    assert files(tmp_path) == before


async def test_a_json_store_given_to_sqlite_is_refused_untouched(tmp_path: pathlib.Path) -> None:
    """A file that is no database at all (here hikari-persist's own JSON store) is left alone."""
    path = tmp_path / "cache.json"
    bot = make_bot()
    async with persist.Cache(bot, jsonfile.JSONBackend(path)) as cache:
        await Gateway(bot).feed(message_ids(3))
        await cache.flush()
    before = files(tmp_path)

    cache = persist.Cache(make_bot(), persist.SQLiteBackend(path))
    await assert_refused(cache, persist.SchemaError, path, "not an SQLite database")
    assert files(tmp_path) == before


async def test_corruption_found_while_running_fails_the_batch_and_writes_nothing(tmp_path: pathlib.Path) -> None:
    """Pages damaged under a running cache: the batch that meets them is logged and retried instead of
    committed over the damage, the bot keeps running, close() gives up, and the file is refused next time."""
    path = tmp_path / "cache.db"
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    await cache.open()
    gateway = Gateway(bot)
    try:
        await gateway.feed(message_ids(STORED))
        await cache.flush()
        # Another connection commits and checkpoints: the writer drops its page cache and rereads the file.
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
            assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        finally:
            other.close()
        ((root,),) = query(path, "SELECT rootpage FROM sqlite_master WHERE name = 'messages'")
        corrupt_pages(path, root)
        damaged = path.read_bytes()

        with log_signal("failed; retrying") as failed:
            await gateway.feed(message_ids(5, start=STORED))
            await asyncio.wait_for(failed.seen.wait(), TIMEOUT)
        assert "malformed" in repr(failed.records[0].exc_info)
        assert cache.is_open
        # The bot goes on: hikari's own cache has what the store could not take.
        await gateway.feed(message_ids(5, start=STORED + 5))
        assert all(bot.cache.get_message(i) is not None for i in message_ids(10, start=STORED))
        assert path.read_bytes() == damaged
    finally:
        with log_signal("could not be written") as given_up:
            await asyncio.wait_for(cache.close(), TIMEOUT)
    assert given_up.records, "close() did not report the events it could not write"
    assert path.read_bytes() == damaged

    reopened = persist.Cache(make_bot(), persist.SQLiteBackend(path))
    await assert_refused(reopened, persist.BackendError, path, "corrupt")
    assert path.read_bytes() == damaged


async def test_reading_a_damaged_page_is_a_backend_error_naming_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    ((root,),) = query(path, "SELECT rootpage FROM sqlite_master WHERE name = 'messages'")
    corrupt_pages(path, root)
    damaged = path.read_bytes()
    # A read-only cache does not check the structure at open: the damage is met by the read.
    async with persist.ReadOnlyCache(persist.SQLiteBackend(path)) as reader:
        with pytest.raises(persist.BackendError, match="damaged") as info:
            await reader.messages.all().collect()
        assert str(path) in str(info.value)
        with pytest.raises(persist.BackendError, match="damaged"):
            await reader.messages.get(id=1)
        # Other tables still answer.
        assert await reader.users.count() > 0
    assert path.read_bytes() == damaged


# -- read-only files and folders ---------------------------------------------------------------------------


async def test_read_only_file_is_refused_by_the_cache_and_read_by_a_read_only_cache(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    content = path.read_bytes()
    with read_only(path):
        mtime = path.stat().st_mtime_ns
        cache = persist.Cache(make_bot(), persist.SQLiteBackend(path))
        await assert_refused(cache, persist.BackendError, path, "read-only")

        async with persist.ReadOnlyCache(persist.SQLiteBackend(path)) as reader:
            assert await reader.messages.count() == STORED
            message = await reader.messages.get(id=message_ids(1)[0])
            assert message is not None
            assert message.content == f"message {message_ids(1)[0]}"
        assert path.stat().st_mtime_ns == mtime
    assert path.read_bytes() == content


async def test_read_only_json_file_is_refused_by_the_cache_and_read_by_a_read_only_cache(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "cache.json"
    bot = make_bot()
    async with persist.Cache(bot, jsonfile.JSONBackend(path)) as cache:
        await Gateway(bot).feed(message_ids(5))
        await cache.flush()
    with read_only(path):
        before = files(tmp_path)
        cache = persist.Cache(make_bot(), jsonfile.JSONBackend(path))
        await assert_refused(cache, persist.BackendError, path, "read-only")
        async with persist.ReadOnlyCache(jsonfile.JSONBackend(path)) as reader:
            assert await reader.messages.count() == 5
        assert files(tmp_path) == before


async def test_read_only_folder(tmp_path: pathlib.Path) -> None:
    """With the cache closed, a read-only folder (no -wal and -shm files) is refused by both caches with
    a clear error; while the bot's cache runs, a read-only cache reads through the files it keeps."""
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "cache.db"
    await populate(path)
    before = files(folder)
    with read_only(folder):
        cache = persist.Cache(make_bot(), persist.SQLiteBackend(path))
        await assert_refused(cache, persist.BackendError, path, "folder must be writable")
        with pytest.raises(persist.BackendError, match="-wal and -shm") as info:
            await persist.ReadOnlyCache(persist.SQLiteBackend(path)).open()
        assert str(path) in str(info.value)
        assert files(folder) == before

    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(path)) as cache:
        gateway = Gateway(bot)
        with read_only(folder):
            async with persist.ReadOnlyCache(persist.SQLiteBackend(path)) as reader:
                assert await reader.messages.count() == STORED
                await gateway.feed(message_ids(5, start=STORED))
                await cache.flush()
                assert await reader.messages.count() == STORED + 5
    assert stored_ids(path) == set(message_ids(STORED + 5))


# -- a full disk -------------------------------------------------------------------------------------------


async def test_full_disk_mid_stream_is_retried_and_the_queued_writes_land_in_order(tmp_path: pathlib.Path) -> None:
    """A real SQLITE_FULL (the writer's connection may not grow the file): every attempt fails whole and
    is retried, nothing stored changes, the bot keeps running; once there is room everything lands, the
    last update of a message winning."""
    path = tmp_path / "cache.db"
    bot = make_bot()
    backend = persist.SQLiteBackend(path)
    cache = persist.Cache(bot, backend)
    await cache.open()
    gateway = Gateway(bot)
    try:
        await gateway.feed(message_ids(STORED))
        await cache.flush()
        before = query(path, "SELECT id, data FROM messages ORDER BY id")

        def no_room(db: sqlite3.Connection) -> None:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            assert db.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0] == pages

        await backend.run_sync(no_room)
        new = message_ids(200, start=STORED)
        edited = new[:20]
        with log_signal("failed; retrying") as failed:
            await gateway.feed(new)
            for round_ in range(3):
                for message_id in edited:
                    gateway.bot.event_manager.consume_raw_event(
                        "MESSAGE_UPDATE", gateway.shard, message_update(message_id, f"edit {round_}")
                    )
            await asyncio.sleep(0)  # hikari's listener tasks take their first step
            await asyncio.wait_for(failed.seen.wait(), TIMEOUT)
            assert "full" in repr(failed.records[0].exc_info)
            assert query(path, "SELECT id, data FROM messages ORDER BY id") == before
            assert query(path, "PRAGMA integrity_check") == [("ok",)]
            assert cache.is_open
            latest = bot.cache.get_message(edited[0])
            assert latest is not None
            assert latest.content == "edit 2"

            await backend.run_sync(lambda db: db.execute("PRAGMA max_page_count = 1073741823"))
            await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert stored_ids(path) == set(message_ids(STORED + 200))
        for message_id in edited:
            stored = await cache.messages.get(id=message_id)
            assert stored is not None
            assert stored.content == "edit 2"
        assert query(path, f"SELECT id, data FROM messages WHERE id < {new[0]} ORDER BY id") == before
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
    finally:
        await asyncio.wait_for(cache.close(), TIMEOUT)


# -- a newer schema ----------------------------------------------------------------------------------------


async def test_newer_schema_is_refused_naming_both_versions_untouched(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    newer = schema.SCHEMA_VERSION + 1
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(newer),))
    db.execute("CREATE TABLE future_things (id INTEGER PRIMARY KEY, data BLOB)")
    db.commit()
    db.close()
    before = files(tmp_path)

    cache = persist.Cache(make_bot(), persist.SQLiteBackend(path))
    error = await assert_refused(cache, persist.SchemaError, path, f"schema {newer}", str(schema.SCHEMA_VERSION))
    assert "newer hikari-persist" in str(error)
    assert files(tmp_path) == before

    with pytest.raises(persist.SchemaError, match="upgrade hikari-persist") as info:
        await persist.ReadOnlyCache(persist.SQLiteBackend(path)).open()
    assert f"schema {newer}" in str(info.value)
    assert f"schema {schema.SCHEMA_VERSION}" in str(info.value)
    # A read-only connection cannot remove the (empty) -wal and -shm files SQLite opened next to it.
    after = files(tmp_path)
    assert after.pop("cache.db-wal", (b"", 0))[0] == b""
    after.pop("cache.db-shm", None)
    assert after == before


# -- a file locked by another process ----------------------------------------------------------------------


async def test_open_gives_up_on_a_lock_held_too_long_with_a_clear_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    content = path.read_bytes()
    async with locked(path):
        cache = persist.Cache(make_bot(), persist.SQLiteBackend(path, lock_timeout=0.5))
        started = time.monotonic()
        with pytest.raises(persist.BackendError, match="locked by another process") as info:
            await asyncio.wait_for(cache.open(), TIMEOUT)
        waited = time.monotonic() - started
        assert str(path) in str(info.value)
        assert 0.5 <= waited < 5
        assert not cache.is_open
    assert path.read_bytes() == content
    assert len(stored_ids(path)) == STORED


async def test_open_waits_for_a_lock_released_in_time(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    cache = persist.Cache(make_bot(), persist.SQLiteBackend(path, lock_timeout=TIMEOUT))
    async with locked(path) as holder:
        opening = asyncio.ensure_future(cache.open())
        done, _ = await asyncio.wait([opening], timeout=0.3)
        assert not done, "open() did not wait for the lock"
        await holder.release()
        await asyncio.wait_for(opening, TIMEOUT)
    try:
        assert cache.is_open
        assert await cache.messages.count() == STORED
    finally:
        await cache.close()


async def test_writes_blocked_by_a_lock_are_retried_until_it_is_released(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.db"
    await populate(path)
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(path, lock_timeout=0.1))
    await cache.open()
    gateway = Gateway(bot)
    new = message_ids(50, start=STORED)
    try:
        async with locked(path) as holder:
            with log_signal("failed; retrying") as failed:
                await gateway.feed(new)
                for round_ in range(3):
                    for message_id in new[:10]:
                        bot.event_manager.consume_raw_event(
                            "MESSAGE_UPDATE", gateway.shard, message_update(message_id, f"edit {round_}")
                        )
                await asyncio.sleep(0)  # hikari's listener tasks take their first step
                await asyncio.wait_for(failed.seen.wait(), TIMEOUT)
            assert "locked" in repr(failed.records[0].exc_info)
            assert cache.is_open
            assert len(stored_ids(path)) == STORED  # readers are not blocked; nothing new committed
            await holder.release()
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert stored_ids(path) == set(message_ids(STORED + 50))
        for message_id in new[:10]:
            stored = await cache.messages.get(id=message_id)
            assert stored is not None
            assert stored.content == "edit 2"
    finally:
        await asyncio.wait_for(cache.close(), TIMEOUT)
