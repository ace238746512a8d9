"""hikari-persist for arc: the persistent cache injected into commands, hooks and listeners.

One line installs a cache into an arc client:

```py
import arc
import hikari
import hikaripersist as persist
import hikaripersist_arc

bot = hikari.GatewayBot("TOKEN")
client = arc.GatewayClient(bot)
hikaripersist_arc.setup(client, persist.Cache(bot, persist.SQLiteBackend("cache.db")), flush_before_commands=True)


@client.include
@arc.slash_command("whois", "Show a member as stored.")
async def whois(ctx: arc.GatewayContext, cache: persist.Cache = arc.inject()) -> None:
    assert ctx.guild_id is not None
    member = await cache.members.get(guild_id=ctx.guild_id, member_id=ctx.author.id)
    await ctx.respond(member.display_name if member else "not stored")


@client.listen()
@client.inject_dependencies
async def on_join(event: persist.Confirmed[hikari.MemberCreateEvent], cache: persist.Cache = arc.inject()) -> None:
    # Runs once the member is committed: the cache already answers with them.
    print(await cache.members.count(guild_id=event.guild_id))
```

Or, as an extension, from configuration:

```py
client.set_type_dependency(persist.CacheConfig, persist.CacheConfig("sqlite:///cache.db"))  # optional
client.load_extension("hikaripersist_arc")
```

The extension's loader builds the cache from the `hikaripersist.CacheConfig` registered as the
client's type dependency or, when none is, from the environment
(`CacheConfig.from_env`: ``HIKARI_PERSIST_URL``, ``HIKARI_PERSIST_DISABLE``,
``HIKARI_PERSIST_MAX_PENDING``, ``HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS``), and sets it up with
the configuration's ``flush_before_commands``. ``client.unload_extension("hikaripersist_arc")``
removes it and closes the cache it created (see [`wait_closed`][hikaripersist_arc.wait_closed]).

Listeners: ``persist.Confirmed[E]`` is a real hikari event type, so ``@client.listen()`` and
``@plugin.listen()`` subscribe to it like to any event, and the listener runs once the write of
the event is committed. arc injects dependencies into listeners through
``@client.inject_dependencies`` (or ``@plugin.inject_dependencies``) placed under ``listen()``.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("get_cache", "setup", "teardown", "wait_closed")

import typing

import arc

from hikaripersist_arc import _extension
from hikaripersist_arc._setup import get_cache, setup, teardown
from hikaripersist_arc._state import wait_closed


@arc.loader
def _load(client: arc.abc.Client[typing.Any]) -> None:
    # Everything lives in submodules: arc's unload_extension drops this module from sys.modules.
    _extension.load(client)


@arc.unloader
def _unload(client: arc.abc.Client[typing.Any]) -> None:
    _extension.unload(client)
