"""A lightbulb 3 bot with a persistent cache.

Run with a token in DISCORD_TOKEN: ``python examples/lightbulb_bot.py``. Use ``/whois`` in a guild.

The cache is stored in ``cache.db``; set HIKARI_PERSIST_URL to store it elsewhere
(``sqlite:////var/lib/mybot/cache.db``, or a database server's URL with a backend that provides
one). Instead of ``setup`` below, ``await client.load_extensions("hikaripersist_lightbulb")`` in
``on_starting`` builds the cache from the HIKARI_PERSIST_* environment variables alone.
"""

from __future__ import annotations

import datetime
import os

import hikari
import lightbulb

import hikaripersist as persist
import hikaripersist_lightbulb

bot = hikari.GatewayBot(
    os.environ.get("DISCORD_TOKEN", ""),
    intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_MEMBERS,
    # The persistent cache holds everything: hikari's own in-memory copy is not needed.
    cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE),
)
client = lightbulb.client_from_app(bot)
cache = persist.Cache(
    bot,
    persist.backend_from_url(os.environ.get("HIKARI_PERSIST_URL", "sqlite:///cache.db")),
    rule=persist.Rule(
        presence=persist.PresenceRule(enabled=False),
        message=persist.MessageRule(max_per_channel=200, max_age=datetime.timedelta(days=7)),
    ),
)
# Right after creating the client: lightbulb takes no new dependencies once commands have run.
# flush_before_commands: a command sees what its guild sent just before it (a member who just joined).
hikaripersist_lightbulb.setup(client, cache, flush_before_commands=True)

loader = lightbulb.Loader()


@loader.command
class Whois(lightbulb.SlashCommand, name="whois", description="Show a member and their roles, as stored."):
    member = lightbulb.user("member", "Who to show (you by default).", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, cache: persist.Cache = lightbulb.di.INJECTED) -> None:
        if ctx.guild_id is None:
            await ctx.respond("Use this in a server.", ephemeral=True)
            return
        user = self.member or ctx.user
        member = await cache.members.get(guild_id=ctx.guild_id, member_id=user.id)
        if member is None:
            await ctx.respond(f"{user.username} is not stored.", ephemeral=True)
            return
        roles = [role for role_id in member.role_ids if (role := await cache.roles.get(id=role_id))]
        names = ", ".join(role.name for role in roles) or "no roles"
        await ctx.respond(f"{member.display_name}: {names}")


@loader.listener(persist.Confirmed[hikari.MemberCreateEvent])
async def on_join(
    event: persist.Confirmed[hikari.MemberCreateEvent], cache: persist.Cache = lightbulb.di.INJECTED
) -> None:
    # Runs once the new member is durably stored, so every query already sees them.
    total = await cache.members.count(guild_id=event.guild_id)
    print(f"{event.member.display_name} joined; {total} members stored for this guild")


@bot.listen(hikari.StartingEvent)
async def on_starting(_: hikari.StartingEvent) -> None:
    # The cache opens on this same event; lightbulb's client starts (and syncs commands) here too.
    await loader.add_to_client(client)
    await client.start()


@bot.listen(hikari.StoppingEvent)
async def on_stopping(_: hikari.StoppingEvent) -> None:
    # The cache drains and closes later, on StoppedEvent, once every shard is closed.
    await client.stop()


if __name__ == "__main__":
    bot.run()
