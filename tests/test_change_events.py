"""Change events: every kind's inserts, updates and removes, bulk events, dispatched after commit.

A real `hikari.GatewayBot` is fed raw gateway payloads offline and writes to a real SQLite file. Listeners
query the cache while they run, which proves the change was committed before it was announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import typing

import attrs
import hikari
import pytest

import hikaripersist as persist
from hikaripersist._internal import engine as engine_module
from hikaripersist._internal import offline, ops
from tests.conftest import make_bot
from tests.test_writer import BASE, World, running

if typing.TYPE_CHECKING:
    import pathlib
    import sqlite3
    from collections.abc import Awaitable, Callable, Sequence

    from hikaripersist.backend import ChangeRequest, WriteResult
    from hikaripersist.rules import Rule

Payload = dict[str, typing.Any]
Record = tuple[str, int, Payload]


# -- raw payloads ------------------------------------------------------------------------------------


class Stage(World):
    """``World`` plus raw payloads for every kind of the first guild of ``BASE``."""

    def __init__(self, bot: hikari.GatewayBot) -> None:
        super().__init__(bot)
        self.create: Payload = next(p for name, _, p in BASE if name == "GUILD_CREATE" and p["id"] == self.guild_id)
        self.voice_channel_id: str = next(c["id"] for c in self.create["channels"] if c["type"] == 2)
        with_presence = {p["user"]["id"] for p in self.create["presences"]}
        in_voice = {v["user_id"] for v in self.create["voice_states"]}
        self.quiet_member: Payload = next(
            m for m in self.members if m["user"]["id"] not in with_presence | in_voice and not m["user"].get("bot")
        )

    def _base(self, payload: Payload) -> Payload:
        return {**payload, "guild_id": self.guild_id}

    # guilds
    def new_guild(self, name: str) -> tuple[str, Record]:
        guild_id = self.snowflake()
        everyone = {**self.create["roles"][0], "id": guild_id}
        payload = {
            **copy.deepcopy(self.create),
            "id": guild_id,
            "name": name,
            "roles": [everyone],
            "channels": [],
            "threads": [],
            "members": [],
            "presences": [],
            "voice_states": [],
            "emojis": [],
            "stickers": [],
            "member_count": 1,
        }
        return guild_id, ("GUILD_CREATE", 0, payload)

    def guild_update(self, guild_id: str, name: str) -> Record:
        everyone = {**self.create["roles"][0], "id": guild_id}
        skip = ("channels", "threads", "members", "presences", "voice_states", "member_count", "large", "joined_at")
        payload = {k: v for k, v in self.create.items() if k not in skip}
        return ("GUILD_UPDATE", 0, {**payload, "id": guild_id, "name": name, "roles": [everyone]})

    def guild_delete(self, guild_id: str) -> Record:
        return ("GUILD_DELETE", 0, {"id": guild_id})

    # channels and threads
    def channel(self, channel_id: str, name: str) -> Payload:
        return self._base({
            "id": channel_id, "type": 0, "name": name, "position": 40, "permission_overwrites": [], "parent_id": None,
            "nsfw": False, "topic": None, "last_message_id": None, "rate_limit_per_user": 0, "flags": 0,
        })  # fmt: skip

    def thread(self, thread_id: str, name: str) -> Payload:
        return self._base({
            "id": thread_id, "parent_id": self.channel_id, "owner_id": self.members[0]["user"]["id"], "type": 11,
            "name": name, "last_message_id": None, "message_count": 0, "member_count": 1, "rate_limit_per_user": 0,
            "flags": 0, "total_message_sent": 0,
            "thread_metadata": {"archived": False, "archive_timestamp": "2025-06-01T17:01:48.529000+00:00",
                                "auto_archive_duration": 1440, "locked": False},
        })  # fmt: skip

    # roles
    def role(self, role_id: str, name: str) -> Payload:
        return {**self.create["roles"][-1], "id": role_id, "name": name, "position": 30}

    # members and users
    def new_user(self, name: str) -> Payload:
        return {"id": self.snowflake(), "username": name, "global_name": None, "discriminator": "0", "avatar": None}

    def member(self, user: Payload, *, nick: str | None = None) -> Payload:
        return self._base({
            "user": user, "roles": [], "nick": nick, "joined_at": "2025-01-01T00:00:00+00:00", "deaf": False,
            "mute": False, "flags": 0,
        })  # fmt: skip

    def member_remove(self, user: Payload) -> Record:
        return ("GUILD_MEMBER_REMOVE", 0, self._base({"user": user}))

    # emojis and stickers
    def emoji(self, emoji_id: str, name: str) -> Payload:
        return {"id": emoji_id, "name": name, "roles": [], "require_colons": True, "managed": False, "animated": False,
                "available": True}  # fmt: skip

    def emojis_update(self, *extra: Payload) -> Record:
        return ("GUILD_EMOJIS_UPDATE", 0, self._base({"emojis": [*self.create["emojis"], *extra]}))

    def sticker(self, sticker_id: str, name: str) -> Payload:
        return {**self.create["stickers"][0], "id": sticker_id, "name": name, "guild_id": self.guild_id}

    def stickers_update(self, *extra: Payload) -> Record:
        return ("GUILD_STICKERS_UPDATE", 0, self._base({"stickers": [*self.create["stickers"], *extra]}))

    # presences and voice states
    def presence(self, user_id: str, status: str) -> Record:
        payload: Payload = {
            "user": {"id": user_id}, "status": status, "activities": [], "client_status": {"desktop": status},
        }  # fmt: skip
        return ("PRESENCE_UPDATE", 0, self._base(payload))

    def voice(self, member: Payload, channel_id: str | None, *, self_mute: bool = False) -> Record:
        return ("VOICE_STATE_UPDATE", 0, self._base({
            "channel_id": channel_id, "user_id": member["user"]["id"], "member": member, "session_id": "abc",
            "deaf": False, "mute": False, "self_deaf": False, "self_mute": self_mute, "self_video": False,
            "suppress": False, "request_to_speak_timestamp": None,
        }))  # fmt: skip

    # messages and invites
    def message_delete(self, message_id: str) -> Record:
        return ("MESSAGE_DELETE", 0, self._base({"id": message_id, "channel_id": self.channel_id}))

    def invite(self, code: str, *, max_uses: int = 0) -> Record:
        inviter = self.members[1]["user"]
        return ("INVITE_CREATE", 0, self._base({
            "code": code, "channel_id": self.channel_id, "inviter": inviter, "max_age": 0, "max_uses": max_uses,
            "temporary": False, "uses": 0, "created_at": "2025-10-09T08:53:20.000000+00:00",
        }))  # fmt: skip

    def invite_delete(self, code: str) -> Record:
        return ("INVITE_DELETE", 0, self._base({"code": code, "channel_id": self.channel_id}))


# -- observing change events -------------------------------------------------------------------------


KIND_EVENTS: typing.Final[dict[str, tuple[type[persist.PersistEvent], ...]]] = {
    "guilds": (persist.GuildInsertEvent, persist.PersistGuildUpdateEvent, persist.GuildRemoveEvent),
    "channels": (persist.ChannelInsertEvent, persist.PersistChannelUpdateEvent, persist.ChannelRemoveEvent),
    "threads": (persist.ThreadInsertEvent, persist.PersistThreadUpdateEvent, persist.ThreadRemoveEvent),
    "roles": (persist.RoleInsertEvent, persist.PersistRoleUpdateEvent, persist.RoleRemoveEvent),
    "members": (persist.MemberInsertEvent, persist.PersistMemberUpdateEvent, persist.MemberRemoveEvent),
    "users": (persist.UserInsertEvent, persist.PersistUserUpdateEvent, persist.UserRemoveEvent),
    "emojis": (persist.EmojiInsertEvent, persist.PersistEmojiUpdateEvent, persist.EmojiRemoveEvent),
    "stickers": (persist.StickerInsertEvent, persist.PersistStickerUpdateEvent, persist.StickerRemoveEvent),
    "presences": (persist.PresenceInsertEvent, persist.PersistPresenceUpdateEvent, persist.PresenceRemoveEvent),
    "voice_states": (
        persist.VoiceStateInsertEvent,
        persist.PersistVoiceStateUpdateEvent,
        persist.VoiceStateRemoveEvent,
    ),
    "messages": (persist.MessageInsertEvent, persist.PersistMessageUpdateEvent, persist.MessageRemoveEvent),
    "invites": (persist.InviteInsertEvent, persist.PersistInviteUpdateEvent, persist.InviteRemoveEvent),
}


def event_key(event: persist.PersistEvent) -> typing.Any:
    """The key of the entity a change event is about, as the cache's ``get`` takes it."""
    e = typing.cast("typing.Any", event)
    match event:
        case persist.GuildInsertEvent() | persist.PersistGuildUpdateEvent():
            return int(e.guild.id)
        case persist.ChannelInsertEvent() | persist.PersistChannelUpdateEvent():
            return int(e.channel.id)
        case persist.ThreadInsertEvent() | persist.PersistThreadUpdateEvent():
            return int(e.thread.id)
        case persist.RoleInsertEvent() | persist.PersistRoleUpdateEvent():
            return int(e.role.id)
        case persist.MemberInsertEvent() | persist.PersistMemberUpdateEvent():
            return (int(e.member.guild_id), int(e.member.user.id))
        case persist.UserInsertEvent() | persist.PersistUserUpdateEvent():
            return int(e.user.id)
        case persist.EmojiInsertEvent() | persist.PersistEmojiUpdateEvent():
            return int(e.emoji.id)
        case persist.StickerInsertEvent() | persist.PersistStickerUpdateEvent():
            return int(e.sticker.id)
        case persist.PresenceInsertEvent() | persist.PersistPresenceUpdateEvent():
            return (int(e.presence.guild_id), int(e.presence.user_id))
        case persist.VoiceStateInsertEvent() | persist.PersistVoiceStateUpdateEvent():
            return (int(e.voice_state.guild_id), int(e.voice_state.user_id))
        case persist.MessageInsertEvent() | persist.PersistMessageUpdateEvent():
            return int(e.message.id)
        case persist.InviteInsertEvent() | persist.PersistInviteUpdateEvent():
            return e.invite.code
        case persist.GuildRemoveEvent():
            return int(e.guild_id)
        case persist.MemberRemoveEvent() | persist.PresenceRemoveEvent() | persist.VoiceStateRemoveEvent():
            return (int(e.guild_id), int(e.user_id))
        case persist.InviteRemoveEvent():
            return e.code
        case _:
            # Removes keyed by one id: the event's own id field (its first field).
            first = next(name for name in attrs.fields_dict(type(event)) if not name.startswith("_"))
            return int(getattr(e, first))


