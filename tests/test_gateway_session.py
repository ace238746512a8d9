"""Tests of the recorded-session generator and of offline replay through a real hikari GatewayBot."""

from __future__ import annotations

import asyncio
import collections
import datetime
import typing
from typing import Any

import hikari
import orjson
import pytest

from hikaripersist._internal import gateway_session as gs
from hikaripersist._internal import offline

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

Record = gs.GatewayRecord
Payload = dict[str, Any]

BOT = str(gs.BOT_USER_ID)
DOCS_GUILD = "197038439483310086"
DOCS_TEXT_CHANNEL = "41771983423143937"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Every event name the session must contain.
REQUIRED_EVENTS = frozenset(
    {
        "READY",
        "RESUMED",
        "GUILD_CREATE",
        "GUILD_UPDATE",
        "GUILD_DELETE",
        "GUILD_MEMBERS_CHUNK",
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_UPDATE",
        "GUILD_MEMBER_REMOVE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "GUILD_EMOJIS_UPDATE",
        "GUILD_STICKERS_UPDATE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "THREAD_CREATE",
        "THREAD_UPDATE",
        "THREAD_DELETE",
        "THREAD_LIST_SYNC",
        "THREAD_MEMBERS_UPDATE",
        "PRESENCE_UPDATE",
        "VOICE_STATE_UPDATE",
        "TYPING_START",
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_DELETE_BULK",
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "MESSAGE_REACTION_REMOVE_ALL",
        "MESSAGE_REACTION_REMOVE_EMOJI",
        "INVITE_CREATE",
        "INVITE_DELETE",
        "USER_UPDATE",
    }
)
KNOWN_CHANNEL_TYPES = frozenset({0, 2, 4, 5, 13, 15, 16})
THREAD_TYPES = frozenset({10, 11, 12})


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return list(gs.generate_session())


def named(records: list[Record], name: str) -> list[Payload]:
    return [payload for event, _shard, payload in records if event == name]


def nested_dicts(value: object) -> Iterator[Payload]:
    if isinstance(value, dict):
        mapping = typing.cast("Payload", value)
        yield mapping
        for item in mapping.values():
            yield from nested_dicts(item)
    elif isinstance(value, list):
        for item in typing.cast("list[object]", value):
            yield from nested_dicts(item)


def iso_ms(timestamp: str) -> int:
    return int(datetime.datetime.fromisoformat(timestamp).timestamp() * 1000)


def cache_settings() -> hikari.impl.CacheSettings:
    return hikari.impl.CacheSettings(max_messages=100_000)


def test_same_seed_same_records_and_payloads_never_mutated() -> None:
    def session(seed: int) -> Iterator[Record]:
        return gs.generate_session(seed=seed, guilds=2, members=(400, 60), shard_count=2)

    first: list[Record] = []
    snapshots: list[bytes] = []
    for record in session(11):
        first.append(record)
        snapshots.append(orjson.dumps(record))  # as it was when yielded

    assert [orjson.dumps(record) for record in first] == snapshots
    assert list(session(11)) == first
    assert list(session(12)) != first


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="guilds"):
        gs.generate_session(guilds=0)
    with pytest.raises(ValueError, match="shard_count"):
        gs.generate_session(shard_count=0)
    with pytest.raises(ValueError, match="at least 2 members"):
        gs.generate_session(members=1)


def test_every_event_name_is_present(records: list[Record]) -> None:
    names = {name for name, _shard, _payload in records}
    assert names >= REQUIRED_EVENTS


