"""The kinds of entities the cache stores, and their singular names."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("KINDS", "SINGULAR")

import typing

if typing.TYPE_CHECKING:
    from hikaripersist.rules import RuleKind

KINDS: typing.Final[tuple[str, ...]] = (
    "guilds",
    "channels",
    "threads",
    "roles",
    "members",
    "users",
    "emojis",
    "stickers",
    "presences",
    "voice_states",
    "messages",
    "invites",
)
"""The kinds of entities stored, as named by the cache's query properties."""

SINGULAR: typing.Final[dict[str, RuleKind]] = {
    "guilds": "guild",
    "channels": "channel",
    "threads": "thread",
    "roles": "role",
    "members": "member",
    "users": "user",
    "emojis": "emoji",
    "stickers": "sticker",
    "presences": "presence",
    "voice_states": "voice_state",
    "messages": "message",
    "invites": "invite",
}
"""A kind's singular name: its rule's kind and the entity's field in change events."""