GETTERS: typing.Final[dict[str, Callable[[persist.Cache, typing.Any], Awaitable[object | None]]]] = {
    "guilds": lambda c, k: c.guilds.get(id=k),
    "channels": lambda c, k: c.channels.get(id=k),
    "threads": lambda c, k: c.threads.get(id=k),
    "roles": lambda c, k: c.roles.get(id=k),
    "members": lambda c, k: c.members.get(guild_id=k[0], member_id=k[1]),
    "users": lambda c, k: c.users.get(id=k),
    "emojis": lambda c, k: c.emojis.get(id=k),
    "stickers": lambda c, k: c.stickers.get(id=k),
    "presences": lambda c, k: c.presences.get(guild_id=k[0], user_id=k[1]),
    "voice_states": lambda c, k: c.voice_states.get(guild_id=k[0], user_id=k[1]),
    "messages": lambda c, k: c.messages.get(id=k),
    "invites": lambda c, k: c.invites.get(code=k),
}


class Seen(typing.NamedTuple):
    event: persist.PersistEvent
    key: typing.Any
    stored: object | None
    """What the cache answered for the key while the listener ran."""


class ChangeLog:
    """Change events of some types, in dispatch order, each with what the cache answered at that time."""

    def __init__(self, bot: hikari.GatewayBot, cache: persist.Cache, *types: type[persist.PersistEvent]) -> None:
        self.seen: list[Seen] = []
        self._cache = cache
        self._changed = asyncio.Event()
        self._in_order = asyncio.Lock()
        self._kinds = {cls: kind for kind, classes in KIND_EVENTS.items() for cls in classes}
        self._bot = bot
        self._types = types
        for cls in types:
            bot.event_manager.subscribe(cls, self._on_change)

    def close(self) -> None:
        for cls in self._types:
            self._bot.event_manager.unsubscribe(cls, self._on_change)

    async def _on_change(self, event: persist.PersistEvent) -> None:
        kind = self._kinds.get(type(event))
        key = event_key(event) if kind is not None else None
        # asyncio.Lock is fair: listeners record in dispatch order although their reads may take turns.
        async with self._in_order:
            stored: object | None = None
            if kind is not None and self._cache.is_open:
                # Read right away: the change must already be committed when it is announced.
                with contextlib.suppress(persist.BackendError, ValueError):  # the test ended and closed the cache
                    stored = await GETTERS[kind](self._cache, key)
            self.seen.append(Seen(event, key, stored))
        self._changed.set()

    def of(self, cls: type[persist.PersistEvent], key: object = None) -> list[Seen]:
        return [s for s in self.seen if isinstance(s.event, cls) and (key is None or s.key == key)]

    async def wait_until(self, done: Callable[[], bool], *, timeout: float = 30) -> None:
        """Wait until ``done()`` holds, re-checking after each handled event (a deadline, not a delay)."""

        async def arrived() -> None:
            while not done():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(arrived(), timeout)

    async def wait_for(self, cls: type[persist.PersistEvent], key: object = None, *, count: int = 1) -> Seen:
        """Wait until ``count`` events of ``cls`` about ``key`` were handled; return the last."""
        await self.wait_until(lambda: len(self.of(cls, key)) >= count)
        return self.of(cls, key)[-1]