def test_event_variants_are_present(records: list[Record]) -> None:
    creates = named(records, "GUILD_CREATE")
    assert any(payload.get("unavailable") is False for payload in creates), "GUILD_CREATE of an available guild"
    assert any("unavailable" not in payload for payload in creates), "GUILD_CREATE of a join"
    assert any(payload.get("unavailable") is True for payload in creates), "GUILD_CREATE during an outage"
    assert any(payload.get("large") for payload in creates)
    deletes = named(records, "GUILD_DELETE")
    assert any(payload.get("unavailable") is True for payload in deletes), "outage"
    assert any("unavailable" not in payload for payload in deletes), "leave"
    outage = next(
        payload["id"] for payload in deletes if payload.get("unavailable") and payload["id"] != "41771983423143937"
    )
    assert any(payload["id"] == outage and payload.get("unavailable") is False for payload in creates), "recovery"

    channel_types = {channel["type"] for payload in creates for channel in payload.get("channels", ())}
    assert channel_types >= KNOWN_CHANNEL_TYPES
    forum = next(channel for payload in creates for channel in payload.get("channels", ()) if channel["type"] == 15)
    assert forum["available_tags"]
    assert "default_reaction_emoji" in forum
    thread_types = {thread["type"] for payload in creates for thread in payload.get("threads", ())}
    assert thread_types >= THREAD_TYPES
    assert any("member" in thread for payload in creates for thread in payload.get("threads", ()))
    roles = [role for payload in creates for role in payload.get("roles", ())]
    assert any(role.get("tags", {}).get("bot_id") == BOT for role in roles)
    assert all(
        any(role["id"] == payload["id"] for role in payload["roles"]) for payload in creates if "roles" in payload
    )
    assert all(
        any(member["user"]["id"] == BOT for member in payload["members"]) for payload in creates if "members" in payload
    ), "the bot's own member is in every guild"
    assert any(emoji.get("user") for payload in creates for emoji in payload.get("emojis", ()))
    assert any(sticker.get("user") for payload in creates for sticker in payload.get("stickers", ()))
    assert any(state.get("member") for state in named(records, "VOICE_STATE_UPDATE"))
    assert any(not state.get("member") for state in named(records, "VOICE_STATE_UPDATE"))

    chunks = named(records, "GUILD_MEMBERS_CHUNK")
    assert any(chunk["chunk_count"] > 1 for chunk in chunks)
    assert any(chunk.get("presences") for chunk in chunks)
    assert any(chunk.get("not_found") for chunk in chunks)

    syncs = named(records, "THREAD_LIST_SYNC")
    assert any("channel_ids" in sync for sync in syncs)
    assert any("channel_ids" not in sync for sync in syncs)
    assert any(BOT in update.get("removed_member_ids", ()) for update in named(records, "THREAD_MEMBERS_UPDATE"))
    presences = named(records, "PRESENCE_UPDATE")
    assert any(presence["status"] == "offline" for presence in presences)
    assert any(activity["type"] == 4 and "emoji" in activity for p in presences for activity in p["activities"])
    voice = named(records, "VOICE_STATE_UPDATE")
    assert any(state["channel_id"] is None for state in voice), "leave"

    messages = named(records, "MESSAGE_CREATE")
    assert any("guild_id" not in message for message in messages), "DM"
    assert any("guild_id" in message and "member" in message for message in messages)
    assert any("webhook_id" in message for message in messages)
    assert any(message.get("referenced_message") and message.get("message_reference") for message in messages)
    assert any(message.get("sticker_items") for message in messages)
    assert any(message.get("mention_roles") and message["mention_everyone"] for message in messages)
    assert any(message["mentions"] for message in messages)
    assert any(message.get("reactions") for message in messages)
    assert any(message.get("nonce") for message in messages)
    assert any(message["content"] == "" for message in messages)
    assert any(len(message["content"]) >= 2000 for message in messages)
    assert any(message["attachments"] for message in messages)
    assert any(message["flags"] & 32768 for message in messages), "components v2"
    assert any(message.get("components") and message["components"][0]["type"] == 1 for message in messages)
    embed_parts = {"footer", "image", "thumbnail", "video", "provider", "author", "fields"}
    assert any(embed_parts <= embed.keys() for message in messages for embed in message["embeds"])
    assert any(any(ord(char) > 0xFFFF for char in message["content"]) for message in messages), "astral emoji"

    updates = named(records, "MESSAGE_UPDATE")
    assert any("author" in update for update in updates), "full update"
    assert any("author" not in update and "content" in update for update in updates), "partial content edit"
    assert any(set(update) <= {"id", "channel_id", "guild_id", "embeds", "pinned", "flags"} for update in updates)


def test_varied_edge_cases_are_present(records: list[Record]) -> None:
    assert any(channel["type"] == 99 for channel in named(records, "CHANNEL_CREATE"))
    assert any(message["type"] == 999 for message in named(records, "MESSAGE_CREATE"))
    assert any(
        activity["type"] not in (0, 1, 2, 3, 4, 5)
        for presence in named(records, "PRESENCE_UPDATE")
        for activity in presence["activities"]
    )
    assert any("'); DROP TABLE" in message["content"] for message in named(records, "MESSAGE_CREATE"))
    unparseable = [
        (name, payload) for name, _shard, payload in records if gs.is_deliberately_unparseable(name, payload)
    ]
    assert sorted(name for name, _payload in unparseable) == ["GUILD_MEMBER_ADD", "THREAD_CREATE"]

    # Updates and deletes of entities that were never created.
    created_messages = {message["id"] for message in named(records, "MESSAGE_CREATE")}
    assert any(update["id"] not in created_messages for update in named(records, "MESSAGE_UPDATE"))
    known_channels = {c["id"] for p in named(records, "GUILD_CREATE") for c in p.get("channels", ())}
    known_channels |= {channel["id"] for channel in named(records, "CHANNEL_CREATE")}
    assert any(channel["id"] not in known_channels for channel in named(records, "CHANNEL_DELETE"))
    known_roles = {r["id"] for p in named(records, "GUILD_CREATE") for r in p.get("roles", ())}
    known_roles |= {payload["role"]["id"] for payload in named(records, "GUILD_ROLE_CREATE")}
    assert any(payload["role_id"] not in known_roles for payload in named(records, "GUILD_ROLE_DELETE"))


