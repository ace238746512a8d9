"""Rules applied by the writer: message retention, disabled kinds, denied guilds and users, and prune.

Real `hikari.GatewayBot`s are fed raw gateway payloads offline and write to real SQLite files. Message
retention by channel is checked against hikari's own cache, whose ``max_messages`` expiry it mirrors.
"""

from __future__ import annotations

import datetime
import sqlite3
import typing

import hikari
import pytest

import hikaripersist as persist
from hikaripersist import cache as cache_module
from hikaripersist import sqlite as sqlite_module
from hikaripersist._internal import offline
from hikaripersist.cache import KINDS
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari
from tests.test_change_events import Stage
from tests.test_writer import BASE, RecordingBackend, running, stored

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import Callable, Sequence

    from hikaripersist.backend import WriteResult
    from hikaripersist.rules import Rule

Payload = dict[str, typing.Any]
Record = tuple[str, int, Payload]

# A small session holding every kind (3 guilds, a few hundred members, ~900 messages).
SMALL: typing.Final = {"seed": 3, "guilds": 2, "members": (120, 40), "churn": 2.0}


def reply(stage: Stage, content: str, to: Payload, *, author: int = 0) -> Record:
    """A reply to ``to`` (a message payload), embedding it as Discord does."""
    payload = stage.message(content, author=author)
    payload.update(
        type=19,
        message_reference={"message_id": to["id"], "channel_id": to["channel_id"], "guild_id": to["guild_id"]},
        referenced_message=to,
    )
    return ("MESSAGE_CREATE", 0, payload)


def in_channel(stage: Stage, channel_id: str, content: str, *, author: int = 0) -> Record:
    payload = stage.message(content, author=author)
    payload["channel_id"] = channel_id
    return ("MESSAGE_CREATE", 0, payload)


def live_ids(path: pathlib.Path, channel_id: str | int) -> list[int]:
    """Messages of a channel in hikari's message mapping (not only kept for a reply), oldest first."""
    rows = stored(path, "SELECT id FROM messages WHERE channel_id = ? AND is_reference = 0 ORDER BY id", (channel_id,))
    return [row[0] for row in rows]


# -- max_per_channel ---------------------------------------------------------------------------------------


async def check_max_per_channel_expires_like_hikaris_message_limit(make_backend: Callable[[], persist.Backend]) -> None:
    """In one channel, keeping the newest N is hikari's ``max_messages=N``: the stores must be equal."""
    limit = 4
    bot = offline.make_offline_bot(cache_settings=hikari.impl.CacheSettings(max_messages=limit))
    rule = persist.Rule(message=persist.MessageRule(max_per_channel=limit))
    backend = make_backend()
    cache = persist.Cache(bot, backend, rule=rule)
    await offline.start_offline(bot)
    try:
        stage = Stage(bot)
        await stage.feed([r for r in BASE if not r[0].startswith("MESSAGE_")])
        sent: list[Payload] = []
        records: list[Record] = []
        for i in range(35):
            if i % 5 == 4:
                # Replies: to the oldest message of the window (about to expire), or to one long expired.
                record = reply(stage, f"reply {i}", sent[-limit if i % 10 == 4 else 0], author=i)
            else:
                record = stage.message_create(f"message {i}", author=i)
            if i % 7 == 3:
                record[2]["mentions"] = [stage.members[(i + 3) % len(stage.members)]["user"]]
            sent.append(record[2])
            records.append(record)
        await stage.feed(records)
        await cache.flush()

        # The store's own rows: the messages in hikari's mapping...
        live = "SELECT id FROM messages WHERE channel_id = ? AND is_reference = 0 ORDER BY id"
        assert [r[0] async for rows in backend.fetch(live, (int(stage.channel_id),)) for r in rows] == [
            int(p["id"]) for p in sent[-limit:]
        ]
        # ... and replied-to messages outside the window, kept as referenced messages as in hikari.
        assert await backend.scalar("SELECT COUNT(*) FROM messages WHERE is_reference = 1") > 0
        await compare_with_hikari(cache, bot)
    finally:
        await offline.stop_offline(bot)