class TrackingBackend(persist.SQLiteBackend):
    """The real SQLite backend, recording which write method each batch went through."""

    def __init__(self, path: pathlib.Path, **options: typing.Any) -> None:
        super().__init__(path, **options)
        self.calls: list[tuple[str, ChangeRequest | None]] = []
        self.results: list[WriteResult] = []

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        self.calls.append(("write", None))
        result = await super().write(batch, rule=rule)
        self.results.append(result)
        return result

    async def write_with_changes(
        self, batch: Sequence[hikari.Event], *, rule: Rule | None, changes: ChangeRequest
    ) -> WriteResult:
        self.calls.append(("write_with_changes", changes))
        result = await super().write_with_changes(batch, rule=rule, changes=changes)
        self.results.append(result)
        return result

    async def triggers(self) -> set[str]:
        """Names of the temporary triggers installed on the writer's connection."""
        rows = await self.run_sync(lambda db: db.execute("SELECT name FROM sqlite_temp_master WHERE type = 'trigger'"))
        return {row[0] for row in typing.cast("sqlite3.Cursor", rows).fetchall()}


# -- every kind ----------------------------------------------------------------------------------------


def steps_for(kind: str, stage: Stage) -> tuple[list[Record], list[Record], list[Record], typing.Any]:
    """Records that insert, update and remove one entity of ``kind``, and the entity's key."""
    s = stage
    guild_id = int(s.guild_id)
    if kind == "guilds":
        new_id, create = s.new_guild("fresh guild")
        return [create], [s.guild_update(new_id, "renamed guild")], [s.guild_delete(new_id)], int(new_id)
    if kind in ("channels", "threads"):
        entity_id = s.snowflake()
        build = s.channel if kind == "channels" else s.thread
        names = ("CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE")
        if kind == "threads":
            names = ("THREAD_CREATE", "THREAD_UPDATE", "THREAD_DELETE")
        return (
            [(names[0], 0, build(entity_id, "fresh"))],
            [(names[1], 0, build(entity_id, "renamed"))],
            [(names[2], 0, build(entity_id, "renamed"))],
            int(entity_id),
        )
    if kind == "roles":
        role_id = s.snowflake()
        return (
            [("GUILD_ROLE_CREATE", 0, s._base({"role": s.role(role_id, "fresh")}))],
            [("GUILD_ROLE_UPDATE", 0, s._base({"role": s.role(role_id, "renamed")}))],
            [("GUILD_ROLE_DELETE", 0, s._base({"role_id": role_id}))],
            int(role_id),
        )
    if kind in ("members", "users"):
        user = s.new_user("newcomer")
        renamed = {**user, "username": "renamed"} if kind == "users" else user
        key = int(user["id"]) if kind == "users" else (guild_id, int(user["id"]))
        return (
            [("GUILD_MEMBER_ADD", 0, s.member(user))],
            [("GUILD_MEMBER_UPDATE", 0, s.member(renamed, nick="nick"))],
            [s.member_remove(renamed)],
            key,
        )
    if kind == "emojis":
        emoji_id = s.snowflake()
        return (
            [s.emojis_update(s.emoji(emoji_id, "fresh"))],
            [s.emojis_update(s.emoji(emoji_id, "renamed"))],
            [s.emojis_update()],
            int(emoji_id),
        )
    if kind == "stickers":
        sticker_id = s.snowflake()
        return (
            [s.stickers_update(s.sticker(sticker_id, "fresh"))],
            [s.stickers_update(s.sticker(sticker_id, "renamed"))],
            [s.stickers_update()],
            int(sticker_id),
        )
    if kind == "presences":
        user_id = s.quiet_member["user"]["id"]
        return (
            [s.presence(user_id, "online")],
            [s.presence(user_id, "idle")],
            [s.presence(user_id, "offline")],
            (guild_id, int(user_id)),
        )
    if kind == "voice_states":
        member = s.quiet_member
        return (
            [s.voice(member, s.voice_channel_id)],
            [s.voice(member, s.voice_channel_id, self_mute=True)],
            [s.voice(member, None)],
            (guild_id, int(member["user"]["id"])),
        )
    if kind == "messages":
        create = s.message_create("hello")
        message_id = create[2]["id"]
        return [create], [s.message_update(message_id, "edited")], [s.message_delete(message_id)], int(message_id)
    assert kind == "invites"
    return [s.invite("abcdef")], [s.invite("abcdef", max_uses=5)], [s.invite_delete("abcdef")], "abcdef"


