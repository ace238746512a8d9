"""tanjun's async cache interfaces (``tanjun.dependencies.async_cache``) answered by the persistent cache.

tanjun's converters, checks and permission helpers look these interfaces up by type in the
client's injector (``SfCache[hikari.Role]`` for ``tanjun.to_role``...) before falling back to
REST. [`setup`][hikaripersist_tanjun.setup] registers one adapter per interface, so they read
from the persistent cache, with hikari's in-memory cache off.

Misses follow tanjun's contract: `tanjun.dependencies.EntryNotFound` when the cache knows the
entity does not exist (tanjun then answers "not found" without a REST call), and
`tanjun.dependencies.CacheMissError` when it is only not stored (tanjun falls back to REST). A
persistent store rarely knows: the rule may skip an entity, its event may still be queued, and
the store may hold an older session's state. ``EntryNotFound`` is raised only by
``get_from_guild`` of channels, roles, emojis, stickers and voice states, kinds a guild's
GUILD_CREATE delivers in full and gateway events keep current, when that guild came in this
session, the intents cover those events, the rule stores every such entity of the guild, and
the entity is still missing once the guild's queued events are committed. A store that cannot
be read (not open yet, failing) answers with ``CacheMissError`` too, so tanjun uses REST.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
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
    "adapters_for",
)

import enum
import logging
import typing

import hikari
from tanjun.dependencies import async_cache

import hikaripersist as persist
from hikaripersist_tanjun import _state

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hikaripersist import queries

_LOGGER = logging.getLogger("hikaripersist.tanjun")
_T = typing.TypeVar("_T")
_ValueT = typing.TypeVar("_ValueT")
_DefaultT = typing.TypeVar("_DefaultT")


class _NoDefault(enum.Enum):
    NO_DEFAULT = enum.auto()


_NO_DEFAULT: typing.Final = _NoDefault.NO_DEFAULT


class _Iterator(async_cache.CacheIterator[_T]):
    """tanjun's `CacheIterator` over a lazy query: ``len()`` counts in the database, iterating does not."""

    __slots__: typing.Sequence[str] = ("_count", "_iterator", "_make")

    def __init__(self, make: Callable[[], persist.CacheIterator[_T]], count: Callable[[], Awaitable[int]]) -> None:
        self._make = make
        self._count = count
        self._iterator: persist.CacheIterator[_T] | None = None

    async def __anext__(self) -> _T:
        if self._iterator is None:
            self._iterator = self._make()
        return await self._iterator.__anext__()

    async def len(self) -> int:
        """Count the entities this iterator covers, in the database, without consuming it.

        Returns
        -------
        int
            The number of entities.
        """
        return await self._count()


class _Adapter(typing.Generic[_ValueT]):
    """What every adapter shares: the cache, its adapter state and tanjun's miss semantics."""

    __slots__: typing.Sequence[str] = ("_cache", "_state")

    _noun: typing.ClassVar[str] = "entity"
    # The rule kind whose guild-bound misses can be authoritative (see the module docstring).
    _complete_kind: typing.ClassVar[str | None] = None

    def __init__(self, cache: persist.Cache) -> None:
        self._cache = cache
        self._state = _state.state_of(cache)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._cache.backend.name})"

    @property
    def cache(self) -> persist.Cache:
        """The persistent cache this adapter reads."""
        return self._cache

    async def _answer(
        self,
        what: str,
        find: Callable[[], Awaitable[_ValueT | None]],
        default: typing.Any,
        *,
        guild_id: hikari.Snowflakeish | None = None,
    ) -> typing.Any:
        try:
            found = await find()
            if (
                found is None
                and guild_id is not None
                and self._complete_kind is not None
                and await self._state.stores_all(self._complete_kind, guild_id)
            ):
                found = await find()  # the guild's queued events are committed now
                if found is None:
                    if default is _NO_DEFAULT:
                        msg = f"{what} does not exist"
                        raise async_cache.EntryNotFound(msg)
                    return default
        except persist.BackendError as exc:
            _LOGGER.warning("reading %s from %s failed: %s", what, self._cache.backend.name, exc)
            if default is not _NO_DEFAULT:
                return default
            msg = f"{what} could not be read from {self._cache.backend.name}: {exc}"
            raise async_cache.CacheMissError(msg) from exc
        if found is not None:
            return found
        if default is not _NO_DEFAULT:
            return default
        msg = f"{what} is not stored in {self._cache.backend.name}"
        raise async_cache.CacheMissError(msg)

    def _iterate(
        self, query: queries.Query[typing.Any], order_by: str | None = None, **filters: typing.Any
    ) -> _Iterator[_ValueT]:
        return _Iterator(lambda: query.where(order_by=order_by, **filters), lambda: query.count(**filters))


