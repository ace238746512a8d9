"""hikari-persist for tanjun: the persistent cache injected into commands, and behind tanjun's converters.

One line installs a cache into a tanjun client:

```py
import alluka
import hikari
import hikaripersist as persist
import hikaripersist_tanjun
import tanjun

bot = hikari.GatewayBot("TOKEN")
client = tanjun.Client.from_gateway_bot(bot, declare_global_commands=True)
hikaripersist_tanjun.setup(client, persist.Cache(bot, persist.SQLiteBackend("cache.db")), flush_before_commands=True)
component = tanjun.Component()


@component.with_command
@tanjun.with_member_slash_option("member", "Who to look up.")  # resolved by Discord
@tanjun.as_slash_command("whois", "Show a member as stored.")
async def whois(ctx: tanjun.abc.SlashContext, member: hikari.Member, cache: alluka.Injected[persist.Cache]) -> None:
    stored = await cache.members.get(guild_id=member.guild_id, member_id=member.id)
    await ctx.respond(stored.display_name if stored else "not stored")


@component.with_command
@tanjun.with_str_slash_option("role", "A role mention or id.", converters=tanjun.to_role)  # from the cache
@tanjun.as_slash_command("role", "Show a role.")
async def role(ctx: tanjun.abc.SlashContext, role: hikari.Role) -> None:
    await ctx.respond(role.name)


@component.with_listener()
async def on_join(event: persist.Confirmed[hikari.MemberCreateEvent], cache: alluka.Injected[persist.Cache]) -> None:
    # Runs once the member is committed: the cache already answers with them.
    print(await cache.members.count(guild_id=event.guild_id))


client.add_component(component)
bot.run()
```

Or, as a module for tanjun's loader, from configuration:

```py
client.set_type_dependency(persist.CacheConfig, persist.CacheConfig("sqlite:///cache.db"))  # optional
client.load_modules("hikaripersist_tanjun")
```

The loader ([`load`][hikaripersist_tanjun.load]) builds the cache from the
`hikaripersist.CacheConfig` registered as the client's type dependency or, when none is, from
the environment (`CacheConfig.from_env`: ``HIKARI_PERSIST_URL``, ``HIKARI_PERSIST_DISABLE``,
``HIKARI_PERSIST_MAX_PENDING``, ``HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS``), and sets it up with the
configuration's ``flush_before_commands``. ``client.unload_modules("hikaripersist_tanjun")``
removes it and closes the cache it created (see [`wait_closed`][hikaripersist_tanjun.wait_closed]).

Dependency injection: commands, checks, hooks and listeners declare
``cache: alluka.Injected[persist.Cache]`` (or ``cache: persist.Cache = alluka.inject(type=persist.Cache)``;
``alluka.Injected[persist.Cache | None]`` receives ``None`` on a client without a cache).

Listeners: ``persist.Confirmed[E]`` is a real hikari event type, so ``@component.with_listener()``
and ``client.add_listener`` subscribe to it like to any event, with dependency injection, and the
listener runs once the write of the event is committed.

tanjun's converters and checks: [`setup`][hikaripersist_tanjun.setup] registers adapters for
tanjun's async cache interfaces (``tanjun.dependencies.SfCache[hikari.Role]`` and the others, see
[`GuildCache`][hikaripersist_tanjun.GuildCache] and its siblings), so ``tanjun.to_member``,
``to_role``, ``to_channel``, ``to_guild``, ``to_emoji``, ``to_user``, ``to_message``,
``to_presence``, ``to_voice_state``, ``to_invite``, the permission checks and the bot's own user
are read from the persistent cache before tanjun falls back to REST.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "CacheHooks",
    "EmojiCache",
    "GuildCache",
    "GuildChannelCache",
    "InviteCache",
    "MemberCache",
    "MessageCache",
    "OwnUserCache",
    "PresenceCache",
    "RoleCache",
    "StickerCache",
    "ThreadCache",
    "UserCache",
    "VoiceStateCache",
    "get_cache",
    "load",
    "setup",
    "teardown",
    "unload",
    "wait_closed",
)

import typing

from hikaripersist_tanjun._async_cache import (
    EmojiCache,
    GuildCache,
    GuildChannelCache,
    InviteCache,
    MemberCache,
    MessageCache,
    OwnUserCache,
    PresenceCache,
    RoleCache,
    StickerCache,
    ThreadCache,
    UserCache,
    VoiceStateCache,
)
from hikaripersist_tanjun._hooks import CacheHooks
from hikaripersist_tanjun._loader import load, unload
from hikaripersist_tanjun._setup import get_cache, setup, teardown
from hikaripersist_tanjun._state import wait_closed
