"""The persistent cache returns what hikari's own cache holds after the same stream, field by field.

A real ``hikari.GatewayBot`` is fed a recorded gateway session (every cache-changing event, optional
fields present and absent, unicode, deliberately bad payloads) while the cache writes to a real
SQLite file; every kind is then compared deeply with ``bot.cache``, and again after closing the
database and reopening it from a new bot.
"""

from __future__ import annotations

import json
import typing

import hikari
import pytest

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari, hikari_counts

if typing.TYPE_CHECKING:
    import pathlib

    from hikaripersist._internal.gateway_session import GatewayRecord


async def _replay_and_compare(records: typing.Sequence[GatewayRecord], path: pathlib.Path) -> dict[str, int]:
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    async with cache:
        stats = await offline.replay(bot, records)
        await cache.flush()
        counts = await compare_with_hikari(cache, bot)
    # Only the deliberately malformed records may be rejected, by hikari itself.
    bad = [
        f for f in stats.failures if not gateway_session.is_deliberately_unparseable(f.event_name, records[f.index][2])
    ]
    assert not bad, bad

    reopened_bot = make_bot()
    async with persist.Cache(reopened_bot, persist.SQLiteBackend(path)) as reopened:
        assert await compare_with_hikari(reopened, bot, app=reopened_bot) == counts
    return counts


async def test_large_varied_session_equals_hikari_cache(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The headline proof: a large session, every kind compared, before and after reopening."""
    records = session(seed=7, guilds=4, members=(20000, 3000, 500, 100), churn=2.0)
    counts = await _replay_and_compare(records, tmp_path / "cache.db")

    events: dict[str, int] = {}
    for name, _, _ in records:
        events[name] = events.get(name, 0) + 1
    with capsys.disabled():
        print(f"\nreplayed {len(records):,} events; compared per kind: {json.dumps(counts)}")
    # The stream really exercised every kind.
    assert all(count > 0 for count in counts.values()), counts
    assert counts["members"] > 20000


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
async def test_many_sessions_equal_hikari_cache(tmp_path: pathlib.Path, seed: int) -> None:
    await _replay_and_compare(session(seed=seed, guilds=3, members=(900, 300, 60), churn=3.0), tmp_path / "c.db")


async def test_sharded_session_equals_hikari_cache(tmp_path: pathlib.Path) -> None:
    records = tuple(gateway_session.generate_session(seed=11, guilds=6, members=(400, 120), churn=2.0, shard_count=3))
    assert {shard for _, shard, _ in records} == {0, 1, 2}
    await _replay_and_compare(records, tmp_path / "c.db")


async def test_same_result_with_hikaris_cache_turned_off(tmp_path: pathlib.Path) -> None:
    """Bots turn hikari's cache off to save memory: the persistent cache must not depend on it."""
    records = session()
    reference = make_bot()
    await offline.replay(reference, records)

    lean = make_bot(hikari_cache=False)
    assert lean.cache.get_guilds_view() == {}
    async with persist.Cache(lean, persist.SQLiteBackend(tmp_path / "lean.db")) as cache:
        await offline.replay(lean, records)
        await cache.flush()
        assert not lean.cache.get_guilds_view(), "hikari's own cache stayed off"
        counts = await compare_with_hikari(cache, reference, app=lean)
    assert counts == hikari_counts(reference.cache)


async def test_objects_are_native_and_bound_to_the_bot(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(tmp_path / "c.db")) as cache:
        await offline.replay(bot, session())
        await cache.flush()
        classes = {type(c) async for c in cache.channels.all()}
        assert {hikari.GuildTextChannel, hikari.GuildNewsChannel, hikari.GuildForumChannel} <= classes
        forum = await cache.channels.where(type=hikari.ChannelType.GUILD_FORUM).first()
        assert isinstance(forum, hikari.GuildForumChannel)
        assert forum.available_tags, "forum tags survive the round trip"
        member = await cache.members.all().first()
        assert isinstance(member, hikari.Member)
        assert member.app is bot
        assert member.mention.startswith("<@")
        assert isinstance(member.id, hikari.Snowflake)
        thread = await cache.threads.all().first()
        assert isinstance(thread, hikari.GuildThreadChannel)
        me = await cache.get_me()
        assert isinstance(me, hikari.OwnUser)
        assert me.id == gateway_session.BOT_USER_ID
