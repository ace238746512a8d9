"""Sessions: a shard's first READY since the bot started invalidates what the store kept from before.

hikari's own cache starts empty in every process, the store does not: after a restart, the first
GUILD_CREATE of each guild READY lists replaces everything stored for it (even the kinds it sends
empty), and the shard's guilds READY leaves out are removed. Later sessions of the same process,
RESUMED and outages keep hikari's semantics. Each test compares with a real offline hikari bot.
"""

from __future__ import annotations

import contextlib
import copy
import sqlite3
import typing

import pytest

import hikaripersist as persist
from hikaripersist import sqlite as sqlite_module
from hikaripersist._internal import gateway_session, offline, schema
from hikaripersist.postgresql import PostgreSQLBackend
from hikaripersist.redis import RedisBackend
from tests.conftest import make_bot
from tests.reference import compare_with_hikari
from tests.services import POSTGRESQL_URL, REDIS_URL, require_service

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, Sequence

    import hikari

    from hikaripersist._internal.gateway_session import GatewayRecord

Payload = dict[str, typing.Any]
MakeBackend = typing.Callable[[], persist.Backend]

# Kinds that belong to a guild (messages stay after a guild leave, as in hikari).
_GUILD_KINDS: typing.Final = (
    "channels", "threads", "roles", "members", "emojis", "stickers", "presences", "voice_states", "invites",
)  # fmt: skip


def _initial() -> list[GatewayRecord]:
    """READY and the initial GUILD_CREATE burst of a small session (no messages: they outlive restarts)."""
    records = gateway_session.generate_session(
        seed=1, guilds=2, members=(30, 12), messages_per_channel=1, churn=0, varied=False
    )
    out: list[GatewayRecord] = []
    for record in records:
        if record[0] not in ("READY", "GUILD_CREATE"):
            break
        out.append(record)
    return out


def _guild_ids(records: Sequence[GatewayRecord]) -> list[int]:
    return [int(p["id"]) for name, _, p in records if name == "GUILD_CREATE" and not p.get("unavailable")]


def _ready(records: Sequence[GatewayRecord], guild_ids: Sequence[int], **options: typing.Any) -> GatewayRecord:
    name, shard, payload = records[0]
    assert name == "READY"
    ready = gateway_session.make_ready_payload(guild_ids=guild_ids, user=payload["user"], **options)
    return ("READY", options.get("shard_id", shard), ready)


def _emptied(payload: Payload) -> Payload:
    """The guild after an offline while: no emojis, stickers, threads, voice states, presences; fewer of the rest."""
    payload = copy.deepcopy(payload)
    for field in ("emojis", "stickers", "threads", "voice_states", "presences"):
        payload[field] = []
    payload["channels"] = payload["channels"][:-3]
    payload["roles"] = payload["roles"][:-2]
    bot_id = str(gateway_session.BOT_USER_ID)
    members = [m for m in payload["members"] if m["user"]["id"] != bot_id]
    payload["members"] = [m for m in payload["members"] if m["user"]["id"] == bot_id] + members[:-5]
    payload["member_count"] = len(payload["members"])
    return payload


def _with_emptied(records: Sequence[GatewayRecord], guild_id: int) -> list[GatewayRecord]:
    return [
        (name, shard, _emptied(p) if name == "GUILD_CREATE" and p.get("id") == str(guild_id) else p)
        for name, shard, p in records
    ]


async def _count_of_guild(cache: persist.Cache, guild_id: int) -> dict[str, int]:
    counts = {"guilds": int(await cache.guilds.get(id=guild_id) is not None)}
    for kind in _GUILD_KINDS:
        counts[kind] = 0
        async for entity in getattr(cache, kind).all():
            if getattr(entity, "guild_id", None) == guild_id:
                counts[kind] += 1
    return counts


@contextlib.asynccontextmanager
async def _started(bot: hikari.GatewayBot, backend: persist.Backend) -> AsyncGenerator[persist.Cache, None]:
    """A cache on ``backend`` for a bot that starts (and stops at the end), as a real bot run."""
    cache = persist.Cache(bot, backend)
    await offline.start_offline(bot)
    try:
        yield cache
    finally:
        await offline.stop_offline(bot)


async def _run(make_backend: MakeBackend, records: Sequence[GatewayRecord], **replay: typing.Any) -> None:
    """One bot run: a new bot and cache on the store, ``records`` replayed, compared with hikari."""
    bot = make_bot()
    async with _started(bot, make_backend()) as cache:
        await offline.replay(bot, records, **replay)
        await cache.flush()
        await compare_with_hikari(cache, bot)


async def _restart_staleness(make_backend: MakeBackend) -> None:
    first = _initial()
    target = _guild_ids(first)[0]
    await _run(make_backend, first)

    second = _with_emptied(first, target)
    bot = make_bot()
    async with _started(bot, make_backend()) as cache:
        stale = await _count_of_guild(cache, target)
        assert all(n for kind, n in stale.items() if kind != "invites"), stale
        await offline.replay(bot, second)
        await cache.flush()
        # Equal to the fresh hikari of the restarted bot: nothing stale survives.
        counts = await compare_with_hikari(cache, bot)
        assert counts["members"] > 0
        fresh = await _count_of_guild(cache, target)
        assert fresh["emojis"] == fresh["voice_states"] == fresh["threads"] == fresh["presences"] == 0, fresh
        assert fresh["channels"] == stale["channels"] - 3
        guild = await cache.guilds.get(id=target)
        assert guild is not None
        assert guild.member_count == fresh["members"], "the session's GUILD_CREATE sets the member count"


@pytest.fixture
def sqlite_store(tmp_path: pathlib.Path) -> MakeBackend:
    return lambda: persist.SQLiteBackend(tmp_path / "cache.db")


