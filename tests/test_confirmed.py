"""Tests for ``persist.Confirmed[E]`` and the seed listener API (``cache.listen/subscribe/unsubscribe``).

Everything is real: an offline ``hikari.GatewayBot`` consumes raw gateway payloads through
``consume_raw_event`` (hikari's own event factory, cache and listeners run), and the cache writes to
SQLite files under ``tmp_path``. Waiting is always on a real signal (a listener receiving what the
test expects, ``cache.flush()``); timeouts are only a safety net.

Note on hikari 2.6's event tree: member, role, message and channel events are *not* subclasses of
``hikari.GuildEvent`` (only guild visibility/update, emoji, sticker and ban events are), so
``Confirmed[hikari.GuildEvent]`` does not receive member events either; the tests check that the
confirmed listener of a base type receives exactly what a plain hikari listener of that type does.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import typing

import hikari
import pytest

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline
from tests.conftest import session
from tests.reference import compare_with_hikari

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Iterable

Payload = dict[str, typing.Any]
EventT = typing.TypeVar("EventT")

TIMEOUT: typing.Final = 10.0  # safety net only: every wait ends on a real signal long before
BOT_ID: typing.Final = gateway_session.BOT_USER_ID
GUILD_ID: typing.Final = 700000000000000001
TEXT_ID: typing.Final = 700000000000000002
DM_ID: typing.Final = 700000000000000003
OWNER_ID: typing.Final = 700000000000000004
NEWCOMER_ID: typing.Final = 700000000000000005
ROLE_ID: typing.Final = 700000000000000006
MESSAGE_BASE: typing.Final = 800000000000000000
JOINED: typing.Final = "2025-06-01T12:00:00.000000+00:00"


# -- raw gateway payloads -----------------------------------------------------------------------------


def user(user_id: int) -> Payload:
    return {
        "id": str(user_id),
        "username": f"user{user_id % 1000}",
        "global_name": None,
        "discriminator": "0",
        "avatar": None,
    }


def member(user_id: int, *, nick: str | None = None) -> Payload:
    return {
        "user": user(user_id),
        "roles": [],
        "nick": nick,
        "avatar": None,
        "joined_at": JOINED,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def role(role_id: int, name: str) -> Payload:
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "hoist": False,
        "position": 0 if role_id == GUILD_ID else 1,
        "permissions": "1024",
        "managed": False,
        "mentionable": False,
        "flags": 0,
        "icon": None,
        "unicode_emoji": None,
    }


def guild(*, name: str = "test guild") -> Payload:
    """The guild object (GUILD_UPDATE); ``guild_create`` adds the GUILD_CREATE extras."""
    return {
        "id": str(GUILD_ID),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "features": [],
        "owner_id": str(OWNER_ID),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "max_video_channel_users": 25,
        "widget_enabled": False,
        "widget_channel_id": None,
        "roles": [role(GUILD_ID, "@everyone")],
        "emojis": [],
        "stickers": [],
    }


def guild_create(*, join: bool = False) -> Payload:
    """GUILD_CREATE of a guild with one text channel and two members (the bot and the owner).

    hikari makes it a GuildAvailableEvent when ``unavailable`` is present, a GuildJoinEvent otherwise.
    """
    payload: Payload = {
        **guild(),
        "channels": [
            {
                "id": str(TEXT_ID),
                "type": 0,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "topic": None,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "parent_id": None,
            }
        ],
        "threads": [],
        "members": [member(BOT_ID), member(OWNER_ID)],
        "presences": [],
        "voice_states": [],
        "member_count": 2,
        "large": False,
        "joined_at": JOINED,
        "stage_instances": [],
        "guild_scheduled_events": [],
    }
    if not join:
        payload["unavailable"] = False
    return payload


def member_add(user_id: int = NEWCOMER_ID, *, nick: str | None = "newcomer") -> Payload:
    return {**member(user_id, nick=nick), "guild_id": str(GUILD_ID)}


def member_update(user_id: int, nick: str) -> Payload:
    return {**member(user_id, nick=nick), "guild_id": str(GUILD_ID)}


def member_remove(user_id: int) -> Payload:
    return {"guild_id": str(GUILD_ID), "user": user(user_id)}


def role_create(role_id: int = ROLE_ID) -> Payload:
    return {"guild_id": str(GUILD_ID), "role": role(role_id, f"role {role_id}")}


def emojis_update() -> Payload:
    return {"guild_id": str(GUILD_ID), "emojis": []}


def message_create(message_id: int, *, dm: bool = False, author_id: int = OWNER_ID) -> Payload:
    payload: Payload = {
        "id": str(message_id),
        "channel_id": str(DM_ID if dm else TEXT_ID),
        "author": user(author_id),
        "content": f"message {message_id}",
        "timestamp": JOINED,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if not dm:
        payload["guild_id"] = str(GUILD_ID)
        payload["member"] = {k: v for k, v in member(author_id).items() if k != "user"}
    return payload


def typing_start(user_id: int) -> Payload:
    return {
        "channel_id": str(TEXT_ID),
        "guild_id": str(GUILD_ID),
        "user_id": str(user_id),
        "timestamp": 1748779200,
        "member": member(user_id),
    }


def reaction_add(message_id: int, user_id: int) -> Payload:
    return {
        "user_id": str(user_id),
        "channel_id": str(TEXT_ID),
        "message_id": str(message_id),
        "guild_id": str(GUILD_ID),
        "member": member(user_id),
        "emoji": {"id": None, "name": "\N{FIRE}"},
        "burst": False,
        "type": 0,
    }


# -- helpers ------------------------------------------------------------------------------------------


class Gateway:
    """One connected offline shard feeding raw dispatches to a real bot's event manager."""

    def __init__(self, bot: hikari.GatewayBot) -> None:
        self.bot = bot
        self.shard = offline.OfflineShard(user_id=BOT_ID)

    async def feed(self, *records: tuple[str, Payload]) -> None:
        """Consume ``records`` in order, then yield once so the listener tasks hikari created (the
        cache's intake among them) take their first step, as they would between two gateway frames."""
        for name, payload in records:
            self.bot.event_manager.consume_raw_event(name, self.shard, payload)
        await asyncio.sleep(0)

    async def connect(self, *, join: bool = False) -> None:
        """READY then the guild's GUILD_CREATE, like a shard connecting."""
        await self.feed(
            ("READY", gateway_session.make_ready_payload(guild_ids=[] if join else [GUILD_ID])),
            ("GUILD_CREATE", guild_create(join=join)),
        )