async def test_max_per_channel_expires_like_hikaris_message_limit(db_path: pathlib.Path) -> None:
    await check_max_per_channel_expires_like_hikaris_message_limit(lambda: persist.SQLiteBackend(db_path))


async def test_max_per_channel_keeps_the_newest_of_each_channel(db_path: pathlib.Path) -> None:
    rule = persist.Rule(message=persist.MessageRule(max_per_channel=3))
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path), rule=rule)
    await offline.start_offline(bot)
    try:
        stage = Stage(bot)
        await stage.feed(BASE)
        channels = [c["id"] for c in stage.create["channels"] if c["type"] == 0][:3]
        sent: dict[str, list[Payload]] = {c: [] for c in channels}
        for i in range(30):
            record = in_channel(stage, channels[i % 3], f"message {i}", author=i)
            sent[channels[i % 3]].append(record[2])
            await stage.feed([record])
        # A reply to the oldest message of the window pushes that message out of it.
        first = sent[channels[0]][-3]
        answer = reply(stage, "replying to the oldest one", first)
        answer[2]["channel_id"] = channels[0]
        await stage.feed([answer])
        await cache.flush()

        for channel_id in channels:
            expected = [int(p["id"]) for p in sent[channel_id]][-3:]
            if channel_id == channels[0]:
                expected = [*expected[1:], int(answer[2]["id"])]
            assert live_ids(db_path, channel_id) == expected, channel_id
        # The reply keeps the message it answers, trimmed from its channel, as hikari would.
        kept = await cache.messages.get(id=int(first["id"]))
        assert kept is not None
        assert kept.content == first["content"]
        got = await cache.messages.get(id=int(answer[2]["id"]))
        assert got is not None
        assert got.referenced_message is not None
        assert got.referenced_message.id == int(first["id"])

        # Once the reply itself is trimmed, nothing holds the answered message any more.
        await stage.feed([in_channel(stage, channels[0], f"later {i}") for i in range(3)])
        await cache.flush()
        assert await cache.messages.get(id=int(first["id"])) is None
        assert await cache.messages.get(id=int(answer[2]["id"])) is None
        assert len(live_ids(db_path, channels[0])) == 3
    finally:
        await offline.stop_offline(bot)


# -- max_age -----------------------------------------------------------------------------------------------


class ResultsBackend(RecordingBackend):
    """Records the result of every committed batch too."""

    def __init__(self, path: pathlib.Path, **options: typing.Any) -> None:
        super().__init__(path, **options)
        self.results: list[WriteResult] = []

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        result = await super().write(batch, rule=rule)
        self.results.append(result)
        return result


def _at(when: datetime.datetime) -> str:
    return when.isoformat()


