"""An arc bot with a persistent cache.

Run with a token in DISCORD_TOKEN: ``python examples/arc_bot.py``. Use ``/whois`` in a guild.

The cache is stored where ``HIKARI_PERSIST_URL`` says (a database server's URL when the backend
for it is installed), in ``cache.db`` next to the bot otherwise. The one-line alternative reads
every setting from ``HIKARI_PERSIST_*`` variables::

    client.load_extension("hikaripersist_arc")
"""

from __future__ import annotations

import os

import arc
import hikari

import hikaripersist as persist
import hikaripersist_arc

bot = hikari.GatewayBot(
    os.environ.get("DISCORD_TOKEN", ""),
    intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_MEMBERS,
    # The persistent cache holds everything: hikari's own in-memory copy is not needed.
    cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE),
)
client = arc.GatewayClient(bot)
cache = persist.Cache(
    bot,
    persist.backend_from_url(os.environ.get("HIKARI_PERSIST_URL", "sqlite:///cache.db")),
    rule=persist.Rule(presence=persist.PresenceRule(enabled=False)),
)
# Commands see what their guild sent just before them, e.g. a member who joined a moment ago.
hikaripersist_arc.setup(client, cache, flush_before_commands=True)


@client.include
@arc.slash_command("whois", "Show a member and their roles, as stored.")
async def whois(
    ctx: arc.GatewayContext,
    user: arc.Option[hikari.User | None, arc.UserParams("Whom to show (default: you).")] = None,
    cache: persist.Cache = arc.inject(),
) -> None:
    if ctx.guild_id is None:
        await ctx.respond("Use this in a server.")
        return
    member = await cache.members.get(guild_id=ctx.guild_id, member_id=(user or ctx.author).id)
    if member is None:
        await ctx.respond("Not stored (yet).")
        return
    roles = [role for role_id in member.role_ids if (role := await cache.roles.get(id=role_id))]
    names = ", ".join(role.name for role in roles) or "no roles"
    await ctx.respond(f"{member.display_name}: {names}")


@client.listen()
@client.inject_dependencies
async def on_join(
    event: persist.Confirmed[hikari.MemberCreateEvent],
    cache: persist.Cache = arc.inject(),
) -> None:
    # Runs once the new member is durably stored, so every query already sees them.
    total = await cache.members.count(guild_id=event.event.guild_id)
    print(f"{event.event.member.display_name} joined; {total} members stored for this guild")


if __name__ == "__main__":
    bot.run()
