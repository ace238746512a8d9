"""The JSON file backend: the same cache as SQLite, in one human-readable file written atomically.

A real offline ``hikari.GatewayBot`` is fed recorded gateway sessions while the cache writes to a
real JSON file in ``tmp_path``; hikari's own cache (and the SQLite backend, for queries) is the
reference. Failures while writing the file are simulated through the backend's temporary-file
seam, and a writer process is killed in the middle of writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import pathlib
import subprocess
import sys
import threading
import typing

import hikari
import pytest

import hikaripersist as persist
from hikaripersist import filters, jsonfile
from hikaripersist._internal import gateway_session, offline, schema
from hikaripersist.jsonfile import JSONBackend
from hikaripersist.testing import BackendConformance
from tests.conftest import make_bot, session
from tests.deepeq import deep_diff
from tests.reference import compare_with_hikari
from tests.small_session import BASE

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence

    from hikaripersist._internal.gateway_session import GatewayRecord
    from hikaripersist.testing import BackendFactory

_ROOT: typing.Final = pathlib.Path(__file__).resolve().parent.parent
_HALF: typing.Final = len(BASE) // 2
# BASE in two parts; the second starts with a fresh READY, as after a reconnect (each replay has new shards).
_FIRST: typing.Final = BASE[:_HALF]
_SECOND: typing.Final = (BASE[0], *BASE[_HALF:])


# -- helpers ----------------------------------------------------------------------------------------


def _text(path: pathlib.Path) -> str:
    return path.read_text(encoding="utf-8")


def _document(path: pathlib.Path) -> dict[str, typing.Any]:
    """The file, parsed by the standard library (any JSON tool must read it)."""
    return json.loads(_text(path))


def _files(folder: pathlib.Path) -> dict[str, str]:
    """Every file of ``folder`` with the SHA-256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _leftovers(path: pathlib.Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


async def _table_counts(backend: persist.Backend) -> dict[str, int]:
    return {table: int(await backend.scalar(f"SELECT COUNT(*) FROM {table}")) for table in schema.TABLES}


async def _check_layout(path: pathlib.Path, backend: persist.Backend, *, one_row_per_line: bool = True) -> None:
    """The file holds exactly the store, in the documented layout, and nothing else lies around."""
    document = _document(path)
    assert list(document) == ["format", "schema_version", "tables"]
    assert document["format"] == "hikari-persist"
    assert document["schema_version"] == schema.SCHEMA_VERSION
    tables: dict[str, list[dict[str, typing.Any]]] = document["tables"]
    assert set(tables) == set(schema.TABLES), "every table, no view"
    assert {table: len(rows) for table, rows in tables.items()} == await _table_counts(backend)
    for table, rows in tables.items():
        for row in rows:
            assert isinstance(row, dict), table
            if "data" in row:
                # Entities are embedded JSON objects (tagged by the codec), not escaped strings.
                assert isinstance(row["data"], dict), (table, row)
                assert "!" in row["data"] or table == "meta", (table, row)
    if one_row_per_line:
        lines = _text(path).splitlines()
        assert sum(1 for line in lines if line.startswith("      {")) == sum(len(rows) for rows in tables.values())
    assert _leftovers(path) == []


async def _replay(bot: hikari.GatewayBot, cache: persist.Cache, records: Sequence[GatewayRecord]) -> None:
    stats = await offline.replay(bot, records)
    bad = [
        f for f in stats.failures if not gateway_session.is_deliberately_unparseable(f.event_name, records[f.index][2])
    ]
    assert not bad, bad
    await asyncio.wait_for(cache.flush(), 10)


@contextlib.contextmanager
def _read_only_folder(folder: pathlib.Path) -> Generator[None]:
    """Make ``folder`` refuse new files, also for root (immutable attribute); skip where impossible."""
    if os.name == "nt":
        pytest.skip("POSIX permissions")
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    try:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    except FileNotFoundError:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    if done.returncode != 0:
        pytest.skip(f"running as root and chattr +i failed: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


class FlakyBackend(JSONBackend):
    """Writing the temporary file fails (half written, then "disk full") while ``failing`` is set."""

    __slots__: typing.Sequence[str] = ("failing", "failures", "on_failure")

    def __init__(self, path: pathlib.Path) -> None:
        super().__init__(path, flush_interval=0)
        self.failing = threading.Event()
        self.failures = 0
        self.on_failure: Callable[[], None] | None = None

    def _write_temp(self, file: typing.BinaryIO, content: bytes) -> None:
        if not self.failing.is_set():
            super()._write_temp(file, content)
            return
        file.write(content[: len(content) // 2])
        self.failures += 1
        if self.on_failure is not None:
            self.on_failure()
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")


# -- the same cache as hikari's, before and after reopening -----------------------------------------


class TestJSONBackendConformance(BackendConformance):
    """The suite every backend passes (fidelity, rules, retention, queries, change events, read-only)."""

    @pytest.fixture
    def make_backend(self, tmp_path: pathlib.Path) -> BackendFactory:
        return lambda: JSONBackend(tmp_path / "conformance.json")


async def test_replay_equals_hikari_cache_and_survives_reopening(tmp_path: pathlib.Path) -> None:
    records = session(seed=3, guilds=2, members=(300, 50))
    path = tmp_path / "cache.json"
    bot = make_bot()
    backend = JSONBackend(path)
    async with persist.Cache(bot, backend) as cache:
        await _replay(bot, cache, records)
        counts = await compare_with_hikari(cache, bot)
        await _check_layout(path, backend)
        assert (await cache.stats()).database_size == path.stat().st_size
    assert all(counts.values()), counts
    assert counts["members"] > 300

    reopened_bot = make_bot()
    async with persist.Cache(reopened_bot, JSONBackend(path)) as reopened:
        assert await compare_with_hikari(reopened, bot, app=reopened_bot) == counts


@pytest.mark.parametrize("indent", [None, 2])
async def test_file_has_the_documented_layout_after_each_flush(tmp_path: pathlib.Path, indent: int | None) -> None:
    path = tmp_path / "cache.json"
    bot = make_bot()
    backend = JSONBackend(path, indent=indent)
    async with persist.Cache(bot, backend) as cache:
        # Opening creates the file (an empty store).
        await _check_layout(path, backend, one_row_per_line=indent is None)
        step = len(BASE) // 4 + 1
        for start in range(0, len(BASE), step):
            await _replay(bot, cache, (BASE[0], *BASE[max(start, 1) : start + step]))
            await _check_layout(path, backend, one_row_per_line=indent is None)
        await compare_with_hikari(cache, bot)
    if indent is not None:
        assert '\n          "!": "' in _text(path), "entities indented field by field"


# -- atomicity -------------------------------------------------------------------------------------------


async def test_failed_write_keeps_the_previous_file_and_the_cache_retries_the_batch(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.json"
    bot = make_bot()
    backend = FlakyBackend(path)
    async with persist.Cache(bot, backend) as cache:
        await _replay(bot, cache, _FIRST)
        before = path.read_bytes()
        counts = await _table_counts(backend)

        loop = asyncio.get_running_loop()
        failed: asyncio.Future[None] = loop.create_future()

        def on_failure() -> None:
            loop.call_soon_threadsafe(lambda: failed.done() or failed.set_result(None))

        backend.on_failure = on_failure
        backend.failing.set()
        await offline.replay(bot, _SECOND)
        await asyncio.wait_for(failed, 10)

        # The disk is "full": the file is the previous one, whole, and the half-written temporary file is gone.
        assert path.read_bytes() == before
        assert _leftovers(path) == []
        assert _document(path)["schema_version"] == schema.SCHEMA_VERSION
        # The batch was rolled back in memory too: reads see what the file holds, not the failed batch.
        assert await _table_counts(backend) == counts
        assert cache.pending > 0
        previous = JSONBackend(path)
        await previous.open_read_only()
        try:
            assert await _table_counts(previous) == counts
        finally:
            await previous.close()

        # Space again: the cache's retry writes the batch, once.
        backend.failing.clear()
        await asyncio.wait_for(cache.flush(), 10)
        assert backend.failures >= 1
        assert any("failed; retrying" in r.getMessage() for r in caplog.records)
        assert (await cache.stats()).events_failed == 0
        await compare_with_hikari(cache, bot)
        await _check_layout(path, backend)

    reopened_bot = make_bot()
    async with persist.Cache(reopened_bot, JSONBackend(path)) as reopened:
        await compare_with_hikari(reopened, bot, app=reopened_bot)


_KILLED_WRITER: typing.Final = """
import asyncio, sys, threading

import hikaripersist as persist
from hikaripersist._internal import offline
from hikaripersist.jsonfile import JSONBackend
from tests.conftest import make_bot
from tests.small_session import BASE

_FIRST = BASE[: len(BASE) // 2]
_SECOND = (BASE[0], *BASE[len(BASE) // 2 :])


class Stuck(JSONBackend):
    __slots__ = ("stuck",)

    def __init__(self, path):
        super().__init__(path, flush_interval=0)
        self.stuck = False

    def _write_temp(self, file, content):
        if not self.stuck:
            return super()._write_temp(file, content)
        file.write(content[: len(content) // 2])
        file.flush()
        print("writing", flush=True)
        threading.Event().wait()  # until killed


async def main():
    bot = make_bot()
    backend = Stuck(sys.argv[1])
    async with persist.Cache(bot, backend) as cache:
        await offline.replay(bot, _FIRST)
        await cache.flush()
        print("flushed", flush=True)
        backend.stuck = True
        await offline.replay(bot, _SECOND)
        await cache.flush()


asyncio.run(main())
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
async def test_writer_killed_while_writing_leaves_the_previous_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data" / "cache.json"
    script = tmp_path / "writer.py"
    script.write_text(_KILLED_WRITER, encoding="utf-8")
    with (tmp_path / "writer.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), str(path), cwd=_ROOT, stdout=subprocess.PIPE, stderr=log
        )
    assert process.stdout is not None
    try:
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"flushed\n"
        committed = path.read_bytes()
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"writing\n"
    finally:
        process.kill()
        await process.wait()

    # Killed with half of the new content in a temporary file: the file is the last committed one.
    assert path.read_bytes() == committed
    assert len(_leftovers(path)) == 1

    # A bot whose own cache saw what the killed one committed opens the file and goes on from there.
    bot = make_bot()
    await offline.replay(bot, _FIRST)
    async with persist.Cache(bot, JSONBackend(path)) as cache:
        assert _leftovers(path) == [], "a writer that opens removes what a killed one left"
        await compare_with_hikari(cache, bot)
        await _replay(bot, cache, _SECOND)
        await compare_with_hikari(cache, bot)


_HOLDER: typing.Final = """
import asyncio, sys

import hikaripersist as persist
from hikaripersist.jsonfile import JSONBackend
from tests.conftest import make_bot


async def main():
    async with persist.Cache(make_bot(), JSONBackend(sys.argv[1])):
        print("open", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


asyncio.run(main())
"""


async def test_a_second_writer_of_one_file_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.json"
    bot = make_bot()
    async with persist.Cache(bot, JSONBackend(path)) as cache:
        await _replay(bot, cache, BASE)
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(path), cwd=_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"open\n"
        held = path.read_bytes()
        # Each writer would rewrite the file without the other's commits.
        with pytest.raises(persist.BackendError, match="in use by another process"):
            await persist.Cache(make_bot(), JSONBackend(path)).open()
        assert path.read_bytes() == held
        async with persist.ReadOnlyCache(JSONBackend(path)) as reader:
            assert await reader.messages.count() == len(bot.cache.get_messages_view())
    finally:
        process.stdin.close()
        assert await asyncio.wait_for(process.wait(), 60) == 0
    # Once the other writer is gone, the file is ours.
    reopened_bot = make_bot()
    async with persist.Cache(reopened_bot, JSONBackend(path)) as reopened:
        await compare_with_hikari(reopened, bot, app=reopened_bot)


# -- files that must not be touched ------------------------------------------------------------------


def _valid_document() -> dict[str, typing.Any]:
    """The document of a fresh store, as written by the backend (tables empty but meta)."""
    db = jsonfile._load(None, "test", migrate=True)
    try:
        return json.loads(jsonfile._render(db, None))
    finally:
        db.close()


def _edited(edit: Callable[[dict[str, typing.Any]], object]) -> bytes:
    document = _valid_document()
    edit(document)
    return json.dumps(document).encode()


def _sqlite_file() -> bytes:
    """The first bytes of an SQLite database (someone pointed the backend at their ``.db``)."""
    return b"SQLite format 3\x00" + b"\x10\x00\x01\x01" + b"\x00" * 96


_REFUSED: typing.Final[dict[str, tuple[Callable[[], bytes], str]]] = {
    "garbage": (lambda: b"\x00\x01\x02 not json", "not valid JSON"),
    "truncated": (lambda: json.dumps(_valid_document()).encode()[:-40], "truncated or corrupt"),
    "whitespace": (lambda: b"  \n", "not valid JSON"),
    "sqlite database": (_sqlite_file, "not valid JSON"),
    "another document": (lambda: b'{"name": "my bot settings", "tables": {}}', "not a hikari-persist JSON file"),
    "a list": (lambda: b"[1, 2, 3]", "not a hikari-persist JSON file"),
    "bad version": (lambda: _edited(lambda d: d.update(schema_version="2")), "not a usable"),
    "unknown table": (lambda: _edited(lambda d: d["tables"].update(stuff=[])), "table 'stuff'"),
    "a view": (lambda: _edited(lambda d: d["tables"].update(members=[])), "table 'members'"),
    "unknown field": (
        lambda: _edited(lambda d: d["tables"].update(dm_channels=[{"user_id": 1, "channel_id": 2, "extra": 3}])),
        "unknown fields ['extra']",
    ),
    "escaped data": (
        lambda: _edited(lambda d: d["tables"].update(me=[{"id": 0, "data": '{"!": "users.OwnUser"}'}])),
        "bad row in 'me'",
    ),
    "duplicate key": (
        lambda: _edited(
            lambda d: d["tables"].update(dm_channels=[{"user_id": 1, "channel_id": 2}, {"user_id": 1, "channel_id": 3}])
        ),
        "do not fit its schema",
    ),
    "newer version": (
        lambda: _edited(lambda d: d.update(schema_version=schema.SCHEMA_VERSION + 1)),
        f"newer hikari-persist (schema {schema.SCHEMA_VERSION + 1}",
    ),
}


@pytest.mark.parametrize("case", list(_REFUSED))
async def test_unusable_files_are_refused_and_left_untouched(tmp_path: pathlib.Path, case: str) -> None:
    make_content, reason = _REFUSED[case]
    path = tmp_path / "cache.json"
    path.write_bytes(make_content())
    before = _files(tmp_path)

    cache = persist.Cache(make_bot(), JSONBackend(path))
    with pytest.raises(persist.SchemaError) as info:
        await cache.open()
    assert str(path) in str(info.value)
    assert reason in str(info.value)
    assert not cache.backend.is_open
    with pytest.raises(persist.SchemaError):
        await persist.ReadOnlyCache(JSONBackend(path)).open()
    assert _files(tmp_path) == before, "the file is byte for byte what it was, and nothing was added"


async def test_read_only_folder_gives_a_clear_error(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    existing = folder / "existing.json"
    bot = make_bot()
    async with persist.Cache(bot, JSONBackend(existing)) as cache:
        await _replay(bot, cache, BASE)
    before = _files(folder)

    with _read_only_folder(folder):
        for path in (folder / "new.json", existing):
            with pytest.raises(persist.BackendError, match="folder must be writable") as info:
                await persist.Cache(make_bot(), JSONBackend(path)).open()
            assert f"cannot write JSON file {str(path)!r}" in str(info.value)
        assert _files(folder) == before
        # Reading needs no write access.
        async with persist.ReadOnlyCache(JSONBackend(existing)) as reader:
            assert await reader.messages.count() == len(bot.cache.get_messages_view())


# -- migrations ---------------------------------------------------------------------------------------


async def test_file_of_an_older_schema_is_migrated(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    bot = make_bot()
    current = tmp_path / "current.json"
    async with persist.Cache(bot, JSONBackend(current)) as cache:
        await _replay(bot, cache, BASE)
    document = _document(current)
    created = {row["id"]: row["created_at"] for row in document["tables"]["messages"]}
    assert created

    # The same store as the first release wrote it: schema 1, without the columns version 2 added,
    # the table version 3 added and the column version 4 added.
    document["schema_version"] = 1
    del document["tables"]["fresh_guilds"]
    for row in document["tables"]["user_records"]:
        del row["seen_at"]
    for row in document["tables"]["messages"]:
        del row["created_at"]
    for row in document["tables"]["invites"]:
        del row["expires_at"]
    for row in document["tables"]["meta"]:
        if row["key"] == "schema_version":
            row["value"] = "1"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document, indent=1), encoding="utf-8")

    with pytest.raises(persist.SchemaError, match="never migrates"):
        await persist.ReadOnlyCache(JSONBackend(old)).open()

    caplog.set_level(logging.INFO)
    reopened_bot = make_bot()
    async with persist.Cache(reopened_bot, JSONBackend(old)) as cache:
        assert any("migrating" in r.getMessage() and "to 2" in r.getMessage() for r in caplog.records)
        assert await cache.backend.schema_version() == schema.SCHEMA_VERSION
        await compare_with_hikari(cache, bot, app=reopened_bot)
    migrated = _document(old)
    assert migrated["schema_version"] == schema.SCHEMA_VERSION, "the migration is saved when the file opens"
    # The migration fills the new column (from the message ids, as for an SQLite file).
    assert {row["id"] for row in migrated["tables"]["messages"] if row["created_at"]} == set(created)


# -- queries, events, maintenance ---------------------------------------------------------------------


async def test_queries_with_filters_answer_as_with_sqlite(tmp_path: pathlib.Path) -> None:
    json_bot, sqlite_bot = make_bot(), make_bot()
    async with (
        persist.Cache(json_bot, JSONBackend(tmp_path / "c.json")) as ours,
        persist.Cache(sqlite_bot, persist.SQLiteBackend(tmp_path / "c.db")) as theirs,
    ):
        await _replay(json_bot, ours, BASE)
        await _replay(sqlite_bot, theirs, BASE)
        hikari_cache = json_bot.cache
        guild_id = max(hikari_cache.get_members_view(), key=lambda g: len(hikari_cache.get_members_view_for_guild(g)))
        members = list(hikari_cache.get_members_view_for_guild(guild_id).values())
        user = members[0].user
        channel_id = next(iter(hikari_cache.get_messages_view().values())).channel_id
        threshold = sorted(int(r.color) for r in hikari_cache.get_roles_view().values())[1]

        questions: dict[str, Callable[[persist.Cache], typing.Awaitable[object]]] = {
            "count": lambda c: c.members.count(guild_id=guild_id),
            "order and limit": lambda c: c.members.where(guild_id=guild_id, order_by="-joined_at", limit=5).collect(),
            "prefix": lambda c: c.users.where(username=filters.startswith(user.username[:2]), order_by="id").collect(),
            "one of": lambda c: c.channels.where(
                type=filters.one_of(hikari.ChannelType.GUILD_TEXT, hikari.ChannelType.GUILD_VOICE), order_by="id"
            ).collect(),
            "json field": lambda c: c.roles.where(color=filters.after(threshold), order_by="id").collect(),
            "null": lambda c: c.members.where(nickname=filters.not_null(), order_by="user_id").collect(),
            "latest messages": lambda c: c.messages.of_channel(channel_id, limit=3).collect(),
            "guilds of user": lambda c: c.guilds.of_user(user.id).collect(),
            "get": lambda c: c.members.get(guild_id=guild_id, member_id=user.id),
        }
        for question, ask in questions.items():
            answer, expected = await ask(ours), await ask(theirs)
            assert answer, question
            assert deep_diff(answer, expected, path=question) == []
        assert await ours.members.count(guild_id=guild_id) == len(members)


async def _rows(backend: persist.Backend, table: str) -> list[typing.Any]:
    order = "1" if len(schema.TABLES[table].split(",")) == 1 else "1, 2"  # fresh_guilds has one column
    rows = [row async for chunk in backend.fetch(f"SELECT * FROM {table} ORDER BY {order}") for row in chunk]
    if table == "user_records":
        rows = [row[:-1] for row in rows]  # seen_at: when this run received the user
    return rows


async def test_store_equals_the_sqlite_store_row_for_row_after_reloading(tmp_path: pathlib.Path) -> None:
    """Same rows, byte for byte (entity data included), as the SQLite backend writes for the same stream."""
    json_bot, sqlite_bot = make_bot(), make_bot()
    async with persist.Cache(json_bot, JSONBackend(tmp_path / "c.json")) as ours:
        await _replay(json_bot, ours, BASE)
    reloaded = JSONBackend(tmp_path / "c.json")
    await reloaded.open()
    try:
        async with persist.Cache(sqlite_bot, persist.SQLiteBackend(tmp_path / "c.db")) as theirs:
            await _replay(sqlite_bot, theirs, BASE)
            filled = 0
            for table in schema.TABLES:
                expected = await _rows(theirs.backend, table)
                assert await _rows(reloaded, table) == expected, table
                filled += bool(expected)
            assert filled >= len(schema.TABLES) - 3
    finally:
        await reloaded.close()


async def test_confirmed_events_find_the_change_on_disk(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.json"
    bot = make_bot()
    on_disk: dict[int, bool] = {}
    inserted: list[int] = []

    def stored_message_ids() -> set[int]:
        return {row["id"] for row in _document(path)["tables"]["messages"]}

    async def on_confirmed(event: persist.Confirmed[hikari.GuildMessageCreateEvent]) -> None:
        on_disk[int(event.message_id)] = int(event.message_id) in stored_message_ids()

    async def on_insert(event: persist.MessageInsertEvent) -> None:
        inserted.append(int(event.message.id))

    bot.event_manager.subscribe(persist.Confirmed[hikari.GuildMessageCreateEvent], on_confirmed)
    bot.event_manager.subscribe(persist.MessageInsertEvent, on_insert)
    async with persist.Cache(bot, JSONBackend(path)) as cache:
        await _replay(bot, cache, BASE)
        await compare_with_hikari(cache, bot)
    kept = {int(i) for i in bot.cache.get_messages_view()}
    confirmed_kept = kept & set(on_disk)
    assert confirmed_kept
    assert all(on_disk[i] for i in confirmed_kept), "a confirmed message was not in the file yet"
    assert confirmed_kept <= set(inserted)


async def test_backup_and_restore(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.json"
    backup = tmp_path / "backups" / "monday.json"
    bot = make_bot()
    backend = JSONBackend(path)
    async with persist.Cache(bot, backend) as cache:
        await _replay(bot, cache, BASE)
        await cache.backup(backup)
        await _check_layout(backup, backend)
        await cache.clear()
        assert await cache.members.count() == 0
        assert _document(path)["tables"]["member_records"] == []

        foreign = tmp_path / "foreign.json"
        foreign.write_text('{"hello": "world"}', encoding="utf-8")
        with pytest.raises(persist.SchemaError, match=r"foreign\.json"):
            await cache.restore(foreign)
        with pytest.raises(persist.BackendError, match="no backup"):
            await cache.restore(tmp_path / "missing.json")
        assert await cache.members.count() == 0

        await cache.restore(backup)
        await compare_with_hikari(cache, bot)
    reopened_bot = make_bot()
    async with persist.Cache(reopened_bot, JSONBackend(path)) as reopened:
        await compare_with_hikari(reopened, bot, app=reopened_bot)


async def test_read_only_cache_follows_the_writer(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.json"
    with pytest.raises(persist.BackendError, match="does not exist"):
        await persist.ReadOnlyCache(JSONBackend(path)).open()
    bot = make_bot()
    async with persist.Cache(bot, JSONBackend(path)) as cache:
        await _replay(bot, cache, _FIRST)
        async with persist.ReadOnlyCache(JSONBackend(path), app=bot) as reader:
            assert await reader.messages.count() == await cache.messages.count()
            before = _files(tmp_path)
            await _replay(bot, cache, _SECOND)
            # The writer rewrote the file: the reader loads it again.
            assert await reader.messages.count() == await cache.messages.count()
            with pytest.raises(persist.BackendError, match="not open for writing"):
                await reader.backend.write([], rule=None)
        assert _files(tmp_path) != before


async def test_large_file_warns_once(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonfile, "_LARGE_FILE", 10_000)
    bot = make_bot()
    async with persist.Cache(bot, JSONBackend(tmp_path / "cache.json")) as cache:
        await _replay(bot, cache, _FIRST)
        await _replay(bot, cache, _SECOND)
    warnings = [r.getMessage() for r in caplog.records if r.name == "hikaripersist.jsonfile"]
    assert len(warnings) == 1, warnings
    assert "consider SQLiteBackend" in warnings[0]


async def test_constructor_and_description(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.json"
    backend = JSONBackend(path, batch_size=10, flush_interval=1.5, indent=4)
    assert repr(backend) == f"JSONBackend({str(path)!r})"
    assert backend.name == f"JSON file {str(path)!r}"
    assert backend.path == str(path)
    assert (backend.batch_size, backend.flush_interval, backend.indent) == (10, 1.5, 4)
    assert not backend.is_open
    with pytest.raises(persist.BackendError, match="not open"):
        await backend.fetch_one("SELECT 1")
    for bad in ({"batch_size": 0}, {"flush_interval": -1}, {"indent": -1}):
        with pytest.raises(ValueError, match=r"must be|cannot be"):
            JSONBackend(path, **bad)
    await backend.open()
    await backend.open()  # idempotent
    assert backend.is_open
    assert await backend.schema_version() == schema.SCHEMA_VERSION
    await backend.close()
    await backend.close()
    assert not backend.is_open
    assert _text(path).startswith('{\n    "format": "hikari-persist"')
