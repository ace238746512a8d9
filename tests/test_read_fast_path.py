"""The SQLite backend's fast read paths stay correct: loop-thread lookups, sliced iteration, compiled decoders.

Short reads run on the event loop's own thread through a connection of their own (no thread hop);
they must see every commit at once and never anything uncommitted, and a read that runs long must
be handed to a thread rather than stall the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import typing

import hikari
import orjson
import pytest

import hikaripersist as persist
from hikaripersist import queries
from hikaripersist import sqlite as sqlite_
from hikaripersist._internal import codec, gateway_session, offline
from tests.conftest import filled_cache, make_bot, session
from tests.deepeq import assert_deep_equal

if typing.TYPE_CHECKING:
    import pathlib

TIMEOUT: typing.Final = 30.0
# A statement that keeps SQLite busy for much longer than the loop-thread budget.
SLOW_SQL: typing.Final = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c"
)


def _member_update(member: hikari.Member, nickname: str) -> dict[str, typing.Any]:
    return {
        "guild_id": str(member.guild_id),
        "user": {
            "id": str(member.id),
            "username": member.username,
            "discriminator": member.discriminator,
            "avatar": None,
            "global_name": None,
        },
        "nick": nickname,
        "roles": [str(r) for r in member.role_ids if r != member.guild_id],
        "joined_at": "2025-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def _loop_reader(cache: persist.Cache) -> sqlite_._LoopReader:  # pyright: ignore[reportPrivateUsage]
    backend = cache.backend
    assert isinstance(backend, persist.SQLiteBackend)
    reader = backend._loop_reader  # pyright: ignore[reportPrivateUsage]
    assert reader is not None, "lookups did not go through the loop-thread reader"
    return reader


async def test_loop_thread_lookups_see_each_commit_right_after_flush(tmp_path: pathlib.Path) -> None:
    async with filled_cache(tmp_path, 300, seed=3) as (bot, cache):
        member = await cache.members.all().first()
        assert member is not None
        _loop_reader(cache)
        shard = offline.OfflineShard(0, 1, user_id=gateway_session.BOT_USER_ID)
        for round_ in range(5):
            nickname = f"nick {round_}"
            bot.event_manager.consume_raw_event("GUILD_MEMBER_UPDATE", shard, _member_update(member, nickname))
            await asyncio.wait_for(cache.flush(), TIMEOUT)
            # No await between the flush and the read: the loop-thread connection answers at once.
            found = await cache.members.get(guild_id=member.guild_id, member_id=member.id)
            assert found is not None
            assert found.nickname == nickname
            assert await cache.members.count(nickname=nickname) == 1


async def test_a_read_during_a_long_write_transaction_returns_the_committed_state(tmp_path: pathlib.Path) -> None:
    async with filled_cache(tmp_path, 300, seed=3) as (_, cache):
        backend = cache.backend
        assert isinstance(backend, persist.SQLiteBackend)
        member = await cache.members.all().first()
        assert member is not None
        total = await cache.members.count()
        written = threading.Event()
        release = threading.Event()

        def long_write(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM member_records WHERE guild_id = ? AND user_id = ?", (int(member.guild_id), int(member.id))
            )
            written.set()
            release.wait(TIMEOUT)

        writing = asyncio.ensure_future(backend.run_sync(long_write))
        try:
            assert await asyncio.to_thread(written.wait, TIMEOUT)
            started = time.perf_counter()
            # The deletion is not committed yet: the reads answer from the last commit, without waiting.
            assert await cache.members.get(guild_id=member.guild_id, member_id=member.id) == member
            assert await cache.members.count() == total
            assert [m.id async for m in cache.members.where(guild_id=member.guild_id, limit=1)] == [member.id]
            assert time.perf_counter() - started < TIMEOUT / 2
            _loop_reader(cache)
        finally:
            release.set()
            await asyncio.wait_for(writing, TIMEOUT)
        assert await cache.members.get(guild_id=member.guild_id, member_id=member.id) is None
        assert await cache.members.count() == total - 1


async def test_a_long_read_is_interrupted_on_the_loop_and_answered_in_a_thread(tmp_path: pathlib.Path) -> None:
    async with filled_cache(tmp_path, 50, seed=3) as (_, cache):
        backend = cache.backend
        assert isinstance(backend, persist.SQLiteBackend)
        await cache.members.count()
        reader = _loop_reader(cache)

        started = time.perf_counter()
        assert reader.read(SLOW_SQL, (), one=False) is None  # interrupted: the caller goes to a thread
        assert time.perf_counter() - started < 0.5  # the whole statement takes seconds

        assert await backend.scalar(SLOW_SQL) == 3_000_000
        assert reader.read(SLOW_SQL, (), one=True) is None
        chunks = [chunk async for chunk in backend.fetch(SLOW_SQL)]
        assert chunks == [[(3_000_000,)]]
        # The loop-thread connection still answers short reads, with no snapshot left open.
        assert reader.read("SELECT COUNT(*) FROM members", (), one=True) == [(await cache.members.count(),)]

        # A statement that overran goes straight to a thread for its next call(s), then comes back
        # to the loop as soon as it runs within budget again.
        counting = SLOW_SQL.replace("3000000", "?")
        assert reader.read(counting, (3_000_000,), one=True) is None
        assert await backend.scalar(counting, (10,)) == 10  # sent to a thread, without trying
        assert reader.read(counting, (10,), one=True) == [(10,)]
        # Overrunning again on its next try: twice as many calls go to a thread.
        assert reader.read(counting, (3_000_000,), one=True) is None
        assert reader.read(counting, (10,), one=True) is None  # not tried
        assert reader.read(counting, (3_000_000,), one=True) is None
        assert [reader.read(counting, (10,), one=True) for _ in range(3)] == [None, None, [(10,)]]


async def test_iteration_lets_the_loop_run_between_slices(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with filled_cache(tmp_path, 400, seed=3) as (_, cache):
        total = await cache.members.count()
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        # A zero-length slice lets the loop run after every entity: each lets the ticker tick.
        monkeypatch.setattr(queries, "_SLICE", 0.0)
        task = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        before = ticks
        seen = [m async for m in cache.members.all()]
        stop = True
        await task
        assert len(seen) == total
        assert ticks - before >= total - 1


async def test_chunked_iteration_with_prefetch_matches_and_releases_its_connection(tmp_path: pathlib.Path) -> None:
    async with filled_cache(tmp_path, 2500, seed=3) as (_, cache):
        backend = cache.backend
        assert isinstance(backend, persist.SQLiteBackend)
        sql = "SELECT user_id FROM member_records ORDER BY guild_id, user_id"
        expected = [row async for chunk in backend.fetch(sql, chunk=100_000) for row in chunk]
        # A statement too long for the loop-thread budget is read in a thread, chunk after chunk.
        slow = f"{sql.replace('SELECT user_id', 'SELECT user_id, (' + SLOW_SQL.replace('3000000', '2000') + ')')}"
        rows = [row[:1] async for chunk in backend.fetch(slow, chunk=7) for row in chunk]
        assert rows == expected
        # Leaving early cancels the prefetch and gives the connection back.
        fetching = typing.cast("typing.AsyncGenerator[list[typing.Any], None]", backend.fetch(slow, chunk=3))
        assert len(await anext(fetching)) == 3
        await fetching.aclose()
        assert backend._idle_readers  # pyright: ignore[reportPrivateUsage]
        members = cache.members.all()
        async for _ in members:
            break
        await members.aclose()
        assert len([m async for m in cache.members.all()]) == await cache.members.count()


async def test_in_memory_reads_never_use_the_loop_thread() -> None:
    bot = make_bot(hikari_cache=False)
    async with persist.Cache(bot, persist.SQLiteBackend(":memory:")) as cache:
        records = gateway_session.generate_session(seed=3, guilds=1, members=[50], churn=0.0, varied=False)
        await offline.replay(bot, records)
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        member = await cache.members.all().first()
        assert member is not None
        assert await cache.members.get(guild_id=member.guild_id, member_id=member.id) == member
        assert cache.backend._loop_reader is None  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


# --- compiled decoders --------------------------------------------------------------------------


def _member(nickname: str | None = "nick") -> hikari.Member:
    payload = {
        "user": {"id": "1234", "username": "someone", "discriminator": "0", "avatar": None, "global_name": None},
        "nick": nickname,
        "roles": ["5", "6"],
        "joined_at": "2025-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": True,
        "flags": 0,
    }
    return make_bot(hikari_cache=False).entity_factory.deserialize_member(payload, guild_id=hikari.Snowflake(99))


def test_decoders_of_every_layout_of_a_class_agree_with_the_generic_path() -> None:
    full = _member()
    without_user = codec.dumps(full, exclude=("user",))
    with_user = codec.dumps(full)
    other_types = codec.dumps(_member(None), exclude=("user",))  # a field holding another type than first seen
    generic = codec._generic_instance_decoder(  # pyright: ignore[reportPrivateUsage]
        hikari.Member,
        codec._SPECS[hikari.Member],  # pyright: ignore[reportPrivateUsage]
    )
    for raw in (without_user, with_user, other_types, with_user, without_user):
        decoded = codec.loads(raw, None)
        assert isinstance(decoded, hikari.Member)
        reference = generic(orjson.loads(raw), None)
        assert type(reference) is hikari.Member
        assert codec.dumps(decoded) == codec.dumps(reference)
        assert decoded.user == reference.user
    assert codec.loads(with_user, None) == full
    assert codec.loads(with_user, None).user == full.user
    assert codec.loads(without_user, None).user is None  # excluded: re-attached by the reader
    assert codec.loads(other_types, None).nickname is None
    assert codec.loads(with_user, None).role_ids == [5, 6, 99]


def test_compiled_decoders_drop_unknown_fields_and_reject_malformed_values() -> None:
    data = orjson.loads(codec.dumps(_member()))
    data["field_of_a_newer_hikari"] = 5
    decoded = codec.decode(data, None)
    assert decoded == _member()
    assert not hasattr(decoded, "field_of_a_newer_hikari")
    broken = orjson.loads(codec.dumps(_member()))
    broken["joined_at"] = {"dt": "not a number"}
    with pytest.raises(ValueError, match="malformed"):
        codec.decode(broken, None)
    broken["joined_at"] = {"no such tag": 1}
    with pytest.raises(ValueError, match="unknown or disallowed"):
        codec.decode(broken, None)


async def test_get_answers_like_hikari_for_member_records_kept_for_messages(db_path: pathlib.Path) -> None:
    """Member records kept after a removal (for the messages and voice states that show them) are
    answered by ``get()`` exactly as hikari's ``get_member`` answers (the cached SQL is per key set)."""
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(db_path)) as cache:
        await offline.replay(bot, session(seed=2, guilds=2, members=(300, 40)))
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        with contextlib.closing(sqlite3.connect(db_path)) as raw:
            keys = raw.execute(
                "SELECT guild_id, user_id FROM member_records WHERE is_deleted = 1"
                " UNION ALL SELECT * FROM (SELECT guild_id, user_id FROM member_records WHERE is_deleted = 0 LIMIT 30)"
            ).fetchall()
        assert len(keys) > 30
        for guild_id, user_id in keys:
            expected = bot.cache.get_member(guild_id, user_id)
            found = await cache.members.get(guild_id=guild_id, member_id=user_id)
            assert (found is None) == (expected is None)
            if found is not None and expected is not None:
                assert_deep_equal(found, expected)
