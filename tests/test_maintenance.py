"""The original library's maintenance API: backup, restore, clear, and REST fallbacks that store."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import typing

import hikari
import pytest

import hikaripersist as persist
from hikaripersist._internal import offline
from hikaripersist.cache import KINDS
from tests.conftest import make_bot, session

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

PAYLOADS = pathlib.Path(persist.__file__).parent / "_internal" / "payloads"


def _rows(path: pathlib.Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def _filled(bot: hikari.GatewayBot, path: pathlib.Path) -> persist.Cache:
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    await cache.open()
    await offline.replay(bot, session())
    await cache.flush()
    return cache


async def test_backup_is_consistent_and_restore_brings_it_back(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    cache = await _filled(bot, tmp_path / "live.db")
    try:
        before = await cache.stats()
        await cache.backup(tmp_path / "backup.db")
        assert _rows(tmp_path / "backup.db", "members") == before["members"]

        await cache.clear()
        assert all(count == 0 for count in (await cache.stats()).values())

        await cache.restore(tmp_path / "backup.db")
        assert await cache.stats() == before
        member = await cache.members.all().first()
        assert member is not None
        assert member.app is bot
    finally:
        await cache.close()


async def test_restore_refuses_what_is_not_a_backup(tmp_path: pathlib.Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    async with persist.Cache(make_bot(), persist.SQLiteBackend(tmp_path / "c.db")) as cache:
        with pytest.raises(persist.SchemaError, match="not a hikari-persist backup"):
            await cache.restore(other)
        with pytest.raises(persist.BackendError, match="no backup"):
            await cache.restore(tmp_path / "missing.db")


async def test_clear_with_the_original_keywords(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    cache = await _filled(bot, tmp_path / "c.db")
    try:
        before = await cache.stats()
        assert before["members"]
        assert before["roles"]
        assert before["channels"]
        await cache.clear(members=True, roles=True)
        after = await cache.stats()
        assert after["members"] == 0
        assert after["roles"] == 0
        assert after["channels"] == before["channels"]
        assert after["guilds"] == before["guilds"]
        with pytest.raises(ValueError, match="unknown kinds"):
            await cache.clear(kinds=["nope"])
    finally:
        await cache.close()


def _payload(name: str) -> dict[str, typing.Any]:
    return json.loads((PAYLOADS / name).read_text())


async def test_fetch_if_missing_falls_back_to_rest_and_stores(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord cannot be reached here, so REST answers are built from real example payloads."""
    bot = make_bot()
    member_payload = _payload("guild_member.json")
    guild_id = hikari.Snowflake(1234)
    fetched = bot.entity_factory.deserialize_member(member_payload, guild_id=guild_id)
    channel = bot.entity_factory.deserialize_guild_text_channel(
        {**_payload("channel_guild_text.json"), "guild_id": str(guild_id)}
    )
    calls: list[str] = []

    async def fetch_member(_: object, guild: object, user: object) -> hikari.Member:
        calls.append("member")
        return fetched

    async def fetch_channel(_: object, channel_id: object) -> hikari.PartialChannel:
        calls.append("channel")
        return channel

    rest_type = type(bot.rest)
    monkeypatch.setattr(rest_type, "fetch_member", fetch_member)
    monkeypatch.setattr(rest_type, "fetch_channel", fetch_channel)

    async with persist.Cache(bot, persist.SQLiteBackend(tmp_path / "c.db")) as cache:
        assert await cache.members.get(guild_id=guild_id, member_id=fetched.id) is None
        got = await cache.members.get(guild_id=guild_id, member_id=fetched.id, fetch_if_missing=True)
        assert got is fetched
        got_channel = await cache.channels.get(id=channel.id, fetch_if_missing=True)
        assert got_channel is channel
        await cache.flush()
        # Stored: the next lookups are answered by the database, not REST.
        stored = await cache.members.get(guild_id=guild_id, member_id=fetched.id, fetch_if_missing=True)
        assert stored is not None
        assert stored.nickname == fetched.nickname
        assert stored.user.username == fetched.user.username
        assert await cache.channels.get(id=channel.id, fetch_if_missing=True) is not None
    assert calls == ["member", "channel"]


def _counts(stats: Mapping[str, int]) -> int:
    return sum(stats.values())


async def test_stats_counts_every_kind(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    cache = await _filled(bot, tmp_path / "c.db")
    try:
        stats = await cache.stats()
        assert tuple(stats) == KINDS
        # The `members` view holds what hikari's per-guild member views hold.
        assert stats["members"] == _rows(tmp_path / "c.db", "members")
        assert _rows(tmp_path / "c.db", "member_records") == stats["members"] + _rows_deleted(tmp_path / "c.db")
        assert _counts(stats) > 0
    finally:
        await cache.close()


def _rows_deleted(path: pathlib.Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM member_records WHERE is_deleted").fetchone()[0])