async def check_every_kind_reports_insert_update_remove(make_backend: Callable[[], persist.Backend], kind: str) -> None:
    """Each kind's change events follow its inserts, updates and removes, after commit, with the entity as stored."""
    async with running(typing.cast("persist.SQLiteBackend", make_backend())) as (bot, cache, _):
        stage = Stage(bot)
        insert_cls, update_cls, remove_cls = KIND_EVENTS[kind]
        log = ChangeLog(bot, cache, insert_cls, update_cls, remove_cls)
        inserts, updates, removes, key = steps_for(kind, stage)

        await stage.feed(inserts)
        inserted = await log.wait_for(insert_cls, key)
        await stage.feed(updates)
        updated = await log.wait_for(update_cls, key)
        await stage.feed(removes)
        removed = await log.wait_for(remove_cls, key)

        # Each listener found the store already changed: committed before it was announced.
        assert inserted.stored is not None
        assert updated.stored is not None
        assert removed.stored is None
        assert [type(s.event) for s in log.seen if s.key == key] == [insert_cls, update_cls, remove_cls]
        assert all(s.event.app is bot for s in log.seen)
        # The events carry the entity as stored: what the cache's own get() returns.
        entity_field = {"voice_states": "voice_state"}.get(kind, kind.rstrip("s"))
        inserted_entity = getattr(inserted.event, entity_field)
        updated_entity = getattr(updated.event, entity_field)
        assert type(inserted_entity) is type(inserted.stored)
        assert updated_entity == updated.stored or repr(updated_entity) == repr(updated.stored)
        assert getattr(inserted_entity, "app", bot) is bot


