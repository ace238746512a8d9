"""hikari-persist for lightbulb 3: the persistent cache injected into commands, hooks and listeners.

One line installs a cache into a lightbulb client:

```py
import hikari
import lightbulb
import hikaripersist as persist
import hikaripersist_lightbulb

bot = hikari.GatewayBot("TOKEN")
client = lightbulb.client_from_app(bot)
bot.subscribe(hikari.StartingEvent, client.start)
hikaripersist_lightbulb.setup(client, persist.Cache(bot, persist.SQLiteBackend("cache.db")), flush_before_commands=True)


@client.register
class Whois(lightbulb.SlashCommand, name="whois", description="Show a member as stored."):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, cache: persist.Cache = lightbulb.di.INJECTED) -> None:
        assert ctx.guild_id is not None
        member = await cache.members.get(guild_id=ctx.guild_id, member_id=ctx.user.id)
        await ctx.respond(member.display_name if member else "not stored")


loader = lightbulb.Loader()


@loader.listener(persist.Confirmed[hikari.MemberCreateEvent])
async def on_join(
    event: persist.Confirmed[hikari.MemberCreateEvent], cache: persist.Cache = lightbulb.di.INJECTED
) -> None:
    # Runs once the member is committed: the cache already answers with them.
    print(await cache.members.count(guild_id=event.guild_id))
```

``setup`` must run before lightbulb's dependency injection starts (it freezes its registry when
the first command, loader listener, hook or task runs): right after creating the client.

Or, as an extension, from configuration:

```py
@bot.listen(hikari.StartingEvent)
async def on_starting(_: hikari.StartingEvent) -> None:
    registry = client.di.registry_for(lightbulb.di.Contexts.DEFAULT)
    registry.register_value(persist.CacheConfig, persist.CacheConfig("sqlite:///cache.db"))  # optional
    await client.load_extensions("hikaripersist_lightbulb", "bot.extensions.commands")
    await client.start()
```

The extension's [`loader`][hikaripersist_lightbulb.loader] builds the cache from the
`hikaripersist.CacheConfig` registered in the client's default DI registry or, when none is,
from the environment (`CacheConfig.from_env`: ``HIKARI_PERSIST_URL``,
``HIKARI_PERSIST_DISABLE``, ``HIKARI_PERSIST_MAX_PENDING``,
``HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS``), installs it with the configuration's
``flush_before_commands``, and opens it at once when the bot is already starting, as in the
listener above. ``await client.unload_extensions("hikaripersist_lightbulb")`` removes it and
closes it. See [`CacheLoadable`][hikaripersist_lightbulb.CacheLoadable].

Listeners: ``persist.Confirmed[E]`` is a real hikari event type, so ``@loader.listener(...)``
subscribes to it like to any event, with lightbulb's dependency injection, and the listener runs
once the write of the event is committed. (Lightbulb 3's client has no ``listen`` decorator;
``@bot.listen()`` works too, without injection.)
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("CacheLoadable", "SetupError", "flush_hook", "get_cache", "loader", "setup")

import typing

# Everything lives in submodules: lightbulb's unload_extensions() drops this module from sys.modules.
from hikaripersist_lightbulb._errors import SetupError
from hikaripersist_lightbulb._extension import CacheLoadable, loader
from hikaripersist_lightbulb._hooks import flush_hook
from hikaripersist_lightbulb._setup import setup
from hikaripersist_lightbulb._state import get_cache
