"""Rules deciding which entities the cache stores.

A [`Rule`][hikaripersist.rules.Rule] bundles one *kind rule* per cached kind (guilds,
channels, members, ...).  Each kind rule ([`KindRule`][hikaripersist.rules.KindRule] subclass)
answers ``can_cache(entity)`` with, in this order:

1. ``enabled``: a disabled kind caches nothing;
2. the ``predicate``, if any: a falsy result blocks (a predicate that raises blocks too; the
   exception is logged once per rule on the ``hikaripersist.rules`` logger and never
   propagates);
3. the deny lists: an id on any deny list blocks;
4. the allow lists: a non-empty allow list means "only these ids" (so deny beats allow, and an
   entity without that id, e.g. a DM message against a ``guild_allowlist``, is blocked).

[`Rule.allows`][hikaripersist.rules.Rule.allows] adds the guild cascade: before a kind rule
is asked, the entity's ``guild_id`` is checked against the guild rule's id lists, so a guild that
is denied (or not allowed) there has none of its channels, members, roles, messages, ... cached.

Id lists accept ints, `hikari.Snowflake` values and objects with an ``.id`` (guilds, channels,
users, ...), and are stored as frozensets of ints.

Rules only gate what is *stored*; removals (a member leaving, a message deleted) should always
be applied by the writer so nothing stale stays behind.

Examples
--------
>>> rule = Rule(
...     guild=GuildRule(guild_denylist=[123]),
...     member=MemberRule(predicate=lambda member: not member.is_bot),
...     message=MessageRule(channel_allowlist=[456], max_per_channel=500),
...     presence=PresenceRule(enabled=False),
... )
>>> cache = persist.Cache(bot, persist.SQLiteBackend("cache.db"), rule=rule)
"""

from __future__ import annotations

import abc
import datetime
import inspect
import logging
import typing
from collections.abc import Iterable

import hikari

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = (
    "ChannelRule",
    "EmojiRule",
    "GuildRule",
    "InviteRule",
    "KindRule",
    "MemberRule",
    "MessageRule",
    "PresenceRule",
    "RoleRule",
    "Rule",
    "RuleKind",
    "StickerRule",
    "ThreadRule",
    "UserRule",
    "VoiceStateRule",
)

_LOGGER = logging.getLogger("hikaripersist.rules")

_EntityT = typing.TypeVar("_EntityT", contravariant=True)

RuleKind = typing.Literal[
    "guild",
    "channel",
    "thread",
    "role",
    "member",
    "user",
    "emoji",
    "sticker",
    "presence",
    "voice_state",
    "message",
    "invite",
]
"""The names of the cached kinds, as accepted by [`Rule.allows`][hikaripersist.rules.Rule.allows]."""

_KINDS: tuple[RuleKind, ...] = typing.get_args(RuleKind)
# Kinds whose adding or refreshing events the cache may drop when its writer is far behind.
_SHEDDABLE: tuple[RuleKind, ...] = ("member", "message", "presence", "voice_state")


class _HasId(typing.Protocol):
    """Anything with an integer ``id`` (hikari entities: guilds, channels, users, roles...)."""

    @property
    def id(self) -> int: ...


_IdList: typing.TypeAlias = "Iterable[int | _HasId] | None"


def _to_id_set(values: object, name: str) -> frozenset[int]:
    if values is None:
        return frozenset()
    # A string is iterable but never a list of ids; catching it avoids a set of characters.
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        msg = f"{name} must be an iterable of ids or objects with an id, not {type(values).__name__}"
        raise TypeError(msg)

    ids: set[int] = set()
    for value in typing.cast("Iterable[object]", values):
        raw: object = getattr(value, "id", value) if not isinstance(value, int) else value
        if not isinstance(raw, int) or isinstance(raw, bool):
            msg = f"{name} entries must be ints, snowflakes or objects with an id, not {type(value).__name__}"
            raise TypeError(msg)
        ids.add(int(raw))
    return frozenset(ids)


def _as_id(value: object) -> int | None:
    # Missing attributes, None and hikari.UNDEFINED all mean "this entity has no such id".
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _get_id(entity: object) -> int | None:
    return _as_id(getattr(entity, "id", None))


def _get_guild_id(entity: object) -> int | None:
    return _as_id(getattr(entity, "guild_id", None))


def _get_channel_id(entity: object) -> int | None:
    return _as_id(getattr(entity, "channel_id", None))


def _get_parent_id(entity: object) -> int | None:
    return _as_id(getattr(entity, "parent_id", None))


def _get_user_id(entity: object) -> int | None:
    return _as_id(getattr(entity, "user_id", None))


def _get_author_id(entity: object) -> int | None:
    # Partial messages (updates) may carry hikari.UNDEFINED instead of an author.
    return _get_id(getattr(entity, "author", None))