def test_plain_session_has_no_edge_cases() -> None:
    plain = list(gs.generate_session(seed=3, guilds=2, members=(300, 40), varied=False))
    assert not any(gs.is_deliberately_unparseable(name, payload) for name, _shard, payload in plain)
    assert not any(channel["type"] == 99 for channel in named(plain, "CHANNEL_CREATE"))
    assert "VOICE_CHANNEL_STATUS_UPDATE" not in {name for name, _shard, _payload in plain}


def test_snowflakes_are_unique_and_time_moves_forward(records: list[Record]) -> None:
    docs_ids = {payload["id"] for payload in gs.load_docs_payloads().values() if "id" in payload}
    messages = [message for message in named(records, "MESSAGE_CREATE") if message["id"] not in docs_ids]
    ids = [message["id"] for message in messages]
    assert len(ids) == len(set(ids))
    stamps = [iso_ms(message["timestamp"]) for message in messages]
    assert stamps == sorted(stamps)
    for message, stamp in zip(messages, stamps, strict=True):
        created = (int(message["id"]) >> 22) + DISCORD_EPOCH_MS
        assert stamp - 60_000 <= created <= stamp, message["id"]  # a message id encodes its creation time

    # The first GUILD_CREATE of each guild (an outage repeats it) plus every CHANNEL_CREATE.
    first_creates = {p["id"]: p for p in reversed(named(records, "GUILD_CREATE")) if "channels" in p}
    channel_ids = [c["id"] for p in first_creates.values() for c in p["channels"]]
    channel_ids += [channel["id"] for channel in named(records, "CHANNEL_CREATE")]
    assert len(channel_ids) == len(set(channel_ids))
    role_ids = [r["id"] for p in first_creates.values() for r in p["roles"]]
    role_ids += [payload["role"]["id"] for payload in named(records, "GUILD_ROLE_CREATE")]
    assert len(role_ids) == len(set(role_ids))

    # A member joining for the first time (not a re-join) is a brand-new user id.
    seen_users: set[str] = set()
    new_joins = 0
    for name, _shard, payload in records:
        if name == "GUILD_MEMBER_ADD" and "user" in payload and not payload["flags"] & 1:
            assert payload["user"]["id"] not in seen_users
            new_joins += 1
        seen_users |= {d["id"] for d in nested_dicts(payload) if "username" in d and "id" in d}
    assert new_joins > 0