async def test_restart_leaves_nothing_stale(sqlite_store: MakeBackend) -> None:
    await _restart_staleness(sqlite_store)


async def test_restart_leaves_nothing_stale_in_json(tmp_path: pathlib.Path) -> None:
    await _restart_staleness(lambda: persist.JSONBackend(tmp_path / "cache.json"))


async def test_restart_leaves_nothing_stale_in_postgresql(postgresql_schema: str) -> None:
    await _restart_staleness(lambda: PostgreSQLBackend(POSTGRESQL_URL, schema=postgresql_schema))


async def test_restart_leaves_nothing_stale_in_redis(redis_prefix: str) -> None:
    await _restart_staleness(lambda: RedisBackend(REDIS_URL, prefix=redis_prefix))


async def test_guild_removed_while_offline_is_gone(sqlite_store: MakeBackend) -> None:
    first = _initial()
    ids = _guild_ids(first)
    gone = ids[1]
    await _run(sqlite_store, first)

    kept = [i for i in ids if i != gone]
    second = [_ready(first, kept)] + [r for r in first[1:] if r[2].get("id") != str(gone)]
    bot = make_bot()
    async with _started(bot, sqlite_store()) as cache:
        assert (await _count_of_guild(cache, gone))["members"] > 0
        await offline.replay(bot, second)
        await cache.flush()
        await compare_with_hikari(cache, bot)
        assert set((await _count_of_guild(cache, gone)).values()) == {0}


async def test_a_shard_only_invalidates_its_own_guilds(sqlite_store: MakeBackend) -> None:
    first = _initial()
    ids = _guild_ids(first)
    shard_of = {i: (i >> 22) % 2 for i in ids}
    assert set(shard_of.values()) == {0, 1}, "the session has guilds of both shards"
    await _run(sqlite_store, first)

    bot = make_bot()
    async with _started(bot, sqlite_store()) as cache:
        before = {i: await _count_of_guild(cache, i) for i in ids}
        # Another process's shard 0 starts a session in which it has none of its guilds any more.
        await offline.replay(bot, [_ready(first, [], shard_id=0, shard_count=2)], shard_count=2)
        await cache.flush()
        for guild_id, shard in shard_of.items():
            after = await _count_of_guild(cache, guild_id)
            if shard == 0:
                assert set(after.values()) == {0}, (guild_id, after)
            else:
                assert after == before[guild_id], guild_id


async def test_resumed_and_outages_keep_hikaris_semantics(sqlite_store: MakeBackend) -> None:
    first = _initial()
    target = _guild_ids(first)[0]
    create = next(p for name, _, p in first if name == "GUILD_CREATE" and p.get("id") == str(target))
    outage_recovery: Payload = {**copy.deepcopy(create), "emojis": [], "voice_states": [], "unavailable": False}
    bot = make_bot()
    async with _started(bot, sqlite_store()) as cache:
        await offline.replay(bot, first)
        await cache.flush()
        emojis = (await _count_of_guild(cache, target))["emojis"]
        assert emojis > 0
        await offline.replay(
            bot,
            [
                ("RESUMED", 0, {"_trace": ["test"]}),
                ("GUILD_DELETE", 0, {"id": str(target), "unavailable": True}),
                ("GUILD_CREATE", 0, outage_recovery),
            ],
        )
        await cache.flush()
        # hikari keeps what an outage's GUILD_CREATE sends empty; so does the store.
        await compare_with_hikari(cache, bot)
        assert (await _count_of_guild(cache, target))["emojis"] == emojis

        # A new session within the same process: hikari's cache still holds everything, and so do we.
        await offline.replay(bot, [first[0], ("GUILD_CREATE", 0, outage_recovery)])
        await cache.flush()
        await compare_with_hikari(cache, bot)
        assert (await _count_of_guild(cache, target))["emojis"] == emojis


async def test_version_2_file_is_migrated(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN")
        for statement in schema.create_statements(2):
            db.execute(statement)
        db.execute(f"PRAGMA application_id = {sqlite_module._APPLICATION_ID}")
        db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
        db.execute("COMMIT")
        assert "fresh_guilds" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()

    first = _initial()
    await _run(lambda: persist.SQLiteBackend(path), first)
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(schema.SCHEMA_VERSION),
        )
        # Only the guild READY lists that is still unavailable awaits its first GUILD_CREATE.
        listed = {int(g["id"]) for g in first[0][2]["guilds"]}
        assert {r[0] for r in db.execute("SELECT guild_id FROM fresh_guilds")} == listed - set(_guild_ids(first))
    finally:
        db.close()


async def test_a_cache_attached_to_a_running_bot_keeps_hikaris_semantics(sqlite_store: MakeBackend) -> None:
    """Without seeing the bot start, the cache cannot know hikari's cache is new: it follows hikari."""
    first = _initial()
    target = _guild_ids(first)[0]
    await _run(sqlite_store, first)

    bot = make_bot()
    await offline.replay(bot, first)  # the bot ran before the cache was attached
    async with persist.Cache(bot, sqlite_store()) as cache:
        await offline.replay(bot, _with_emptied(first, target))
        await cache.flush()
        await compare_with_hikari(cache, bot)
        assert (await _count_of_guild(cache, target))["emojis"] > 0


async def test_restart_leaves_nothing_stale_in_mysql() -> None:
    from tests import test_mysql

    require_service(test_mysql.MYSQL_URL)
    name = await test_mysql._fresh_database()
    try:
        await _restart_staleness(lambda: test_mysql.backend(name))
    finally:
        await test_mysql.sql(f"DROP DATABASE IF EXISTS {name}")