async def test_max_age_expires_a_backlog_in_bounded_steps_between_events(
    db_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "RETENTION_STEP", 40)
    now = datetime.datetime.now(datetime.timezone.utc)
    old, recent = now - datetime.timedelta(days=30), now - datetime.timedelta(minutes=5)

    # A store filled without any retention: old messages, recent ones, and a recent reply to an old one.
    async with running(persist.SQLiteBackend(db_path)) as (bot, cache, _):
        stage = Stage(bot)
        records = [stage.message_create(f"old {i}", author=i) for i in range(200)]
        for record in records:
            record[2]["timestamp"] = _at(old)
        fresh = [stage.message_create(f"recent {i}", author=i) for i in range(5)]
        for record in fresh:
            record[2]["timestamp"] = _at(recent)
        answer = reply(stage, "still talking about it", records[10][2])
        answer[2]["timestamp"] = _at(recent)
        await stage.feed([*records, *fresh, answer])
        await cache.flush()
    cutoff = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    due = stored(db_path, "SELECT COUNT(*) FROM messages WHERE created_at < ? AND is_reference = 0", (cutoff,))[0][0]
    assert due > 200  # BASE's own messages are old too

    # Reopened with max_age: the writer works the backlog off a few messages per transaction.
    bot = make_bot()
    backend = ResultsBackend(db_path)
    rule = persist.Rule(message=persist.MessageRule(max_age=datetime.timedelta(days=1)))
    async with persist.Cache(bot, backend, rule=rule) as cache:
        stage = Stage(bot)
        stage._sequence = 10_000  # past the ids the first stage handed out
        arriving = stage.message_create("arrives during the backlog")
        arriving[2]["timestamp"] = _at(now)
        await cache.flush()  # the first retention batch (queued when the cache opened)
        await stage.feed([arriving])
        for _ in range(100):
            if not stored(db_path, "SELECT 1 FROM messages WHERE created_at < ? AND is_reference = 0", (cutoff,)):
                break
            await cache.flush()  # each committed batch with a backlog queues the next one
        expired = [result.expired for result in backend.results]
        assert sum(expired) == due
        assert max(expired) <= 40
        # The new message was not held up behind the backlog: expiry went on after it was stored.
        arrived_in = next(i for i, b in enumerate(backend.batches) if any(
            isinstance(e, hikari.MessageCreateEvent) and e.message.id == int(arriving[2]["id"]) for e in b
        ))  # fmt: skip
        assert any(n for n in expired[arrived_in + 1 :])

        assert await cache.messages.get(id=int(arriving[2]["id"])) is not None
        for record in fresh:
            assert await cache.messages.get(id=int(record[2]["id"])) is not None
        # An old message a recent reply shows stays (as a referenced message), like hikari's expiry.
        kept = await cache.messages.get(id=int(records[10][2]["id"]))
        assert kept is not None
        assert await cache.messages.get(id=int(records[11][2]["id"])) is None
        replied = await cache.messages.get(id=int(answer[2]["id"]))
        assert replied is not None
        assert replied.referenced_message is not None


# -- disabled kinds, denied guilds and users -----------------------------------------------------------------

RULES: typing.Final[dict[str, persist.Rule]] = {
    "guilds": persist.Rule(guild=persist.GuildRule(enabled=False)),
    "channels": persist.Rule(channel=persist.ChannelRule(enabled=False)),
    "threads": persist.Rule(thread=persist.ThreadRule(enabled=False)),
    "roles": persist.Rule(role=persist.RoleRule(enabled=False)),
    "members": persist.Rule(member=persist.MemberRule(enabled=False)),
    "users": persist.Rule(user=persist.UserRule(enabled=False)),
    "emojis": persist.Rule(emoji=persist.EmojiRule(enabled=False)),
    "stickers": persist.Rule(sticker=persist.StickerRule(enabled=False)),
    "presences": persist.Rule(presence=persist.PresenceRule(enabled=False)),
    "voice_states": persist.Rule(voice_state=persist.VoiceStateRule(enabled=False)),
    "messages": persist.Rule(message=persist.MessageRule(enabled=False)),
    "invites": persist.Rule(invite=persist.InviteRule(enabled=False)),
}
# Raw tables that must stay empty when a kind is off ("users": nothing about users at all).
EMPTY_TABLES: typing.Final[dict[str, tuple[str, ...]]] = {
    "guilds": ("guilds",),
    "channels": ("channels",),
    "threads": ("threads",),
    "roles": ("roles",),
    "members": ("members",),
    "users": ("user_records", "user_snapshots", "member_records", "presences", "voice_states", "messages",
              "message_mentions"),
    "emojis": ("emojis",),
    "stickers": ("stickers",),
    "presences": ("presences",),
    "voice_states": ("voice_states",),
    "messages": ("messages", "message_mentions"),
    "invites": ("invites",),
}  # fmt: skip


async def _replayed(path: pathlib.Path, rule: persist.Rule | None) -> persist.CacheStats:
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(path), rule=rule) as cache:
        await offline.replay(bot, session(**SMALL))
        await cache.flush()
        return await cache.stats()


def _count(path: pathlib.Path, table: str, where: str = "", params: Sequence[typing.Any] = ()) -> int:
    return int(stored(path, f"SELECT COUNT(*) FROM {table}{where}", params)[0][0])


@pytest.fixture(scope="module")
def reference_counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    import asyncio

    return dict(asyncio.run(_replayed(tmp_path_factory.mktemp("ref") / "c.db", None)))


