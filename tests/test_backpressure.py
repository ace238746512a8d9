"""Backpressure: the intake budget weighs events by size, producers that can wait are held back, the rule's
``shed`` kinds are dropped (logged, counted, never confirmed) while the writer is behind, and memory stays
bounded, measured with ``tracemalloc``.

A real offline `hikari.GatewayBot` (hikari's own cache off, so that what is measured is the cache's queue)
is fed raw payloads through ``consume_raw_event`` and writes to a real SQLite file; a gated backend holds
the writer back where a test needs it stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tracemalloc
import typing

import hikari
import pytest

import hikaripersist as persist
from hikaripersist import cache as cache_module
from hikaripersist._internal import offline
from tests.conftest import make_bot
from tests.small_session import BASE
from tests.test_writer import GatedBackend, World, opens_gate_on_exit

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator

    from tests.small_session import Payload, Record

TIMEOUT: typing.Final = 60.0  # safety net only
BUDGET: typing.Final = 2000  # entities: four chunks
CHUNK: typing.Final = 500
FIRST_USER: typing.Final = 1_200_000_000_000_000_000


@contextlib.asynccontextmanager
async def started(
    cache_of: typing.Callable[[hikari.GatewayBot], persist.Cache],
) -> AsyncGenerator[tuple[World, persist.Cache], None]:
    """A started bot without hikari's cache, its cache (``cache_of(bot)``) having stored ``BASE``."""
    bot = make_bot(hikari_cache=False)
    cache = cache_of(bot)
    await offline.start_offline(bot)
    try:
        world = World(bot)
        await world.feed(BASE)
        await cache.flush()
        yield world, cache
    finally:
        await asyncio.wait_for(offline.stop_offline(bot), TIMEOUT)


def chunks(world: World, count: int, *, first_user: int = FIRST_USER) -> Iterator[Record]:
    """``count`` GUILD_MEMBERS_CHUNK of ``CHUNK`` new members each, made one at a time."""
    template = world.members[0]
    for index in range(count):
        members = [
            {**template, "user": {**template["user"], "id": str(first_user + index * CHUNK + i), "username": f"u{i}"}}
            for i in range(CHUNK)
        ]
        payload: Payload = {
            "guild_id": world.guild_id,
            "members": members,
            "chunk_index": index,
            "chunk_count": count,
            "not_found": [],
        }
        yield ("GUILD_MEMBERS_CHUNK", 0, payload)


def presence(world: World, index: int) -> Record:
    member = world.members[index % len(world.members)]
    status = ("online", "idle", "dnd")[index % 3]
    payload: Payload = {
        "user": {"id": member["user"]["id"]},
        "status": status,
        "activities": [],
        "client_status": {"desktop": status},
        "guild_id": world.guild_id,
    }
    return ("PRESENCE_UPDATE", 0, payload)


class Peak:
    """Peak traced memory (bytes above what was allocated when it started) of a block."""

    def __init__(self) -> None:
        self.bytes = 0

    @classmethod
    @contextlib.contextmanager
    def measure(cls) -> Generator[Peak, None, None]:
        peak = cls()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            yield peak
            peak.bytes = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()


# -- the budget weighs events by size ------------------------------------------------------------------


async def test_a_member_chunk_weighs_its_members(db_path: pathlib.Path) -> None:
    """With the writer stuck, three chunks (3 events, 1,503 entities) put the intake over a budget of
    1,200 entities although ``max_pending`` (10,000 events) is far away; messages weigh one each."""
    backend = GatedBackend(db_path, batch_size=1000)

    def cache_of(bot: hikari.GatewayBot) -> persist.Cache:
        return persist.Cache(bot, backend, max_pending_entities=1200)

    async with started(cache_of) as (world, cache):
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            await world.feed([world.message_create("one"), world.message_create("two")])
            assert (await cache.stats()).queue_weight == 2
            assert cache._space is not None
            assert cache._space.is_set()
            await world.feed(chunks(world, 3))
            stats = await cache.stats()
            assert stats.queue_depth == 5
            assert stats.queue_weight == 2 + 3 * (CHUNK + 1)
            assert not cache._space.is_set()  # the cache's listeners wait: over the entity budget
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert cache._space.is_set()
        assert (await cache.stats()).queue_weight == 0
        assert await cache.members.count(guild_id=int(world.guild_id)) >= 3 * CHUNK