class _Global(_Adapter[_ValueT], async_cache.AsyncCache[hikari.Snowflakeish, _ValueT]):
    """``SfCache[...]``: entities found by their own id."""

    __slots__: typing.Sequence[str] = ()

    @property
    def _query(self) -> queries.Query[typing.Any]:
        raise NotImplementedError

    async def _find(self, key: int) -> _ValueT | None:
        raise NotImplementedError

    @typing.overload
    async def get(self, key: hikari.Snowflakeish, /) -> _ValueT: ...

    @typing.overload
    async def get(self, key: hikari.Snowflakeish, /, *, default: _DefaultT) -> _ValueT | _DefaultT: ...

    async def get(self, key: hikari.Snowflakeish, /, *, default: typing.Any = _NO_DEFAULT) -> typing.Any:
        """Get a stored entity by id.

        Parameters
        ----------
        key
            The entity's id.
        default
            Returned instead of raising when the entity is not stored.

        Returns
        -------
        _ValueT | _DefaultT
            The entity, or ``default``.

        Raises
        ------
        tanjun.dependencies.CacheMissError
            If the entity is not stored (or the store cannot be read) and no default was given.
        """
        return await self._answer(f"{self._noun} {int(key)}", lambda: self._find(int(key)), default)

    def iter_all(self) -> async_cache.CacheIterator[_ValueT]:
        """Iterate over every stored entity of this kind.

        Returns
        -------
        tanjun.dependencies.CacheIterator[_ValueT]
            A lazy iterator; ``await it.len()`` counts in the database.
        """
        return self._iterate(self._query)


class _GuildBound(_Adapter[_ValueT], async_cache.GuildBoundCache[hikari.Snowflakeish, _ValueT]):
    """``SfGuildBound[...]``: entities found by guild and id."""

    __slots__: typing.Sequence[str] = ()

    _order_in_guild: typing.ClassVar[str | None] = None

    @property
    def _query(self) -> queries.Query[typing.Any]:
        raise NotImplementedError

    async def _find_in_guild(self, guild_id: int, key: int) -> _ValueT | None:
        raise NotImplementedError

    @typing.overload
    async def get_from_guild(self, guild_id: hikari.Snowflakeish, key: hikari.Snowflakeish, /) -> _ValueT: ...

    @typing.overload
    async def get_from_guild(
        self, guild_id: hikari.Snowflakeish, key: hikari.Snowflakeish, /, *, default: _DefaultT
    ) -> _ValueT | _DefaultT: ...

    async def get_from_guild(
        self, guild_id: hikari.Snowflakeish, key: hikari.Snowflakeish, /, *, default: typing.Any = _NO_DEFAULT
    ) -> typing.Any:
        """Get a stored entity of a guild.

        Parameters
        ----------
        guild_id
            The guild's id.
        key
            The entity's id (the user's id for members, presences and voice states).
        default
            Returned instead of raising when the entity is not stored.

        Returns
        -------
        _ValueT | _DefaultT
            The entity, or ``default``.

        Raises
        ------
        tanjun.dependencies.EntryNotFound
            If the cache knows the entity does not exist in the guild (see the module
            documentation) and no default was given.
        tanjun.dependencies.CacheMissError
            If the entity is not stored (or the store cannot be read) and no default was given.
        """
        what = f"{self._noun} {int(key)} of guild {int(guild_id)}"
        return await self._answer(
            what, lambda: self._find_in_guild(int(guild_id), int(key)), default, guild_id=guild_id
        )

    def iter_for_guild(self, guild_id: hikari.Snowflakeish, /) -> async_cache.CacheIterator[_ValueT]:
        """Iterate over the stored entities of a guild.

        Parameters
        ----------
        guild_id
            The guild's id.

        Returns
        -------
        tanjun.dependencies.CacheIterator[_ValueT]
            A lazy iterator; ``await it.len()`` counts in the database.
        """
        return self._iterate(self._query, self._order_in_guild, guild_id=int(guild_id))

    def iter_all(self) -> async_cache.CacheIterator[_ValueT]:
        """Iterate over every stored entity of this kind.

        Returns
        -------
        tanjun.dependencies.CacheIterator[_ValueT]
            A lazy iterator; ``await it.len()`` counts in the database.
        """
        return self._iterate(self._query)


