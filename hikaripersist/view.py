"""Read access to a store: the query API that [`Cache`][hikaripersist.cache.Cache] and
[`ReadOnlyCache`][hikaripersist.readonly.ReadOnlyCache] share."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("CacheView",)

import typing

import hikari

from hikaripersist import queries

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from hikaripersist.backend import Backend


class CacheView:
    """The query API over one store (a kind per attribute, plus the bot's own user).

    Not created directly: see [`Cache`][hikaripersist.cache.Cache] (a bot's cache, with its writer)
    and [`ReadOnlyCache`][hikaripersist.readonly.ReadOnlyCache] (reads only, e.g. a dashboard).
    """

    __slots__: typing.Sequence[str] = ("_backend", "_queries")

    def __init__(
        self,
        backend: Backend,
        app: hikari.RESTAware | None,
        store: Callable[[typing.Any], None] | None,
    ) -> None:
        self._backend = backend
        getter = self._get_backend
        self._queries: dict[str, queries.Query[typing.Any]] = {
            "guilds": queries.GuildQuery(getter, app, queries.GUILDS, store),
            "channels": queries.ChannelQuery(getter, app, queries.CHANNELS, store),
            "threads": queries.ThreadQuery(getter, app, queries.THREADS, store),
            "roles": queries.RoleQuery(getter, app, queries.ROLES, store),
            "members": queries.MemberQuery(getter, app, queries.MEMBERS, store),
            "users": queries.UserQuery(getter, app, queries.USERS, store),
            "emojis": queries.EmojiQuery(getter, app, queries.EMOJIS, store),
            "stickers": queries.StickerQuery(getter, app, queries.STICKERS, store),
            "presences": queries.PresenceQuery(getter, app, queries.PRESENCES, store),
            "voice_states": queries.VoiceStateQuery(getter, app, queries.VOICE_STATES, store),
            "messages": queries.MessageQuery(getter, app, queries.MESSAGES, store),
            "invites": queries.InviteQuery(getter, app, queries.INVITES, store),
        }

    @property
    def backend(self) -> Backend:
        """Where entities are stored."""
        return self._backend

    async def _row_counts(self) -> dict[str, int]:
        return {name: await query.count() for name, query in self._queries.items()}

    def _get_backend(self) -> Backend:
        return self._backend

    @property
    def guilds(self) -> queries.GuildQuery:
        """Stored guilds."""
        return typing.cast("queries.GuildQuery", self._queries["guilds"])

    @property
    def channels(self) -> queries.ChannelQuery:
        """Stored guild channels."""
        return typing.cast("queries.ChannelQuery", self._queries["channels"])

    @property
    def threads(self) -> queries.ThreadQuery:
        """Stored threads."""
        return typing.cast("queries.ThreadQuery", self._queries["threads"])

    @property
    def roles(self) -> queries.RoleQuery:
        """Stored roles."""
        return typing.cast("queries.RoleQuery", self._queries["roles"])

    @property
    def members(self) -> queries.MemberQuery:
        """Stored members."""
        return typing.cast("queries.MemberQuery", self._queries["members"])

    @property
    def users(self) -> queries.UserQuery:
        """Stored users."""
        return typing.cast("queries.UserQuery", self._queries["users"])

    @property
    def emojis(self) -> queries.EmojiQuery:
        """Stored custom emojis."""
        return typing.cast("queries.EmojiQuery", self._queries["emojis"])

    @property
    def stickers(self) -> queries.StickerQuery:
        """Stored guild stickers."""
        return typing.cast("queries.StickerQuery", self._queries["stickers"])

    @property
    def presences(self) -> queries.PresenceQuery:
        """Stored presences."""
        return typing.cast("queries.PresenceQuery", self._queries["presences"])

    @property
    def voice_states(self) -> queries.VoiceStateQuery:
        """Stored voice states."""
        return typing.cast("queries.VoiceStateQuery", self._queries["voice_states"])

    @property
    def messages(self) -> queries.MessageQuery:
        """Stored messages."""
        return typing.cast("queries.MessageQuery", self._queries["messages"])

    @property
    def invites(self) -> queries.InviteQuery:
        """Stored invites."""
        return typing.cast("queries.InviteQuery", self._queries["invites"])

    async def get_me(self) -> hikari.OwnUser | None:
        """The bot's own user as last seen in READY or USER_UPDATE."""
        raw = await self._backend.scalar("SELECT data FROM me WHERE id = 0")
        return self.guilds._reader().decode(raw) if raw is not None else None

    async def get_dm_channel_id(self, user: hikari.SnowflakeishOr[hikari.PartialUser]) -> hikari.Snowflake | None:
        """The id of the DM channel with ``user``, if one was seen."""
        value = await self._backend.scalar("SELECT channel_id FROM dm_channels WHERE user_id = ?", (int(user),))
        return hikari.Snowflake(value) if value is not None else None