def test_every_docs_payload_is_used_as_the_readme_says(records: list[Record]) -> None:
    docs = gs.load_docs_payloads()
    docs_create = next(p for p in named(records, "GUILD_CREATE") if p["id"] == DOCS_GUILD)

    def in_list(items: list[Payload], obj: Payload) -> bool:
        return any(item == obj for item in items)

    def must(condition: bool, what: str) -> None:
        assert condition, what

    def check_guild() -> None:
        expected = {k: v for k, v in docs["guild"].items() if k not in ("roles", "emojis", "stickers")}
        assert {k: docs_create[k] for k in expected} == expected
        assert docs_create["unavailable"] is False
        assert any(p["id"] == DOCS_GUILD for p in named(records, "GUILD_UPDATE"))
        assert any(g["id"] == DOCS_GUILD for ready in named(records, "READY") for g in ready["guilds"])

    def check_unavailable_guild() -> None:
        guild = docs["unavailable_guild"]
        assert any(g == guild for ready in named(records, "READY") for g in ready["guilds"])
        assert in_list(named(records, "GUILD_CREATE"), guild)
        assert in_list(named(records, "GUILD_DELETE"), guild)
        assert not any(p["id"] == guild["id"] and not p.get("unavailable") for p in named(records, "GUILD_CREATE"))

    def check_role() -> None:
        assert in_list(docs_create["roles"], docs["role"])
        updates = [p["role"] for p in named(records, "GUILD_ROLE_UPDATE") if p["role"]["id"] == docs["role"]["id"]]
        assert updates
        assert updates[0]["name"] != docs["role"]["name"]

    def check_text_channel() -> None:
        channel = docs["channel_guild_text"]
        assert in_list(docs_create["channels"], channel)
        assert any(
            p["id"] == channel["id"] and p["topic"] != channel["topic"] for p in named(records, "CHANNEL_UPDATE")
        )

    def check_voice_channel() -> None:
        assert in_list(docs_create["channels"], docs["channel_guild_voice"])
        voice = named(records, "VOICE_STATE_UPDATE")
        assert any(p["channel_id"] == docs["channel_guild_voice"]["id"] for p in voice)

    def check_dm_channel() -> None:
        channel = docs["channel_dm"]
        assert not any(p["id"] == channel["id"] for p in named(records, "CHANNEL_CREATE"))
        assert any(
            m["channel_id"] == channel["id"] and "guild_id" not in m and m["author"] == channel["recipients"][0]
            for m in named(records, "MESSAGE_CREATE")
        )

    def check_unused(key: str) -> None:
        unused_id = docs[key]["id"]
        assert not any(d.get("id") == unused_id for _n, _s, p in records for d in nested_dicts(p))

    def check_reactions() -> None:
        reacted = next(
            m for m in named(records, "MESSAGE_CREATE") if m.get("guild_id") == DOCS_GUILD and m.get("reactions")
        )
        emojis = [reaction["emoji"] for reaction in reacted["reactions"]]
        for key in ("emoji_standard", "emoji_custom_reaction_1", "emoji_custom_reaction_2"):
            assert docs[key] in emojis
        adds = named(records, "MESSAGE_REACTION_ADD")
        assert any(p["message_id"] == reacted["id"] and p["emoji"] == docs["emoji_custom_reaction_1"] for p in adds)
        assert any(p["message_id"] == docs["message"]["id"] and p["emoji"] == docs["emoji_standard"] for p in adds)
        removes = named(records, "MESSAGE_REACTION_REMOVE_EMOJI")
        assert any(p["message_id"] == reacted["id"] and p["emoji"] == docs["emoji_custom_reaction_2"] for p in removes)

    def check_sticker() -> None:
        assert in_list(docs_create["stickers"], docs["sticker"])
        items = [i for m in named(records, "MESSAGE_CREATE") for i in m.get("sticker_items", ())]
        assert any(item["id"] == docs["sticker"]["id"] for item in items)

    def check_invite() -> None:
        assert in_list(named(records, "INVITE_CREATE"), docs["invite"])
        assert any(p["code"] == docs["invite"]["code"] for p in named(records, "INVITE_DELETE"))
        assert docs["invite_metadata"].items() <= docs["invite"].items()  # merged into the invite

    def check_voice_state() -> None:
        assert in_list(docs_create["voice_states"], docs["voice_state"])

    def check_activities() -> None:
        activities = [a for p in docs_create["presences"] for a in p["activities"]]
        assert docs["activity"] in activities
        assert docs["activity_rich_presence"] in activities
        assert any(
            docs["activity_rich_presence"] in p["activities"]
            for p in named(records, "PRESENCE_UPDATE")
            if p["guild_id"] == DOCS_GUILD
        )

    def check_member() -> None:
        assert in_list(docs_create["members"], docs["guild_member"])
        assert docs["guild_member"]["user"] == docs["user"]
        nelly = docs["user"]["id"]
        updates = named(records, "GUILD_MEMBER_UPDATE")
        assert any(p["guild_id"] == DOCS_GUILD and p["user"]["id"] == nelly for p in updates)

    def check_components(key: str) -> None:
        example = docs[key]
        assert any(
            m["channel_id"] == DOCS_TEXT_CHANNEL
            and m["author"]["id"] == BOT
            and m["components"] == example["components"]
            and m["flags"] == example["flags"]
            and m["attachments"] == example.get("attachments", [])
            for m in named(records, "MESSAGE_CREATE")
        )

    checks: dict[str, typing.Callable[[], None]] = {
        "guild": check_guild,
        "unavailable_guild": check_unavailable_guild,
        "incidents_data": lambda: must(docs_create["incidents_data"] == docs["incidents_data"], "incidents_data"),
        "user": check_member,
        "guild_member": check_member,
        "role": check_role,
        "channel_guild_text": check_text_channel,
        "channel_guild_announcement": lambda: must(
            in_list(docs_create["channels"], docs["channel_guild_announcement"]), "in GUILD_CREATE channels"
        ),
        "channel_guild_voice": check_voice_channel,
        "channel_category": lambda: must(in_list(docs_create["channels"], docs["channel_category"]), "in channels"),
        "channel_thread": lambda: must(in_list(docs_create["threads"], docs["channel_thread"]), "in threads"),
        "channel_dm": check_dm_channel,
        "channel_group_dm": lambda: check_unused("channel_group_dm"),
        "emoji": lambda: must(in_list(docs_create["emojis"], docs["emoji"]), "in GUILD_CREATE emojis"),
        "emoji_standard": check_reactions,
        "emoji_custom_reaction_1": check_reactions,
        "emoji_custom_reaction_2": check_reactions,
        "sticker": check_sticker,
        "sticker_pack": lambda: check_unused("sticker_pack"),
        "message": lambda: must(in_list(named(records, "MESSAGE_CREATE"), docs["message"]), "a MESSAGE_CREATE"),
        "message_crossposted": lambda: must(
            in_list(named(records, "MESSAGE_CREATE"), docs["message_crossposted"]), "a MESSAGE_CREATE"
        ),
        "invite": check_invite,
        "invite_metadata": check_invite,
        "voice_state": check_voice_state,
        "activity": check_activities,
        "activity_rich_presence": check_activities,
    }
    for key in docs:
        if key.startswith("components_"):
            checks[key] = lambda key=key: check_components(key)

    assert set(checks) == set(docs), "every payload file has a check"
    for key, check in checks.items():
        try:
            check()
        except AssertionError as exc:
            pytest.fail(f"{key}.json is not used as payloads/README.md describes: {exc}")


