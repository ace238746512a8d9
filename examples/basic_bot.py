"""A plain hikari bot with a persistent cache.

Run with a token in DISCORD_TOKEN: ``python examples/basic_bot.py``. Type ``!whois`` in a guild.
The cache is stored in ``cache.db`` (SQLite); set ``HIKARI_PERSIST_URL`` to store it elsewhere, e.g.
``sqlite:////var/lib/bot/cache.db`` or, with a server backend installed, a database server's URL.
"""

from __future__ import annotations

import os

import hikari

import hikaripersist as persist

bot = hikari.GatewayBot(
    os.environ.get("DISCORD_TOKEN", ""),
    intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_MEMBERS | hikari.Intents.MESSAGE_CONTENT,
    # The persistent cache holds everything: hikari's own in-memory copy is not needed.
    cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE),
)
cache = persist.Cache(
    bot,
    persist.backend_from_url(os.environ.get("HIKARI_PERSIST_URL", "sqlite:///cache.db")),
    rule=persist.Rule(presence=persist.PresenceRule(enabled=False)),
)


@bot.listen()
async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
    if event.content != "!whois" or event.author.is_bot:
        return
    member = await cache.members.get(guild_id=event.guild_id, member_id=event.author.id)
    if member is None:
        return
    roles = [role for role_id in member.role_ids if (role := await cache.roles.get(id=role_id))]
    names = ", ".join(role.name for role in roles) or "no roles"
    await event.message.respond(f"{member.display_name}: {names}")


@bot.listen()
async def on_join(event: persist.Confirmed[hikari.MemberCreateEvent]) -> None:
    # Runs once the new member is durably stored, so every query already sees them.
    total = await cache.members.count(guild_id=event.guild_id)
    print(f"{event.member.display_name} joined; {total} members stored for this guild")


if __name__ == "__main__":
    bot.run()
