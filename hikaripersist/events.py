"""Events dispatched by the persistent cache.

Two families live here:

* [`Confirmed`][hikaripersist.events.Confirmed]: ``Confirmed[E]`` is a real hikari event type that
  the cache dispatches on the bot's own event manager once every write caused by an ``E`` (and by
  everything received before it) is committed. Its subtype relations mirror ``E``'s, so
  ``Confirmed[hikari.MessageCreateEvent]`` also receives the guild and DM variants.
* Change events ([`PersistEvent`][hikaripersist.events.PersistEvent] and subclasses), kept from the
  original library. The original's ``GuildUpdateEvent``, ``MemberUpdateEvent`` and
  ``RoleUpdateEvent`` clash with hikari's own names; they remain importable as aliases of the
  non-clashing ``Persist*`` names.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "BulkChannelEvent",
    "BulkMemberEvent",
    "BulkRoleEvent",
    "ChannelInsertEvent",
    "ChannelRemoveEvent",
    "ChannelUpdateEvent",
    "Confirmed",
    "GuildInsertEvent",
    "GuildRemoveEvent",
    "GuildUpdateEvent",
    "MemberInsertEvent",
    "MemberRemoveEvent",
    "MemberUpdateEvent",
    "PersistChannelUpdateEvent",
    "PersistEvent",
    "PersistGuildUpdateEvent",
    "PersistMemberUpdateEvent",
    "PersistRoleUpdateEvent",
    "RoleInsertEvent",
    "RoleRemoveEvent",
    "RoleUpdateEvent",
)

import threading
import typing
import weakref

import attrs
import hikari

_EventT_co = typing.TypeVar("_EventT_co", bound=hikari.Event, covariant=True)


class _Watcher(typing.Protocol):
    def _subscribe(self, event_type: type[hikari.Event], /) -> None: ...


_confirmed_lock = threading.Lock()
_confirmed_types: dict[type[hikari.Event], type[Confirmed[typing.Any]]] = {}
_requested: dict[type[hikari.Event], None] = {}
# Caches register here to learn about Confirmed[E] types created after they started, so that
# they can subscribe to E and confirm it (see Cache._watch_confirmed).
_confirmed_watchers: weakref.WeakSet[_Watcher] = weakref.WeakSet()


def watch_confirmed_types(watcher: _Watcher) -> None:
    """Have ``watcher._subscribe(E)`` called for every ``Confirmed[E]`` created from now on."""
    _confirmed_watchers.add(watcher)


class Confirmed(hikari.Event, typing.Generic[_EventT_co]):
    """Dispatched once the cache has durably stored the effects of ``event``.

    ``Confirmed[E]`` is a hikari event type: listen to it with ``@bot.listen()`` (or any
    framework's listener decorator) and it is dispatched by the cache on the bot's own event
    manager after the writes caused by the original ``E`` (and everything received before it)
    are committed, so the cache answers queries with the new state.

    Subtype relations mirror ``E``'s: ``Confirmed[hikari.GuildMessageCreateEvent]`` is a subclass
    of ``Confirmed[hikari.MessageCreateEvent]`` and of ``Confirmed[hikari.GuildEvent]``, and
    ``Confirmed[hikari.Event]`` is ``Confirmed`` itself, which receives every confirmation.

    Attribute access is forwarded to the original event, so ``confirmed.guild_id`` works like
    ``confirmed.event.guild_id``.

    Examples
    --------
    ```py
    @bot.listen()
    async def on_member(event: persist.Confirmed[hikari.MemberCreateEvent]) -> None:
        member = await cache.members.get(guild_id=event.guild_id, member_id=event.user_id)
        assert member is not None
    ```
    """

    __slots__: typing.Sequence[str] = ("_cache", "_event")

    _event_type: typing.ClassVar[type[hikari.Event]] = hikari.Event

    def __init__(self, event: _EventT_co, /, cache: typing.Any = None) -> None:
        self._event = event
        self._cache = cache

    @property
    def event(self) -> _EventT_co:
        """The original hikari event whose writes were committed."""
        return self._event

    @property
    def cache(self) -> typing.Any:
        """The `hikaripersist.Cache` that committed the writes (a bot may have several caches)."""
        return self._cache

    @property
    def app(self) -> hikari.RESTAware:
        """App instance of the original event."""
        return self._event.app

    @classmethod
    def event_type(cls) -> type[hikari.Event]:
        """The hikari event type this confirmation type stands for."""
        return cls._event_type

    def __getattr__(self, name: str) -> typing.Any:
        # Only called for names not found normally: forward them to the original event.
        if name in ("_event", "_cache"):
            raise AttributeError(name)
        return getattr(self._event, name)

    def __repr__(self) -> str:
        return f"Confirmed[{type(self._event).__name__}]({self._event!r})"

    def __class_getitem__(cls, item: typing.Any) -> typing.Any:
        if isinstance(item, typing.TypeVar) or not isinstance(item, type):
            # Generic aliases used in annotations (``Confirmed[T]``) stay ordinary generics.
            return super().__class_getitem__(item)  # type: ignore[misc]
        if not issubclass(item, hikari.Event):
            msg = f"Confirmed[...] takes a hikari event type, not {item!r}"
            raise TypeError(msg)
        return confirmed_type(item)


def confirmed_type(event_type: type[hikari.Event], *, notify: bool = True) -> type[Confirmed[typing.Any]]:
    """Return the ``Confirmed[event_type]`` class, creating it (and its bases) on first use.

    With ``notify``, caches learn that someone asked for this type, so that they confirm events of
    ``event_type`` even when they store nothing for them.
    """
    if issubclass(event_type, Confirmed):
        msg = "Confirmed events cannot themselves be confirmed"
        raise TypeError(msg)
    if notify:
        _requested[event_type] = None
        for watcher in tuple(_confirmed_watchers):
            watcher._subscribe(event_type)
    if event_type is hikari.Event:
        return Confirmed
    existing = _confirmed_types.get(event_type)
    if existing is not None:
        return existing

    # Bases exist for the subclass relations only: nobody asked to confirm them.
    bases = tuple(
        confirmed_type(base, notify=False)
        for base in event_type.__bases__
        if isinstance(base, type) and issubclass(base, hikari.Event)
    )
    # Drop bases already implied by another base so the MRO stays consistent.
    bases = tuple(b for b in bases if not any(o is not b and issubclass(o, b) for o in bases)) or (Confirmed,)
    with _confirmed_lock:
        existing = _confirmed_types.get(event_type)
        if existing is not None:
            return existing
        new = typing.cast(
            "type[Confirmed[typing.Any]]",
            type(
                f"Confirmed[{event_type.__name__}]",
                bases,
                {"__slots__": (), "__module__": __name__, "_event_type": event_type},
            ),
        )
        new.__qualname__ = f"Confirmed[{event_type.__qualname__}]"
        _confirmed_types[event_type] = new
    return new


def requested_confirmed_event_types() -> tuple[type[hikari.Event], ...]:
    """Event types someone asked to confirm so far (``Confirmed[E]`` written by user code)."""
    return tuple(_requested)


@attrs.define(kw_only=True, weakref_slot=False)
class PersistEvent(hikari.Event):
    """Base class of the cache's change events, dispatched after the change is committed."""

    _app: hikari.RESTAware = attrs.field(alias="app", repr=False)

    @property
    def app(self) -> hikari.RESTAware:
        """The bot the cache belongs to."""
        return self._app


@attrs.define(kw_only=True, weakref_slot=False)
class GuildInsertEvent(PersistEvent):
    """A guild was stored for the first time."""

    guild: hikari.GatewayGuild = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class PersistGuildUpdateEvent(PersistEvent):
    """A stored guild was replaced by a newer version."""

    guild: hikari.GatewayGuild = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class GuildRemoveEvent(PersistEvent):
    """A guild and all of its entities were removed from the cache."""

    guild_id: hikari.Snowflake = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class ChannelInsertEvent(PersistEvent):
    """A guild channel was stored for the first time."""

    channel: hikari.PermissibleGuildChannel = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class PersistChannelUpdateEvent(PersistEvent):
    """A stored guild channel was replaced by a newer version."""

    channel: hikari.PermissibleGuildChannel = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class ChannelRemoveEvent(PersistEvent):
    """A guild channel was removed from the cache."""

    channel_id: hikari.Snowflake = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class MemberInsertEvent(PersistEvent):
    """A member was stored for the first time."""

    member: hikari.Member = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class PersistMemberUpdateEvent(PersistEvent):
    """A stored member was replaced by a newer version."""

    member: hikari.Member = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class MemberRemoveEvent(PersistEvent):
    """A member was removed from the cache."""

    guild_id: hikari.Snowflake = attrs.field()
    user_id: hikari.Snowflake = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class RoleInsertEvent(PersistEvent):
    """A role was stored for the first time."""

    role: hikari.Role = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class PersistRoleUpdateEvent(PersistEvent):
    """A stored role was replaced by a newer version."""

    role: hikari.Role = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class RoleRemoveEvent(PersistEvent):
    """A role was removed from the cache."""

    role_id: hikari.Snowflake = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class BulkChannelEvent(PersistEvent):
    """A guild's channels were replaced in one go (GUILD_CREATE)."""

    guild_id: hikari.Snowflake = attrs.field()
    channel_ids: typing.Sequence[hikari.Snowflake] = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class BulkMemberEvent(PersistEvent):
    """Many members of a guild were stored in one go (GUILD_CREATE or a member chunk)."""

    guild_id: hikari.Snowflake = attrs.field()
    user_ids: typing.Sequence[hikari.Snowflake] = attrs.field()


@attrs.define(kw_only=True, weakref_slot=False)
class BulkRoleEvent(PersistEvent):
    """A guild's roles were replaced in one go (GUILD_CREATE or GUILD_UPDATE)."""

    guild_id: hikari.Snowflake = attrs.field()
    role_ids: typing.Sequence[hikari.Snowflake] = attrs.field()


# The original library's names, which collide with hikari's own event names.
GuildUpdateEvent = PersistGuildUpdateEvent
ChannelUpdateEvent = PersistChannelUpdateEvent
MemberUpdateEvent = PersistMemberUpdateEvent
RoleUpdateEvent = PersistRoleUpdateEvent