class _HasGuild(typing.Protocol):
    @property
    def guild_id(self) -> hikari.Snowflake | None: ...


_GuildEntityT = typing.TypeVar("_GuildEntityT", bound=_HasGuild)


class _GlobalInGuild(_Global[_GuildEntityT], _GuildBound[_GuildEntityT]):
    """Entities with their own id that belong to a guild: both ``SfCache`` and ``SfGuildBound``."""

    __slots__: typing.Sequence[str] = ()

    async def _find_in_guild(self, guild_id: int, key: int) -> _GuildEntityT | None:
        entity = await self._find(key)
        return entity if entity is not None and entity.guild_id == guild_id else None


class GuildCache(_Global[hikari.Guild]):
    """Stored guilds as ``tanjun.dependencies.SfCache[hikari.Guild]`` (``tanjun.to_guild``, permission checks).

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "guild"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.guilds

    async def _find(self, key: int) -> hikari.Guild | None:
        return await self._cache.guilds.get(id=key)


class GuildChannelCache(_GlobalInGuild[hikari.PermissibleGuildChannel]):
    """Stored guild channels as ``SfCache`` and ``SfGuildBound[hikari.PermissibleGuildChannel]``.

    Used by ``tanjun.to_channel``, permission checks and ``PARENT_CHANNEL`` cooldown buckets.

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "channel"
    _complete_kind = "channel"
    _order_in_guild = "position"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.channels

    async def _find(self, key: int) -> hikari.PermissibleGuildChannel | None:
        return await self._cache.channels.get(id=key)


class ThreadCache(_GlobalInGuild[hikari.GuildThreadChannel]):
    """Stored threads as ``SfCache`` and ``SfGuildBound[hikari.GuildThreadChannel]`` (``tanjun.to_channel``).

    Archived threads are not part of a guild's GUILD_CREATE, so a missing thread is never
    reported as not existing.

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "thread"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.threads

    async def _find(self, key: int) -> hikari.GuildThreadChannel | None:
        return await self._cache.threads.get(id=key)


class EmojiCache(_GlobalInGuild[hikari.KnownCustomEmoji]):
    """Stored custom emojis as ``SfCache`` and ``SfGuildBound[hikari.KnownCustomEmoji]`` (``tanjun.to_emoji``).

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "emoji"
    _complete_kind = "emoji"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.emojis

    async def _find(self, key: int) -> hikari.KnownCustomEmoji | None:
        return await self._cache.emojis.get(id=key)


