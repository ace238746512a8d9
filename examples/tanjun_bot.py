"""A tanjun bot with a persistent cache.

Run with a token in DISCORD_TOKEN: ``python examples/tanjun_bot.py``. Use ``/whois`` and ``/stats``
in a guild.

The cache is stored in ``cache.db`` (SQLite). Set ``HIKARI_PERSIST_URL`` to store it elsewhere
(``sqlite:////var/lib/bot/cache.db``, or a database server's URL with a backend that supports
one): the configuration then comes from the ``HIKARI_PERSIST_*`` variables, read by
``persist.CacheConfig.from_env()``.
"""

from __future__ import annotations

# tanjun annotates client.add_component (and its other chaining methods) as returning typing.Self,
# imported from `typing`, which pyright cannot resolve when checking for Python 3.10.
# pyright: reportUnknownMemberType=false
import os

import alluka  # noqa: TC002 - tanjun and alluka read the annotations at run time
import hikari
import tanjun

import hikaripersist as persist
import hikaripersist_tanjun

bot = hikari.GatewayBot(
    os.environ.get("DISCORD_TOKEN", ""),
    intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_MEMBERS,
    # The persistent cache holds everything: hikari's own in-memory copy is not needed.
    cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE),
)
client = tanjun.Client.from_gateway_bot(bot, declare_global_commands=True)

if os.environ.get("HIKARI_PERSIST_URL"):
    config = persist.CacheConfig.from_env()
else:
    config = persist.CacheConfig(
        "sqlite:///cache.db",
        # No presences (they change all the time), at most 200 messages per channel.
        rule=persist.Rule(
            presence=persist.PresenceRule(enabled=False), message=persist.MessageRule(max_per_channel=200)
        ),
        # Commands wait until what their guild sent so far is stored: they read its latest state.
        flush_before_commands=True,
    )
hikaripersist_tanjun.setup(client, config.create_cache(bot), flush_before_commands=config.flush_before_commands)
# Or let tanjun's loader build it from the configuration:
#   client.set_type_dependency(persist.CacheConfig, config)
#   client.load_modules("hikaripersist_tanjun")

component = tanjun.Component(name="persist")


@component.with_command
# tanjun.to_member finds the member in the persistent cache (REST only if it is not stored).
@tanjun.with_str_slash_option("member", "A member: mention, id.", converters=tanjun.to_member)
@tanjun.as_slash_command("whois", "Show a member and their roles.")
async def whois(ctx: tanjun.abc.SlashContext, member: hikari.Member, cache: alluka.Injected[persist.Cache]) -> None:
    roles = [role.name async for role in cache.roles.of_member(member) if role.id != member.guild_id]
    await ctx.respond(f"{member.display_name}: {', '.join(reversed(roles)) or 'no roles'}")


@component.with_command
@tanjun.as_slash_command("stats", "What the cache holds for this guild.")
async def stats(ctx: tanjun.abc.SlashContext, cache: alluka.Injected[persist.Cache]) -> None:
    if ctx.guild_id is None:
        await ctx.respond("Use this in a guild.")
        return
    members = await cache.members.count(guild_id=ctx.guild_id)
    bots = await cache.members.where(guild_id=ctx.guild_id).filter(lambda m: m.is_bot).count()
    channels = await cache.channels.count(guild_id=ctx.guild_id)
    await ctx.respond(f"{members} members stored ({bots} bots), {channels} channels")


@component.with_listener()
async def on_join(event: persist.Confirmed[hikari.MemberCreateEvent], cache: alluka.Injected[persist.Cache]) -> None:
    # Runs once the new member is durably stored, so every query already sees them.
    total = await cache.members.count(guild_id=event.guild_id)
    print(f"{event.member.display_name} joined; {total} members stored for this guild")


client.add_component(component)

if __name__ == "__main__":
    bot.run()