@pytest.mark.parametrize("kind", list(RULES))
async def test_a_disabled_kind_is_not_stored(
    db_path: pathlib.Path, kind: str, reference_counts: dict[str, int]
) -> None:
    assert all(reference_counts.values()), reference_counts  # the stream has every kind
    stats = await _replayed(db_path, RULES[kind])
    assert stats[kind] == 0
    for table in EMPTY_TABLES[kind]:
        assert _count(db_path, table) == 0, table
    # The other kinds are stored as usual (a few depend on what was switched off).
    depends = {"users": {"members", "presences", "voice_states", "messages"}}.get(kind, set())
    for other in KINDS:
        if other != kind and other not in depends:
            assert stats[other] > 0, other
    if kind == "users":
        assert _count(db_path, "emojis", " WHERE user_id IS NOT NULL") == 0
        assert _count(db_path, "invites", " WHERE inviter_id IS NOT NULL OR target_user_id IS NOT NULL") == 0


def _guild_rows(path: pathlib.Path, guild_id: int) -> dict[str, int]:
    tables = ("channels", "threads", "roles", "members", "emojis", "stickers", "presences", "voice_states",
              "invites", "messages")  # fmt: skip
    rows = {table: _count(path, table, " WHERE guild_id = ?", (guild_id,)) for table in tables}
    rows["guilds"] = _count(path, "guilds", " WHERE id = ?", (guild_id,))
    return rows


def _largest_guild(path: pathlib.Path) -> int:
    return int(stored(path, "SELECT guild_id FROM member_records GROUP BY guild_id ORDER BY COUNT(*) DESC")[0][0])


async def test_nothing_of_a_denied_guild_is_stored(tmp_path: pathlib.Path) -> None:
    await _replayed(tmp_path / "all.db", None)
    denied = _largest_guild(tmp_path / "all.db")
    assert all(_guild_rows(tmp_path / "all.db", denied).values())

    rule = persist.Rule(guild=persist.GuildRule(guild_denylist=[denied]))
    stats = await _replayed(tmp_path / "ruled.db", rule)
    assert set(_guild_rows(tmp_path / "ruled.db", denied).values()) == {0}
    assert _count(tmp_path / "ruled.db", "member_records", " WHERE guild_id = ?", (denied,)) == 0
    assert stats["guilds"] > 0
    assert stats["members"] > 0


async def test_a_denied_user_is_not_stored_anywhere(tmp_path: pathlib.Path) -> None:
    await _replayed(tmp_path / "all.db", None)
    chatty = int(
        stored(tmp_path / "all.db", "SELECT author_id FROM messages GROUP BY author_id ORDER BY COUNT(*) DESC")[0][0]
    )
    mentioned = stored(tmp_path / "all.db", "SELECT COUNT(*) FROM message_mentions WHERE user_id = ?", (chatty,))[0][0]
    assert mentioned > 0  # others mention them: those mentions must be left out

    rule = persist.Rule(user=persist.UserRule(user_denylist=[chatty]))
    stats = await _replayed(tmp_path / "ruled.db", rule)
    path = tmp_path / "ruled.db"
    assert _count(path, "user_records", " WHERE id = ?", (chatty,)) == 0
    assert _count(path, "member_records", " WHERE user_id = ?", (chatty,)) == 0
    assert _count(path, "messages", " WHERE author_id = ?", (chatty,)) == 0
    assert _count(path, "message_mentions", " WHERE user_id = ?", (chatty,)) == 0
    assert _count(path, "presences", " WHERE user_id = ?", (chatty,)) == 0
    assert _count(path, "voice_states", " WHERE user_id = ?", (chatty,)) == 0
    assert stats["messages"] > 0
    # Everything else still reads back: messages that mentioned them just do not list them.
    bot = make_bot()
    async with persist.Cache(bot, persist.SQLiteBackend(path)) as cache:
        async for message in cache.messages.all():
            assert chatty not in (message.user_mentions or {})


# -- prune -----------------------------------------------------------------------------------------------------


