"""Events dispatched by the persistent cache.

Two families live here:

* [`Confirmed`][hikaripersist.events.Confirmed]: ``Confirmed[E]`` is a real hikari event type that
  the cache dispatches on the bot's own event manager once every write caused by an ``E`` (and by
  everything received before it) is committed. Its subtype relations mirror ``E``'s, so
  ``Confirmed[hikari.MessageCreateEvent]`` also receives the guild and DM variants.
* Change events ([`PersistEvent`][hikaripersist.events.PersistEvent] and subclasses): for every
  kind, ``<Kind>InsertEvent``, ``Persist<Kind>UpdateEvent`` and ``<Kind>RemoveEvent`` (e.g.
  ``ThreadInsertEvent``, ``PersistThreadUpdateEvent``, ``ThreadRemoveEvent``), plus the original
  library's bulk events. Update events carry the ``Persist`` prefix because hikari owns names
  such as ``MemberUpdateEvent``; the original's ``GuildUpdateEvent``, ``ChannelUpdateEvent``,
  ``MemberUpdateEvent`` and ``RoleUpdateEvent`` remain importable as aliases.
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
    "EmojiInsertEvent",
    "EmojiRemoveEvent",
    "GuildInsertEvent",
    "GuildRemoveEvent",
    "GuildUpdateEvent",
    "InviteInsertEvent",
    "InviteRemoveEvent",
    "MemberInsertEvent",
    "MemberRemoveEvent",
    "MemberUpdateEvent",
    "MessageInsertEvent",
    "MessageRemoveEvent",
    "PersistChannelUpdateEvent",
    "PersistEmojiUpdateEvent",
    "PersistEvent",
    "PersistGuildUpdateEvent",
    "PersistInviteUpdateEvent",
    "PersistMemberUpdateEvent",
    "PersistMessageUpdateEvent",
    "PersistPresenceUpdateEvent",
    "PersistRoleUpdateEvent",
    "PersistStickerUpdateEvent",
    "PersistThreadUpdateEvent",
    "PersistUserUpdateEvent",
    "PersistVoiceStateUpdateEvent",
    "PresenceInsertEvent",
    "PresenceRemoveEvent",
    "RoleInsertEvent",
    "RoleRemoveEvent",
    "RoleUpdateEvent",
    "StickerInsertEvent",
    "StickerRemoveEvent",
    "ThreadInsertEvent",
    "ThreadRemoveEvent",
    "UserInsertEvent",
    "UserRemoveEvent",
    "VoiceStateInsertEvent",
    "VoiceStateRemoveEvent",
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


def unwatch_confirmed_types(watcher: _Watcher) -> None:
    """Undo [`watch_confirmed_types`][hikaripersist.events.watch_confirmed_types] (idempotent)."""
    _confirmed_watchers.discard(watcher)


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
    """Base class of the cache's change events, dispatched after the change is committed.

    The cache tells what changed in the store, per kind: ``*InsertEvent`` (an entity became
    visible), ``Persist*UpdateEvent`` (its stored data changed) and ``*RemoveEvent`` (it is gone),
    plus [`BulkChannelEvent`][hikaripersist.events.BulkChannelEvent],
    [`BulkMemberEvent`][hikaripersist.events.BulkMemberEvent] and
    [`BulkRoleEvent`][hikaripersist.events.BulkRoleEvent] for what a guild's create (or a member
    chunk) stores in one go. Changes are net per gateway event: an entity written again with the
    same data dispatches nothing.

    They are dispatched on the bot's event manager once the batch holding the change is
    committed, in the order the changes happened, and only for events that were stored (an event
    rolled back because it failed dispatches nothing). Inserted and updated entities are rebuilt
    from the store as they were right after their change.

    Collecting changes costs the writer a little, so the cache only does it for the kinds someone
    listens to (a listener of ``PersistEvent`` itself asks for every kind). A listener of
    `hikari.Event` receives them too but does not, by itself, make the cache collect them.

    Examples
    --------
    ```py
    @bot.listen()
    async def on_member_insert(event: persist.MemberInsertEvent) -> None:
        print("now stored:", event.member.display_name)
    ```
    """

    # The kind and change each concrete event stands for (None: every kind / every change).
    _kind: typing.ClassVar[str | None] = None
    _action: typing.ClassVar[str | None] = None

    _app: hikari.RESTAware = attrs.field(alias="app", repr=False)

    @property
    def app(self) -> hikari.RESTAware:
        """The bot the cache belongs to."""
        return self._app


@attrs.define(kw_only=True, weakref_slot=False)
class GuildInsertEvent(PersistEvent):
    """A guild was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``guild``.
    """

    _kind = "guilds"
    _action = "insert"

    guild: hikari.GatewayGuild = attrs.field()
    """The guild as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistGuildUpdateEvent(PersistEvent):
    """A stored guild changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    guild received again unchanged dispatches nothing).
    """

    _kind = "guilds"
    _action = "update"

    guild: hikari.GatewayGuild = attrs.field()
    """The guild as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class GuildRemoveEvent(PersistEvent):
    """A guild was removed from the cache.

    Reasons: the bot left it, or it was cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "guilds"
    _action = "remove"

    guild_id: hikari.Snowflake = attrs.field()
    """The removed guild's id."""