@pytest.mark.parametrize("kind", list(KIND_EVENTS))
async def test_every_kind_reports_insert_update_remove_after_commit(db_path: pathlib.Path, kind: str) -> None:
    await check_every_kind_reports_insert_update_remove(lambda: persist.SQLiteBackend(db_path), kind)


async def test_update_events_only_for_real_changes(db_path: pathlib.Path) -> None:
    async with running(persist.SQLiteBackend(db_path)) as (bot, cache, world):
        log = ChangeLog(bot, cache, persist.PersistMemberUpdateEvent, persist.PersistUserUpdateEvent)
        index = await stored_member_index(cache, world)
        key = (int(world.guild_id), int(world.members[index]["user"]["id"]))
        renamed = world.member_update(index, "a new nick")
        await world.feed([renamed])
        await log.wait_for(persist.PersistMemberUpdateEvent, key)
        # The same member again, twice, then a real change: only the real changes are announced.
        await world.feed([renamed, renamed, world.member_update(index, "another nick")])
        await log.wait_for(persist.PersistMemberUpdateEvent, key, count=2)
        nicks = [typing.cast("persist.PersistMemberUpdateEvent", s.event).member.nickname for s in log.seen]
        assert nicks == ["a new nick", "another nick"]
        assert log.of(persist.PersistUserUpdateEvent) == []