class _IdCheck:
    """One id dimension of a rule: how to read the id, and its allow/deny lists."""

    __slots__ = ("allow", "deny", "getter", "name")

    def __init__(
        self,
        name: str,
        getter: Callable[[object], int | None],
        allowlist: _IdList,
        denylist: _IdList,
    ) -> None:
        self.name = name
        self.getter = getter
        self.allow = _to_id_set(allowlist, f"{name}_allowlist")
        self.deny = _to_id_set(denylist, f"{name}_denylist")

    def denies(self, entity_id: int | None) -> bool:
        return entity_id is not None and entity_id in self.deny

    def excludes(self, entity_id: int | None) -> bool:
        # An empty allow list allows everything; otherwise the id must be present.
        return bool(self.allow) and (entity_id is None or entity_id not in self.allow)


class KindRule(abc.ABC, typing.Generic[_EntityT]):
    """Base class of the per-kind rules: a predicate, id allow/deny lists and an on/off switch.

    Subclasses declare which ids they check (``dimensions``, e.g. ``("channel", "guild")``
    for [`ChannelRule`][hikaripersist.rules.ChannelRule]); see the module documentation for the
    order of the checks.  Rules are immutable once created.

    Parameters
    ----------
    predicate : Callable[[_EntityT], bool] | None
        If given, a synchronous callable; entities for which it returns a falsy value (or
        raises) are not cached.
    enabled : bool
        ``False`` turns the kind off entirely.
    checks : Sequence[_IdCheck]
        The id dimensions, supplied by subclasses.

    Raises
    ------
    TypeError
        If ``predicate`` is not callable or is a coroutine function, or an id list is not an
        iterable of ids.
    """

    __slots__ = ("_checks", "_enabled", "_predicate", "_predicate_error_logged")

    kind: typing.ClassVar[RuleKind]
    """The kind this rule applies to, as used by [`Rule.allows`][hikaripersist.rules.Rule.allows]."""

    def __init__(
        self,
        *,
        predicate: Callable[[_EntityT], bool] | None = None,
        enabled: bool = True,
        checks: Sequence[_IdCheck] = (),
    ) -> None:
        if predicate is not None:
            if not callable(predicate):
                msg = f"predicate must be callable, not {type(predicate).__name__}"
                raise TypeError(msg)
            # Rules are checked synchronously in the writer, which cannot await.
            if inspect.iscoroutinefunction(predicate):
                msg = "rule predicates must be synchronous callables, not coroutine functions"
                raise TypeError(msg)

        self._predicate = predicate
        self._enabled = bool(enabled)
        self._checks: tuple[_IdCheck, ...] = tuple(checks)
        self._predicate_error_logged = False

    def __repr__(self) -> str:
        parts = [f"{name}={value!r}" for name, value in self._repr_fields()]
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_fields(self) -> list[tuple[str, object]]:
        fields: list[tuple[str, object]] = []
        if not self._enabled:
            fields.append(("enabled", False))
        for check in self._checks:
            if check.allow:
                fields.append((f"{check.name}_allowlist", sorted(check.allow)))
            if check.deny:
                fields.append((f"{check.name}_denylist", sorted(check.deny)))
        if self._predicate is not None:
            fields.append(("predicate", self._predicate))
        return fields

    @property
    def enabled(self) -> bool:
        """Whether this kind is cached at all."""
        return self._enabled

    @property
    def predicate(self) -> Callable[[_EntityT], bool] | None:
        """The predicate, if one was given."""
        return self._predicate

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The names of the id lists this rule checks (e.g. ``("channel", "guild")``)."""
        return tuple(check.name for check in self._checks)

    def _check(self, dimension: str) -> _IdCheck:
        for check in self._checks:
            if check.name == dimension:
                return check
        msg = f"{type(self).__name__} has no {dimension!r} id lists (it has {', '.join(self.dimensions)})"
        raise ValueError(msg)

    def allowlist(self, dimension: str) -> frozenset[int]:
        """Return the allow list of one dimension (empty means "no restriction").

        Parameters
        ----------
        dimension : str
            One of [`dimensions`][hikaripersist.rules.KindRule.dimensions], e.g. ``"guild"``.

        Returns
        -------
        frozenset[int]
            The allowed ids.

        Raises
        ------
        ValueError
            If the rule has no such dimension.

        Examples
        --------
        >>> ChannelRule(guild_allowlist=[1, 2]).allowlist("guild")
        frozenset({1, 2})
        """
        return self._check(dimension).allow

    def denylist(self, dimension: str) -> frozenset[int]:
        """Return the deny list of one dimension.

        Parameters
        ----------
        dimension : str
            One of [`dimensions`][hikaripersist.rules.KindRule.dimensions], e.g. ``"guild"``.

        Returns
        -------
        frozenset[int]
            The denied ids.

        Raises
        ------
        ValueError
            If the rule has no such dimension.
        """
        return self._check(dimension).deny

    def allows_ids(self, **ids: hikari.Snowflakeish | None) -> bool:
        """Check ids against the lists only (no predicate, ``enabled`` ignored).

        Dimensions not passed are not checked.  Useful when only ids are known, e.g. when
        deciding from a raw payload or an id-only event.

        Parameters
        ----------
        **ids : hikari.Snowflakeish | None
            Ids by dimension name, e.g. ``guild=123``.  ``None`` means "no such id": it passes
            deny lists and fails a non-empty allow list.

        Returns
        -------
        bool
            Whether the ids pass every deny and allow list given.

        Raises
        ------
        ValueError
            If a keyword is not one of this rule's dimensions.

        Examples
        --------
        >>> MemberRule(user_denylist=[42]).allows_ids(user=42, guild=1)
        False
        """
        checks = [(self._check(name), _as_id(value)) for name, value in ids.items()]
        if any(check.denies(entity_id) for check, entity_id in checks):
            return False
        return not any(check.excludes(entity_id) for check, entity_id in checks)

    def can_cache(self, obj: _EntityT) -> bool:
        """Return whether ``obj`` may be cached under this rule.

        Checks, in order: ``enabled``, the predicate, the deny lists, the allow lists.

        Parameters
        ----------
        obj : _EntityT
            The hikari entity.

        Returns
        -------
        bool
            ``True`` if the entity passes every check.

        Examples
        --------
        >>> ChannelRule(channel_denylist=[channel.id]).can_cache(channel)
        False
        """
        if not self._enabled:
            return False
        if self._predicate is not None and not self._run_predicate(self._predicate, obj):
            return False

        ids = [(check, check.getter(obj)) for check in self._checks]
        if any(check.denies(entity_id) for check, entity_id in ids):
            return False
        return not any(check.excludes(entity_id) for check, entity_id in ids)

    def _run_predicate(self, predicate: Callable[[_EntityT], bool], obj: _EntityT) -> bool:
        try:
            result: object = predicate(obj)
            if inspect.isawaitable(result):
                # An async callable object slipped past the constructor check; we cannot await.
                if inspect.iscoroutine(result):
                    result.close()
                msg = "rule predicate returned an awaitable; predicates must be synchronous"
                raise TypeError(msg)  # handled (and logged) just below, like any predicate error
            return bool(result)
        except Exception:
            # Blocking is the safe answer; one log line per rule keeps a broken predicate
            # from flooding the log on every event.
            if not self._predicate_error_logged:
                self._predicate_error_logged = True
                _LOGGER.exception(
                    "predicate of %r raised; treating the entity as not cacheable "
                    "(further errors from this rule are logged at DEBUG level)",
                    self,
                )
            else:
                _LOGGER.debug("predicate of %r raised again", self, exc_info=True)
            return False


class GuildRule(KindRule[hikari.PartialGuild]):
    """Which guilds are cached, and (through [`Rule`][hikaripersist.rules.Rule]) whose
    entities are.

    Dimensions: ``guild`` (the guild's id).  Its id lists also cascade: ``Rule.allows`` checks
    every other entity's ``guild_id`` against them.

    Parameters
    ----------
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never these guilds.
    predicate : Callable[[hikari.PartialGuild], bool] | None
        If given, guilds for which it is falsy are not cached (this does not cascade).
    enabled : bool
        ``False`` stops caching guild objects (their entities are still cached).

    Examples
    --------
    >>> GuildRule(guild_allowlist=[my_guild_id])
    """

    __slots__ = ()

    kind = "guild"

    def __init__(
        self,
        *,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.PartialGuild], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(_IdCheck("guild", _get_id, guild_allowlist, guild_denylist),),
        )


class ChannelRule(KindRule[hikari.PartialChannel]):
    """Which channels are cached.

    Dimensions: ``channel`` (the channel's id), ``guild`` (its ``guild_id``; DM channels have
    none).

    Parameters
    ----------
    channel_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these channels.
    channel_denylist : Iterable[int | _HasId] | None
        Never these channels.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only channels of these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never channels of these guilds.
    predicate : Callable[[hikari.PartialChannel], bool] | None
        If given, channels for which it is falsy are not cached.
    enabled : bool
        ``False`` turns channel caching off.

    Examples
    --------
    >>> ChannelRule(predicate=lambda channel: channel.type != hikari.ChannelType.GUILD_VOICE)
    """

    __slots__ = ()

    kind = "channel"

    def __init__(
        self,
        *,
        channel_allowlist: _IdList = None,
        channel_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.PartialChannel], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("channel", _get_id, channel_allowlist, channel_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
            ),
        )


class ThreadRule(KindRule[hikari.GuildThreadChannel]):
    """Which threads are cached.

    Dimensions: ``thread`` (the thread's id), ``parent`` (its ``parent_id``, the channel it
    lives in), ``guild`` (its ``guild_id``).

    Parameters
    ----------
    thread_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these threads.
    thread_denylist : Iterable[int | _HasId] | None
        Never these threads.
    parent_allowlist : Iterable[int | _HasId] | None
        If non-empty, only threads in these channels.
    parent_denylist : Iterable[int | _HasId] | None
        Never threads in these channels.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only threads of these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never threads of these guilds.
    predicate : Callable[[hikari.GuildThreadChannel], bool] | None
        If given, threads for which it is falsy are not cached.
    enabled : bool
        ``False`` turns thread caching off.

    Examples
    --------
    >>> ThreadRule(parent_allowlist=[help_forum_id], predicate=lambda t: not t.is_archived)
    """

    __slots__ = ()

    kind = "thread"

    def __init__(
        self,
        *,
        thread_allowlist: _IdList = None,
        thread_denylist: _IdList = None,
        parent_allowlist: _IdList = None,
        parent_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.GuildThreadChannel], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("thread", _get_id, thread_allowlist, thread_denylist),
                _IdCheck("parent", _get_parent_id, parent_allowlist, parent_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
            ),
        )


class RoleRule(KindRule[hikari.Role]):
    """Which roles are cached.

    Dimensions: ``role`` (the role's id), ``guild`` (its ``guild_id``).

    Parameters
    ----------
    role_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these roles.
    role_denylist : Iterable[int | _HasId] | None
        Never these roles.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only roles of these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never roles of these guilds.
    predicate : Callable[[hikari.Role], bool] | None
        If given, roles for which it is falsy are not cached.
    enabled : bool
        ``False`` turns role caching off.

    Examples
    --------
    >>> RoleRule(predicate=lambda role: not role.is_managed)
    """

    __slots__ = ()

    kind = "role"

    def __init__(
        self,
        *,
        role_allowlist: _IdList = None,
        role_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.Role], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("role", _get_id, role_allowlist, role_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
            ),
        )


class MemberRule(KindRule[hikari.Member]):
    """Which guild members are cached.

    Dimensions: ``user`` (the member's user id, ``member.id``), ``guild`` (its ``guild_id``).

    Parameters
    ----------
    user_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these users.
    user_denylist : Iterable[int | _HasId] | None
        Never these users.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only members of these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never members of these guilds.
    predicate : Callable[[hikari.Member], bool] | None
        If given, members for which it is falsy are not cached.
    enabled : bool
        ``False`` turns member caching off.

    Examples
    --------
    >>> MemberRule(predicate=lambda member: not member.is_bot)
    """

    __slots__ = ()

    kind = "member"

    def __init__(
        self,
        *,
        user_allowlist: _IdList = None,
        user_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.Member], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("user", _get_id, user_allowlist, user_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
            ),
        )


class UserRule(KindRule[hikari.User]):
    """Which users are cached.

    Dimensions: ``user`` (the user's id).

    Parameters
    ----------
    user_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these users.
    user_denylist : Iterable[int | _HasId] | None
        Never these users.
    predicate : Callable[[hikari.User], bool] | None
        If given, users for which it is falsy are not cached.
    enabled : bool
        ``False`` turns user caching off.

    Examples
    --------
    >>> UserRule(predicate=lambda user: not user.is_system)
    """

    __slots__ = ()

    kind = "user"

    def __init__(
        self,
        *,
        user_allowlist: _IdList = None,
        user_denylist: _IdList = None,
        predicate: Callable[[hikari.User], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(_IdCheck("user", _get_id, user_allowlist, user_denylist),),
        )


class EmojiRule(KindRule[hikari.KnownCustomEmoji]):
    """Which custom emojis are cached.

    Dimensions: ``emoji`` (the emoji's id), ``guild`` (its ``guild_id``).

    Parameters
    ----------
    emoji_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these emojis.
    emoji_denylist : Iterable[int | _HasId] | None
        Never these emojis.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only emojis of these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never emojis of these guilds.
    predicate : Callable[[hikari.KnownCustomEmoji], bool] | None
        If given, emojis for which it is falsy are not cached.
    enabled : bool
        ``False`` turns emoji caching off.

    Examples
    --------
    >>> EmojiRule(predicate=lambda emoji: emoji.is_available)
    """

    __slots__ = ()

    kind = "emoji"

    def __init__(
        self,
        *,
        emoji_allowlist: _IdList = None,
        emoji_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.KnownCustomEmoji], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("emoji", _get_id, emoji_allowlist, emoji_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
            ),
        )


class StickerRule(KindRule[hikari.GuildSticker]):
    """Which guild stickers are cached.

    Dimensions: ``sticker`` (the sticker's id), ``guild`` (its ``guild_id``).

    Parameters
    ----------
    sticker_allowlist : Iterable[int | _HasId] | None
        If non-empty, only these stickers.
    sticker_denylist : Iterable[int | _HasId] | None
        Never these stickers.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only stickers of these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never stickers of these guilds.
    predicate : Callable[[hikari.GuildSticker], bool] | None
        If given, stickers for which it is falsy are not cached.
    enabled : bool
        ``False`` turns sticker caching off.

    Examples
    --------
    >>> StickerRule(enabled=False)
    """

    __slots__ = ()

    kind = "sticker"

    def __init__(
        self,
        *,
        sticker_allowlist: _IdList = None,
        sticker_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.GuildSticker], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("sticker", _get_id, sticker_allowlist, sticker_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
            ),
        )


class PresenceRule(KindRule[hikari.MemberPresence]):
    """Which member presences are cached.

    Dimensions: ``user`` (``user_id``), ``guild`` (``guild_id``).

    Parameters
    ----------
    user_allowlist : Iterable[int | _HasId] | None
        If non-empty, only presences of these users.
    user_denylist : Iterable[int | _HasId] | None
        Never presences of these users.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only presences in these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never presences in these guilds.
    predicate : Callable[[hikari.MemberPresence], bool] | None
        If given, presences for which it is falsy are not cached.
    enabled : bool
        ``False`` turns presence caching off.

    Examples
    --------
    >>> PresenceRule(predicate=lambda p: p.visible_status != hikari.Status.OFFLINE)
    """

    __slots__ = ()

    kind = "presence"

    def __init__(
        self,
        *,
        user_allowlist: _IdList = None,
        user_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        predicate: Callable[[hikari.MemberPresence], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("user", _get_user_id, user_allowlist, user_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
            ),
        )


class VoiceStateRule(KindRule[hikari.VoiceState]):
    """Which voice states are cached.

    Dimensions: ``user`` (``user_id``), ``guild`` (``guild_id``), ``channel`` (``channel_id``,
    ``None`` for a user who left voice).

    Parameters
    ----------
    user_allowlist : Iterable[int | _HasId] | None
        If non-empty, only voice states of these users.
    user_denylist : Iterable[int | _HasId] | None
        Never voice states of these users.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only voice states in these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never voice states in these guilds.
    channel_allowlist : Iterable[int | _HasId] | None
        If non-empty, only voice states in these channels.
    channel_denylist : Iterable[int | _HasId] | None
        Never voice states in these channels.
    predicate : Callable[[hikari.VoiceState], bool] | None
        If given, voice states for which it is falsy are not cached.
    enabled : bool
        ``False`` turns voice state caching off.

    Examples
    --------
    >>> VoiceStateRule(channel_denylist=[afk_channel_id])
    """

    __slots__ = ()

    kind = "voice_state"

    def __init__(
        self,
        *,
        user_allowlist: _IdList = None,
        user_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        channel_allowlist: _IdList = None,
        channel_denylist: _IdList = None,
        predicate: Callable[[hikari.VoiceState], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("user", _get_user_id, user_allowlist, user_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
                _IdCheck("channel", _get_channel_id, channel_allowlist, channel_denylist),
            ),
        )


class MessageRule(KindRule[hikari.PartialMessage]):
    """Which messages are cached, and how many are kept.

    Dimensions: ``channel`` (``channel_id``), ``guild`` (``guild_id``; ``None`` for DMs),
    ``author`` (``author.id``).

    The retention settings are not checked by ``can_cache``: they are stored here for the cache
    writer, which prunes old messages accordingly.

    Parameters
    ----------
    channel_allowlist : Iterable[int | _HasId] | None
        If non-empty, only messages in these channels (threads are channels too).
    channel_denylist : Iterable[int | _HasId] | None
        Never messages in these channels.
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only messages in these guilds (so no DMs).
    guild_denylist : Iterable[int | _HasId] | None
        Never messages in these guilds.
    author_allowlist : Iterable[int | _HasId] | None
        If non-empty, only messages by these users.
    author_denylist : Iterable[int | _HasId] | None
        Never messages by these users.
    max_per_channel : int | None
        If given (``>= 1``), keep at most this many of the newest messages per channel.
    max_age : datetime.timedelta | None
        If given (positive), drop messages older than this.
    predicate : Callable[[hikari.PartialMessage], bool] | None
        If given, messages for which it is falsy are not cached.
    enabled : bool
        ``False`` turns message caching off.

    Raises
    ------
    ValueError
        If ``max_per_channel`` is less than 1 or ``max_age`` is not positive.
    TypeError
        If ``max_per_channel`` is not an int or ``max_age`` not a `datetime.timedelta`.

    Examples
    --------
    >>> MessageRule(
    ...     predicate=lambda message: not message.author.is_bot,
    ...     max_per_channel=1000,
    ...     max_age=datetime.timedelta(days=7),
    ... )
    """

    __slots__ = ("_max_age", "_max_per_channel")

    kind = "message"

    def __init__(
        self,
        *,
        channel_allowlist: _IdList = None,
        channel_denylist: _IdList = None,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        author_allowlist: _IdList = None,
        author_denylist: _IdList = None,
        max_per_channel: int | None = None,
        max_age: datetime.timedelta | None = None,
        predicate: Callable[[hikari.PartialMessage], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        if max_per_channel is not None:
            if not isinstance(max_per_channel, int) or isinstance(max_per_channel, bool):
                msg = f"max_per_channel must be an int or None, not {type(max_per_channel).__name__}"
                raise TypeError(msg)
            if max_per_channel < 1:
                msg = f"max_per_channel must be >= 1, not {max_per_channel}"
                raise ValueError(msg)
        if max_age is not None:
            if not isinstance(max_age, datetime.timedelta):
                msg = f"max_age must be a datetime.timedelta or None, not {type(max_age).__name__}"
                raise TypeError(msg)
            if max_age <= datetime.timedelta(0):
                msg = f"max_age must be positive, not {max_age}"
                raise ValueError(msg)

        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("channel", _get_channel_id, channel_allowlist, channel_denylist),
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
                _IdCheck("author", _get_author_id, author_allowlist, author_denylist),
            ),
        )
        self._max_per_channel = max_per_channel
        self._max_age = max_age

    def _repr_fields(self) -> list[tuple[str, object]]:
        fields = super()._repr_fields()
        if self._max_per_channel is not None:
            fields.append(("max_per_channel", self._max_per_channel))
        if self._max_age is not None:
            fields.append(("max_age", self._max_age))
        return fields

    @property
    def max_per_channel(self) -> int | None:
        """How many of the newest messages to keep per channel (``None``: no limit)."""
        return self._max_per_channel

    @property
    def max_age(self) -> datetime.timedelta | None:
        """How long to keep messages (``None``: forever)."""
        return self._max_age


class InviteRule(KindRule[hikari.Invite]):
    """Which invites are cached.

    Dimensions: ``guild`` (``guild_id``), ``channel`` (``channel_id``).

    Parameters
    ----------
    guild_allowlist : Iterable[int | _HasId] | None
        If non-empty, only invites to these guilds.
    guild_denylist : Iterable[int | _HasId] | None
        Never invites to these guilds.
    channel_allowlist : Iterable[int | _HasId] | None
        If non-empty, only invites to these channels.
    channel_denylist : Iterable[int | _HasId] | None
        Never invites to these channels.
    predicate : Callable[[hikari.Invite], bool] | None
        If given, invites for which it is falsy are not cached.
    enabled : bool
        ``False`` turns invite caching off.

    Examples
    --------
    >>> InviteRule(predicate=lambda invite: invite.expires_at is None)
    """

    __slots__ = ()

    kind = "invite"

    def __init__(
        self,
        *,
        guild_allowlist: _IdList = None,
        guild_denylist: _IdList = None,
        channel_allowlist: _IdList = None,
        channel_denylist: _IdList = None,
        predicate: Callable[[hikari.Invite], bool] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            predicate=predicate,
            enabled=enabled,
            checks=(
                _IdCheck("guild", _get_guild_id, guild_allowlist, guild_denylist),
                _IdCheck("channel", _get_channel_id, channel_allowlist, channel_denylist),
            ),
        )


_RuleT = typing.TypeVar("_RuleT", bound=KindRule[typing.Any])


def _sub_rule(value: _RuleT | None, rule_type: type[_RuleT], name: str) -> _RuleT:
    if value is None:
        return rule_type()
    if not isinstance(value, rule_type):
        msg = f"{name} must be a {rule_type.__name__} or None, not {type(value).__name__}"
        raise TypeError(msg)
    return value


class Rule:
    """The complete set of caching rules: one [`KindRule`][hikaripersist.rules.KindRule] per
    kind.

    Every kind not given gets a default rule that allows everything, so ``Rule()`` (or
    [`Rule.default`][hikaripersist.rules.Rule.default]) caches everything.

    Parameters
    ----------
    channel : ChannelRule | None
        Rule for channels.
    guild : GuildRule | None
        Rule for guilds; its id lists also apply to every guild-scoped entity.
    member : MemberRule | None
        Rule for members.
    role : RoleRule | None
        Rule for roles.
    thread : ThreadRule | None
        Rule for threads.
    user : UserRule | None
        Rule for users.
    emoji : EmojiRule | None
        Rule for custom emojis.
    sticker : StickerRule | None
        Rule for guild stickers.
    presence : PresenceRule | None
        Rule for presences.
    voice_state : VoiceStateRule | None
        Rule for voice states.
    message : MessageRule | None
        Rule for messages (including retention).
    invite : InviteRule | None
        Rule for invites.
    shed : Iterable[RuleKind]
        Kinds whose events the cache may drop (shed) while its writer is far behind and the
        queue is over its budget, instead of holding them in memory: ``"presence"`` (presence
        updates), ``"voice_state"`` (voice state updates), ``"message"`` (message creates and
        edits) and ``"member"`` (member chunks, which the bot can request again). Removals are
        never shed. What is shed is logged, counted in ``Cache.stats().events_shed`` and never
        confirmed; the store may then hold older data (or miss entities) of those kinds.

    Raises
    ------
    TypeError
        If a sub-rule is not of the expected class.
    ValueError
        If ``shed`` names a kind that cannot be shed.

    Examples
    --------
    >>> rule = Rule(guild=GuildRule(guild_allowlist=[my_guild_id]), presence=PresenceRule(enabled=False))
    >>> rule.allows("channel", channel)
    True
    """

    __slots__ = (
        "_by_kind",
        "_channel",
        "_emoji",
        "_guild",
        "_invite",
        "_member",
        "_message",
        "_presence",
        "_role",
        "_shed",
        "_sticker",
        "_thread",
        "_user",
        "_voice_state",
    )

    def __init__(
        self,
        *,
        channel: ChannelRule | None = None,
        guild: GuildRule | None = None,
        member: MemberRule | None = None,
        role: RoleRule | None = None,
        thread: ThreadRule | None = None,
        user: UserRule | None = None,
        emoji: EmojiRule | None = None,
        sticker: StickerRule | None = None,
        presence: PresenceRule | None = None,
        voice_state: VoiceStateRule | None = None,
        message: MessageRule | None = None,
        invite: InviteRule | None = None,
        shed: Iterable[RuleKind] = (),
    ) -> None:
        if isinstance(shed, str):
            shed = (typing.cast("RuleKind", shed),)
        wrong = sorted(str(kind) for kind in shed if kind not in _SHEDDABLE)
        if wrong:
            msg = f"cannot shed {', '.join(wrong)}; kinds that can be shed: {', '.join(_SHEDDABLE)}"
            raise ValueError(msg)
        self._shed: frozenset[RuleKind] = frozenset(shed)
        self._channel = _sub_rule(channel, ChannelRule, "channel")
        self._guild = _sub_rule(guild, GuildRule, "guild")
        self._member = _sub_rule(member, MemberRule, "member")
        self._role = _sub_rule(role, RoleRule, "role")
        self._thread = _sub_rule(thread, ThreadRule, "thread")
        self._user = _sub_rule(user, UserRule, "user")
        self._emoji = _sub_rule(emoji, EmojiRule, "emoji")
        self._sticker = _sub_rule(sticker, StickerRule, "sticker")
        self._presence = _sub_rule(presence, PresenceRule, "presence")
        self._voice_state = _sub_rule(voice_state, VoiceStateRule, "voice_state")
        self._message = _sub_rule(message, MessageRule, "message")
        self._invite = _sub_rule(invite, InviteRule, "invite")
        self._by_kind: Mapping[str, KindRule[typing.Any]] = {
            "guild": self._guild,
            "channel": self._channel,
            "thread": self._thread,
            "role": self._role,
            "member": self._member,
            "user": self._user,
            "emoji": self._emoji,
            "sticker": self._sticker,
            "presence": self._presence,
            "voice_state": self._voice_state,
            "message": self._message,
            "invite": self._invite,
        }

    def __repr__(self) -> str:
        # Only the customised kinds, to keep it readable.
        parts = [f"{kind}={rule!r}" for kind, rule in self._by_kind.items() if rule._repr_fields()]
        if self._shed:
            parts.append(f"shed={sorted(self._shed)!r}")
        return f"Rule({', '.join(parts)})"

    @property
    def shed(self) -> frozenset[RuleKind]:
        """Kinds whose events the cache may drop while its writer is far behind (see ``shed=``)."""
        return self._shed

    @classmethod
    def default(cls) -> Rule:
        """Return a rule that caches everything (the same as ``Rule()``).

        Returns
        -------
        Rule
            A rule allowing every kind and every entity.
        """
        return cls()

    @property
    def channel(self) -> ChannelRule:
        """The channel rule."""
        return self._channel

    @property
    def emoji(self) -> EmojiRule:
        """The custom emoji rule."""
        return self._emoji

    @property
    def guild(self) -> GuildRule:
        """The guild rule (whose id lists cascade to every guild-scoped kind)."""
        return self._guild

    @property
    def invite(self) -> InviteRule:
        """The invite rule."""
        return self._invite

    @property
    def member(self) -> MemberRule:
        """The member rule."""
        return self._member

    @property
    def message(self) -> MessageRule:
        """The message rule (including retention settings)."""
        return self._message

    @property
    def presence(self) -> PresenceRule:
        """The presence rule."""
        return self._presence

    @property
    def role(self) -> RoleRule:
        """The role rule."""
        return self._role

    @property
    def sticker(self) -> StickerRule:
        """The guild sticker rule."""
        return self._sticker

    @property
    def thread(self) -> ThreadRule:
        """The thread rule."""
        return self._thread

    @property
    def user(self) -> UserRule:
        """The user rule."""
        return self._user

    @property
    def voice_state(self) -> VoiceStateRule:
        """The voice state rule."""
        return self._voice_state

    def _rule_for(self, kind: str) -> KindRule[typing.Any]:
        try:
            return self._by_kind[kind]
        except KeyError:
            msg = f"unknown kind {kind!r}; expected one of {', '.join(_KINDS)}"
            raise ValueError(msg) from None

    def kind_rule(self, kind: RuleKind) -> KindRule[typing.Any]:
        """Return the rule of one kind.

        Parameters
        ----------
        kind : RuleKind
            One of ``"guild"``, ``"channel"``, ``"thread"``, ``"role"``, ``"member"``,
            ``"user"``, ``"emoji"``, ``"sticker"``, ``"presence"``, ``"voice_state"``,
            ``"message"``, ``"invite"``.

        Returns
        -------
        KindRule[typing.Any]
            The kind's rule.

        Raises
        ------
        ValueError
            If ``kind`` is unknown.
        """
        return self._rule_for(kind)

    def is_enabled(self, kind: RuleKind) -> bool:
        """Return whether a kind is cached at all.

        Parameters
        ----------
        kind : RuleKind
            The kind's name (see [`RuleKind`][hikaripersist.rules.RuleKind]).

        Returns
        -------
        bool
            The kind rule's ``enabled``.

        Raises
        ------
        ValueError
            If ``kind`` is unknown.

        Examples
        --------
        >>> Rule(presence=PresenceRule(enabled=False)).is_enabled("presence")
        False
        """
        return self._rule_for(kind).enabled

    def allows_guild_id(self, guild_id: hikari.Snowflakeish) -> bool:
        """Return whether a guild's id passes the guild rule's id lists.

        This is the cascade check: a guild failing it has none of its entities cached.  The
        guild rule's predicate and ``enabled`` are not consulted (they concern the guild
        object itself).

        Parameters
        ----------
        guild_id : hikari.Snowflakeish
            The guild's id.

        Returns
        -------
        bool
            ``False`` if the guild is denied or not on a non-empty allow list.

        Examples
        --------
        >>> Rule(guild=GuildRule(guild_denylist=[1])).allows_guild_id(1)
        False
        """
        return self._guild.allows_ids(guild=guild_id)

    def allows(self, kind: RuleKind, obj: object) -> bool:
        """Return whether an entity of ``kind`` may be cached.

        For every kind but ``"guild"``, an entity with a ``guild_id`` must first pass
        [`allows_guild_id`][hikaripersist.rules.Rule.allows_guild_id]; then the kind's
        ``can_cache`` decides.

        Parameters
        ----------
        kind : RuleKind
            The entity's kind: ``"guild"``, ``"channel"``, ``"thread"``, ``"role"``,
            ``"member"``, ``"user"``, ``"emoji"``, ``"sticker"``, ``"presence"``,
            ``"voice_state"``, ``"message"`` or ``"invite"``.
        obj : object
            The hikari entity (e.g. a `hikari.GuildTextChannel` for ``"channel"``).

        Returns
        -------
        bool
            ``True`` if the entity may be cached.

        Raises
        ------
        ValueError
            If ``kind`` is unknown.

        Examples
        --------
        >>> rule = Rule(guild=GuildRule(guild_denylist=[member.guild_id]))
        >>> rule.allows("member", member)
        False
        """
        rule = self._rule_for(kind)
        if not rule.enabled:
            return False
        if kind != "guild":
            guild_id = _get_guild_id(obj)
            if guild_id is not None and not self._guild.allows_ids(guild=guild_id):
                return False
        return rule.can_cache(obj)