# -- a producer that waits for room ----------------------------------------------------------------------


async def feed_chunks(count: int, db_path: pathlib.Path, *, wait: bool, spill: bool = False) -> tuple[int, int]:
    """Feed ``count`` member chunks as fast as hikari parses them (waiting for room before each when
    ``wait``) to a real SQLite writer; return the peak traced memory and the heaviest queue seen."""
    heaviest = 0

    def cache_of(bot: hikari.GatewayBot) -> persist.Cache:
        return persist.Cache(bot, persist.SQLiteBackend(db_path), max_pending_entities=BUDGET, spill=spill)

    async with started(cache_of) as (world, cache):

        async def producer() -> AsyncIterator[Record]:
            nonlocal heaviest
            for record in chunks(world, count):
                if wait:
                    await cache.wait_for_room()
                yield record
                heaviest = max(heaviest, cache._pending_weight)

        with Peak.measure() as peak:
            await offline.replay(world.bot, producer())
            await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert await cache.members.count(guild_id=int(world.guild_id)) >= count * CHUNK
    return peak.bytes, heaviest


async def test_waiting_for_room_keeps_memory_bounded(tmp_path: pathlib.Path) -> None:
    """A producer awaiting ``wait_for_room()`` keeps the queue under its budget (plus the chunk that
    crossed it), and its peak memory does not grow with the flood: 16 chunks (8,000 members) peak about
    as high as 4; fed without waiting (and without a spill file), the same 16 chunks peak far higher."""
    small, small_heaviest = await feed_chunks(4, tmp_path / "small.db", wait=True)
    large, large_heaviest = await feed_chunks(16, tmp_path / "large.db", wait=True)
    unbounded, unbounded_heaviest = await feed_chunks(16, tmp_path / "unbounded.db", wait=False)
    mib = 1024 * 1024
    report = f"peaks: 4 chunks {small / mib:.1f} MiB, 16 chunks {large / mib:.1f} MiB, "
    report += f"16 chunks without waiting {unbounded / mib:.1f} MiB (heaviest queue {unbounded_heaviest})"
    assert small_heaviest <= BUDGET + CHUNK + 1, report
    assert large_heaviest <= BUDGET + CHUNK + 1, report
    assert large < small * 1.5, report
    # What 12 more chunks cost: a little with the producer held back, all their members without.
    assert unbounded - small > 3 * (large - small), report
    assert unbounded_heaviest > 2 * large_heaviest, report


async def test_wait_for_room_on_a_closed_cache_over_budget_raises(db_path: pathlib.Path) -> None:
    bot = make_bot(hikari_cache=False)
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path), max_pending=5)
    world = World(bot)
    await cache.wait_for_room()  # under budget: at once, even closed
    await world.feed([world.message_create(f"m{i}") for i in range(6)])
    with pytest.raises(persist.BackendError, match="not open"):
        await asyncio.wait_for(cache.wait_for_room(), TIMEOUT)
    async with cache:
        await asyncio.wait_for(cache.wait_for_room(), TIMEOUT)
        await cache.flush()
        assert cache.pending == 0


# -- shedding ---------------------------------------------------------------------------------------------


