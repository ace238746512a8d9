"""Operators, ordering, limits and relationship shortcuts, checked against hikari's own cache."""

from __future__ import annotations

import datetime
import typing

import hikari
import pytest
import pytest_asyncio
from typing_extensions import assert_type

import hikaripersist as persist
from hikaripersist import filters
from hikaripersist._internal import offline
from tests.conftest import make_bot, session
from tests.reference import hikari_entities

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.asyncio(loop_scope="module")

Filled = tuple[hikari.GatewayBot, persist.Cache]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filled(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Filled]:
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(tmp_path_factory.mktemp("ops") / "c.db")) as cache:
        await offline.replay(bot, session(seed=6))
        await cache.flush()
        yield bot, cache


def _members(bot: hikari.GatewayBot) -> dict[tuple[int, int], hikari.Member]:
    return typing.cast("dict[tuple[int, int], hikari.Member]", hikari_entities(bot.cache)["members"])


async def _member_keys(iterator: persist.CacheIterator[hikari.Member]) -> set[tuple[int, int]]:
    return {(int(m.guild_id), int(m.user.id)) async for m in iterator}


async def test_ranges_on_an_indexed_time_column(filled: Filled) -> None:
    bot, cache = filled
    members = _members(bot)
    times = sorted(m.joined_at for m in members.values() if m.joined_at)
    middle = times[len(times) // 2]
    assert await _member_keys(cache.members.where(joined_at=filters.after(middle))) == {
        k for k, m in members.items() if m.joined_at and m.joined_at > middle
    }
    assert await _member_keys(cache.members.where(joined_at=filters.at_most(middle))) == {
        k for k, m in members.items() if m.joined_at and m.joined_at <= middle
    }
    low, high = times[len(times) // 4], times[3 * len(times) // 4]
    assert await cache.members.count(joined_at=filters.between(low, high)) == sum(
        1 for m in members.values() if m.joined_at and low <= m.joined_at <= high
    )


async def test_ranges_on_json_fields(filled: Filled) -> None:
    """Fields without their own column (here a role's colour, a member's premium time) work the same way."""
    bot, cache = filled
    roles = list(bot.cache.get_roles_view().values())
    threshold = sorted(int(r.color) for r in roles)[len(roles) // 2]
    assert {int(r.id) async for r in cache.roles.where(color=filters.after(threshold))} == {
        int(r.id) for r in roles if int(r.color) > threshold
    }
    members = _members(bot)
    since = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    assert await _member_keys(cache.members.where(premium_since=filters.before(since))) == {
        k for k, m in members.items() if m.premium_since and m.premium_since < since
    }
    assert await _member_keys(cache.members.where(premium_since=filters.not_null())) == {
        k for k, m in members.items() if m.premium_since is not None
    }


async def test_membership_and_null_checks(filled: Filled) -> None:
    bot, cache = filled
    channels = list(bot.cache.get_guild_channels_view().values())
    wanted = [hikari.ChannelType.GUILD_VOICE, hikari.ChannelType.GUILD_STAGE]
    assert {int(c.id) async for c in cache.channels.where(type=filters.one_of(*wanted))} == {
        int(c.id) for c in channels if c.type in wanted
    }
    assert {int(c.id) async for c in cache.channels.where(parent_id=filters.is_null())} == {
        int(c.id) for c in channels if c.parent_id is None
    }
    assert await cache.channels.count(type=filters.one_of()) == 0
    members = _members(bot)
    assert await _member_keys(cache.members.where(nickname=filters.not_null())) == {
        k for k, m in members.items() if m.nickname is not None
    }


async def test_text_prefix_and_contains_are_case_sensitive(filled: Filled) -> None:
    bot, cache = filled
    channels = list(bot.cache.get_guild_channels_view().values())
    name = next(c.name for c in channels if c.name and len(c.name) > 3)
    assert name is not None
    prefix, middle = name[:3], name[1:3]
    assert {int(c.id) async for c in cache.channels.where(name=filters.startswith(prefix))} == {
        int(c.id) for c in channels if c.name and c.name.startswith(prefix)
    }
    assert {int(c.id) async for c in cache.channels.where(name=filters.contains(middle))} == {
        int(c.id) for c in channels if c.name and middle in c.name
    }
    assert await cache.channels.count(name=filters.startswith(prefix.swapcase())) == sum(
        1 for c in channels if c.name and c.name.startswith(prefix.swapcase())
    )
    # Wildcards are just characters.
    assert await cache.channels.count(name=filters.contains("%")) == sum(
        1 for c in channels if c.name and "%" in c.name
    )
    roles = list(bot.cache.get_roles_view().values())
    assert await cache.roles.count(name=filters.contains("_")) == sum(1 for r in roles if "_" in r.name)


async def test_not_equal(filled: Filled) -> None:
    bot, cache = filled
    roles = list(bot.cache.get_roles_view().values())
    assert await cache.roles.count(is_hoisted=filters.not_equal(True)) == sum(1 for r in roles if not r.is_hoisted)


async def test_order_and_limit_are_applied_by_the_database(filled: Filled) -> None:
    bot, cache = filled
    members = _members(bot)
    guild_id = max({g for g, _ in members}, key=lambda g: sum(1 for k in members if k[0] == g))
    newest = await cache.members.where(guild_id=guild_id, order_by="-joined_at", limit=5).collect()
    expected = sorted(
        (m for k, m in members.items() if k[0] == guild_id and m.joined_at),
        key=lambda m: (m.joined_at, -int(m.user.id)),
        reverse=True,
    )[:5]
    assert [m.joined_at for m in newest] == [m.joined_at for m in expected]
    with pytest.raises(TypeError, match="cannot order by"):
        cache.members.where(order_by="guild_avatar_hash")
    with pytest.raises(ValueError, match="negative"):
        cache.members.where(limit=-1)


async def test_relationship_shortcuts(filled: Filled) -> None:
    bot, cache = filled
    c = bot.cache
    guild_id = next(iter(c.get_available_guilds_view()))
    assert {int(ch.id) async for ch in cache.channels.of_guild(guild_id)} == set(
        map(int, c.get_guild_channels_view_for_guild(guild_id))
    )
    assert {int(r.id) async for r in cache.roles.of_guild(guild_id)} == set(
        map(int, c.get_roles_view_for_guild(guild_id))
    )
    assert {int(e.id) async for e in cache.emojis.of_guild(guild_id)} == set(
        map(int, c.get_emojis_view_for_guild(guild_id))
    )
    assert {int(t.id) async for t in cache.threads.of_guild(guild_id)} == set(
        map(int, c.get_threads_view_for_guild(guild_id))
    )
    assert {int(m.user.id) async for m in cache.members.of_guild(guild_id)} == set(
        map(int, c.get_members_view_for_guild(guild_id))
    )

    member = next(m for m in c.get_members_view_for_guild(guild_id).values() if len(m.role_ids) > 1)
    roles = await cache.roles.of_member(member).collect()
    assert all(isinstance(r, hikari.Role) for r in roles)
    assert {int(r.id) for r in roles} == {int(i) for i in member.role_ids if c.get_role(i) is not None}
    assert [r.position for r in roles] == sorted(r.position for r in roles)

    role = next(r for r in c.get_roles_view_for_guild(guild_id).values() if r.id != guild_id)
    assert {int(m.user.id) async for m in cache.members.with_role(role)} == {
        int(m.user.id) for m in c.get_members_view_for_guild(guild_id).values() if role.id in m.role_ids
    }

    user_id = member.user.id
    assert {int(g.id) async for g in cache.guilds.of_user(user_id)} == {
        int(g)
        for g in c.get_guilds_view()
        if c.get_member(g, user_id) is not None and user_id in c.get_members_view_for_guild(g)
    }

    channel_id = max(
        {m.channel_id for m in c.get_messages_view().values()},
        key=lambda ch: sum(1 for m in c.get_messages_view().values() if m.channel_id == ch),
    )
    latest = await cache.messages.of_channel(channel_id, limit=3).collect()
    expected = sorted((int(m.id) for m in c.get_messages_view().values() if m.channel_id == channel_id), reverse=True)[
        :3
    ]
    assert [int(m.id) for m in latest] == expected


async def test_channel_type_narrows_the_result_type(filled: Filled) -> None:
    _, cache = filled
    text = await cache.channels.where(type=hikari.ChannelType.GUILD_TEXT).collect()
    assert_type(text, list[hikari.GuildTextChannel])
    assert text
    assert all(isinstance(ch, hikari.GuildTextChannel) for ch in text)
    forum = await cache.channels.where(type=hikari.ChannelType.GUILD_FORUM).first()
    assert_type(forum, hikari.GuildForumChannel | None)
    assert isinstance(forum, hikari.GuildForumChannel)
    anything = await cache.channels.where(guild_id=1).collect()
    assert_type(anything, list[hikari.PermissibleGuildChannel])


async def test_operators_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="is_null"):
        filters.after(None)
    with pytest.raises(TypeError, match="takes a str"):
        filters.startswith(typing.cast("str", 5))
    with pytest.raises(ValueError, match="is_null"):
        filters.one_of(1, None)


async def test_limit_and_count_are_pushed_into_the_query(filled: Filled, monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit right after where() and a bare count() reach the database instead of filtering in Python."""
    _, cache = filled
    backend_type = type(cache.backend)
    issued: list[str] = []
    original_fetch = backend_type.fetch
    original_scalar = backend_type.scalar

    def fetch(self: typing.Any, sql: str, params: typing.Sequence[typing.Any] = (), *, chunk: int = 500) -> typing.Any:
        issued.append(sql)
        return original_fetch(self, sql, params, chunk=chunk)

    async def scalar(self: typing.Any, sql: str, params: typing.Sequence[typing.Any] = ()) -> typing.Any:
        issued.append(sql)
        return await original_scalar(self, sql, params)

    # The backend has __slots__: patch its class for this test.
    monkeypatch.setattr(backend_type, "fetch", fetch)
    monkeypatch.setattr(backend_type, "scalar", scalar)
    three = await cache.members.all().limit(3).collect()
    assert len(three) == 3
    assert any(sql.endswith("LIMIT 3") for sql in issued), issued
    issued.clear()
    total = await cache.members.where(nickname=filters.not_null()).count()
    assert total > 0
    assert any(sql.startswith("SELECT COUNT(*)") for sql in issued), issued
