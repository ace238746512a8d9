"""A persistent, queryable cache for hikari bots that returns native hikari objects.

```py
import hikari
import hikaripersist as persist

bot = hikari.GatewayBot("TOKEN")
cache = persist.Cache(bot, persist.SQLiteBackend("cache.db"))
bot.run()
```
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "Backend",
    "BackendError",
    "BulkChannelEvent",
    "BulkMemberEvent",
    "BulkRoleEvent",
    "Cache",
    "CacheIterator",
    "CacheIteratorStep",
    "CacheStartupError",
    "ChannelInsertEvent",
    "ChannelRemoveEvent",
    "ChannelRule",
    "ChannelUpdateEvent",
    "Confirmed",
    "EmojiRule",
    "GuildInsertEvent",
    "GuildRemoveEvent",
    "GuildRule",
    "GuildUpdateEvent",
    "InviteRule",
    "MemberInsertEvent",
    "MemberRemoveEvent",
    "MemberRule",
    "MemberUpdateEvent",
    "MessageRule",
    "PersistChannelUpdateEvent",
    "PersistEvent",
    "PersistGuildUpdateEvent",
    "PersistMemberUpdateEvent",
    "PersistRoleUpdateEvent",
    "PresenceRule",
    "RoleInsertEvent",
    "RoleRemoveEvent",
    "RoleRule",
    "RoleUpdateEvent",
    "Rule",
    "SQLiteBackend",
    "SchemaError",
    "StickerRule",
    "ThreadRule",
    "UserRule",
    "VoiceStateRule",
    "__version__",
)

import typing

from hikaripersist.backend import Backend, BackendError, CacheStartupError, SchemaError
from hikaripersist.cache import Cache
from hikaripersist.events import (
    BulkChannelEvent,
    BulkMemberEvent,
    BulkRoleEvent,
    ChannelInsertEvent,
    ChannelRemoveEvent,
    ChannelUpdateEvent,
    Confirmed,
    GuildInsertEvent,
    GuildRemoveEvent,
    GuildUpdateEvent,
    MemberInsertEvent,
    MemberRemoveEvent,
    MemberUpdateEvent,
    PersistChannelUpdateEvent,
    PersistEvent,
    PersistGuildUpdateEvent,
    PersistMemberUpdateEvent,
    PersistRoleUpdateEvent,
    RoleInsertEvent,
    RoleRemoveEvent,
    RoleUpdateEvent,
)
from hikaripersist.iterator import CacheIterator, CacheIteratorStep
from hikaripersist.rules import (
    ChannelRule,
    EmojiRule,
    GuildRule,
    InviteRule,
    MemberRule,
    MessageRule,
    PresenceRule,
    RoleRule,
    Rule,
    StickerRule,
    ThreadRule,
    UserRule,
    VoiceStateRule,
)
from hikaripersist.sqlite import SQLiteBackend

__version__: typing.Final[str] = "0.2.0.dev0"