async def test_each_event_of_a_batch_reports_the_entity_as_it_left_it(db_path: pathlib.Path) -> None:
    backend = persist.SQLiteBackend(db_path, batch_size=1000, flush_interval=60)
    async with running(backend) as (bot, cache, world):
        log = ChangeLog(bot, cache, persist.PersistMemberUpdateEvent)
        index = await stored_member_index(cache, world)
        records = [world.member_update(index, f"nick {i}") for i in range(5)]
        await world.feed(records, yield_every=0)
        await cache.flush()  # one batch holds all five
        key = (int(world.guild_id), int(world.members[index]["user"]["id"]))
        await log.wait_for(persist.PersistMemberUpdateEvent, key, count=5)
        nicks = [typing.cast("persist.PersistMemberUpdateEvent", s.event).member.nickname for s in log.seen]
        assert nicks == [f"nick {i}" for i in range(5)]


async def stored_member_index(cache: persist.Cache, world: World) -> int:
    """Index in ``world.members`` of a member the cache holds (``BASE`` removes some)."""
    for index, member in enumerate(world.members):
        if await cache.members.get(guild_id=int(world.guild_id), member_id=int(member["user"]["id"])):
            return index
    msg = "no member of the world is stored"
    raise AssertionError(msg)


# -- bulk events ---------------------------------------------------------------------------------------------