def test_shards_of_a_larger_session() -> None:
    shard_count = 3
    larger = list(gs.generate_session(seed=5, guilds=10, shard_count=shard_count))
    readies = [(shard, payload) for name, shard, payload in larger if name == "READY"]
    assert sorted(shard for shard, _payload in readies) == list(range(shard_count))
    for shard, payload in readies:
        assert payload["shard"] == [shard, shard_count]
        assert all(gs.shard_for_guild(guild["id"], shard_count) == shard for guild in payload["guilds"])
    for name, shard, payload in larger:
        if name in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
            assert shard == gs.shard_for_guild(payload["id"], shard_count)
        elif "guild_id" in payload:
            assert shard == gs.shard_for_guild(payload["guild_id"], shard_count), name
        elif name == "MESSAGE_CREATE":
            assert shard == 0  # DMs
    assert len({gs.shard_for_guild(p["id"], shard_count) for p in named(larger, "GUILD_CREATE")}) > 1


def test_write_and_read_round_trip(tmp_path: Path, records: list[Record]) -> None:
    for filename in ("session.jsonl", "session.jsonl.gz"):
        seen: list[int] = []
        path = tmp_path / filename
        assert gs.write_session(path, records, progress=seen.append) == len(records)
        assert seen[-1] == len(records)
        assert list(gs.read_session(path)) == records
    first_line = (tmp_path / "session.jsonl").read_bytes().split(b"\n", 1)[0]
    assert orjson.loads(first_line).keys() == {"t", "s", "d"}


