"""``where()`` filters in the database on every stored field and agrees with hikari's cache."""

from __future__ import annotations

import datetime
import enum
import typing

import pytest
import pytest_asyncio

import hikaripersist as persist
from hikaripersist._internal import offline
from tests.conftest import make_bot, session
from tests.reference import KINDS, hikari_entities

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Callable

    import hikari

# Column names that are not attributes of the entity.
_ALIASES: typing.Final[dict[str, dict[str, Callable[[typing.Any], object]]]] = {
    "members": {"member_id": lambda m: m.user.id, "user_id": lambda m: m.user.id},
    "emojis": {"user_id": lambda e: e.user.id if e.user else None},
    "stickers": {"user_id": lambda s: s.user.id if s.user else None},
    "messages": {"author_id": lambda m: m.author.id},
    "invites": {
        "inviter_id": lambda i: i.inviter.id if i.inviter else None,
        "target_user_id": lambda i: i.target_user.id if i.target_user else None,
    },
}
_KEY: typing.Final[dict[str, Callable[[typing.Any], object]]] = {
    "members": lambda m: (int(m.guild_id), int(m.user.id)),
    "presences": lambda p: (int(p.guild_id), int(p.user_id)),
    "voice_states": lambda v: (int(v.guild_id), int(v.user_id)),
    "invites": lambda i: i.code,
}


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, str, enum.Enum, datetime.datetime, datetime.timedelta))


# One filled cache serves the whole module (its event loop lives as long as the module's tests).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filled(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[hikari.GatewayBot, persist.Cache]]:
    bot = make_bot()
    path: pathlib.Path = tmp_path_factory.mktemp("queries") / "c.db"
    async with persist.Cache(bot, persist.SQLiteBackend(path)) as cache:
        await offline.replay(bot, session(seed=5))
        await cache.flush()
        yield bot, cache


@pytest.mark.parametrize("kind", KINDS)
async def test_every_field_filters_like_python_would(
    filled: tuple[hikari.GatewayBot, persist.Cache], kind: str
) -> None:
    """For each field of each kind and a few of its values, where() returns what filtering hikari's cache gives."""
    bot, cache = filled
    entities = hikari_entities(bot.cache)[kind]
    query = getattr(cache, kind)
    key = _KEY.get(kind, lambda e: int(e.id))
    checked = 0
    for field in query.fields:
        getter: Callable[[typing.Any], object] = _ALIASES.get(kind, {}).get(field) or _attribute(field)
        values: list[object] = []
        for entity in entities.values():
            value = getter(entity)
            if value is not _MISSING and _scalar(value) and value not in values:
                values.append(value)
            if len(values) >= 3:
                break
        for value in values:
            expected = {k for k, e in entities.items() if getter(e) == value}
            ours = {key(e) async for e in query.where(**{field: value})}
            assert ours == expected, f"{kind}.where({field}={value!r})"
            assert await query.count(**{field: value}) == len(expected)
            checked += 1
    assert checked > 0 or not entities


_MISSING = object()


def _attribute(name: str) -> Callable[[typing.Any], object]:
    def get(entity: typing.Any) -> object:
        return getattr(entity, name, _MISSING)

    return get


async def test_list_fields_match_membership(filled: tuple[hikari.GatewayBot, persist.Cache]) -> None:
    """``members.where(role_ids=role)`` finds the members that have the role (members with a given role)."""
    bot, cache = filled
    members = hikari_entities(bot.cache)["members"]
    role = next(r for r in bot.cache.get_roles_view().values() if r.id != r.guild_id)
    expected = {k for k, m in members.items() if role.id in m.role_ids}
    assert expected
    assert {(int(m.guild_id), int(m.user.id)) async for m in cache.members.where(role_ids=role.id)} == expected


async def test_unknown_fields_and_values_are_refused_at_the_call(
    filled: tuple[hikari.GatewayBot, persist.Cache],
) -> None:
    _, cache = filled
    with pytest.raises(TypeError, match="cannot filter on 'colour'"):
        cache.roles.where(colour=5)
    with pytest.raises(TypeError, match="name takes str values, not list"):
        cache.roles.where(name=["a"])
    with pytest.raises(TypeError, match="guild_id takes int or Unique values, not str"):
        cache.members.where(guild_id="123")
    with pytest.raises(TypeError, match="guild_id takes int or Unique values, not bool"):
        cache.members.where(guild_id=True)
    with pytest.raises(TypeError, match="joined_at takes datetime values, not int"):
        await cache.members.count(joined_at=5)
    with pytest.raises(TypeError, match="value of type list"):
        cache.roles.where(unicode_emoji=["a"])
    with pytest.raises(ValueError, match="timezone-aware"):
        cache.members.where(premium_since=datetime.datetime(2020, 1, 1))


async def test_values_are_bound_parameters(filled: tuple[hikari.GatewayBot, persist.Cache]) -> None:
    _, cache = filled
    hostile = "x' OR '1'='1"
    assert await cache.roles.where(name=hostile).count() == 0
    assert await cache.roles.where(unicode_emoji=hostile).count() == 0
    assert await cache.roles.count() > 0