@pytest.fixture
async def filled(db_path: pathlib.Path) -> pathlib.Path:
    """A store filled by ``SMALL`` with the default rule (closed again)."""
    await _replayed(db_path, None)
    return db_path


async def test_prune_applies_a_changed_rule_to_what_is_stored(
    filled: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "_PRUNE_STEP", 60)  # many small transactions
    denied = _largest_guild(filled)
    rule = persist.Rule(
        guild=persist.GuildRule(guild_denylist=[denied]),
        presence=persist.PresenceRule(enabled=False),
        member=persist.MemberRule(predicate=lambda member: not member.user.is_bot),
        message=persist.MessageRule(max_per_channel=2),
    )
    bot = make_bot()
    backend = RecordingBackend(filled)
    progress: list[persist.PruneProgress] = []
    async with persist.Cache(bot, backend, rule=rule) as cache:
        before = await cache.stats()
        assert before["presences"] > 0
        removed = await cache.prune(progress=progress.append)
        after = await cache.stats()

        assert tuple(removed) == KINDS
        assert removed == {kind: before[kind] - after[kind] for kind in KINDS}
        assert after["presences"] == 0
        assert set(_guild_rows(filled, denied).values()) == {0}
        assert not [m async for m in cache.members.all() if m.user.is_bot]
        most = stored(filled, "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM messages WHERE is_reference = 0"
                              " GROUP BY channel_id)")[0][0]  # fmt: skip
        assert most <= 2
        # Whatever is left reads back whole (users and replied-to messages stayed consistent).
        assert len(await cache.messages.all().collect()) == after["messages"]
        assert len(await cache.voice_states.all().collect()) == after["voice_states"]
        # Bounded steps, reported one by one; queued through the writer like everything else.
        assert len(progress) > 3
        assert [p.steps for p in progress] == list(range(1, len(progress) + 1))
        assert [p.done for p in progress] == [False] * (len(progress) - 1) + [True]
        assert progress[-1].removed == removed
        prune_ops = [e for batch in backend.batches for e in batch if type(e).__name__ == "PruneOp"]
        assert len(prune_ops) == len(progress)

        # Nothing left to do the second time.
        assert await cache.prune() == dict.fromkeys(KINDS, 0)


async def test_prune_removes_a_disabled_kind_and_reports_it(filled: pathlib.Path) -> None:
    bot = make_bot()
    removes: list[persist.PersistEvent] = []

    async def on_remove(event: persist.VoiceStateRemoveEvent) -> None:
        removes.append(event)

    bot.event_manager.subscribe(persist.VoiceStateRemoveEvent, on_remove)
    rule = persist.Rule(voice_state=persist.VoiceStateRule(enabled=False))
    async with persist.Cache(bot, persist.SQLiteBackend(filled), rule=rule) as cache:
        before = await cache.stats()
        removed = await cache.prune()
        assert removed["voice_states"] == before["voice_states"] > 0
        assert sum(removed.values()) >= removed["voice_states"]
        assert (await cache.stats())["voice_states"] == 0
        assert _count(filled, "voice_states") == 0
    assert len(removes) == before["voice_states"]


async def test_prune_without_a_rule_removes_nothing(filled: pathlib.Path) -> None:
    async with persist.Cache(make_bot(), persist.SQLiteBackend(filled)) as cache:
        before = await cache.stats()
        assert await cache.prune() == dict.fromkeys(KINDS, 0)
        assert await cache.stats() == before


async def test_prune_needs_an_open_cache(db_path: pathlib.Path) -> None:
    cache = persist.Cache(make_bot(), persist.SQLiteBackend(db_path))
    with pytest.raises(persist.BackendError, match="not open"):
        await cache.prune()


def test_sqlite3_sees_the_retention_index(filled: pathlib.Path) -> None:
    """The age retention walks messages by the indexed created_at column."""
    with sqlite3.connect(filled) as db:
        plan = " ".join(
            str(row[-1])
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE created_at < ? AND is_reference = 0"
                " ORDER BY created_at LIMIT 10",
                ("2020-01-01",),
            )
        )
    assert "ix_messages_created" in plan
