"""The cache's writer: batching, ordering, isolation of failing events, retries, backpressure, flush.

A real `hikari.GatewayBot` is fed raw gateway payloads offline (``consume_raw_event``) and writes to a
real SQLite file; backends are `SQLiteBackend` subclasses that only observe or delay ``write``.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from tests.test_schema import small_session

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, Generator, Iterable, Sequence

    from hikaripersist.backend import WriteResult
    from hikaripersist.rules import Rule


# -- helpers ----------------------------------------------------------------------------------------


class World:
    """A bot that has seen ``BASE``, and builders of raw payloads about its first guild."""

    def __init__(self, bot: hikari.GatewayBot) -> None:
        self.bot = bot
        self.shard = offline.OfflineShard(user_id=gs.BOT_USER_ID)
        create = next(p for name, _, p in BASE if name == "GUILD_CREATE" and not p.get("unavailable"))
        self.guild_id: str = create["id"]
        self.channel_id: str = next(c["id"] for c in create["channels"] if c["type"] == 0)
        self.members: list[Payload] = [m for m in create["members"] if m["user"]["id"] != str(gs.BOT_USER_ID)]
        self._sequence = 0

    def snowflake(self) -> str:
        self._sequence += 1
        return str(((LATER_MS - DISCORD_EPOCH_MS) << 22) + self._sequence)

    async def feed(self, records: Iterable[Record], *, yield_every: int = 1) -> None:
        """Consume records as a connected shard does, yielding to the loop every ``yield_every`` records."""
        for index, (name, _, payload) in enumerate(records, 1):
            self.bot.event_manager.consume_raw_event(name, self.shard, payload)
            if yield_every and index % yield_every == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)

    def message(self, content: str, *, author: int = 0, message_id: str | None = None, edited: bool = False) -> Payload:
        member = self.members[author % len(self.members)]
        message_id = message_id or self.snowflake()
        return {
            "type": 0,
            "tts": False,
            "timestamp": "2025-10-09T08:53:20.000000+00:00",
            "pinned": False,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "id": message_id,
            "flags": 0,
            "embeds": [],
            "edited_timestamp": "2025-10-09T09:00:00.000000+00:00" if edited else None,
            "content": content,
            "components": [],
            "channel_id": self.channel_id,
            "author": member["user"],
            "attachments": [],
            "guild_id": self.guild_id,
            "member": {k: v for k, v in member.items() if k != "user"},
        }

    def message_create(self, content: str, *, author: int = 0) -> Record:
        return ("MESSAGE_CREATE", 0, self.message(content, author=author))

    def message_update(self, message_id: str, content: str) -> Record:
        return ("MESSAGE_UPDATE", 0, self.message(content, message_id=message_id, edited=True))

    def member_update(self, index: int, nick: str) -> Record:
        member = self.members[index % len(self.members)]
        return ("GUILD_MEMBER_UPDATE", 0, {**member, "guild_id": self.guild_id, "nick": nick})


class RecordingBackend(persist.SQLiteBackend):
    """The real SQLite backend, recording every batch handed to ``write`` (failed attempts included)."""

    def __init__(self, path: pathlib.Path, **options: typing.Any) -> None:
        super().__init__(path, **options)
        self.batches: list[list[hikari.Event]] = []

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        self.batches.append(list(batch))
        return await super().write(batch, rule=rule)

    def message_batches(self) -> list[list[int]]:
        """Ids of the messages created in each recorded batch (batches without any left out)."""
        batches = [
            [int(e.message.id) for e in batch if isinstance(e, hikari.GuildMessageCreateEvent)]
            for batch in self.batches
        ]
        return [b for b in batches if b]


class FlakyBackend(RecordingBackend):
    """Fails the whole next ``write`` once, before touching the database, like a transient disk error."""

    def __init__(self, path: pathlib.Path, **options: typing.Any) -> None:
        super().__init__(path, **options)
        self.fail_next = False

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        if self.fail_next:
            self.fail_next = False
            self.batches.append(list(batch))
            msg = "disk I/O error"
            raise sqlite3.OperationalError(msg)
        return await super().write(batch, rule=rule)


class GatedBackend(RecordingBackend):
    """Each ``write`` waits for ``gate`` (a slow disk the test controls)."""

    def __init__(self, path: pathlib.Path, **options: typing.Any) -> None:
        super().__init__(path, **options)
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        self.waiting += 1
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        return await super().write(batch, rule=rule)


class Confirmations:
    """Ids of messages whose ``Confirmed`` event was dispatched, in dispatch order."""

    def __init__(self, cache: persist.Cache) -> None:
        self.ids: list[int] = []
        self._changed = asyncio.Event()
        cache.subscribe(hikari.GuildMessageCreateEvent, self._on_confirmed, confirm=True)

    async def _on_confirmed(self, event: hikari.GuildMessageCreateEvent) -> None:
        self.ids.append(int(event.message.id))
        self._changed.set()

    async def wait_for(self, message_id: int, *, timeout: float = 30) -> None:
        """Wait until ``message_id`` is confirmed (a deadline, not a delay)."""

        async def confirmed() -> None:
            while message_id not in self.ids:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(confirmed(), timeout)


@contextlib.contextmanager
def opens_gate_on_exit(backend: GatedBackend) -> Generator[None, None, None]:
    """Reopen the gate however the block ends, so that closing the cache does not wait forever."""
    try:
        yield
    finally:
        backend.gate.set()


@contextlib.asynccontextmanager
async def running(
    backend: persist.SQLiteBackend, *, max_pending: int = 10_000, spill: bool = True
) -> AsyncGenerator[Running, None]:
    """A started bot with a cache on ``backend`` that has stored ``BASE``."""
    bot = make_bot()
    cache = persist.Cache(bot, backend, max_pending=max_pending, spill=spill)
    await offline.start_offline(bot)
    try:
        world = World(bot)
        await world.feed(BASE)
        await cache.flush()
        assert bot.cache.get_guild(int(world.guild_id)) is not None
        assert bot.cache.get_guild_channel(int(world.channel_id)) is not None
        yield Running(bot, cache, world)
    finally:
        await offline.stop_offline(bot)


class Running(typing.NamedTuple):
    bot: hikari.GatewayBot
    cache: persist.Cache
    world: World


def stored(path: pathlib.Path, sql: str, params: Sequence[typing.Any] = ()) -> list[tuple[typing.Any, ...]]:
    """Rows as a second, plain sqlite3 connection sees them."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, tuple(params)).fetchall()
    finally:
        db.close()