class ReferenceCache:
    """What hikari's cache should hold after a session, computed from the records alone."""

    def __init__(self) -> None:
        self.available: dict[str, bool] = {}
        self.members: dict[str, set[str]] = collections.defaultdict(set)
        self.channels: dict[str, dict[str, str | None]] = collections.defaultdict(dict)
        self.threads: dict[str, dict[str, str]] = collections.defaultdict(dict)
        self.roles: dict[str, set[str]] = collections.defaultdict(set)
        self.emojis: dict[str, set[str]] = collections.defaultdict(set)
        self.stickers: dict[str, set[str]] = collections.defaultdict(set)
        self.presences: dict[str, set[str]] = collections.defaultdict(set)
        self.voice: dict[str, set[str]] = collections.defaultdict(set)
        self.invites: dict[str, str] = {}
        self.live_messages: set[str] = set()
        self.replies: dict[str, str] = {}
        self.usernames: dict[str, str] = {}
        self.me = ""

    def messages(self) -> set[str]:
        # hikari keeps a deleted message while a cached message still references it (replies).
        kept = set(self.live_messages)
        for message_id in self.live_messages:
            parent = self.replies.get(message_id)
            while parent is not None and parent not in kept:
                kept.add(parent)
                parent = self.replies.get(parent)
        return kept

    def apply(self, name: str, payload: Payload) -> None:
        if name not in ("READY", "USER_UPDATE"):
            for item in nested_dicts(payload):
                if "username" in item and "discriminator" in item and "id" in item:
                    self.usernames[item["id"]] = item["username"]
        guild_id: str = payload.get("guild_id", "")
        if name in ("READY", "USER_UPDATE"):
            self.me = (payload["user"] if name == "READY" else payload)["username"]
        elif name in ("GUILD_CREATE", "GUILD_UPDATE"):
            if payload.get("unavailable"):
                return
            guild_id = payload["id"]
            self.available[guild_id] = True
            # hikari only replaces a collection when the payload's list is non-empty.
            if payload.get("roles"):
                self.roles[guild_id] = {role["id"] for role in payload["roles"]}
            if payload.get("emojis"):
                self.emojis[guild_id] = {emoji["id"] for emoji in payload["emojis"]}
            if payload.get("stickers"):
                self.stickers[guild_id] = {sticker["id"] for sticker in payload["stickers"]}
            if name == "GUILD_UPDATE":
                return
            if payload.get("channels"):
                self.channels[guild_id] = {
                    c["id"]: c.get("parent_id") for c in payload["channels"] if c["type"] in KNOWN_CHANNEL_TYPES
                }
            if payload.get("threads"):
                self.threads[guild_id] = {t["id"]: t["parent_id"] for t in payload["threads"]}
            if payload.get("members"):
                self.members[guild_id] = {member["user"]["id"] for member in payload["members"]}
            if payload.get("presences"):
                self.presences[guild_id] = {presence["user"]["id"] for presence in payload["presences"]}
            if payload.get("voice_states"):
                self.voice[guild_id] = {state["user_id"] for state in payload["voice_states"]}
        elif name == "GUILD_DELETE":
            guild_id = payload["id"]
            if payload.get("unavailable"):
                if guild_id in self.available:
                    self.available[guild_id] = False
                return
            self.available.pop(guild_id, None)
            for collection in (self.members, self.channels, self.threads, self.roles, self.emojis):
                collection.pop(guild_id, None)
            for collection in (self.stickers, self.presences, self.voice):
                collection.pop(guild_id, None)
            self.invites = {code: guild for code, guild in self.invites.items() if guild != guild_id}
        elif name in ("CHANNEL_CREATE", "CHANNEL_UPDATE"):
            if payload["type"] in KNOWN_CHANNEL_TYPES:
                self.channels[guild_id][payload["id"]] = payload.get("parent_id")
        elif name == "CHANNEL_DELETE":
            self.channels[guild_id].pop(payload["id"], None)
            threads = self.threads[guild_id]
            for thread_id in [t for t, parent in threads.items() if parent == payload["id"]]:
                del threads[thread_id]
        elif name in ("THREAD_CREATE", "THREAD_UPDATE"):
            if not gs.is_deliberately_unparseable(name, payload):
                self.threads[guild_id][payload["id"]] = payload["parent_id"]
        elif name == "THREAD_DELETE":
            self.threads[guild_id].pop(payload["id"], None)
        elif name == "THREAD_LIST_SYNC":
            threads = self.threads[guild_id]
            if payload.get("channel_ids"):
                for thread_id in [t for t, parent in threads.items() if parent in payload["channel_ids"]]:
                    del threads[thread_id]
            else:
                threads.clear()
            threads.update({thread["id"]: thread["parent_id"] for thread in payload["threads"]})
        elif name == "THREAD_MEMBERS_UPDATE":
            if BOT in payload.get("removed_member_ids", ()):
                self.threads[guild_id].pop(payload["id"], None)
        elif name in ("GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE"):
            self.roles[guild_id].add(payload["role"]["id"])
        elif name == "GUILD_ROLE_DELETE":
            self.roles[guild_id].discard(payload["role_id"])
        elif name == "GUILD_EMOJIS_UPDATE":
            self.emojis[guild_id] = {emoji["id"] for emoji in payload["emojis"]}
        elif name == "GUILD_STICKERS_UPDATE":
            self.stickers[guild_id] = {sticker["id"] for sticker in payload["stickers"]}
        elif name in ("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE"):
            if not gs.is_deliberately_unparseable(name, payload):
                self.members[guild_id].add(payload["user"]["id"])
        elif name == "GUILD_MEMBER_REMOVE":
            self.members[guild_id].discard(payload["user"]["id"])
        elif name == "GUILD_MEMBERS_CHUNK":
            self.members[guild_id] |= {member["user"]["id"] for member in payload["members"]}
            self.presences[guild_id] |= {presence["user"]["id"] for presence in payload.get("presences", ())}
        elif name == "PRESENCE_UPDATE":
            if payload["status"] == "offline":
                self.presences[guild_id].discard(payload["user"]["id"])
            else:
                self.presences[guild_id].add(payload["user"]["id"])
        elif name == "VOICE_STATE_UPDATE":
            if payload["channel_id"] is None:
                self.voice[guild_id].discard(payload["user_id"])
            else:
                self.voice[guild_id].add(payload["user_id"])
        elif name == "MESSAGE_CREATE":
            self.live_messages.add(payload["id"])
            if payload.get("referenced_message"):
                self.replies[payload["id"]] = payload["referenced_message"]["id"]
        elif name == "MESSAGE_DELETE":
            self.live_messages.discard(payload["id"])
        elif name == "MESSAGE_DELETE_BULK":
            self.live_messages.difference_update(payload["ids"])
        elif name == "INVITE_CREATE":
            self.invites[payload["code"]] = payload.get("guild_id") or payload["guild"]["id"]
        elif name == "INVITE_DELETE":
            self.invites.pop(payload["code"], None)