async def test_guild_create_and_member_chunks_report_bulk_events(db_path: pathlib.Path) -> None:
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path))
    log = ChangeLog(
        bot,
        cache,
        persist.BulkChannelEvent,
        persist.BulkRoleEvent,
        persist.BulkMemberEvent,
        persist.MemberInsertEvent,
        persist.ChannelInsertEvent,
        persist.ChannelRemoveEvent,
    )
    await offline.start_offline(bot)
    try:
        stage = Stage(bot)
        await stage.feed(BASE)
        await cache.flush()
        guild_id = int(stage.guild_id)

        def bulk(cls: type[persist.PersistEvent]) -> list[typing.Any]:
            return [
                s.event for s in log.seen if type(s.event) is cls and getattr(s.event, "guild_id", None) == guild_id
            ]

        # BASE creates the guild twice (an outage in between; the first create is `stage.create`), and
        # its GUILD_UPDATEs store roles in bulk too.
        await log.wait_until(lambda: len(bulk(persist.BulkMemberEvent)) == 2)
        assert len(bulk(persist.BulkChannelEvent)) == 2
        assert len(bulk(persist.BulkRoleEvent)) == 2 + sum(
            name == "GUILD_UPDATE" and p["id"] == stage.guild_id for name, _, p in BASE
        )
        assert {int(i) for i in bulk(persist.BulkChannelEvent)[0].channel_ids} == {
            int(c["id"]) for c in stage.create["channels"]
        }
        assert {int(i) for i in bulk(persist.BulkRoleEvent)[0].role_ids} == {
            int(r["id"]) for r in stage.create["roles"]
        }
        assert {int(i) for i in bulk(persist.BulkMemberEvent)[0].user_ids} == {
            int(m["user"]["id"]) for m in stage.create["members"]
        }
        # What a bulk event stands for is not announced once more entity by entity.
        assert not [s for s in log.of(persist.MemberInsertEvent) if s.key[0] == guild_id and s.key[1] in {
            int(m["user"]["id"]) for m in stage.create["members"]
        }]  # fmt: skip

        # A member chunk: one bulk event with exactly the chunk's members.
        newcomers = [stage.member(stage.new_user(f"chunked {i}")) for i in range(5)]
        chunk = {"guild_id": stage.guild_id, "members": newcomers, "chunk_index": 0, "chunk_count": 1, "not_found": []}
        log.seen.clear()
        await stage.feed([("GUILD_MEMBERS_CHUNK", 0, chunk)])
        seen = await log.wait_for(persist.BulkMemberEvent)
        event = typing.cast("persist.BulkMemberEvent", seen.event)
        assert event.guild_id == guild_id
        assert sorted(int(i) for i in event.user_ids) == sorted(int(m["user"]["id"]) for m in newcomers)
        for user_id in event.user_ids:
            assert await cache.members.get(guild_id=guild_id, member_id=user_id) is not None

        # The guild again (a reconnect) without one of its channels: that one is removed.
        gone = next(c for c in stage.create["channels"] if c["type"] == 0 and c["id"] != stage.channel_id)
        again = {**stage.create, "channels": [c for c in stage.create["channels"] if c is not gone]}
        log.seen.clear()
        await stage.feed([("GUILD_CREATE", 0, again)])
        removed = await log.wait_for(persist.ChannelRemoveEvent, int(gone["id"]))
        assert removed.stored is None
        assert typing.cast("persist.ChannelRemoveEvent", removed.event).guild_id == guild_id
        await log.wait_for(persist.BulkChannelEvent)
        assert int(gone["id"]) not in bulk(persist.BulkChannelEvent)[0].channel_ids
        assert log.of(persist.ChannelInsertEvent) == []
    finally:
        await offline.stop_offline(bot)


# -- failures, clear, dispatch order ---------------------------------------------------------------------------


