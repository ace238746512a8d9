"""Compares what the persistent cache returns with hikari's own in-memory cache, kind by kind."""

from __future__ import annotations

__all__ = ("KINDS", "compare_with_hikari", "hikari_counts", "hikari_entities")

import typing

from hikaripersist.cache import KINDS
from hikaripersist.testing._deepeq import deep_diff

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import hikari

    import hikaripersist as persist


def _members(cache: hikari.api.Cache) -> dict[tuple[int, int], hikari.Member]:
    # hikari's per-guild view leaves out members only kept because a voice state or a message
    # references them; `cache.members.all()` does the same (they stay reachable through `get`).
    return {
        (int(guild_id), int(user_id)): member
        for guild_id in cache.get_members_view()
        for user_id, member in cache.get_members_view_for_guild(guild_id).items()
    }


def _nested(
    view: Mapping[hikari.Snowflake, Mapping[hikari.Snowflake, typing.Any]],
) -> dict[tuple[int, int], typing.Any]:
    return {(int(g), int(k)): v for g, inner in view.items() for k, v in inner.items()}


def hikari_entities(cache: hikari.api.Cache) -> dict[str, dict[typing.Any, typing.Any]]:
    """Every entity in hikari's cache, per kind, keyed like ours."""
    return {
        "guilds": {int(k): v for k, v in cache.get_guilds_view().items()},
        "channels": {int(k): v for k, v in cache.get_guild_channels_view().items()},
        "threads": {int(k): v for k, v in cache.get_threads_view().items()},
        "roles": {int(k): v for k, v in cache.get_roles_view().items()},
        "members": _members(cache),
        "users": {int(k): v for k, v in cache.get_users_view().items()},
        "emojis": {int(k): v for k, v in cache.get_emojis_view().items()},
        "stickers": {int(k): v for k, v in cache.get_stickers_view().items()},
        "presences": _nested(cache.get_presences_view()),
        "voice_states": _nested(cache.get_voice_states_view()),
        "messages": {int(k): v for k, v in cache.get_messages_view().items()},
        "invites": dict(cache.get_invites_view().items()),
    }


_KEYS: Mapping[str, Callable[[typing.Any], typing.Any]] = {
    "members": lambda m: (int(m.guild_id), int(m.user.id)),
    "presences": lambda p: (int(p.guild_id), int(p.user_id)),
    "voice_states": lambda v: (int(v.guild_id), int(v.user_id)),
    "invites": lambda i: i.code,
}


def hikari_counts(cache: hikari.api.Cache) -> dict[str, int]:
    """Entities per kind in hikari's cache."""
    return {kind: len(items) for kind, items in hikari_entities(cache).items()}


async def compare_with_hikari(
    cache: persist.CacheView, bot: hikari.GatewayBot, *, check_get: bool = True, app: object | None = None
) -> dict[str, int]:
    """Assert that every kind equals hikari's cache deeply; return the per-kind counts compared.

    Also checks ``get()`` for every key hikari answers, that each object's ``app`` is the bot, and
    the bot's own user.
    """
    expected_app = app if app is not None else bot
    expected_all = hikari_entities(bot.cache)
    problems: list[str] = []
    counts: dict[str, int] = {}
    for kind in KINDS:
        query = getattr(cache, kind)
        ours: dict[typing.Any, typing.Any] = {}
        async for item in query.all():
            key = _KEYS.get(kind, lambda e: int(e.id))(item)
            ours[key] = item
        expected = expected_all[kind]
        counts[kind] = len(expected)
        missing = set(expected) - set(ours)
        extra = set(ours) - set(expected)
        if missing or extra:
            problems.append(
                f"{kind}: missing {sorted(missing)[:5]} ({len(missing)}), extra {sorted(extra)[:5]} ({len(extra)})"
            )
        for key in set(expected) & set(ours):
            diffs = deep_diff(ours[key], expected[key], path=f"{kind}[{key}]")
            problems.extend(diffs[:3])
            if getattr(ours[key], "app", expected_app) is not expected_app:
                problems.append(f"{kind}[{key}].app is not the bot")
        if len(problems) > 40:
            break
    if check_get:
        problems.extend(await _compare_gets(cache, bot))
    problems.extend(deep_diff(await cache.get_me(), bot.cache.get_me(), path="me"))
    assert not problems, "persistent cache differs from hikari's cache:\n" + "\n".join(problems[:60])
    return counts


async def _compare_gets(cache: persist.CacheView, bot: hikari.GatewayBot) -> list[str]:
    """``get`` for a sample of every kind (members: every member hikari's ``get_member`` knows)."""
    c = bot.cache
    problems: list[str] = []

    async def check(path: str, ours: object, theirs: object) -> None:
        problems.extend(deep_diff(ours, theirs, path=path)[:3])

    for guild_id in list(c.get_guilds_view())[:10]:
        await check(f"guilds.get({guild_id})", await cache.guilds.get(id=guild_id), c.get_guild(guild_id))
    for guild_id, view in list(c.get_members_view().items()):
        for user_id in list(view)[:200]:
            await check(
                f"members.get({guild_id}, {user_id})",
                await cache.members.get(guild_id=guild_id, member_id=user_id),
                c.get_member(guild_id, user_id),
            )
    for channel_id in list(c.get_guild_channels_view())[:50]:
        await check(
            f"channels.get({channel_id})", await cache.channels.get(id=channel_id), c.get_guild_channel(channel_id)
        )
    for message_id in list(c.get_messages_view())[:200]:
        await check(f"messages.get({message_id})", await cache.messages.get(id=message_id), c.get_message(message_id))
    for user_id in list(c.get_users_view())[:200]:
        await check(f"users.get({user_id})", await cache.users.get(id=user_id), c.get_user(user_id))
    return problems