def ids(view: typing.Mapping[hikari.Snowflake, object] | typing.Mapping[str, object]) -> set[str]:
    return {str(key) for key in view}


async def test_hikari_cache_ends_as_the_records_say(records: list[Record]) -> None:
    bot = offline.make_offline_bot(cache_settings=cache_settings())
    stats = await offline.replay(bot, records)

    assert stats.events == len(records)
    assert stats.errors == {"GUILD_MEMBER_ADD": 1, "THREAD_CREATE": 1}
    assert stats.unknown == {"VOICE_CHANNEL_STATUS_UPDATE": 1}

    reference = ReferenceCache()
    for name, _shard, payload in records:
        reference.apply(name, payload)

    cache = bot.cache
    expected_available = {guild for guild, available in reference.available.items() if available}
    assert ids(cache.get_available_guilds_view()) == expected_available
    assert ids(cache.get_unavailable_guilds_view()) == {
        g for g, available in reference.available.items() if not available
    }
    assert len(expected_available) == 4  # 3 synthetic + the docs guild (one left, one never available)

    guild_ids = set(reference.available) | set(reference.members) | set(reference.channels)
    for guild_id in guild_ids:
        assert ids(cache.get_members_view_for_guild(int(guild_id))) == reference.members.get(guild_id, set())
        assert ids(cache.get_guild_channels_view_for_guild(int(guild_id))) == set(reference.channels.get(guild_id, {}))
        assert ids(cache.get_threads_view_for_guild(int(guild_id))) == set(reference.threads.get(guild_id, {}))
        assert ids(cache.get_roles_view_for_guild(int(guild_id))) == reference.roles.get(guild_id, set())
        assert ids(cache.get_emojis_view_for_guild(int(guild_id))) == reference.emojis.get(guild_id, set())
        assert ids(cache.get_stickers_view_for_guild(int(guild_id))) == reference.stickers.get(guild_id, set())
        assert ids(cache.get_presences_view_for_guild(int(guild_id))) == reference.presences.get(guild_id, set())
        assert ids(cache.get_voice_states_view_for_guild(int(guild_id))) == reference.voice.get(guild_id, set())
    assert ids(cache.get_messages_view()) == reference.messages()
    assert ids(cache.get_invites_view()) == set(reference.invites)

    # The big guild really got its members through chunks, not just GUILD_CREATE's handful.
    big = max(expected_available, key=lambda guild: len(reference.members[guild]))
    assert 1900 < len(cache.get_members_view_for_guild(int(big))) == len(reference.members[big])

    me = cache.get_me()
    assert me is not None
    assert me.id == gs.BOT_USER_ID
    assert me.username == reference.me == "PersistBot v2"

    # Users are shared between guilds: whichever guild delivered the latest data, every view sees it.
    users = cache.get_users_view()
    assert len(users) > 2000
    for user_id, user in users.items():
        assert user.username == reference.usernames[str(user_id)], user_id
    renamed = next(
        p["user"]["id"] for p in named(records, "GUILD_MEMBER_UPDATE") if p["user"]["username"].endswith("_renamed")
    )
    holders = [guild for guild, members in reference.members.items() if renamed in members]
    assert len(holders) >= 2
    for guild in holders:
        member = cache.get_member(int(guild), int(renamed))
        assert member is not None
        assert member.user.username == reference.usernames[renamed]

    # hikari asked (the offline shard) for the members of every large guild it received.
    large_creates = sum(1 for p in named(records, "GUILD_CREATE") if p.get("large"))
    requests = [call for call in stats.shards[0].calls if call.method == "request_guild_members"]
    assert len(requests) == large_creates


async def test_only_the_deliberately_malformed_records_fail(records: list[Record]) -> None:
    bot = offline.make_offline_bot(cache_settings=cache_settings())
    dispatched: collections.Counter[str] = collections.Counter()

    async def on_event(event: hikari.Event) -> None:
        dispatched[type(event).__name__] += 1

    # A listener for every event makes hikari deserialize every record, cached or not.
    bot.event_manager.subscribe(hikari.Event, on_event)
    stats = await offline.replay(bot, records)

    expected = [i for i, (name, _shard, payload) in enumerate(records) if gs.is_deliberately_unparseable(name, payload)]
    assert [failure.index for failure in stats.failures] == expected
    assert all(isinstance(failure.exception, KeyError) for failure in stats.failures)
    assert stats.unknown == {"VOICE_CHANNEL_STATUS_UPDATE": 1}
    for event_type in ("GuildReactionAddEvent", "DMReactionAddEvent", "GuildTypingEvent", "ShardResumedEvent"):
        assert dispatched[event_type] > 0, event_type