def message_ids(records: Iterable[Record]) -> list[int]:
    return [int(p["id"]) for name, _, p in records if name == "MESSAGE_CREATE"]


# -- batching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("yield_every", [0, 1, 7], ids=["burst", "trickle", "chunks"])
async def test_transactions_hold_at_most_batch_size_events(db_path: pathlib.Path, yield_every: int) -> None:
    backend = RecordingBackend(db_path, batch_size=50, flush_interval=0.05)
    async with running(backend) as (bot, cache, world):
        backend.batches.clear()
        records = [world.message_create(f"message {i}", author=i) for i in range(1000)]
        await world.feed(records, yield_every=yield_every)
        await cache.flush()

        assert backend.batches
        assert max(len(batch) for batch in backend.batches) <= 50
        # Every message went to the writer exactly once, in arrival order.
        assert [i for batch in backend.message_batches() for i in batch] == message_ids(records)
        assert stored(db_path, "SELECT COUNT(*) FROM messages WHERE channel_id = ?", (int(world.channel_id),))[0][
            0
        ] == len([m for m in bot.cache.get_messages_view().values() if m.channel_id == int(world.channel_id)])
        assert cache.pending == 0
        if yield_every == 0:
            # Everything was queued before the writer ran: full batches only.
            assert all(len(batch) == 50 for batch in backend.batches)


async def test_writer_waits_up_to_flush_interval_for_a_batch_to_fill(db_path: pathlib.Path) -> None:
    backend = RecordingBackend(db_path, batch_size=50, flush_interval=30)
    async with running(backend) as (_, cache, world):
        backend.batches.clear()
        records = [world.message_create(f"message {i}") for i in range(10)]
        for record in records:
            await world.feed([record])
            for _ in range(5):
                await asyncio.sleep(0)
        await cache.flush()  # cuts the wait short
        assert backend.message_batches() == [message_ids(records)]