@attrs.define(kw_only=True, weakref_slot=False)
class ChannelInsertEvent(PersistEvent):
    """A guild channel was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``channel``.
    """

    _kind = "channels"
    _action = "insert"

    channel: hikari.PermissibleGuildChannel = attrs.field()
    """The guild channel as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistChannelUpdateEvent(PersistEvent):
    """A stored guild channel changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    guild channel received again unchanged dispatches nothing).
    """

    _kind = "channels"
    _action = "update"

    channel: hikari.PermissibleGuildChannel = attrs.field()
    """The guild channel as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class ChannelRemoveEvent(PersistEvent):
    """A guild channel was removed from the cache.

    Reasons: deleted, its guild was left, or cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "channels"
    _action = "remove"

    channel_id: hikari.Snowflake = attrs.field()
    """The removed channel's id."""

    guild_id: hikari.Snowflake = attrs.field()
    """The guild the channel belonged to."""


@attrs.define(kw_only=True, weakref_slot=False)
class ThreadInsertEvent(PersistEvent):
    """A thread was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``thread``.
    """

    _kind = "threads"
    _action = "insert"

    thread: hikari.GuildThreadChannel = attrs.field()
    """The thread as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistThreadUpdateEvent(PersistEvent):
    """A stored thread changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    thread received again unchanged dispatches nothing).
    """

    _kind = "threads"
    _action = "update"

    thread: hikari.GuildThreadChannel = attrs.field()
    """The thread as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class ThreadRemoveEvent(PersistEvent):
    """A thread was removed from the cache.

    Reasons: deleted, no longer visible to the bot, its guild was left, or cleared or pruned.
    Dispatched after the removal is committed.
    """

    _kind = "threads"
    _action = "remove"

    thread_id: hikari.Snowflake = attrs.field()
    """The removed thread's id."""

    guild_id: hikari.Snowflake = attrs.field()
    """The guild the thread belonged to."""


@attrs.define(kw_only=True, weakref_slot=False)
class RoleInsertEvent(PersistEvent):
    """A role was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``role``.
    """

    _kind = "roles"
    _action = "insert"

    role: hikari.Role = attrs.field()
    """The role as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistRoleUpdateEvent(PersistEvent):
    """A stored role changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    role received again unchanged dispatches nothing).
    """

    _kind = "roles"
    _action = "update"

    role: hikari.Role = attrs.field()
    """The role as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class RoleRemoveEvent(PersistEvent):
    """A role was removed from the cache.

    Reasons: deleted, its guild was left, or cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "roles"
    _action = "remove"

    role_id: hikari.Snowflake = attrs.field()
    """The removed role's id."""

    guild_id: hikari.Snowflake = attrs.field()
    """The guild the role belonged to."""