async def test_shedding_drops_only_what_the_rule_allows(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the writer stuck and ``Rule(shed=["presence"])``, presence updates arriving over the budget are
    dropped (a warning, ``events_shed``, no confirmation) while messages keep being queued; once the writer
    catches up, everything queued lands and is confirmed, and a last warning sums up what was shed."""
    monkeypatch.setattr(cache_module, "_THROTTLE_WARNING_AFTER", 0.0)  # "for long": from the first event
    caplog.set_level(logging.WARNING, logger="hikaripersist")
    backend = GatedBackend(db_path, batch_size=1000)
    confirmed: list[str] = []
    progress = asyncio.Event()

    async def all_confirmed(count: int) -> None:
        # Confirmation listeners run as tasks after the commit.
        while len(confirmed) < count:
            progress.clear()
            await progress.wait()

    def cache_of(bot: hikari.GatewayBot) -> persist.Cache:
        return persist.Cache(bot, backend, rule=persist.Rule(shed=["presence"]), max_pending=100)

    async with started(cache_of) as (world, cache):
        # Listening from here: BASE's confirmations were dispatched before its flush returned.
        @cache.listen(hikari.PresenceUpdateEvent, confirm=True)
        async def on_presence(event: hikari.PresenceUpdateEvent) -> None:  # pyright: ignore[reportUnusedFunction]
            confirmed.append(event.presence.visible_status)
            progress.set()

        @cache.listen(hikari.GuildMessageCreateEvent, confirm=True)
        async def on_message(event: hikari.GuildMessageCreateEvent) -> None:  # pyright: ignore[reportUnusedFunction]
            confirmed.append(event.message.content or "")
            progress.set()

        # BASE alone may have gone over the budget of 100 events: count from here.
        shed_before = (await cache.stats()).events_shed
        caplog.clear()
        records: list[Record] = []
        for i in range(1000):
            records.append(presence(world, i))
            if i % 10 == 0:
                records.append(world.message_create(f"message {i}"))
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            longest = 0
            for record in records:
                await world.feed([record])
                longest = max(longest, len(cache._pending))
            stats = await cache.stats()
            # Up to the budget everything was queued; above it only messages (100 of them).
            assert longest <= 100 + 100
            assert stats.events_shed - shed_before >= 1000 - 100
            assert stats.queue_depth == stats.queue_weight == longest
            shed_warnings = [r for r in caplog.records if "shedding presence" in r.getMessage()]
            assert len(shed_warnings) == 1
            assert any("is behind for" in r.getMessage() for r in caplog.records)
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        stats = await cache.stats()
        shed = stats.events_shed - shed_before
        assert shed == 1000 + 100 - longest
        queued_presences = 1000 - shed
        # Every queued event confirmed once, none of the shed ones.
        messages = [f"message {i}" for i in range(0, 1000, 10)]
        await asyncio.wait_for(all_confirmed(queued_presences + len(messages)), TIMEOUT)
        assert [c for c in confirmed if c.startswith("message")] == messages
        assert len([c for c in confirmed if not c.startswith("message")]) == queued_presences
        contents = [m.content async for m in cache.messages.all()]
        assert sorted(c for c in contents if c and c.startswith("message ")) == sorted(messages)
        caught_up = [r.getMessage() for r in caplog.records if "caught up" in r.getMessage()]
        assert caught_up
        assert f"'presence': {shed}" in caught_up[-1]


async def test_shedding_keeps_memory_bounded_against_a_flood_that_cannot_wait(db_path: pathlib.Path) -> None:
    """A shard cannot be slowed (hikari hands events over synchronously): with the writer stuck, a flood of
    presence updates the rule lets the cache shed costs the same memory at 1,000 or 4,000 updates, while
    without shedding it grows with the flood."""
    backend = GatedBackend(db_path, batch_size=1000)

    async def flood(count: int, shed: bool) -> int:
        rule = persist.Rule(shed=["presence"]) if shed else None

        def cache_of(bot: hikari.GatewayBot) -> persist.Cache:
            return persist.Cache(bot, backend, rule=rule, max_pending=200, spill=False)

        async with started(cache_of) as (world, _):
            with opens_gate_on_exit(backend):
                backend.gate.clear()
                with Peak.measure() as peak:
                    await world.feed((presence(world, i) for i in range(count)), yield_every=1)
        return peak.bytes

    small, large = await flood(1000, shed=True), await flood(4000, shed=True)
    unshed = await flood(4000, shed=False)
    report = f"peaks: shed 1,000 {small} B, shed 4,000 {large} B, not shed 4,000 {unshed} B"
    assert large < small * 1.5, report
    assert unshed > large * 3, report


def test_shed_names_kinds_that_can_be_shed() -> None:
    rule = persist.Rule(shed=["presence", "voice_state"])
    assert rule.shed == {"presence", "voice_state"}
    assert "shed=['presence', 'voice_state']" in repr(rule)
    assert persist.Rule().shed == frozenset()
    with pytest.raises(ValueError, match="cannot shed guild"):
        persist.Rule(shed=["guild"])  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="cannot shed"):
        persist.Rule(shed=["presences"])  # pyright: ignore[reportArgumentType]