async def test_only_cache_events_reach_the_writer(db_path: pathlib.Path) -> None:
    backend = RecordingBackend(db_path, batch_size=50)
    async with running(backend) as (_, cache, world):
        backend.batches.clear()
        await world.feed([world.message_create(f"message {i}") for i in range(1000)], yield_every=0)
        await cache.flush()
        queued = [type(e).__name__ for batch in backend.batches for e in batch]
        assert "ShardPayloadEvent" not in queued
        assert len(backend.batches) == 20


# -- ordering -----------------------------------------------------------------------------------------


async def test_an_event_whose_guild_cannot_be_read_is_still_stored(db_path: pathlib.Path) -> None:
    """Discord's own example invite has no ``guild_id``: hikari's ``InviteCreateEvent.guild_id`` asserts on
    it. The cache, which notes each event's guild for ``flush(guild=...)``, still queues and stores it."""
    name, shard, payload = next(r for r in small_session() if r[0] == "INVITE_CREATE" and "guild_id" not in r[2])
    async with running(persist.SQLiteBackend(db_path)) as (bot, cache, world):
        await world.feed([(name, shard, payload)])
        await cache.flush()
        assert bot.cache.get_invite(payload["code"]) is not None
        invite = await cache.invites.get(code=payload["code"])
        assert invite is not None
        assert invite.code == payload["code"]
        await cache.flush(guild=int(world.guild_id))


async def test_last_update_of_an_entity_wins(db_path: pathlib.Path) -> None:
    # Small batches so that the updates of one entity spread over many transactions.
    backend = RecordingBackend(db_path, batch_size=7, flush_interval=0)
    async with running(backend) as (bot, cache, world):
        create = world.message_create("original")
        message_id = create[2]["id"]
        records: list[Record] = [create]
        for i in range(300):
            records.append(world.message_update(message_id, f"edit {i}"))
            records.append(world.member_update(3, f"nick {i}"))
        await world.feed(records)
        await cache.flush()
        assert len(backend.batches) > 50

        message = await cache.messages.get(id=int(message_id))
        assert message is not None
        assert message.content == "edit 299"
        member_user_id = int(world.members[3]["user"]["id"])
        member = await cache.members.get(guild_id=int(world.guild_id), member_id=member_user_id)
        assert member is not None
        assert member.nickname == "nick 299"
        assert stored(
            db_path, "SELECT nickname FROM members WHERE guild_id = ? AND user_id = ?", (world.guild_id, member_user_id)
        ) == [("nick 299",)]
        await compare_with_hikari(cache, bot)


# -- failures -----------------------------------------------------------------------------------------