@attrs.define(kw_only=True, weakref_slot=False)
class MemberInsertEvent(PersistEvent):
    """A member was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``member``.
    """

    _kind = "members"
    _action = "insert"

    member: hikari.Member = attrs.field()
    """The member as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistMemberUpdateEvent(PersistEvent):
    """A stored member changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    member received again unchanged dispatches nothing).
    """

    _kind = "members"
    _action = "update"

    member: hikari.Member = attrs.field()
    """The member as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class MemberRemoveEvent(PersistEvent):
    """A member was removed from the cache.

    Reasons: left the guild, its guild was left, or cleared or pruned. Dispatched after the removal
    is committed.
    """

    _kind = "members"
    _action = "remove"

    guild_id: hikari.Snowflake = attrs.field()
    """The guild the member belonged to."""

    user_id: hikari.Snowflake = attrs.field()
    """The member's user id."""


@attrs.define(kw_only=True, weakref_slot=False)
class UserInsertEvent(PersistEvent):
    """A user was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``user``.
    """

    _kind = "users"
    _action = "insert"

    user: hikari.User = attrs.field()
    """The user as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistUserUpdateEvent(PersistEvent):
    """A stored user changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    user received again unchanged dispatches nothing).
    """

    _kind = "users"
    _action = "update"

    user: hikari.User = attrs.field()
    """The user as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class UserRemoveEvent(PersistEvent):
    """A user was removed from the cache.

    Reasons: nothing stored shows the user any more, or cleared or pruned. Dispatched after the
    removal is committed.
    """

    _kind = "users"
    _action = "remove"

    user_id: hikari.Snowflake = attrs.field()
    """The removed user's id."""


@attrs.define(kw_only=True, weakref_slot=False)
class EmojiInsertEvent(PersistEvent):
    """A custom emoji was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``emoji``.
    """

    _kind = "emojis"
    _action = "insert"

    emoji: hikari.KnownCustomEmoji = attrs.field()
    """The custom emoji as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistEmojiUpdateEvent(PersistEvent):
    """A stored custom emoji changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    custom emoji received again unchanged dispatches nothing).
    """

    _kind = "emojis"
    _action = "update"

    emoji: hikari.KnownCustomEmoji = attrs.field()
    """The custom emoji as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class EmojiRemoveEvent(PersistEvent):
    """A custom emoji was removed from the cache.

    Reasons: deleted, its guild was left, or cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "emojis"
    _action = "remove"

    emoji_id: hikari.Snowflake = attrs.field()
    """The removed emoji's id."""

    guild_id: hikari.Snowflake = attrs.field()
    """The guild the emoji belonged to."""


@attrs.define(kw_only=True, weakref_slot=False)
class StickerInsertEvent(PersistEvent):
    """A guild sticker was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``sticker``.
    """

    _kind = "stickers"
    _action = "insert"

    sticker: hikari.GuildSticker = attrs.field()
    """The guild sticker as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistStickerUpdateEvent(PersistEvent):
    """A stored guild sticker changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    guild sticker received again unchanged dispatches nothing).
    """

    _kind = "stickers"
    _action = "update"

    sticker: hikari.GuildSticker = attrs.field()
    """The guild sticker as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class StickerRemoveEvent(PersistEvent):
    """A guild sticker was removed from the cache.

    Reasons: deleted, its guild was left, or cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "stickers"
    _action = "remove"

    sticker_id: hikari.Snowflake = attrs.field()
    """The removed sticker's id."""

    guild_id: hikari.Snowflake = attrs.field()
    """The guild the sticker belonged to."""