async def test_a_rolled_back_event_reports_nothing(db_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = engine_module.Engine._on_message_create

    def fail_on_boom(self: engine_module.Engine, event: hikari.MessageCreateEvent) -> None:
        original(self, event)  # writes first: the savepoint must undo it, and its changes too
        if event.message.content == "boom":
            msg = "cannot store this one"
            raise RuntimeError(msg)

    monkeypatch.setattr(engine_module.Engine, "_on_message_create", fail_on_boom)
    backend = persist.SQLiteBackend(db_path, batch_size=1000, flush_interval=60)
    async with running(backend) as (bot, cache, world):
        log = ChangeLog(bot, cache, persist.PersistEvent)
        stage = Stage(bot)
        stranger = stage.new_user("stranger")  # only the failing message shows this user
        boom = world.message_create("boom")
        boom[2]["author"] = stranger
        boom[2]["member"] = {k: v for k, v in stage.member(stranger).items() if k not in ("user", "guild_id")}
        before, after = world.message_create("before"), world.message_create("after")
        await world.feed([before, boom, after], yield_every=0)
        await cache.flush()
        await log.wait_for(persist.MessageInsertEvent, int(after[2]["id"]))
        await log.wait_for(persist.MessageInsertEvent, int(before[2]["id"]))

        keys = [s.key for s in log.seen]
        assert int(before[2]["id"]) in keys
        assert int(boom[2]["id"]) not in keys
        assert int(stranger["id"]) not in keys
        assert (int(world.guild_id), int(stranger["id"])) not in keys
        assert keys.index(int(before[2]["id"])) < keys.index(int(after[2]["id"]))


async def test_clear_reports_removes(db_path: pathlib.Path) -> None:
    async with running(persist.SQLiteBackend(db_path)) as (bot, cache, world):
        log = ChangeLog(bot, cache, persist.RoleRemoveEvent)
        role_ids = {int(r["id"]) for r in Stage(bot).create["roles"]}
        await cache.clear(roles=True)
        await log.wait_until(lambda: role_ids <= {s.key for s in log.seen})
        assert all(s.stored is None for s in log.seen)
        ours = [typing.cast("persist.RoleRemoveEvent", s.event) for s in log.seen if s.key in role_ids]
        assert {e.guild_id for e in ours} == {int(world.guild_id)}


async def test_changes_come_before_the_confirmation_of_their_event(db_path: pathlib.Path) -> None:
    async with running(persist.SQLiteBackend(db_path)) as (bot, cache, world):
        order: list[str] = []
        done = asyncio.Event()

        async def on_insert(event: persist.MessageInsertEvent) -> None:
            order.append(f"insert {event.message.content}")

        async def on_confirmed(event: persist.Confirmed[hikari.GuildMessageCreateEvent]) -> None:
            order.append(f"confirmed {event.message.content}")
            if event.message.content == "two":
                done.set()

        bot.event_manager.subscribe(persist.MessageInsertEvent, on_insert)
        bot.event_manager.subscribe(persist.Confirmed[hikari.GuildMessageCreateEvent], on_confirmed)
        await world.feed([world.message_create("one"), world.message_create("two")], yield_every=0)
        await cache.flush()
        await asyncio.wait_for(done.wait(), 30)
        assert order == ["insert one", "confirmed one", "insert two", "confirmed two"]


# -- cost ------------------------------------------------------------------------------------------------------


async def test_nothing_is_collected_while_nobody_listens(db_path: pathlib.Path) -> None:
    backend = TrackingBackend(db_path, flush_interval=0)
    async with running(backend) as (bot, cache, world):
        # A catch-all listener of every hikari event does not ask for change reports.
        async def everything(event: hikari.Event) -> None:
            pass

        bot.event_manager.subscribe(hikari.Event, everything)
        await world.feed([world.message_create("quiet")])
        await cache.flush()
        assert {name for name, _ in backend.calls} == {"write"}
        assert await backend.triggers() == set()
        assert all(not result.changes for result in backend.results)

        # One listener of member inserts: only members are tracked, and only inserts are reported.
        log = ChangeLog(bot, cache, persist.MemberInsertEvent)
        backend.calls.clear()
        user = Stage(bot).new_user("watched")
        await world.feed([("GUILD_MEMBER_ADD", 0, Stage(bot).member(user)), world.message_create("loud")])
        await cache.flush()
        await log.wait_for(persist.MemberInsertEvent, (int(world.guild_id), int(user["id"])))
        assert [(name, dict(request.wanted) if request else None) for name, request in backend.calls] == [
            ("write_with_changes", {"members": frozenset({"insert"})})
        ]
        assert await backend.triggers() == {
            "persist_track_members_insert",
            "persist_track_members_update",
            "persist_track_members_delete",
        }

        # Gone again: the triggers go with the last listener.
        log.close()
        backend.calls.clear()
        await world.feed([world.message_create("quiet again")])
        await cache.flush()
        assert [name for name, _ in backend.calls] == ["write"]
        assert await backend.triggers() == set()

        # Waiting for a change event (bot.wait_for) counts as listening.
        waiter = asyncio.ensure_future(bot.event_manager.wait_for(persist.MessageRemoveEvent, timeout=30))
        # The waiter task registers itself on its first step (a yield, not a delay).
        waiters = typing.cast("dict[type[hikari.Event], object]", getattr(bot.event_manager, "_waiters"))  # noqa: B009
        while persist.MessageRemoveEvent not in waiters and not waiter.done():  # noqa: ASYNC110
            await asyncio.sleep(0)
        backend.calls.clear()
        message = world.message_create("to delete")
        await world.feed([message, Stage(bot).message_delete(message[2]["id"])])
        await cache.flush()
        removed = await waiter
        assert removed.message_id == int(message[2]["id"])
        assert backend.calls[-1][0] == "write_with_changes"
        assert not isinstance(removed, ops.InternalOp)