class StickerCache(_GlobalInGuild[hikari.GuildSticker]):
    """Stored guild stickers as ``SfCache`` and ``SfGuildBound[hikari.GuildSticker]``.

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "sticker"
    _complete_kind = "sticker"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.stickers

    async def _find(self, key: int) -> hikari.GuildSticker | None:
        return await self._cache.stickers.get(id=key)


class RoleCache(_GlobalInGuild[hikari.Role]):
    """Stored roles as ``SfCache`` and ``SfGuildBound[hikari.Role]``.

    Used by ``tanjun.to_role``, permission checks (a guild's roles, its ``@everyone`` role) and
    ``TOP_ROLE`` cooldown buckets. A guild's roles iterate lowest position first.

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "role"
    _complete_kind = "role"
    _order_in_guild = "position"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.roles

    async def _find(self, key: int) -> hikari.Role | None:
        return await self._cache.roles.get(id=key)


class UserCache(_Global[hikari.User]):
    """Stored users as ``tanjun.dependencies.SfCache[hikari.User]`` (``tanjun.to_user``).

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "user"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.users

    async def _find(self, key: int) -> hikari.User | None:
        return await self._cache.users.get(id=key)


class MessageCache(_Global[hikari.Message], async_cache.ChannelBoundCache[hikari.Snowflakeish, hikari.Message]):
    """Stored messages as ``SfCache`` and ``SfChannelBound[hikari.Message]`` (``tanjun.to_message``).

    A channel's messages iterate newest first.

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "message"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.messages

    async def _find(self, key: int) -> hikari.Message | None:
        return await self._cache.messages.get(id=key)

    async def _find_in_channel(self, channel_id: int, key: int) -> hikari.Message | None:
        message = await self._find(key)
        return message if message is not None and message.channel_id == channel_id else None

    @typing.overload
    async def get_from_channel(
        self, channel_id: hikari.Snowflakeish, key: hikari.Snowflakeish, /
    ) -> hikari.Message: ...

    @typing.overload
    async def get_from_channel(
        self, channel_id: hikari.Snowflakeish, key: hikari.Snowflakeish, /, *, default: _DefaultT
    ) -> hikari.Message | _DefaultT: ...

    async def get_from_channel(
        self, channel_id: hikari.Snowflakeish, key: hikari.Snowflakeish, /, *, default: typing.Any = _NO_DEFAULT
    ) -> typing.Any:
        """Get a stored message of a channel.

        Parameters
        ----------
        channel_id
            The channel's id.
        key
            The message's id.
        default
            Returned instead of raising when the message is not stored.

        Returns
        -------
        hikari.Message | _DefaultT
            The message, or ``default``.

        Raises
        ------
        tanjun.dependencies.CacheMissError
            If the message is not stored (or the store cannot be read) and no default was given.
        """
        what = f"message {int(key)} of channel {int(channel_id)}"
        return await self._answer(what, lambda: self._find_in_channel(int(channel_id), int(key)), default)

    def iter_for_channel(self, channel_id: hikari.Snowflakeish, /) -> async_cache.CacheIterator[hikari.Message]:
        """Iterate over the stored messages of a channel, newest first.

        Parameters
        ----------
        channel_id
            The channel's id.

        Returns
        -------
        tanjun.dependencies.CacheIterator[hikari.Message]
            A lazy iterator; ``await it.len()`` counts in the database.
        """
        return self._iterate(self._query, "-id", channel_id=int(channel_id))


class MemberCache(_GuildBound[hikari.Member]):
    """Stored members as ``tanjun.dependencies.SfGuildBound[hikari.Member]``.

    Used by ``tanjun.to_member`` and by the own-permission check (the bot's own member).

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "member"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.members

    async def _find_in_guild(self, guild_id: int, key: int) -> hikari.Member | None:
        return await self._cache.members.get(guild_id=guild_id, member_id=key)


class PresenceCache(_GuildBound[hikari.MemberPresence]):
    """Stored presences as ``tanjun.dependencies.SfGuildBound[hikari.MemberPresence]`` (``tanjun.to_presence``).

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "presence of user"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.presences

    async def _find_in_guild(self, guild_id: int, key: int) -> hikari.MemberPresence | None:
        return await self._cache.presences.get(guild_id=guild_id, user_id=key)


class VoiceStateCache(_GuildBound[hikari.VoiceState]):
    """Stored voice states as ``tanjun.dependencies.SfGuildBound[hikari.VoiceState]`` (``tanjun.to_voice_state``).

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "voice state of user"
    _complete_kind = "voice_state"

    @property
    def _query(self) -> queries.Query[typing.Any]:
        return self._cache.voice_states

    async def _find_in_guild(self, guild_id: int, key: int) -> hikari.VoiceState | None:
        return await self._cache.voice_states.get(guild_id=guild_id, user_id=key)


class InviteCache(_Adapter[hikari.InviteWithMetadata], async_cache.AsyncCache[str, hikari.InviteWithMetadata]):
    """Stored invites as ``tanjun.dependencies.AsyncCache[str, hikari.InviteWithMetadata]``.

    Used by ``tanjun.to_invite`` and ``tanjun.to_invite_with_metadata``.

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "invite"

    @typing.overload
    async def get(self, key: str, /) -> hikari.InviteWithMetadata: ...

    @typing.overload
    async def get(self, key: str, /, *, default: _DefaultT) -> hikari.InviteWithMetadata | _DefaultT: ...

    async def get(self, key: str, /, *, default: typing.Any = _NO_DEFAULT) -> typing.Any:
        """Get a stored invite by code.

        Parameters
        ----------
        key
            The invite's code.
        default
            Returned instead of raising when the invite is not stored.

        Returns
        -------
        hikari.InviteWithMetadata | _DefaultT
            The invite, or ``default``.

        Raises
        ------
        tanjun.dependencies.CacheMissError
            If the invite is not stored (or the store cannot be read) and no default was given.
        """
        return await self._answer(f"invite {key!r}", lambda: self._cache.invites.get(code=key), default)

    def iter_all(self) -> async_cache.CacheIterator[hikari.InviteWithMetadata]:
        """Iterate over every stored invite.

        Returns
        -------
        tanjun.dependencies.CacheIterator[hikari.InviteWithMetadata]
            A lazy iterator; ``await it.len()`` counts in the database.
        """
        return self._iterate(self._cache.invites)


class OwnUserCache(_Adapter[hikari.OwnUser], async_cache.SingleStoreCache[hikari.OwnUser]):
    """The bot's own user as ``tanjun.dependencies.SingleStoreCache[hikari.OwnUser]``.

    Used by tanjun's ``inject_lc(hikari.OwnUser)`` dependency (own-permission checks) and by
    mention prefixes.

    Parameters
    ----------
    cache
        The persistent cache to read.
    """

    __slots__: typing.Sequence[str] = ()
    _noun = "own user"

    @typing.overload
    async def get(self) -> hikari.OwnUser: ...

    @typing.overload
    async def get(self, *, default: _DefaultT) -> hikari.OwnUser | _DefaultT: ...

    async def get(self, *, default: typing.Any = _NO_DEFAULT) -> typing.Any:
        """Get the bot's own user as last seen in READY or USER_UPDATE.

        Parameters
        ----------
        default
            Returned instead of raising when it is not stored.

        Returns
        -------
        hikari.OwnUser | _DefaultT
            The user, or ``default``.

        Raises
        ------
        tanjun.dependencies.CacheMissError
            If it is not stored (or the store cannot be read) and no default was given.
        """
        return await self._answer("the bot's own user", self._cache.get_me, default)


def adapters_for(cache: persist.Cache) -> list[tuple[typing.Any, object]]:
    """The tanjun async cache type keys and the adapter registered under each, for ``cache``.

    Parameters
    ----------
    cache
        The persistent cache.

    Returns
    -------
    list[tuple[typing.Any, object]]
        ``(type key, adapter)`` pairs, e.g. ``(SfCache[hikari.Role], RoleCache(cache))``.
    """
    channels = GuildChannelCache(cache)
    threads = ThreadCache(cache)
    emojis = EmojiCache(cache)
    stickers = StickerCache(cache)
    roles = RoleCache(cache)
    messages = MessageCache(cache)
    return [
        (async_cache.SfCache[hikari.Guild], GuildCache(cache)),
        (async_cache.SfCache[hikari.PermissibleGuildChannel], channels),
        (async_cache.SfGuildBound[hikari.PermissibleGuildChannel], channels),
        (async_cache.SfCache[hikari.GuildThreadChannel], threads),
        (async_cache.SfGuildBound[hikari.GuildThreadChannel], threads),
        (async_cache.SfCache[hikari.KnownCustomEmoji], emojis),
        (async_cache.SfGuildBound[hikari.KnownCustomEmoji], emojis),
        (async_cache.SfCache[hikari.GuildSticker], stickers),
        (async_cache.SfGuildBound[hikari.GuildSticker], stickers),
        (async_cache.SfCache[hikari.Role], roles),
        (async_cache.SfGuildBound[hikari.Role], roles),
        (async_cache.SfCache[hikari.User], UserCache(cache)),
        (async_cache.SfCache[hikari.Message], messages),
        (async_cache.SfChannelBound[hikari.Message], messages),
        (async_cache.SfGuildBound[hikari.Member], MemberCache(cache)),
        (async_cache.SfGuildBound[hikari.MemberPresence], PresenceCache(cache)),
        (async_cache.SfGuildBound[hikari.VoiceState], VoiceStateCache(cache)),
        (async_cache.AsyncCache[str, hikari.InviteWithMetadata], InviteCache(cache)),
        (async_cache.SingleStoreCache[hikari.OwnUser], OwnUserCache(cache)),
    ]