@attrs.define(kw_only=True, weakref_slot=False)
class PresenceInsertEvent(PersistEvent):
    """A member presence was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``presence``.
    """

    _kind = "presences"
    _action = "insert"

    presence: hikari.MemberPresence = attrs.field()
    """The member presence as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistPresenceUpdateEvent(PersistEvent):
    """A stored member presence changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    member presence received again unchanged dispatches nothing).
    """

    _kind = "presences"
    _action = "update"

    presence: hikari.MemberPresence = attrs.field()
    """The member presence as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PresenceRemoveEvent(PersistEvent):
    """A member presence was removed from the cache.

    Reasons: went offline, its guild was left, or cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "presences"
    _action = "remove"

    guild_id: hikari.Snowflake = attrs.field()
    """The guild of the presence."""

    user_id: hikari.Snowflake = attrs.field()
    """The user whose presence was removed."""


@attrs.define(kw_only=True, weakref_slot=False)
class VoiceStateInsertEvent(PersistEvent):
    """A voice state was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``voice_state``.
    """

    _kind = "voice_states"
    _action = "insert"

    voice_state: hikari.VoiceState = attrs.field()
    """The voice state as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistVoiceStateUpdateEvent(PersistEvent):
    """A stored voice state changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    voice state received again unchanged dispatches nothing).
    """

    _kind = "voice_states"
    _action = "update"

    voice_state: hikari.VoiceState = attrs.field()
    """The voice state as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class VoiceStateRemoveEvent(PersistEvent):
    """A voice state was removed from the cache.

    Reasons: left voice, its guild was left, or cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "voice_states"
    _action = "remove"

    guild_id: hikari.Snowflake = attrs.field()
    """The guild of the voice state."""

    user_id: hikari.Snowflake = attrs.field()
    """The user whose voice state was removed."""

    channel_id: hikari.Snowflake | None = attrs.field()
    """The voice channel the user was in, if known."""


@attrs.define(kw_only=True, weakref_slot=False)
class MessageInsertEvent(PersistEvent):
    """A message was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``message``.
    """

    _kind = "messages"
    _action = "insert"

    message: hikari.Message = attrs.field()
    """The message as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistMessageUpdateEvent(PersistEvent):
    """A stored message changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    message received again unchanged dispatches nothing).
    """

    _kind = "messages"
    _action = "update"

    message: hikari.Message = attrs.field()
    """The message as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class MessageRemoveEvent(PersistEvent):
    """A message was removed from the cache.

    Reasons: deleted, trimmed by the message rule's retention, or cleared or pruned; a message that
    a stored reply still shows stays, as hikari keeps it. Dispatched after the removal is committed.
    """

    _kind = "messages"
    _action = "remove"

    message_id: hikari.Snowflake = attrs.field()
    """The removed message's id."""

    channel_id: hikari.Snowflake = attrs.field()
    """The channel the message was in."""

    guild_id: hikari.Snowflake | None = attrs.field()
    """The guild the message was in (``None`` in DMs)."""


@attrs.define(kw_only=True, weakref_slot=False)
class InviteInsertEvent(PersistEvent):
    """An invite was stored that the cache did not show before.

    Dispatched after the write is committed, so the cache already answers with ``invite``.
    """

    _kind = "invites"
    _action = "insert"

    invite: hikari.InviteWithMetadata = attrs.field()
    """The invite as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class PersistInviteUpdateEvent(PersistEvent):
    """A stored invite changed.

    Dispatched after the write is committed; only real changes of the stored data count (the same
    invite received again unchanged dispatches nothing).
    """

    _kind = "invites"
    _action = "update"

    invite: hikari.InviteWithMetadata = attrs.field()
    """The invite as stored right after the change."""


@attrs.define(kw_only=True, weakref_slot=False)
class InviteRemoveEvent(PersistEvent):
    """An invite was removed from the cache.

    Reasons: deleted, its guild was left, or cleared or pruned. Dispatched after the removal is
    committed.
    """

    _kind = "invites"
    _action = "remove"

    code: str = attrs.field()
    """The removed invite's code."""

    guild_id: hikari.Snowflake | None = attrs.field()
    """The guild the invite was for, if any."""

    channel_id: hikari.Snowflake | None = attrs.field()
    """The channel the invite was for, if any."""


