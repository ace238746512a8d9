"""Bad input: payloads hikari cannot parse, unknown types and enum values, updates of entities never seen,
huge and hostile strings, and events the store cannot apply.

Whatever happens, the stream goes on, nothing already stored is lost and the persistent cache ends
equal to hikari's own cache after the same stream. Everything runs through a real `hikari.GatewayBot`
fed raw payloads offline and a real SQLite file.
"""

from __future__ import annotations

import logging
import sqlite3
import typing

import hikari
import pytest

import hikaripersist as persist
from hikaripersist._internal import engine as engine_module
from hikaripersist._internal import gateway_session as gs
from hikaripersist._internal import offline
from tests.conftest import make_bot
from tests.reference import compare_with_hikari
from tests.small_session import BASE, DISCORD_EPOCH_MS, LATER_MS, Payload, Record

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Sequence

SQL_NAME: typing.Final = "'); DROP TABLE x;--"


# -- helpers ----------------------------------------------------------------------------------------


class Stream:
    """Builders of raw payloads about the first guild of ``BASE`` (which is still there at its end)."""

    def __init__(self) -> None:
        create = next(p for name, _, p in BASE if name == "GUILD_CREATE" and not p.get("unavailable"))
        self.guild_id: str = create["id"]
        self.guild_create: Payload = create
        self.channel_id: str = next(c["id"] for c in create["channels"] if c["type"] == 0)
        self.members: list[Payload] = [m for m in create["members"] if m["user"]["id"] != str(gs.BOT_USER_ID)]
        self._sequence = 0

    def snowflake(self) -> str:
        self._sequence += 1
        return str(((LATER_MS - DISCORD_EPOCH_MS) << 22) + self._sequence)

    def user(self, name: str) -> Payload:
        return {"id": self.snowflake(), "username": name, "global_name": None, "discriminator": "0", "avatar": None}

    def message(self, content: str, *, author: int = 0, message_id: str | None = None, **extra: typing.Any) -> Payload:
        member = self.members[author % len(self.members)]
        payload: Payload = {
            "type": 0,
            "tts": False,
            "timestamp": "2025-10-09T08:53:20.000000+00:00",
            "pinned": False,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "id": message_id or self.snowflake(),
            "flags": 0,
            "embeds": [],
            "edited_timestamp": None,
            "content": content,
            "components": [],
            "channel_id": self.channel_id,
            "author": member["user"],
            "attachments": [],
            "guild_id": self.guild_id,
            "member": {k: v for k, v in member.items() if k != "user"},
        }
        payload.update(extra)
        return payload

    def member_payload(self, user: Payload, nick: str | None = None) -> Payload:
        return {
            "guild_id": self.guild_id,
            "user": user,
            "roles": [],
            "nick": nick,
            "avatar": None,
            "banner": None,
            "joined_at": "2025-10-09T08:00:00.000000+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }

    def channel(self, name: str, *, channel_type: int = 0, channel_id: str | None = None) -> Payload:
        return {
            "id": channel_id or self.snowflake(),
            "type": channel_type,
            "guild_id": self.guild_id,
            "name": name,
            "position": 40,
            "flags": 0,
            "permission_overwrites": [],
            "parent_id": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "topic": None,
            "last_message_id": None,
        }

    def role(self, name: str) -> Payload:
        return {
            "id": self.snowflake(),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 3,
            "permissions": "0",
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def presence(self, member_index: int, activities: list[Payload]) -> Payload:
        return {
            "user": {"id": self.members[member_index]["user"]["id"]},
            "guild_id": self.guild_id,
            "status": "online",
            "activities": activities,
            "client_status": {"desktop": "online"},
        }


class Replay(typing.NamedTuple):
    bot: hikari.GatewayBot
    cache: persist.Cache
    stats: offline.ReplayStats


async def replay_stream(path: pathlib.Path, extra: Sequence[Record], *, bot: hikari.GatewayBot | None = None) -> Replay:
    """Replay ``BASE`` then ``extra`` as one stream into a started bot with a cache on ``path``; flush."""
    bot = bot or make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    await offline.start_offline(bot)
    stats = await offline.replay(bot, [*BASE, *extra])
    await cache.flush()
    return Replay(bot, cache, stats)


async def assert_writer_alive(run: Replay, stream: Stream) -> None:
    """A message sent after the bad input is stored: the writer survived."""
    last = stream.message("still alive")
    await offline.replay(run.bot, [("MESSAGE_CREATE", 0, last)])
    await run.cache.flush()
    assert run.cache.is_open
    stored = await run.cache.messages.get(id=int(last["id"]))
    assert stored is not None
    assert stored.content == "still alive"


def persist_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("hikaripersist.") and r.levelno >= logging.ERROR]


@pytest.fixture
async def stopper() -> AsyncIterator[list[hikari.GatewayBot]]:
    """Bots started by a test, stopped (closing their caches) at its end."""
    bots: list[hikari.GatewayBot] = []
    yield bots
    for bot in bots:
        await offline.stop_offline(bot)


# -- payloads hikari cannot parse -----------------------------------------------------------------------


async def test_unparseable_payload_mid_stream_does_not_stop_the_stream(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, stopper: list[hikari.GatewayBot]
) -> None:
    s = Stream()
    before = [("MESSAGE_CREATE", 0, s.message(f"before {i}", author=i)) for i in range(5)]
    broken = {k: v for k, v in s.member_payload(s.user("ghost")).items() if k != "user"}
    newcomer = s.user("newcomer")
    after: list[Record] = [
        ("GUILD_MEMBER_ADD", 0, s.member_payload(newcomer, "hi")),
        *[("MESSAGE_CREATE", 0, s.message(f"after {i}", author=i)) for i in range(5)],
        ("GUILD_MEMBER_UPDATE", 0, s.member_payload(s.members[1]["user"], "renamed")),
    ]
    caplog.set_level(logging.WARNING)
    run = await replay_stream(db_path, [*before, ("GUILD_MEMBER_ADD", 0, broken), *after])
    stopper.append(run.bot)

    assert run.stats.errors == {"GUILD_MEMBER_ADD": 1}
    logged = [r for r in caplog.records if "GUILD_MEMBER_ADD" in r.getMessage()]
    assert len(logged) == 1
    assert not persist_errors(caplog)

    newcomer_member = await run.cache.members.get(guild_id=int(s.guild_id), member_id=int(newcomer["id"]))
    assert newcomer_member is not None
    assert newcomer_member.nickname == "hi"
    for _, _, payload in [*before, *after[1:-1]]:
        assert await run.cache.messages.get(id=int(payload["id"])) is not None
    await compare_with_hikari(run.cache, run.bot)
    await assert_writer_alive(run, s)


# -- unknown types and enum values ----------------------------------------------------------------------


async def test_unknown_types_and_enum_values_are_cached_like_hikari(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, stopper: list[hikari.GatewayBot]
) -> None:
    s = Stream()
    odd_message = s.message("from the future", type=999, flags=1 << 40)
    existing_channel_id = s.channel_id
    extra: list[Record] = [
        ("CHANNEL_CREATE", 0, s.channel("mystery-channel", channel_type=99)),
        # An unknown type for a channel hikari has: hikari discards the update and keeps the old channel.
        ("CHANNEL_UPDATE", 0, s.channel("renamed-mystery", channel_type=99, channel_id=existing_channel_id)),
        ("MESSAGE_CREATE", 0, odd_message),
        (
            "PRESENCE_UPDATE",
            0,
            s.presence(
                2,
                [
                    {"type": 7, "name": "Hang Status", "state": "chilling", "created_at": 1760000000000},
                    {"type": 0, "name": "Factorio", "created_at": 1760000000000, "flags": 1 << 30},
                ],
            ),
        ),
        ("GUILD_MEMBER_UPDATE", 0, {**s.member_payload(s.members[3]["user"], "flags"), "flags": 1 << 20 | 2}),
    ]
    caplog.set_level(logging.WARNING)
    run = await replay_stream(db_path, extra)
    stopper.append(run.bot)
    assert not run.stats.errors
    assert not persist_errors(caplog)

    # hikari keeps unknown enum values as plain ints; so must we.
    theirs = run.bot.cache.get_message(int(odd_message["id"]))
    assert theirs is not None
    assert theirs.type == 999
    ours = await run.cache.messages.get(id=int(odd_message["id"]))
    assert ours is not None
    assert ours.type == 999
    assert int(ours.flags) == 1 << 40
    presence = await run.cache.presences.get(guild_id=int(s.guild_id), user_id=int(s.members[2]["user"]["id"]))
    assert presence is not None
    assert [a.type for a in presence.activities] == [7, hikari.ActivityType.PLAYING]
    channel = await run.cache.channels.get(id=int(existing_channel_id))
    assert channel is not None
    assert channel.name != "renamed-mystery"
    assert await run.cache.channels.count(name="mystery-channel") == 0

    await compare_with_hikari(run.cache, run.bot)
    await assert_writer_alive(run, s)


async def test_invite_with_embedded_guild_and_channel_is_cached_like_hikari(
    db_path: pathlib.Path, stopper: list[hikari.GatewayBot]
) -> None:
    s = Stream()
    inviter = s.members[0]["user"]
    invite: Payload = {
        "type": 0,
        "code": "hostile'code",
        "guild_id": s.guild_id,
        "channel_id": s.channel_id,
        "guild": {
            "id": s.guild_id,
            "name": "Embedded",
            "splash": None,
            "banner": None,
            "description": None,
            "icon": None,
            "features": [],
            "verification_level": 0,
            "vanity_url_code": None,
            "nsfw_level": 0,
            "premium_subscription_count": 0,
        },
        "channel": {"id": s.channel_id, "name": "embedded-channel", "type": 0},
        "inviter": inviter,
        "uses": 0,
        "max_uses": 0,
        "max_age": 0,
        "temporary": False,
        "created_at": "2025-10-09T08:00:00.000000+00:00",
    }
    run = await replay_stream(db_path, [("INVITE_CREATE", 0, invite)])
    stopper.append(run.bot)
    assert not run.stats.errors
    theirs = run.bot.cache.get_invite("hostile'code")
    assert theirs is not None
    ours = await run.cache.invites.get(code="hostile'code")
    assert ours is not None
    assert (ours.guild, ours.channel) == (theirs.guild, theirs.channel)
    await compare_with_hikari(run.cache, run.bot)


# -- updates of entities never seen ---------------------------------------------------------------------


async def test_updates_and_deletes_of_unknown_entities(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, stopper: list[hikari.GatewayBot]
) -> None:
    s = Stream()
    stranger = s.user("stranger")
    unknown_message = s.snowflake()
    guild_update = {
        k: v
        for k, v in s.guild_create.items()
        if k not in ("members", "channels", "threads", "presences", "voice_states", "joined_at", "large")
    }
    extra: list[Record] = [
        ("GUILD_MEMBER_UPDATE", 0, s.member_payload(stranger, "never added")),
        ("MESSAGE_UPDATE", 0, s.message("edited, never created", message_id=unknown_message)),
        (
            "MESSAGE_UPDATE",
            0,
            {"id": s.snowflake(), "channel_id": s.channel_id, "guild_id": s.guild_id, "content": "x"},
        ),
        ("CHANNEL_DELETE", 0, s.channel("ghost-channel")),
        ("GUILD_ROLE_DELETE", 0, {"guild_id": s.guild_id, "role_id": s.snowflake()}),
        (
            "THREAD_DELETE",
            0,
            {"id": s.snowflake(), "guild_id": s.guild_id, "parent_id": s.channel_id, "type": 11},
        ),
        ("MESSAGE_DELETE", 0, {"id": s.snowflake(), "channel_id": s.channel_id, "guild_id": s.guild_id}),
        (
            "MESSAGE_DELETE_BULK",
            0,
            {"ids": [s.snowflake(), s.snowflake()], "channel_id": s.channel_id, "guild_id": s.guild_id},
        ),
        (
            "VOICE_STATE_UPDATE",
            0,
            {
                "user_id": s.snowflake(),
                "channel_id": None,
                "guild_id": s.guild_id,
                "session_id": "0" * 32,
                "deaf": False,
                "mute": False,
                "self_deaf": False,
                "self_mute": False,
                "self_video": False,
                "suppress": False,
                "request_to_speak_timestamp": None,
            },
        ),
        (
            "VOICE_STATE_UPDATE",
            0,
            {
                "user_id": stranger["id"],
                "channel_id": None,
                "guild_id": s.guild_id,
                "session_id": "1" * 32,
                "deaf": False,
                "mute": False,
                "self_deaf": False,
                "self_mute": False,
                "self_video": False,
                "suppress": False,
                "request_to_speak_timestamp": None,
                "member": {k: v for k, v in s.member_payload(stranger, "in voice").items() if k != "guild_id"},
            },
        ),
        ("GUILD_MEMBER_REMOVE", 0, {"guild_id": s.guild_id, "user": s.user("never joined")}),
        ("INVITE_DELETE", 0, {"guild_id": s.guild_id, "channel_id": s.channel_id, "code": "nope"}),
        (
            "THREAD_MEMBERS_UPDATE",
            0,
            {
                "id": s.snowflake(),
                "guild_id": s.guild_id,
                "member_count": 0,
                "removed_member_ids": [str(gs.BOT_USER_ID)],
            },
        ),
        ("GUILD_UPDATE", 0, {**guild_update, "id": s.snowflake(), "name": "never created"}),
    ]
    caplog.set_level(logging.WARNING)
    run = await replay_stream(db_path, extra)
    stopper.append(run.bot)
    assert not run.stats.errors
    assert not persist_errors(caplog)

    # hikari caches a member it first sees in an update (and keeps it when its unknown voice state ends).
    member = await run.cache.members.get(guild_id=int(s.guild_id), member_id=int(stranger["id"]))
    theirs = run.bot.cache.get_member(int(s.guild_id), int(stranger["id"]))
    assert theirs is not None
    assert member is not None
    assert member.nickname == theirs.nickname
    assert await run.cache.messages.get(id=int(unknown_message)) is None
    await compare_with_hikari(run.cache, run.bot)
    await assert_writer_alive(run, s)


# -- huge and hostile strings ------------------------------------------------------------------------------


HOSTILE: typing.Final = (
    "'); DROP TABLE members;--",
    "quotes \"double\" 'single' `back` \\ %_ ?1 :name $1",
    "NUL\x00inside",
    "\u202eRTL override \u200b zero\u200dwidth \ufeff",
    "👨\u200d👩\u200d👧\u200d👦 Z̵̢a̸͎l̴̰g̷̱o̶͉ 𝔉𝔞𝔫𝔠𝔶",  # noqa: RUF001 - look-alike letters on purpose
)


async def test_huge_and_hostile_strings_round_trip(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, stopper: list[hikari.GatewayBot]
) -> None:
    s = Stream()
    huge_content = ("é'\"\\ ✓ 🦊 " * 120_000)[:1_000_000] + "\x00end"
    huge_nick = "n'" * 50_000
    huge_message = s.message(huge_content, author=4)
    hostile_messages = [s.message(text, author=i) for i, text in enumerate(HOSTILE)]
    sql_channel = s.channel(SQL_NAME)
    hostile_channels = [s.channel(text) for text in HOSTILE]
    hostile_roles = [s.role(text) for text in HOSTILE]
    nick_user = s.members[6]["user"]
    extra: list[Record] = [
        ("MESSAGE_CREATE", 0, huge_message),
        ("GUILD_MEMBER_UPDATE", 0, s.member_payload(nick_user, huge_nick)),
        ("CHANNEL_CREATE", 0, sql_channel),
        *[("CHANNEL_CREATE", 0, c) for c in hostile_channels],
        *[("GUILD_ROLE_CREATE", 0, {"guild_id": s.guild_id, "role": r}) for r in hostile_roles],
        *[("MESSAGE_CREATE", 0, m) for m in hostile_messages],
        *[("GUILD_MEMBER_UPDATE", 0, s.member_payload(s.members[10 + i]["user"], t)) for i, t in enumerate(HOSTILE)],
    ]
    caplog.set_level(logging.WARNING)
    run = await replay_stream(db_path, extra)
    stopper.append(run.bot)
    assert not run.stats.errors
    assert not persist_errors(caplog)
    db = sqlite3.connect(db_path)
    tables_before = db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    db.close()

    message = await run.cache.messages.get(id=int(huge_message["id"]))
    assert message is not None
    assert message.content == huge_content
    member = await run.cache.members.get(guild_id=int(s.guild_id), member_id=int(nick_user["id"]))
    assert member is not None
    assert member.nickname == huge_nick
    for payload in hostile_messages:
        stored = await run.cache.messages.get(id=int(payload["id"]))
        assert stored is not None
        assert stored.content == payload["content"]
    for i, text in enumerate(HOSTILE):
        found = await run.cache.members.where(guild_id=int(s.guild_id), nickname=text).collect()
        assert [int(m.user.id) for m in found] == [int(s.members[10 + i]["user"]["id"])]
        assert [int(c.id) for c in await run.cache.channels.where(name=text).collect()] == [
            int(hostile_channels[i]["id"])
        ]
        assert [int(r.id) for r in await run.cache.roles.where(name=text).collect()] == [int(hostile_roles[i]["id"])]

    # A filter value is only ever a value: no SQL, no LIKE wildcards.
    found = await run.cache.channels.where(name=SQL_NAME).collect()
    assert [int(c.id) for c in found] == [int(sql_channel["id"])]
    assert found[0].name == SQL_NAME
    assert await run.cache.channels.count(name=SQL_NAME) == 1
    assert await run.cache.channels.where(name="%").collect() == []
    assert await run.cache.channels.count(name="'") == 0

    await compare_with_hikari(run.cache, run.bot)
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == tables_before
        assert {"members", "channels", "messages"} <= {name for name, _ in tables_before}
        assert db.execute("SELECT name FROM channels WHERE id = ?", (int(sql_channel["id"]),)).fetchone() == (SQL_NAME,)
    finally:
        db.close()
    await assert_writer_alive(run, s)


# -- events the store cannot apply ---------------------------------------------------------------------------


def always_fail(name: str) -> typing.Callable[[engine_module.Engine, typing.Any], None]:
    def handler(self: engine_module.Engine, event: typing.Any) -> None:
        msg = f"{name} cannot be stored"
        raise RuntimeError(msg)

    return handler


async def test_failing_event_type_is_logged_once_per_type(
    db_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stopper: list[hikari.GatewayBot],
) -> None:
    monkeypatch.setattr(engine_module.Engine, "_on_member_set", always_fail("member"))
    monkeypatch.setattr(engine_module.Engine, "_on_role_set", always_fail("role"))
    s = Stream()
    messages = [s.message(f"kept {i}", author=i) for i in range(10)]
    extra: list[Record] = []
    for i in range(10):
        extra.append(("GUILD_MEMBER_UPDATE", 0, s.member_payload(s.members[i]["user"], f"lost {i}")))
        extra.append(("GUILD_ROLE_CREATE", 0, {"guild_id": s.guild_id, "role": s.role(f"lost role {i}")}))
        extra.append(("MESSAGE_CREATE", 0, messages[i]))
    caplog.set_level(logging.ERROR, logger="hikaripersist.sqlite")
    run = await replay_stream(db_path, extra)
    stopper.append(run.bot)

    # BASE already holds member and role events of several types: each failing type is logged once.
    failed_types = [r.getMessage().split()[3].rstrip(";") for r in caplog.records if r.name == "hikaripersist.sqlite"]
    assert {"MemberUpdateEvent", "RoleCreateEvent"} <= set(failed_types)
    assert sorted(failed_types) == sorted(set(failed_types))
    assert set(failed_types) <= {"MemberCreateEvent", "MemberUpdateEvent", "RoleCreateEvent", "RoleUpdateEvent"}
    for payload in messages:
        assert await run.cache.messages.get(id=int(payload["id"])) is not None
    assert await run.cache.roles.count(name="lost role 0") == 0
    await assert_writer_alive(run, s)


async def test_each_cache_logs_its_own_first_failure(
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stopper: list[hikari.GatewayBot],
) -> None:
    monkeypatch.setattr(engine_module.Engine, "_on_role_set", always_fail("role"))
    s = Stream()
    caplog.set_level(logging.ERROR, logger="hikaripersist.sqlite")
    for name in ("first", "second"):
        caplog.clear()
        run = await replay_stream(
            tmp_path / f"{name}.db", [("GUILD_ROLE_CREATE", 0, {"guild_id": s.guild_id, "role": s.role(name)})]
        )
        stopper.append(run.bot)
        assert await run.cache.roles.count(name=name) == 0
        failures = [r.getMessage() for r in caplog.records if r.name == "hikaripersist.sqlite"]
        assert any("RoleCreateEvent" in message for message in failures), name


# -- truncated payloads ----------------------------------------------------------------------------------


def cut(payload: Payload, keys: int) -> Payload:
    """``payload`` as a JSON object cut short after its first ``keys`` fields."""
    return dict(list(payload.items())[:keys])


def without(payload: Payload, *names: str) -> Payload:
    return {k: v for k, v in payload.items() if k not in names}


async def test_truncated_payloads_are_skipped_and_stored_data_stays_intact(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, stopper: list[hikari.GatewayBot]
) -> None:
    s = Stream()
    before = [s.message(f"before {i}", author=i) for i in range(5)]
    run = await replay_stream(db_path, [("MESSAGE_CREATE", 0, m) for m in before])
    stopper.append(run.bot)
    db = sqlite3.connect(db_path)
    try:
        stored_before = db.execute("SELECT id, data FROM messages ORDER BY id").fetchall()
        members_before = db.execute("SELECT guild_id, user_id, data FROM member_records ORDER BY 1, 2").fetchall()
    finally:
        db.close()

    member = s.members[2]
    role = s.role("whole role")
    existing_role: Payload = {"guild_id": s.guild_id, "role": {**role, "id": s.snowflake()}}
    truncated: list[Record] = [
        # Whole payloads cut short, at several places (Discord's field order: `id` comes late).
        *[("MESSAGE_CREATE", 0, cut(s.message("cut"), keys)) for keys in (0, 1, 5, 9, 13, 17)],
        ("CHANNEL_CREATE", 0, cut(s.channel("cut-channel"), 3)),
        ("CHANNEL_CREATE", 0, without(s.channel("no-id"), "id")),
        ("GUILD_CREATE", 0, {"id": s.snowflake(), "name": "cut guild"}),
        ("GUILD_ROLE_CREATE", 0, {"guild_id": s.guild_id, "role": cut(s.role("cut role"), 4)}),
        ("GUILD_ROLE_CREATE", 0, existing_role),
        ("GUILD_ROLE_UPDATE", 0, {"guild_id": s.guild_id, "role": without(existing_role["role"], "permissions")}),
        # Required fields missing from otherwise whole payloads, about entities already stored.
        ("GUILD_MEMBER_ADD", 0, {**s.member_payload(s.user("x")), "user": without(s.user("no id"), "id")}),
        ("GUILD_MEMBER_UPDATE", 0, without(s.member_payload(member["user"], "lost"), "joined_at", "roles")),
        ("GUILD_MEMBER_UPDATE", 0, {"guild_id": s.guild_id, "user": cut(member["user"], 1)}),
        ("MESSAGE_UPDATE", 0, without(before[0], "id")),
        ("MESSAGE_DELETE", 0, {"channel_id": s.channel_id, "guild_id": s.guild_id}),
        ("MESSAGE_DELETE_BULK", 0, {"channel_id": s.channel_id, "guild_id": s.guild_id}),
        ("PRESENCE_UPDATE", 0, {**s.presence(1, []), "user": {}}),
        ("VOICE_STATE_UPDATE", 0, {"guild_id": s.guild_id, "channel_id": s.channel_id, "session_id": "0" * 32}),
        ("GUILD_MEMBER_REMOVE", 0, {"guild_id": s.guild_id}),
        ("GUILD_DELETE", 0, {}),
    ]
    after = [s.message(f"after {i}", author=i) for i in range(5)]
    caplog.set_level(logging.WARNING)
    stats = await offline.replay(run.bot, [*truncated, *[("MESSAGE_CREATE", 0, m) for m in after]])
    await run.cache.flush()

    # hikari could not parse the others (each is reported, none reached the store), and the store
    # logged no failure: what hikari did parse was applied like hikari applied it.
    # Only the message cut before its last field (`member`) and the whole role parse.
    assert stats.error_count == len(truncated) - 2, stats.errors
    assert not persist_errors(caplog)
    assert run.cache.is_open
    for payload in after:
        stored = await run.cache.messages.get(id=int(payload["id"]))
        assert stored is not None
        assert stored.content == payload["content"]
    assert await run.cache.roles.count(name="cut role") == 0
    assert await run.cache.channels.count(name="cut-channel") == 0
    kept = await run.cache.members.get(guild_id=int(s.guild_id), member_id=int(member["user"]["id"]))
    assert kept is not None
    assert kept.nickname != "lost"
    db = sqlite3.connect(db_path)
    try:
        ids = tuple(int(m["id"]) for m in before)
        marks = ", ".join("?" * len(ids))
        assert db.execute(f"SELECT id, data FROM messages WHERE id IN ({marks}) ORDER BY id", ids).fetchall() == [
            row for row in stored_before if row[0] in ids
        ]
        assert db.execute("SELECT guild_id, user_id, data FROM member_records ORDER BY 1, 2").fetchall() == (
            members_before
        )
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
    await compare_with_hikari(run.cache, run.bot)
    await assert_writer_alive(run, s)


# -- hostile query values --------------------------------------------------------------------------------

Outcome: typing.TypeAlias = "type[Exception] | list[typing.Any] | int | bool | None"
# The cache is typed Any: the calls pass values of the wrong type on purpose.
QueryCall: typing.TypeAlias = "typing.Callable[[typing.Any], typing.Awaitable[typing.Any]]"

INJECTION: typing.Final = ("1 OR 1=1", "x' OR '1'='1", "'); DELETE FROM messages;--", "$.id", "%", "_", "*")


def hostile_queries(guild_id: int) -> dict[str, tuple[QueryCall, Outcome]]:
    """Calls with hostile values and what each must give: an empty answer or a clear TypeError/ValueError."""
    nan, inf = float("nan"), float("inf")
    cases: dict[str, tuple[QueryCall, Outcome]] = {}
    for i, text in enumerate(INJECTION):
        cases[f"injection name {i}"] = (lambda c, t=text: c.channels.where(name=t).collect(), [])
        cases[f"injection count {i}"] = (lambda c, t=text: c.members.count(guild_id=guild_id, nickname=t), 0)
        cases[f"injection json {i}"] = (lambda c, t=text: c.channels.where(topic=t).collect(), [])
        cases[f"injection contains {i}"] = (lambda c, t=text: c.roles.where(name=persist.contains(t)).collect(), [])
        cases[f"injection invite {i}"] = (lambda c, t=text: c.invites.get(code=t), None)
        cases[f"injection id {i}"] = (lambda c, t=text: c.messages.get(id=t), ValueError)
    cases.update(
        {
            # Field names and sort keys are never SQL.
            "field injection": (lambda c: c.channels.where(**{"name = name OR 1": 1}).collect(), TypeError),
            "json path injection": (lambda c: c.channels.where(**{"topic') OR 1 --": "x"}).collect(), TypeError),
            "order injection": (lambda c: c.channels.where(order_by="name; DROP TABLE channels").collect(), TypeError),
            # Beyond 64 bits, through the operators.
            "after 2**64": (lambda c: c.channels.where(id=persist.after(2**64)).collect(), ValueError),
            "between ±2**80": (
                lambda c: c.channels.where(position=persist.between(-(2**80), 2**80)).collect(),
                ValueError,
            ),
            "one_of with 2**64": (lambda c: c.roles.where(id=persist.one_of(1, 2**64)).collect(), ValueError),
            "not_equal below int64": (
                lambda c: c.channels.count(id=persist.not_equal(-(2**63) - 1)),
                ValueError,
            ),
            "json at_least 2**70": (
                lambda c: c.channels.where(rate_limit_per_user=persist.at_least(2**70)).collect(),
                ValueError,
            ),
            # Negative, NaN and infinite numbers.
            "negative id": (lambda c: c.messages.get(id=-1), None),
            "negative ids": (lambda c: c.channels.where(id=persist.at_most(-1)).collect(), []),
            "nan id": (lambda c: c.messages.get(id=nan), ValueError),
            "nan position": (lambda c: c.channels.where(position=nan).collect(), TypeError),
            "nan json": (lambda c: c.channels.where(rate_limit_per_user=nan).collect(), []),
            "inf json": (lambda c: c.channels.where(rate_limit_per_user=inf).collect(), []),
            "json above -inf and below nan": (
                lambda c: c.channels.where(rate_limit_per_user=persist.between(inf, -inf)).collect(),
                [],
            ),
            # Wrong types.
            "float id": (lambda c: c.channels.where(id=1.5).collect(), TypeError),
            "bool id": (lambda c: c.channels.where(id=True).collect(), TypeError),
            "int name": (lambda c: c.channels.where(name=3).collect(), TypeError),
            "bytes json": (lambda c: c.channels.where(topic=b"x").collect(), TypeError),
            "list json": (lambda c: c.channels.where(topic=["x"]).collect(), TypeError),
            "startswith int": (lambda c: c.channels.where(name=persist.startswith(3)).collect(), TypeError),  # type: ignore[arg-type]
            "filter in filter": (lambda c: c.channels.where(id=persist.after(persist.is_null())).collect(), TypeError),
            "compare with None": (lambda c: c.channels.where(id=persist.after(None)).collect(), ValueError),
            "negative limit": (lambda c: c.channels.where(limit=-1).collect(), ValueError),
            "unknown field": (lambda c: c.members.count(password="x"), TypeError),
            # Unicode that no stored text holds, and NUL.
            "nul name": (lambda c: c.channels.where(name="a\x00b").collect(), []),
            "nul contains": (lambda c: c.roles.where(name=persist.contains("\x00")).collect(), []),
            "lone surrogate contains": (lambda c: c.roles.where(name=persist.contains("\udfff")).collect(), ValueError),
            "lone surrogate prefix": (lambda c: c.roles.where(name=persist.startswith("\ud800")).collect(), ValueError),
            "lone surrogate one_of": (lambda c: c.roles.where(name=persist.one_of("\ud800")).collect(), ValueError),
            "lone surrogate equal": (lambda c: c.channels.where(name="\ud800").collect(), ValueError),
            "huge text": (lambda c: c.channels.where(name="'" * 2_000_000).collect(), []),
        }
    )
    return cases


async def outcome(call: QueryCall, cache: persist.Cache) -> Outcome:
    """What ``call`` gave: its result, or the type of the clear error it raised (anything else propagates)."""
    try:
        return await call(cache)
    except (TypeError, ValueError) as exc:
        return TypeError if isinstance(exc, TypeError) else ValueError


async def test_hostile_query_values_give_a_clear_error_or_nothing(
    db_path: pathlib.Path, stopper: list[hikari.GatewayBot]
) -> None:
    s = Stream()
    run = await replay_stream(db_path, [("CHANNEL_CREATE", 0, s.channel(SQL_NAME))])
    stopper.append(run.bot)
    db = sqlite3.connect(db_path)
    try:
        schema_before = db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows_before = {
            name: db.execute(f"SELECT COUNT(*), SUM(length(data)) FROM {name}").fetchone()
            for name in tables
            if name != "meta" and "data" in [c[1] for c in db.execute(f"PRAGMA table_info({name})")]
        }
    finally:
        db.close()

    wrong: dict[str, tuple[Outcome, Outcome]] = {}
    for label, (call, expected) in hostile_queries(int(s.guild_id)).items():
        got = await outcome(call, run.cache)
        if got != expected:
            wrong[label] = (got, expected)
    assert not wrong, wrong

    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == schema_before
        assert {
            name: db.execute(f"SELECT COUNT(*), SUM(length(data)) FROM {name}").fetchone() for name in rows_before
        } == rows_before
    finally:
        db.close()
    assert [c.name for c in await run.cache.channels.where(name=SQL_NAME).collect()] == [SQL_NAME]
    await compare_with_hikari(run.cache, run.bot)
    await assert_writer_alive(run, s)


BEYOND_64_BITS: typing.Final[dict[str, QueryCall]] = {
    "get id 2**64": lambda c: c.messages.get(id=2**64),
    "get guild_id -2**70": lambda c: c.members.get(guild_id=-(2**70), member_id=1),
    "where id 2**64": lambda c: c.channels.where(id=2**64).collect(),
    "count json field 2**64": lambda c: c.channels.count(rate_limit_per_user=2**64),
    "limit 2**64": lambda c: c.channels.where(limit=2**64).collect(),
}


@pytest.mark.parametrize("case", list(BEYOND_64_BITS))
async def test_plain_values_beyond_64_bits_give_a_clear_error(
    db_path: pathlib.Path, stopper: list[hikari.GatewayBot], case: str
) -> None:
    run = await replay_stream(db_path, [])
    stopper.append(run.bot)
    with pytest.raises((TypeError, ValueError)):
        await BEYOND_64_BITS[case](run.cache)