async def test_plain_larger_multi_shard_session_replays_cleanly() -> None:
    bot = offline.make_offline_bot(cache_settings=cache_settings())

    async def on_event(event: hikari.Event) -> None:
        pass

    bot.event_manager.subscribe(hikari.Event, on_event)
    session = gs.generate_session(seed=9, guilds=4, members=(700, 90), shard_count=2, varied=False)
    stats = await offline.replay(bot, session, yield_every=50)

    assert stats.failures == []
    assert stats.unknown == {}
    assert sorted(stats.shards) == [0, 1]
    assert all(shard.shard_count == 2 for shard in stats.shards.values())
    assert len(bot.cache.get_available_guilds_view()) == 5  # 4 synthetic + docs guild


async def test_replay_accepts_any_event_manager_aware_and_async_records(records: list[Record]) -> None:
    bot = offline.make_offline_bot(cache_settings=cache_settings())

    class Holder:
        __slots__ = ("event_manager",)

        def __init__(self, event_manager: hikari.api.EventManager) -> None:
            self.event_manager = event_manager

    async def stream() -> AsyncIterator[Record]:
        for record in records[:300]:
            yield record

    progress: list[int] = []
    stats = await offline.replay(Holder(bot.event_manager), stream(), progress=progress.append, yield_every=0)
    assert stats.events == 300
    assert progress[-1] == 300
    assert len(bot.cache.get_available_guilds_view()) > 0


async def test_offline_shard() -> None:
    shard = offline.OfflineShard(1, 4)
    assert shard.id == 1
    assert shard.shard_count == 4
    assert shard.heartbeat_latency == 0.0
    assert shard.is_alive
    assert not shard.is_connected
    with pytest.raises(hikari.ComponentStateConflictError):
        shard.get_user_id()

    shard.set_ready(gs.BOT_USER_ID, 8)
    assert shard.get_user_id() == gs.BOT_USER_ID
    assert shard.is_connected
    assert shard.shard_count == 8

    await shard.request_guild_members(1234, include_presences=True, nonce="n")
    await shard.update_presence(status=hikari.Status.IDLE)
    await shard.update_voice_state(1234, None)
    await shard.request_channel_info(1234, fields=[hikari.api.ChannelInfoField.STATUS])
    assert [call.method for call in shard.calls] == [
        "request_guild_members",
        "update_presence",
        "update_voice_state",
        "request_channel_info",
    ]
    assert shard.calls[0].arguments["guild"] == 1234

    await shard.close()
    await shard.join()
    assert not shard.is_alive
    assert not shard.is_connected


async def test_replay_through_given_shards_that_answer_member_requests(records: list[Record]) -> None:
    """A shard given to ``replay`` receives its records, and its ``on_call`` hook sees hikari's member
    requests as they are made (what a benchmark needs to answer them with chunks, as Discord does)."""
    bot = offline.make_offline_bot(cache_settings=cache_settings())
    requested: list[int] = []

    def on_call(call: offline.ShardCall) -> None:
        if call.method == "request_guild_members":
            requested.append(int(call.arguments["guild"]))

    shard = offline.OfflineShard(0, 1, on_call=on_call)
    stats = await offline.replay(bot, records, shards={0: shard})
    assert stats.shards[0] is shard
    large = [int(p["id"]) for p in named(records, "GUILD_CREATE") if p.get("large")]
    assert requested == large
    assert [int(c.arguments["guild"]) for c in shard.calls if c.method == "request_guild_members"] == large


async def test_lifetime_events_without_connecting() -> None:
    bot = offline.make_offline_bot()
    seen: list[str] = []

    async def on_lifetime(event: hikari.Event) -> None:
        # Suspend once: start/stop must await listeners, not just schedule them.
        next_iteration = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(next_iteration.set_result, None)
        await next_iteration
        seen.append(type(event).__name__)

    for event_type in (hikari.StartingEvent, hikari.StartedEvent, hikari.StoppingEvent, hikari.StoppedEvent):
        bot.event_manager.subscribe(event_type, on_lifetime)

    await offline.start_offline(bot)
    assert seen == ["StartingEvent", "StartedEvent"]
    await offline.stop_offline(bot)
    assert seen == ["StartingEvent", "StartedEvent", "StoppingEvent", "StoppedEvent"]
    assert bot.get_me() is None  # nothing was received


def test_ready_payload() -> None:
    payload = gs.make_ready_payload(shard_id=1, shard_count=2, guild_ids=[10, "20"])
    assert payload["v"] == 10
    assert payload["shard"] == [1, 2]
    assert payload["guilds"] == [{"id": "10", "unavailable": True}, {"id": "20", "unavailable": True}]
    assert payload["user"]["id"] == str(gs.BOT_USER_ID)
    assert payload["application"]["id"] == str(gs.BOT_APPLICATION_ID)