async def test_one_failing_event_does_not_sink_its_batch(
    db_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = engine_module.Engine._on_message_create

    def fail_on_boom(self: engine_module.Engine, event: hikari.MessageCreateEvent) -> None:
        original(self, event)  # writes first: the event's savepoint must undo it
        if event.message.content == "boom":
            msg = "cannot store this one"
            raise RuntimeError(msg)

    monkeypatch.setattr(engine_module.Engine, "_on_message_create", fail_on_boom)
    backend = RecordingBackend(db_path, batch_size=1000)
    async with running(backend) as (_, cache, world):
        confirmations = Confirmations(cache)
        backend.batches.clear()
        records = [world.message_create("boom" if i == 25 else f"fine {i}", author=i) for i in range(50)]
        boom_id = message_ids(records)[25]
        others = [i for i in message_ids(records) if i != boom_id]
        caplog.set_level(logging.ERROR, logger="hikaripersist.sqlite")
        await world.feed(records, yield_every=0)
        await cache.flush()

        # The failing event shared its transaction with the 49 others.
        assert message_ids(records) in backend.message_batches()
        rows = stored(db_path, "SELECT id FROM messages WHERE channel_id = ? ORDER BY id", (int(world.channel_id),))
        assert set(others) <= {row[0] for row in rows}
        assert boom_id not in {row[0] for row in rows}
        assert await cache.messages.get(id=boom_id) is None
        assert stored(db_path, "SELECT COUNT(*) FROM message_mentions WHERE message_id = ?", (boom_id,)) == [(0,)]

        failures = [r for r in caplog.records if r.name == "hikaripersist.sqlite" and r.levelno >= logging.ERROR]
        assert len(failures) == 1
        assert "GuildMessageCreateEvent" in failures[0].getMessage()
        assert failures[0].exc_info is not None

        # Confirmations: every other message, in order, and never the failed one (a later marker proves
        # that the dispatch of this batch's confirmations is over).
        marker = world.message_create("marker")
        await world.feed([marker])
        await cache.flush()
        await confirmations.wait_for(int(marker[2]["id"]))
        assert confirmations.ids == [*others, int(marker[2]["id"])]


@pytest.mark.parametrize("spilled", [False, True], ids=["in memory", "spilled"])
async def test_whole_batch_failure_is_retried_and_lands_in_order(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, spilled: bool
) -> None:
    """With ``spilled``, all but 10 of the events wait in the spill file: the retry writes the events
    read back for the failed attempt, once each, in order."""
    backend = FlakyBackend(db_path, batch_size=500)
    async with running(backend, max_pending=10 if spilled else 10_000) as (_, cache, world):
        confirmations = Confirmations(cache)
        backend.batches.clear()
        creates = [world.message_create(f"message {i}", author=i) for i in range(40)]
        first_id = creates[0][2]["id"]
        updates = [world.message_update(first_id, f"edit {i}") for i in range(40)]
        nicks = [world.member_update(5, f"nick {i}") for i in range(40)]
        records = [r for trio in zip(creates, updates, nicks, strict=True) for r in trio]
        backend.fail_next = True
        caplog.set_level(logging.ERROR, logger="hikaripersist")
        await world.feed(records, yield_every=0)
        await cache.flush()
        assert ((await cache.stats()).events_spilled >= len(records) - 10) is spilled

        failed, retried = backend.batches[0], backend.batches[1]
        assert failed == retried  # the very same events, in the same order
        assert backend.message_batches()[:2] == [message_ids(records), message_ids(records)]
        assert [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()] == [
            f"writing a batch of {len(failed)} events to {backend.name} failed; retrying"
        ]

        stored_ids = {row[0] for row in stored(db_path, "SELECT id FROM messages")}
        assert set(message_ids(records)) <= stored_ids
        assert stored(db_path, "SELECT COUNT(*) FROM messages WHERE id = ?", (int(first_id),)) == [(1,)]
        message = await cache.messages.get(id=int(first_id))
        assert message is not None
        assert message.content == "edit 39"
        member = await cache.members.get(guild_id=int(world.guild_id), member_id=int(world.members[5]["user"]["id"]))
        assert member is not None
        assert member.nickname == "nick 39"

        last = message_ids(records)[-1]
        await confirmations.wait_for(last)
        assert confirmations.ids == message_ids(records)  # each once, in order


class FailsTwice(RecordingBackend):
    """Fails the whole next two ``write``s, like a disk that is full for a moment."""

    def __init__(self, path: pathlib.Path, **options: typing.Any) -> None:
        super().__init__(path, **options)
        self.failures_left = 0

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        if self.failures_left:
            self.failures_left -= 1
            msg = "database or disk is full"
            raise sqlite3.OperationalError(msg)
        return await super().write(batch, rule=rule)


async def test_a_store_that_keeps_failing_logs_its_traceback_once(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = FailsTwice(db_path)
    async with running(backend) as (_, cache, world):
        caplog.set_level(logging.WARNING, logger="hikaripersist")
        backend.failures_left = 2
        records = [world.message_create(f"message {i}", author=i) for i in range(5)]
        await world.feed(records, yield_every=0)
        await cache.flush()
        mine = [r for r in caplog.records if r.name.startswith("hikaripersist")]
        assert [bool(r.exc_info) for r in mine] == [True, False, False]
        assert "failed; retrying" in mine[0].getMessage()
        assert "still fails (attempt 2, 5 events queued): database or disk is full" in mine[1].getMessage()
        assert "works again after 2 failed attempts" in mine[2].getMessage()
        assert set(message_ids(records)) <= {row[0] for row in stored(db_path, "SELECT id FROM messages")}


# -- backpressure -------------------------------------------------------------------------------------


async def feed_against_closed_gate(
    backend: GatedBackend, cache: persist.Cache, world: World, records: Sequence[Record]
) -> int:
    """Feed ``records`` one loop turn apart while the writer is stuck; return the longest queue seen.

    The caller must open the gate again (see ``gated``), also when an assertion fails.
    """
    backend.gate.clear()
    longest = 0
    for record in records:
        await world.feed([record])
        longest = max(longest, len(cache._pending))
    return longest


async def test_backpressure_holds_listeners_and_everything_lands_in_order(db_path: pathlib.Path) -> None:
    backend = GatedBackend(db_path, batch_size=50)
    async with running(backend, max_pending=100) as (bot, cache, world):
        confirmations = Confirmations(cache)
        backend.batches.clear()
        records = [world.message_create(f"message {i}", author=i) for i in range(1000)]
        with opens_gate_on_exit(backend):
            await feed_against_closed_gate(backend, cache, world, records)

            # The writer is stuck in its first write; the cache's listeners are told to wait.
            assert backend.waiting == 1
            assert len(backend.batches) == 0
            assert cache._space is not None
            assert not cache._space.is_set()
            assert cache.pending >= 1000
            assert stored(db_path, "SELECT COUNT(*) FROM messages WHERE id >= ?", (min(message_ids(records)),)) == [
                (0,)
            ]

        await cache.flush()
        assert cache._space.is_set()
        assert [i for batch in backend.message_batches() for i in batch] == message_ids(records)
        assert max(len(batch) for batch in backend.batches) <= 50
        await confirmations.wait_for(message_ids(records)[-1])
        assert confirmations.ids == message_ids(records)
        await compare_with_hikari(cache, bot)


async def test_backpressure_bounds_the_queue_in_memory(db_path: pathlib.Path) -> None:
    """hikari's ``consume_raw_event`` is synchronous and does not wait for listeners, so a flood of events the
    rule does not let the cache shed cannot be slowed: with the writer stuck, the queue grows to every event
    received (1,000 messages here). Past ``max_pending`` they wait in the spill file, so what the queue holds
    in memory stays within the budget; with ``spill=False`` it is the whole flood."""
    for spill in (True, False):
        backend = GatedBackend(db_path, batch_size=50)
        async with running(backend, max_pending=100, spill=spill) as (_, cache, world):
            records = [world.message_create(f"message {i}", author=i) for i in range(1000)]
            with opens_gate_on_exit(backend):
                backend.gate.clear()
                longest = in_memory = 0
                for record in records:
                    await world.feed([record])
                    longest = max(longest, len(cache._pending))
                    in_memory = max(in_memory, cache._memory_count)
            await cache.flush()
            assert longest >= 1000
            if spill:
                assert in_memory <= 100 + 1
            else:
                assert in_memory == longest


# -- flush --------------------------------------------------------------------------------------------


async def test_flush_makes_writes_visible_to_other_connections(db_path: pathlib.Path) -> None:
    # A long flush_interval: only flush() can make these rows visible this early.
    backend = persist.SQLiteBackend(db_path, batch_size=10_000, flush_interval=60)
    async with running(backend) as (bot, cache, world):
        records = [world.message_create(f"message {i}", author=i) for i in range(100)]
        records.append(world.member_update(2, "flushed nick"))
        await world.feed(records, yield_every=0)
        assert cache.pending > 0
        await cache.flush()
        assert cache.pending == 0

        ids = message_ids(records)
        placeholders = ", ".join("?" * len(ids))
        assert stored(db_path, f"SELECT COUNT(*) FROM messages WHERE id IN ({placeholders})", ids) == [(len(ids),)]
        user_id = int(world.members[2]["user"]["id"])
        assert stored(
            db_path, "SELECT nickname FROM members WHERE guild_id = ? AND user_id = ?", (int(world.guild_id), user_id)
        ) == [("flushed nick",)]
        assert len([m for m in bot.cache.get_messages_view() if int(m) in set(ids)]) == len(ids)