class Recorder(typing.Generic[EventT]):
    """A listener (``record``) collecting what it receives; ``wait_for(n)`` returns once ``n`` arrived."""

    def __init__(self) -> None:
        self.items: list[EventT] = []
        self._changed = asyncio.Event()

    async def record(self, event: EventT) -> None:
        self.items.append(event)
        self._changed.set()

    async def wait_for(self, count: int) -> list[EventT]:
        async def until() -> None:
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), TIMEOUT)
        return self.items


def confirmed(event_type: object) -> type[typing.Any]:
    """``persist.Confirmed[event_type]`` evaluated at runtime (also for things pyright would reject)."""
    generic: typing.Any = persist.Confirmed
    return generic[event_type]


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), TIMEOUT)


def count_rows(path: pathlib.Path, sql: str, params: Iterable[object] = ()) -> int:
    """Run a COUNT query on a second, plain sqlite3 connection (sees committed data only)."""
    with sqlite3.connect(path) as db:
        return int(db.execute(sql, tuple(params)).fetchone()[0])


@pytest.fixture
async def gateway(bot: hikari.GatewayBot) -> Gateway:
    return Gateway(bot)


@pytest.fixture
async def two_caches(
    bot: hikari.GatewayBot, tmp_path: pathlib.Path
) -> AsyncIterator[tuple[persist.Cache, persist.Cache]]:
    """Two caches on one bot, each on its own SQLite file, opened and closed by the bot's lifetime."""
    first = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "first.db"))
    second = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "second.db"))
    await offline.start_offline(bot)
    yield first, second
    await offline.stop_offline(bot)


# -- Confirmed[E] on the bot's event manager --------------------------------------------------------------


