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
    "CacheConfig",
    "CacheIterator",
    "CacheIteratorStep",
    "CacheStartupError",
    "CacheStats",
    "CacheView",
    "ChannelInsertEvent",
    "ChannelRemoveEvent",
    "ChannelRule",
    "ChannelUpdateEvent",
    "Confirmed",
    "EmojiInsertEvent",
    "EmojiRemoveEvent",
    "EmojiRule",
    "Filter",
    "GuildInsertEvent",
    "GuildRemoveEvent",
    "GuildRule",
    "GuildUpdateEvent",
    "InviteInsertEvent",
    "InviteRemoveEvent",
    "InviteRule",
    "JSONBackend",
    "MemberInsertEvent",
    "MemberRemoveEvent",
    "MemberRule",
    "MemberUpdateEvent",
    "MessageInsertEvent",
    "MessageRemoveEvent",
    "MessageRule",
    "MySQLBackend",
    "PersistChannelUpdateEvent",
    "PersistEmojiUpdateEvent",
    "PersistEvent",
    "PersistGuildUpdateEvent",
    "PersistInviteUpdateEvent",
    "PersistMemberUpdateEvent",
    "PersistMessageUpdateEvent",
    "PersistPresenceUpdateEvent",
    "PersistRoleUpdateEvent",
    "PersistStickerUpdateEvent",
    "PersistThreadUpdateEvent",
    "PersistUserUpdateEvent",
    "PersistVoiceStateUpdateEvent",
    "PostgreSQLBackend",
    "PresenceInsertEvent",
    "PresenceRemoveEvent",
    "PresenceRule",
    "PruneProgress",
    "ReadOnlyCache",
    "RedisBackend",
    "RoleInsertEvent",
    "RoleRemoveEvent",
    "RoleRule",
    "RoleUpdateEvent",
    "Rule",
    "SQLiteBackend",
    "SchemaError",
    "StickerInsertEvent",
    "StickerRemoveEvent",
    "StickerRule",
    "ThreadInsertEvent",
    "ThreadRemoveEvent",
    "ThreadRule",
    "UserInsertEvent",
    "UserRemoveEvent",
    "UserRule",
    "VoiceStateInsertEvent",
    "VoiceStateRemoveEvent",
    "VoiceStateRule",
    "__version__",
    "after",
    "at_least",
    "at_most",
    "backend_from_url",
    "before",
    "between",
    "contains",
    "filters",
    "is_null",
    "not_equal",
    "not_null",
    "one_of",
    "startswith",
)

import typing

from hikaripersist import filters
from hikaripersist.backend import Backend, BackendError, CacheStartupError, SchemaError
from hikaripersist.cache import Cache, CacheStats, PruneProgress
from hikaripersist.config import CacheConfig, backend_from_url
from hikaripersist.events import (
    BulkChannelEvent,
    BulkMemberEvent,
    BulkRoleEvent,
    ChannelInsertEvent,
    ChannelRemoveEvent,
    ChannelUpdateEvent,
    Confirmed,
    EmojiInsertEvent,
    EmojiRemoveEvent,
    GuildInsertEvent,
    GuildRemoveEvent,
    GuildUpdateEvent,
    InviteInsertEvent,
    InviteRemoveEvent,
    MemberInsertEvent,
    MemberRemoveEvent,
    MemberUpdateEvent,
    MessageInsertEvent,
    MessageRemoveEvent,
    PersistChannelUpdateEvent,
    PersistEmojiUpdateEvent,
    PersistEvent,
    PersistGuildUpdateEvent,
    PersistInviteUpdateEvent,
    PersistMemberUpdateEvent,
    PersistMessageUpdateEvent,
    PersistPresenceUpdateEvent,
    PersistRoleUpdateEvent,
    PersistStickerUpdateEvent,
    PersistThreadUpdateEvent,
    PersistUserUpdateEvent,
    PersistVoiceStateUpdateEvent,
    PresenceInsertEvent,
    PresenceRemoveEvent,
    RoleInsertEvent,
    RoleRemoveEvent,
    RoleUpdateEvent,
    StickerInsertEvent,
    StickerRemoveEvent,
    ThreadInsertEvent,
    ThreadRemoveEvent,
    UserInsertEvent,
    UserRemoveEvent,
    VoiceStateInsertEvent,
    VoiceStateRemoveEvent,
)
from hikaripersist.filters import (
    Filter,
    after,
    at_least,
    at_most,
    before,
    between,
    contains,
    is_null,
    not_equal,
    not_null,
    one_of,
    startswith,
)
from hikaripersist.iterator import CacheIterator, CacheIteratorStep
from hikaripersist.jsonfile import JSONBackend
from hikaripersist.mysql import MySQLBackend
from hikaripersist.postgresql import PostgreSQLBackend
from hikaripersist.readonly import ReadOnlyCache
from hikaripersist.redis import RedisBackend
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
from hikaripersist.view import CacheView

__version__: typing.Final[str] = "0.2.0.dev0"
