"""Tests for `ReadOnlyCache`: the query API over a store another cache (or process) writes, never writing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import typing

import pytest

import hikaripersist as persist
from hikaripersist._internal import offline
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari
from tests.test_schema import make_foreign_database, write_version_1_copy

if typing.TYPE_CHECKING:
    import pathlib

    import hikari

TIMEOUT: typing.Final = 30.0
RECORDS: typing.Final = session(seed=5, guilds=2, members=(400, 60))


def content(path: pathlib.Path) -> bytes:
    """The database file's bytes (SQLite may create an empty WAL beside it for readers: that is not data)."""
    return path.read_bytes()


async def written(path: pathlib.Path) -> hikari.GatewayBot:
    """Replay RECORDS through a bot whose cache writes ``path``; return the bot (its hikari cache is the reference)."""
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(path)) as cache:
        await offline.replay(bot, RECORDS)
        await asyncio.wait_for(cache.flush(), TIMEOUT)
    return bot


async def test_reads_what_the_bots_cache_wrote_equal_to_hikari(db_path: pathlib.Path) -> None:
    bot = await written(db_path)
    async with persist.ReadOnlyCache(persist.SQLiteBackend(db_path), app=bot) as reader:
        assert reader.is_open
        counts = await compare_with_hikari(reader, bot)
        assert counts["members"] > 400
        stats = await reader.stats()
        assert stats["members"] == counts["members"]
        assert stats.queue_depth == 0
        assert stats.schema_version == await reader.backend.schema_version()
    assert not reader.is_open


async def test_sees_new_commits_while_the_bot_keeps_writing(db_path: pathlib.Path) -> None:
    """A read-only cache opened next to a running bot's cache sees each commit as it lands."""
    bot = make_bot()
    records = list(RECORDS)
    half = len(records) // 2
    async with persist.Cache(bot, persist.SQLiteBackend(db_path)) as cache:
        await offline.replay(bot, records[:half])
        await cache.flush()
        async with persist.ReadOnlyCache(persist.SQLiteBackend(db_path)) as reader:
            before = await reader.members.count()
            assert before == await cache.members.count()
            await offline.replay(bot, records[half:])
            await cache.flush()
            assert await reader.members.count() == await cache.members.count()
            assert await reader.messages.count() == await cache.messages.count()


async def test_entities_without_an_app_are_plain_data(db_path: pathlib.Path) -> None:
    bot = await written(db_path)
    async with persist.ReadOnlyCache(persist.SQLiteBackend(db_path)) as reader:
        guild_id = next(iter(bot.cache.get_guilds_view()))
        guild = await reader.guilds.get(id=guild_id)
        assert guild is not None
        assert guild.name == bot.cache.get_guilds_view()[guild_id].name
        member = await reader.members.of_guild(guild_id).first()
        assert member is not None
        assert member.guild_id == guild_id


async def test_missing_file_is_an_error_and_is_not_created(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nothing-here.db"
    with pytest.raises(persist.BackendError, match="does not exist"):
        await persist.ReadOnlyCache(persist.SQLiteBackend(path)).open()
    assert not path.exists()


async def test_an_older_schema_is_refused_and_not_migrated(tmp_path: pathlib.Path) -> None:
    current = tmp_path / "current.db"
    await written(current)
    old = tmp_path / "old.db"
    write_version_1_copy(current, old)
    before = old.read_bytes()
    with pytest.raises(persist.SchemaError, match="never migrates"):
        await persist.ReadOnlyCache(persist.SQLiteBackend(old)).open()
    assert old.read_bytes() == before


@pytest.mark.parametrize("wal", [True, False])
async def test_another_programs_database_is_refused_untouched(tmp_path: pathlib.Path, wal: bool) -> None:
    path = tmp_path / "foreign.db"
    make_foreign_database(path, wal=wal)
    before = path.read_bytes()
    with pytest.raises(persist.SchemaError):
        await persist.ReadOnlyCache(persist.SQLiteBackend(path)).open()
    assert path.read_bytes() == before


async def test_it_cannot_write(db_path: pathlib.Path) -> None:
    await written(db_path)
    before = content(db_path)
    async with persist.ReadOnlyCache(persist.SQLiteBackend(db_path)) as reader:
        assert not hasattr(reader, "store")
        with pytest.raises(persist.BackendError):
            await reader.backend.write([], rule=None)
        await reader.members.count()
    assert content(db_path) == before


_READER_SCRIPT = """
import asyncio, json, sys
import hikaripersist as persist

async def main() -> None:
    async with persist.ReadOnlyCache(persist.SQLiteBackend(sys.argv[1])) as cache:
        stats = await cache.stats()
        names = sorted([g.name async for g in cache.guilds.all()])
        print(json.dumps({"rows": dict(stats), "guilds": names}))

asyncio.run(main())
"""


async def test_another_process_reads_the_store(db_path: pathlib.Path) -> None:
    """A separate Python process (a dashboard) reads the file the bot wrote, while the bot's cache is open."""
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(db_path)) as cache:
        await offline.replay(bot, RECORDS)
        await cache.flush()
        expected = dict(await cache.stats())
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _READER_SCRIPT, str(db_path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["rows"] == expected
        assert report["guilds"] == sorted(g.name for g in bot.cache.get_guilds_view().values())