async def test_confirmed_member_create_sees_committed_member(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """A ``@bot.listen()`` of ``Confirmed[MemberCreateEvent]`` runs once the member is committed, gets the
    original hikari event in ``.event`` and forwards attributes to it."""
    plain: Recorder[hikari.MemberCreateEvent] = Recorder()
    bot.event_manager.subscribe(hikari.MemberCreateEvent, plain.record)
    seen: list[tuple[persist.Confirmed[hikari.MemberCreateEvent], hikari.Member | None]] = []
    done = asyncio.Event()

    @bot.listen()
    async def on_member(event: persist.Confirmed[hikari.MemberCreateEvent]) -> None:
        stored = await cache.members.get(guild_id=event.guild_id, member_id=event.user_id)
        seen.append((event, stored))
        done.set()

    await gateway.connect()
    await gateway.feed(("GUILD_MEMBER_ADD", member_add(nick="newcomer")))
    await wait(done)

    [(event, stored)] = seen
    [original] = plain.items
    assert type(event) is persist.Confirmed[hikari.MemberCreateEvent]
    assert event.event is original  # the very object hikari dispatched
    assert stored is not None, "the member was not committed when the confirmed listener ran"
    assert stored.user.id == NEWCOMER_ID
    assert stored.nickname == "newcomer"
    assert stored.app is bot
    # Attribute forwarding to the original event.
    assert event.guild_id == GUILD_ID
    assert event.user_id == NEWCOMER_ID
    assert event.member is original.member
    assert event.shard is gateway.shard
    assert event.app is bot
    assert "Confirmed[MemberCreateEvent]" in repr(event)
    with pytest.raises(AttributeError):
        _ = event.no_such_attribute


async def test_confirmed_message_create_receives_guild_and_dm_messages(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """``Confirmed[MessageCreateEvent]`` receives both the guild and the DM variant, each stored already."""
    rec: Recorder[tuple[persist.Confirmed[hikari.MessageCreateEvent], hikari.Message | None]] = Recorder()

    @bot.listen()
    async def on_message(event: persist.Confirmed[hikari.MessageCreateEvent]) -> None:
        await rec.record((event, await cache.messages.get(id=event.message_id)))

    await gateway.connect()
    await gateway.feed(
        ("MESSAGE_CREATE", message_create(MESSAGE_BASE + 1)),
        ("MESSAGE_CREATE", message_create(MESSAGE_BASE + 2, dm=True)),
    )
    received = {int(event.message_id): (event, stored) for event, stored in await rec.wait_for(2)}

    guild_message, guild_stored = received[MESSAGE_BASE + 1]
    dm_message, dm_stored = received[MESSAGE_BASE + 2]
    assert isinstance(guild_message.event, hikari.GuildMessageCreateEvent)
    assert isinstance(guild_message, confirmed(hikari.GuildMessageCreateEvent))
    assert isinstance(dm_message.event, hikari.DMMessageCreateEvent)
    assert isinstance(dm_message, confirmed(hikari.DMMessageCreateEvent))
    assert guild_stored is not None
    assert guild_stored.content == f"message {MESSAGE_BASE + 1}"
    assert guild_stored.guild_id == GUILD_ID
    assert dm_stored is not None
    assert dm_stored.content == f"message {MESSAGE_BASE + 2}"
    assert dm_stored.guild_id is None


@pytest.mark.parametrize(
    "base", [hikari.GuildEvent, hikari.MemberEvent, hikari.MessageCreateEvent, hikari.RoleEvent, hikari.ShardEvent]
)
async def test_confirmed_base_type_mirrors_plain_listener(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway, base: type[hikari.Event]
) -> None:
    """``Confirmed[B]`` receives exactly the events a plain hikari listener of ``B`` receives: the same
    objects, each once, in the same order (guild, member, role and message events mixed)."""
    plain: Recorder[hikari.Event] = Recorder()
    confirmations: Recorder[persist.Confirmed[hikari.Event]] = Recorder()
    bot.event_manager.subscribe(base, plain.record)
    bot.event_manager.subscribe(confirmed(base), confirmations.record)

    await gateway.connect()
    await gateway.feed(
        ("GUILD_MEMBER_ADD", member_add()),
        ("GUILD_ROLE_CREATE", role_create()),
        ("MESSAGE_CREATE", message_create(MESSAGE_BASE + 1)),
        ("GUILD_MEMBER_UPDATE", member_update(NEWCOMER_ID, "renamed")),
        ("GUILD_UPDATE", guild(name="renamed guild")),
        ("GUILD_EMOJIS_UPDATE", emojis_update()),
        ("MESSAGE_CREATE", message_create(MESSAGE_BASE + 2, dm=True)),
        ("GUILD_MEMBER_REMOVE", member_remove(NEWCOMER_ID)),
    )
    await cache.flush()
    expected = plain.items
    assert expected, f"the feed has no {base.__name__}"
    received = await confirmations.wait_for(len(expected))

    assert len(received) == len(expected)  # nothing twice
    assert all(isinstance(c, confirmed(base)) for c in received)
    assert [c.event for c in received] == expected
    assert all(a is b for a, b in zip((c.event for c in received), expected, strict=True))


def test_confirmed_class_relations() -> None:
    """Subtype relations mirror hikari's, classes are cached, and only hikari event types are accepted."""
    guild_create_t = confirmed(hikari.GuildMessageCreateEvent)
    message_create_t = confirmed(hikari.MessageCreateEvent)
    assert issubclass(guild_create_t, message_create_t)
    assert issubclass(guild_create_t, confirmed(hikari.MessageEvent))
    assert issubclass(guild_create_t, persist.Confirmed)
    assert issubclass(guild_create_t, hikari.Event)
    assert not issubclass(guild_create_t, confirmed(hikari.DMMessageCreateEvent))
    assert not issubclass(guild_create_t, hikari.MessageCreateEvent)  # a confirmation is not the event
    assert issubclass(confirmed(hikari.GuildAvailableEvent), confirmed(hikari.GuildEvent))
    assert not issubclass(confirmed(hikari.MemberCreateEvent), confirmed(hikari.GuildEvent))  # as in hikari
    # hikari dispatches to listeners of every Confirmed base.
    assert set(guild_create_t.dispatches()) >= {guild_create_t, message_create_t, persist.Confirmed, hikari.Event}

    assert confirmed(hikari.Event) is persist.Confirmed
    assert confirmed(hikari.MessageCreateEvent) is message_create_t  # cached: one class per event type
    assert persist.Confirmed[hikari.MemberCreateEvent] is persist.Confirmed[hikari.MemberCreateEvent]
    assert persist.Confirmed[hikari.MemberCreateEvent].event_type() is hikari.MemberCreateEvent
    assert persist.Confirmed[hikari.MemberCreateEvent].__name__ == "Confirmed[MemberCreateEvent]"

    with pytest.raises(TypeError, match="hikari event type"):
        confirmed(int)
    with pytest.raises(TypeError, match="hikari event type"):
        confirmed(hikari.Member)
    with pytest.raises(TypeError, match="cannot themselves be confirmed"):
        confirmed(message_create_t)


async def test_confirmed_fires_for_events_the_cache_does_not_store(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """Typing and reaction events are not stored, yet their confirmations fire, and only once every
    earlier write is committed (the member of the MEMBER_ADD, the message of the MESSAGE_CREATE before)."""
    typing_done = asyncio.Event()
    reaction_done = asyncio.Event()
    seen: dict[str, object] = {}

    @bot.listen()
    async def on_typing(event: persist.Confirmed[hikari.GuildTypingEvent]) -> None:
        seen["typing"] = event.event
        seen["member"] = await cache.members.get(guild_id=event.guild_id, member_id=event.user_id)
        typing_done.set()

    @bot.listen()
    async def on_reaction(event: persist.Confirmed[hikari.ReactionAddEvent]) -> None:
        seen["reaction"] = event.event
        seen["message"] = await cache.messages.get(id=event.message_id)
        reaction_done.set()

    await gateway.connect()
    await gateway.feed(
        ("GUILD_MEMBER_ADD", member_add()),
        ("TYPING_START", typing_start(NEWCOMER_ID)),
        ("MESSAGE_CREATE", message_create(MESSAGE_BASE + 1, author_id=NEWCOMER_ID)),
        ("MESSAGE_REACTION_ADD", reaction_add(MESSAGE_BASE + 1, OWNER_ID)),
    )
    await wait(typing_done)
    await wait(reaction_done)

    assert isinstance(seen["typing"], hikari.GuildTypingEvent)
    assert isinstance(seen["reaction"], hikari.GuildReactionAddEvent)
    stored_member = seen["member"]
    assert isinstance(stored_member, hikari.Member)
    assert stored_member.user.id == NEWCOMER_ID
    stored_message = seen["message"]
    assert isinstance(stored_message, hikari.Message)
    assert stored_message.author.id == NEWCOMER_ID


# -- the seed API: cache.listen / subscribe / unsubscribe -----------------------------------------------------


async def test_cache_listen_without_confirm_is_a_plain_listener(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """``@cache.listen()`` takes the type from the annotation and registers a plain hikari listener."""
    rec: Recorder[hikari.MemberCreateEvent] = Recorder()

    @cache.listen()
    async def on_member(event: hikari.MemberCreateEvent) -> None:
        await rec.record(event)

    assert on_member in bot.event_manager.get_listeners(hikari.MemberCreateEvent, polymorphic=False)
    await gateway.connect()
    await gateway.feed(("GUILD_MEMBER_ADD", member_add()))
    [event] = await rec.wait_for(1)
    assert type(event) is hikari.MemberCreateEvent
    assert event.user_id == NEWCOMER_ID


async def test_cache_listen_confirm_receives_original_event_after_commit(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """``@cache.listen(confirm=True)`` gets the original hikari event (not a Confirmed), after commit."""
    plain: Recorder[hikari.MemberCreateEvent] = Recorder()
    bot.event_manager.subscribe(hikari.MemberCreateEvent, plain.record)
    seen: list[tuple[hikari.MemberCreateEvent, hikari.Member | None]] = []
    done = asyncio.Event()

    @cache.listen(confirm=True)
    async def on_member(event: hikari.MemberCreateEvent) -> None:
        seen.append((event, await cache.members.get(guild_id=event.guild_id, member_id=event.user_id)))
        done.set()

    await gateway.connect()
    await gateway.feed(("GUILD_MEMBER_ADD", member_add()))
    await wait(done)

    [(event, stored)] = seen
    assert event is plain.items[0]
    assert not isinstance(event, persist.Confirmed)
    assert stored is not None
    assert stored.user.id == NEWCOMER_ID


@pytest.mark.parametrize("base", [hikari.GuildEvent, hikari.MemberEvent, hikari.Event])
async def test_cache_listen_base_class_confirm_receives_each_event_once(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway, base: type[hikari.Event]
) -> None:
    """A confirmed listener of a base class fires, once per event (the original never fired them and
    double-processed every event): it sees what a plain listener of the same class sees."""
    plain: Recorder[hikari.Event] = Recorder()
    confirmations: Recorder[hikari.Event] = Recorder()
    bot.event_manager.subscribe(base, plain.record)
    cache.listen(base, confirm=True)(confirmations.record)

    await gateway.connect()
    await gateway.feed(
        ("GUILD_MEMBER_ADD", member_add()),
        ("GUILD_UPDATE", guild(name="renamed guild")),
        ("GUILD_MEMBER_UPDATE", member_update(NEWCOMER_ID, "renamed")),
        ("GUILD_EMOJIS_UPDATE", emojis_update()),
    )
    await cache.flush()
    # A plain hikari.Event listener also receives the Confirmed events themselves: leave those out.
    expected = [e for e in plain.items if not isinstance(e, persist.Confirmed)]
    received = await confirmations.wait_for(len(expected))

    assert len(received) == len(expected)
    assert all(a is b for a, b in zip(received, expected, strict=True))
    assert not any(isinstance(e, persist.Confirmed) for e in received)
    assert {type(e) for e in received} >= (
        {hikari.MemberCreateEvent, hikari.MemberUpdateEvent} if base is not hikari.GuildEvent else set()
    ) | ({hikari.GuildUpdateEvent, hikari.EmojisUpdateEvent} if base is not hikari.MemberEvent else set())
    if base is hikari.Event:
        # Rows per event: the member exists once, with the last nickname.
        stored = await cache.members.get(guild_id=GUILD_ID, member_id=NEWCOMER_ID)
        assert stored is not None
        assert stored.nickname == "renamed"


async def test_cache_subscribe_and_unsubscribe_confirm(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """``cache.subscribe(E, cb, confirm=True)`` fires after commit; after ``cache.unsubscribe(E, cb)`` it
    does not fire any more (a second confirmed listener proves the later event was confirmed)."""
    subscribed: Recorder[hikari.MemberCreateEvent] = Recorder()
    witness: Recorder[persist.Confirmed[hikari.MemberCreateEvent]] = Recorder()
    cache.subscribe(hikari.MemberCreateEvent, subscribed.record, confirm=True)
    bot.event_manager.subscribe(persist.Confirmed[hikari.MemberCreateEvent], witness.record)

    await gateway.connect()
    await gateway.feed(("GUILD_MEMBER_ADD", member_add(NEWCOMER_ID)))
    [first] = await subscribed.wait_for(1)
    assert first.user_id == NEWCOMER_ID
    await witness.wait_for(1)

    cache.unsubscribe(hikari.MemberCreateEvent, subscribed.record)
    await gateway.feed(("GUILD_MEMBER_ADD", member_add(NEWCOMER_ID + 100)))
    await cache.flush()
    await witness.wait_for(2)
    assert [e.user_id for e in subscribed.items] == [NEWCOMER_ID]
    assert subscribed.record not in bot.event_manager.get_listeners(persist.Confirmed[hikari.MemberCreateEvent])

    # A plain (confirm=False) subscription is removed the same way.
    cache.subscribe(hikari.MemberCreateEvent, subscribed.record)
    assert subscribed.record in bot.event_manager.get_listeners(hikari.MemberCreateEvent, polymorphic=False)
    cache.unsubscribe(hikari.MemberCreateEvent, subscribed.record)
    assert subscribed.record not in bot.event_manager.get_listeners(hikari.MemberCreateEvent, polymorphic=False)


async def test_confirm_listener_subscribed_twice_can_be_unsubscribed_twice(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """Subscribing a confirm listener twice and unsubscribing it twice leaves nothing behind, as in hikari."""
    rec: Recorder[hikari.MemberCreateEvent] = Recorder()
    cache.subscribe(hikari.MemberCreateEvent, rec.record, confirm=True)
    cache.subscribe(hikari.MemberCreateEvent, rec.record, confirm=True)
    cache.unsubscribe(hikari.MemberCreateEvent, rec.record)
    cache.unsubscribe(hikari.MemberCreateEvent, rec.record)

    witness: Recorder[persist.Confirmed[hikari.MemberCreateEvent]] = Recorder()
    bot.event_manager.subscribe(persist.Confirmed[hikari.MemberCreateEvent], witness.record)
    await gateway.connect()
    await gateway.feed(("GUILD_MEMBER_ADD", member_add()))
    await witness.wait_for(1)
    assert rec.items == []


def sync_listener(event: hikari.MemberCreateEvent) -> None:
    """Not a coroutine function."""


async def unannotated_listener(event) -> None:  # pyright: ignore[reportMissingParameterType, reportUnknownParameterType]
    """No annotation on the event parameter."""


async def non_event_listener(event: int) -> None:
    """Annotated with something that is not a hikari event."""


async def test_cache_listen_rejects_bad_listeners(bot: hikari.GatewayBot, cache: persist.Cache) -> None:
    """Listeners must be coroutine functions and carry an event type (argument or annotation)."""
    any_cache: typing.Any = cache  # the calls below are deliberately ill-typed
    before = list(bot.event_manager.get_listeners(hikari.Event))

    for confirm in (False, True):
        with pytest.raises(TypeError, match="coroutine"):
            any_cache.subscribe(hikari.MemberCreateEvent, sync_listener, confirm=confirm)
        with pytest.raises(TypeError, match="coroutine"):
            any_cache.listen(hikari.MemberCreateEvent, confirm=confirm)(sync_listener)
        with pytest.raises(TypeError, match="coroutine"):
            any_cache.listen(confirm=confirm)(sync_listener)
        with pytest.raises(TypeError, match="event type"):
            any_cache.listen(confirm=confirm)(unannotated_listener)
        with pytest.raises(TypeError, match="event type"):
            any_cache.listen(unannotated_listener, confirm=confirm)
        with pytest.raises(TypeError, match="hikari event type"):
            any_cache.listen(confirm=confirm)(non_event_listener)

    assert list(bot.event_manager.get_listeners(hikari.Event)) == before  # nothing half-registered


@pytest.mark.parametrize("join", [False, True], ids=["available", "join"])
async def test_confirmed_guild_visibility_sees_guild_channels_and_members(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway, join: bool
) -> None:
    """``confirm=True`` on GuildAvailableEvent (the original crashed there) and on GuildJoinEvent works:
    the guild, its channels and its members are queryable inside the listener."""
    event_type = hikari.GuildJoinEvent if join else hikari.GuildAvailableEvent
    views: list[tuple[str, hikari.GatewayGuild | None, list[int], list[int]]] = []
    done = asyncio.Event()

    async def snapshot(source: str, event: hikari.GuildVisibilityEvent) -> None:
        stored = await cache.guilds.get(id=event.guild_id)
        channels = [int(c.id) async for c in cache.channels.where(guild_id=event.guild_id)]
        members = [int(m.user.id) async for m in cache.members.where(guild_id=event.guild_id)]
        views.append((source, stored, channels, members))
        if len(views) == 2:
            done.set()

    async def via_cache(event: hikari.GuildVisibilityEvent) -> None:
        await snapshot("cache.listen", event)

    async def via_bot(event: persist.Confirmed[hikari.GuildVisibilityEvent]) -> None:
        assert isinstance(event.event, event_type)
        await snapshot("bot.listen", event.event)

    cache.listen(event_type, confirm=True)(via_cache)
    bot.event_manager.subscribe(confirmed(event_type), via_bot)
    await gateway.connect(join=join)
    await wait(done)

    assert sorted(source for source, *_ in views) == ["bot.listen", "cache.listen"]
    for _, stored, channels, members in views:
        assert stored is not None
        assert stored.name == "test guild"
        assert stored.app is bot
        assert channels == [TEXT_ID]
        assert sorted(members) == sorted([BOT_ID, OWNER_ID])


async def test_event_is_stored_once_through_several_base_types(
    bot: hikari.GatewayBot, cache: persist.Cache, gateway: Gateway
) -> None:
    """After ``Confirmed`` types were requested for several bases, the cache listens to MemberCreateEvent
    through several types, yet each event is queued, written and confirmed once."""
    requested = [confirmed(hikari.MemberEvent), confirmed(hikari.GuildEvent)]
    assert issubclass(confirmed(hikari.MemberCreateEvent), requested[0])
    intakes = [
        listener
        for listener in bot.event_manager.get_listeners(hikari.MemberCreateEvent)
        if getattr(listener, "__self__", None) is cache
    ]
    assert len(intakes) >= 2, "the premise: the cache listens to MemberCreateEvent through several types"

    rec: Recorder[persist.Confirmed[hikari.MemberEvent]] = Recorder()
    bot.event_manager.subscribe(persist.Confirmed[hikari.MemberEvent], rec.record)
    await gateway.connect()
    await cache.flush()
    await gateway.feed(("GUILD_MEMBER_ADD", member_add()))
    assert cache.pending == 1  # queued once
    await cache.flush()
    assert cache.pending == 0
    [confirmation] = await rec.wait_for(1)
    assert type(confirmation.event) is hikari.MemberCreateEvent
    # A later event proves no second confirmation of the first one was on its way.
    await gateway.feed(("GUILD_MEMBER_UPDATE", member_update(NEWCOMER_ID, "renamed")))
    await cache.flush()
    received = await rec.wait_for(2)
    assert [type(c.event) for c in received] == [hikari.MemberCreateEvent, hikari.MemberUpdateEvent]
    assert await cache.members.count(guild_id=GUILD_ID, member_id=NEWCOMER_ID) == 1
    stored = await cache.members.get(guild_id=GUILD_ID, member_id=NEWCOMER_ID)
    assert stored is not None
    assert stored.nickname == "renamed"


async def test_confirmed_events_are_dispatched_in_arrival_order(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    """Confirmations come in the order the events arrived (not id order), across many small batches."""
    ids = [MESSAGE_BASE + i for i in range(1, 301)]
    random.Random(7).shuffle(ids)
    rec: Recorder[int] = Recorder()

    @bot.listen()
    async def on_message(event: persist.Confirmed[hikari.MessageCreateEvent]) -> None:
        await rec.record(event.message_id)

    gateway = Gateway(bot)
    async with persist.Cache(bot, persist.SQLiteBackend(db_path, batch_size=16, flush_interval=0)) as cache:
        await gateway.connect()
        for start in range(0, len(ids), 25):  # bursts, so batches mix arrivals from several bursts
            await gateway.feed(*(("MESSAGE_CREATE", message_create(i, dm=i % 3 == 0)) for i in ids[start : start + 25]))
        received = await rec.wait_for(len(ids))
        assert received == ids
        assert await cache.messages.count() == len(ids)


# -- several caches, other apps --------------------------------------------------------------------------------


async def test_two_caches_on_one_bot(
    bot: hikari.GatewayBot, two_caches: tuple[persist.Cache, persist.Cache], gateway: Gateway
) -> None:
    """Two caches on one bot both store everything (deeply equal to hikari's cache).

    Observed: both caches dispatch ``Confirmed[E]`` on the bot's event manager, so a ``@bot.listen()``
    confirmed listener fires once per cache for the same event object; ``.cache`` tells them apart.
    """
    first, second = two_caches
    stats = await offline.replay(bot, session(seed=3, guilds=1, members=(30,), churn=0.2))
    assert stats.error_count <= 2  # the session's two deliberately malformed records
    await first.flush()
    await second.flush()
    counts = await compare_with_hikari(first, bot)
    assert counts["members"] > 0
    assert counts["messages"] > 0
    assert await compare_with_hikari(second, bot) == counts

    rec: Recorder[persist.Confirmed[hikari.MemberCreateEvent]] = Recorder()
    bot.event_manager.subscribe(persist.Confirmed[hikari.MemberCreateEvent], rec.record)
    created = next(p for name, _, p in session(seed=3, guilds=1, members=(30,), churn=0.2) if name == "GUILD_CREATE")
    newcomer = {**member(NEWCOMER_ID), "guild_id": created["id"]}
    await gateway.feed(("GUILD_MEMBER_ADD", newcomer))
    await first.flush()
    await second.flush()
    received = await rec.wait_for(2)
    assert len(received) == 2  # once per cache
    assert received[0].event is received[1].event
    assert {id(c.cache) for c in received} == {id(first), id(second)}
    for cache in (first, second):
        assert await cache.members.get(guild_id=int(created["id"]), member_id=NEWCOMER_ID) is not None


async def test_confirm_listener_of_one_cache_waits_for_that_cache(
    bot: hikari.GatewayBot, tmp_path: pathlib.Path, gateway: Gateway
) -> None:
    """A listener registered with ``slow.listen(confirm=True)`` runs once, after *slow* committed the event,
    not when another cache of the same bot (*fast*) confirms it.

    *slow*'s file is write-locked by another connection until *fast* has confirmed the event, so *slow*
    cannot have committed before that; the listener checks *slow*'s file synchronously when it starts.
    """
    slow_path = tmp_path / "slow.db"
    slow = persist.Cache(bot, persist.SQLiteBackend(slow_path))
    fast = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "fast.db"))
    seen_rows: list[int] = []
    committed = asyncio.Event()

    @slow.listen(confirm=True)
    async def on_message(event: hikari.MessageCreateEvent) -> None:
        rows = count_rows(slow_path, "SELECT COUNT(*) FROM messages WHERE id = ?", (event.message_id,))
        seen_rows.append(rows)
        if rows:
            committed.set()

    any_confirmation: Recorder[persist.Confirmed[hikari.MessageCreateEvent]] = Recorder()
    bot.event_manager.subscribe(persist.Confirmed[hikari.MessageCreateEvent], any_confirmation.record)
    await offline.start_offline(bot)
    lock = sqlite3.connect(slow_path, isolation_level=None)
    try:
        await gateway.connect()
        await slow.flush()
        await fast.flush()
        lock.execute("BEGIN IMMEDIATE")  # slow's writer now waits for the lock
        await gateway.feed(("MESSAGE_CREATE", message_create(MESSAGE_BASE + 1)))
        await fast.flush()
        await any_confirmation.wait_for(1)  # fast's confirmation has been dispatched
        lock.execute("ROLLBACK")
        await slow.flush()
        await wait(committed)
        assert seen_rows == [1]
        assert [c.cache for c in any_confirmation.items] == [fast, slow]
    finally:
        if lock.in_transaction:
            lock.execute("ROLLBACK")
        lock.close()
        await offline.stop_offline(bot)


class MinimalApp:
    """A hikari app that is not a GatewayBot: just the parts a cache needs (as an orchestrator client)."""

    def __init__(self, bot: hikari.GatewayBot) -> None:
        self._bot = bot

    @property
    def event_manager(self) -> hikari.api.EventManager:
        return self._bot.event_manager

    @property
    def rest(self) -> hikari.api.RESTClient:
        return self._bot.rest

    @property
    def entity_factory(self) -> hikari.api.EntityFactory:
        return self._bot.entity_factory


async def test_cache_on_an_app_that_is_not_a_gateway_bot(
    bot: hikari.GatewayBot, db_path: pathlib.Path, gateway: Gateway
) -> None:
    """``persist.Cache(app, backend)`` works with any app that has an event manager; entities read back
    (and nested ones) are bound to that app, and confirmations still fire."""
    app = MinimalApp(bot)
    rec: Recorder[persist.Confirmed[hikari.MessageCreateEvent]] = Recorder()
    bot.event_manager.subscribe(persist.Confirmed[hikari.MessageCreateEvent], rec.record)
    async with persist.Cache(app, persist.SQLiteBackend(db_path)) as cache:
        assert cache.bot is app
        await gateway.connect()
        await gateway.feed(
            ("GUILD_MEMBER_ADD", member_add()),
            ("MESSAGE_CREATE", message_create(MESSAGE_BASE + 1, author_id=NEWCOMER_ID)),
        )
        await rec.wait_for(1)

        stored_guild = await cache.guilds.get(id=GUILD_ID)
        stored_member = await cache.members.get(guild_id=GUILD_ID, member_id=NEWCOMER_ID)
        stored_message = await cache.messages.get(id=MESSAGE_BASE + 1)
        stored_channel = await cache.channels.get(id=TEXT_ID)
        me = await cache.get_me()
        assert stored_guild is not None
        assert stored_member is not None
        assert stored_message is not None
        assert stored_channel is not None
        assert me is not None
        for entity in (stored_guild, stored_member, stored_member.user, stored_message, stored_channel, me):
            assert entity.app is app
        assert stored_message.author.app is app
        assert me.id == BOT_ID

    with pytest.raises(TypeError, match="event manager"):
        persist.Cache(typing.cast("typing.Any", object()), persist.SQLiteBackend(db_path))