@attrs.define(kw_only=True, weakref_slot=False)
class BulkChannelEvent(PersistEvent):
    """A guild's channels were stored in one go (GUILD_CREATE).

    Stands for the inserts and updates of those channels (no
    [`ChannelInsertEvent`][hikaripersist.events.ChannelInsertEvent] is dispatched for them);
    channels the guild no longer has get a
    [`ChannelRemoveEvent`][hikaripersist.events.ChannelRemoveEvent] each.
    """

    _kind = "channels"
    _action = "bulk"

    guild_id: hikari.Snowflake = attrs.field()
    """The guild whose channels were stored."""
    channel_ids: typing.Sequence[hikari.Snowflake] = attrs.field()
    """Every channel of the guild stored by the event, changed or not."""


@attrs.define(kw_only=True, weakref_slot=False)
class BulkMemberEvent(PersistEvent):
    """Many members of a guild were stored in one go (GUILD_CREATE or a member chunk).

    Stands for the inserts and updates of those members (no
    [`MemberInsertEvent`][hikaripersist.events.MemberInsertEvent] is dispatched for them);
    members a GUILD_CREATE no longer lists get a
    [`MemberRemoveEvent`][hikaripersist.events.MemberRemoveEvent] each.
    """

    _kind = "members"
    _action = "bulk"

    guild_id: hikari.Snowflake = attrs.field()
    """The guild whose members were stored."""
    user_ids: typing.Sequence[hikari.Snowflake] = attrs.field()
    """The user ids of every member stored by the event, changed or not."""


@attrs.define(kw_only=True, weakref_slot=False)
class BulkRoleEvent(PersistEvent):
    """A guild's roles were stored in one go (GUILD_CREATE or GUILD_UPDATE).

    Stands for the inserts and updates of those roles (no
    [`RoleInsertEvent`][hikaripersist.events.RoleInsertEvent] is dispatched for them); roles the
    guild no longer has get a [`RoleRemoveEvent`][hikaripersist.events.RoleRemoveEvent] each.
    """

    _kind = "roles"
    _action = "bulk"

    guild_id: hikari.Snowflake = attrs.field()
    """The guild whose roles were stored."""
    role_ids: typing.Sequence[hikari.Snowflake] = attrs.field()
    """Every role of the guild stored by the event, changed or not."""


# The original library's names, which collide with hikari's own event names.
GuildUpdateEvent = PersistGuildUpdateEvent
ChannelUpdateEvent = PersistChannelUpdateEvent
MemberUpdateEvent = PersistMemberUpdateEvent
RoleUpdateEvent = PersistRoleUpdateEvent


def change_event_types() -> tuple[type[PersistEvent], ...]:
    """``PersistEvent`` and every change event class, each once (aliases are the same class)."""
    return _CHANGE_EVENT_TYPES


_CHANGE_EVENT_TYPES: typing.Final[tuple[type[PersistEvent], ...]] = (
    PersistEvent,
    GuildInsertEvent,
    PersistGuildUpdateEvent,
    GuildRemoveEvent,
    ChannelInsertEvent,
    PersistChannelUpdateEvent,
    ChannelRemoveEvent,
    ThreadInsertEvent,
    PersistThreadUpdateEvent,
    ThreadRemoveEvent,
    RoleInsertEvent,
    PersistRoleUpdateEvent,
    RoleRemoveEvent,
    MemberInsertEvent,
    PersistMemberUpdateEvent,
    MemberRemoveEvent,
    UserInsertEvent,
    PersistUserUpdateEvent,
    UserRemoveEvent,
    EmojiInsertEvent,
    PersistEmojiUpdateEvent,
    EmojiRemoveEvent,
    StickerInsertEvent,
    PersistStickerUpdateEvent,
    StickerRemoveEvent,
    PresenceInsertEvent,
    PersistPresenceUpdateEvent,
    PresenceRemoveEvent,
    VoiceStateInsertEvent,
    PersistVoiceStateUpdateEvent,
    VoiceStateRemoveEvent,
    MessageInsertEvent,
    PersistMessageUpdateEvent,
    MessageRemoveEvent,
    InviteInsertEvent,
    PersistInviteUpdateEvent,
    InviteRemoveEvent,
    BulkChannelEvent,
    BulkMemberEvent,
    BulkRoleEvent,
)
