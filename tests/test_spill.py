"""The spill file: past its budgets the queue waits on disk, not in memory, and nothing is lost or reordered.

A real offline `hikari.GatewayBot` is fed raw gateway payloads (``consume_raw_event``) while a gated
SQLite backend holds the writer back, so that most of a session is queued beyond the budgets and
written to the spill file; once the writer runs, what was stored must equal hikari's own cache field
by field, confirmations must come in order, and the file must be empty (and never visible on disk).
"""

from __future__ import annotations

import asyncio
import logging
import os
import typing

import hikari

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline
from hikaripersist._internal.spill import Spilled
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari
from tests.test_backpressure import feed_chunks, started
from tests.test_writer import GatedBackend, World, message_ids, opens_gate_on_exit

if typing.TYPE_CHECKING:
    import pathlib

    import pytest

    from tests.small_session import Record

TIMEOUT: typing.Final = 120.0  # safety net only


def in_memory(cache: persist.Cache) -> list[hikari.Event]:
    """The queued events held in memory (the others wait in the spill file)."""
    return [typing.cast("hikari.Event", event) for _, event, _, _ in cache._pending if type(event) is not Spilled]


async def test_a_session_queued_on_disk_lands_whole_and_in_order(tmp_path: pathlib.Path) -> None:
    """With the writer stuck and budgets of 50 events / 500 entities, a varied session (every kind, optional
    fields present and absent) is queued almost entirely in the spill file; the queue in memory stays
    within the budgets, the file is never visible in its folder, and once the writer runs the store equals
    hikari's cache field by field and every message is confirmed once, in order, with its content."""
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    records = session(seed=23, guilds=3, members=(1500, 400, 60), churn=1.5)
    bot = make_bot()
    backend = GatedBackend(tmp_path / "cache.db", batch_size=200)
    cache = persist.Cache(bot, backend, max_pending=50, max_pending_entities=500, spill=spill_dir)
    confirmed: list[tuple[int, str | None]] = []
    progress = asyncio.Event()

    @cache.listen(hikari.GuildMessageCreateEvent, confirm=True)
    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:  # pyright: ignore[reportUnusedFunction]
        confirmed.append((int(event.message.id), event.message.content))
        progress.set()

    await offline.start_offline(bot)
    try:
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            heaviest = 0

            async def watched() -> typing.AsyncIterator[Record]:
                nonlocal heaviest
                for record in records:
                    yield record
                    heaviest = max(heaviest, cache._memory_weight)

            await offline.replay(bot, watched())
            await asyncio.sleep(0)
            stats = await cache.stats()
            memory = in_memory(cache)
            assert stats.queue_spilled > 0.9 * stats.queue_depth, stats
            # What stays in memory: the budget's worth, plus what the codec cannot store (a bulk delete's
            # id set) and the cache's own operations.
            kept = [e for e in memory if not isinstance(e, hikari.GuildBulkMessageDeleteEvent)]
            assert len(kept) <= 50 + 2, [type(e).__name__ for e in kept]
            biggest_event = max(
                len(p.get("members", ())) + len(p.get("presences", ())) + len(p.get("channels", ())) + 50
                for _, _, p in records
            )
            assert heaviest <= 500 + biggest_event
            assert os.listdir(spill_dir) == []  # unlinked as soon as it was created
            assert cache._spill is not None
            assert cache._spill.size > 0
            spilled = stats.queue_spilled
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        stats = await cache.stats()
        assert stats.queue_spilled == 0
        assert stats.events_spilled >= spilled
        assert stats.events_failed == 0
        assert cache._spill.size == 0  # emptied once the writer caught up
        await compare_with_hikari(cache, bot)

        created = [
            (int(p["id"]), p.get("content") or None)  # (hikari reads an empty content as None)
            for name, _, p in records
            if name == "MESSAGE_CREATE"
            and p.get("guild_id") is not None
            and not gateway_session.is_deliberately_unparseable(name, p)
        ]

        async def all_confirmed() -> None:
            # Confirmation listeners run as tasks dispatched after each commit.
            while len(confirmed) < len(created):
                progress.clear()
                await progress.wait()

        await asyncio.wait_for(all_confirmed(), TIMEOUT)
        assert confirmed == created
    finally:
        await asyncio.wait_for(offline.stop_offline(bot), TIMEOUT)
    assert os.listdir(spill_dir) == []


async def test_a_flood_that_cannot_wait_costs_the_budget_not_the_flood(tmp_path: pathlib.Path) -> None:
    """Member chunks handed over as fast as hikari parses them, faster than the writer stores them: with the
    spill file, 32 chunks (16,000 members) peak about as high as 8 (the budget's worth in memory, the rest on
    disk, read back a batch at a time); with ``spill=False`` the same 32 chunks peak far higher."""
    small, _ = await feed_chunks(8, tmp_path / "small.db", wait=False, spill=True)
    large, _ = await feed_chunks(32, tmp_path / "large.db", wait=False, spill=True)
    unspilled, _ = await feed_chunks(32, tmp_path / "unspilled.db", wait=False, spill=False)
    mib = 1024 * 1024
    report = f"peaks: 8 chunks {small / mib:.1f} MiB, 32 chunks {large / mib:.1f} MiB, "
    report += f"32 chunks without spill {unspilled / mib:.1f} MiB"
    assert large < small * 1.5, report
    assert unspilled - small > 3 * (large - small), report


async def test_an_event_the_codec_cannot_store_waits_in_memory_in_its_place(db_path: pathlib.Path) -> None:
    """A bulk delete (hikari keeps its ids in a set type the codec does not store) queued between spilled
    messages stays in memory, and is applied after the messages it deletes and before the later ones."""
    backend = GatedBackend(db_path, batch_size=1000)

    def cache_of(bot: hikari.GatewayBot) -> persist.Cache:
        return persist.Cache(bot, backend, max_pending=10)

    async with started(cache_of) as (world, cache):
        early = [world.message_create(f"early {i}") for i in range(30)]
        late = [world.message_create(f"late {i}") for i in range(30)]
        deleted = message_ids(early)[:20]
        bulk: Record = (
            "MESSAGE_DELETE_BULK",
            0,
            {"ids": [str(i) for i in deleted], "channel_id": world.channel_id, "guild_id": world.guild_id},
        )
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            await world.feed([*early, bulk, *late])
            memory = in_memory(cache)
            assert any(isinstance(e, hikari.GuildBulkMessageDeleteEvent) for e in memory)
            assert (await cache.stats()).queue_spilled >= 50
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        remaining = {m.content async for m in cache.messages.all()}
        assert remaining >= {f"early {i}" for i in range(20, 30)} | {f"late {i}" for i in range(30)}
        assert not remaining & {f"early {i}" for i in range(20)}


async def test_a_folder_that_cannot_hold_the_file_keeps_the_queue_in_memory(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hikaripersist")
    backend = GatedBackend(tmp_path / "cache.db", batch_size=1000)
    missing = tmp_path / "no such folder"

    def cache_of(bot: hikari.GatewayBot) -> persist.Cache:
        return persist.Cache(bot, backend, max_pending=10, spill=missing)

    async with started(cache_of) as (world, cache):
        records = [world.message_create(f"message {i}") for i in range(40)]
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            await world.feed(records)
            stats = await cache.stats()
            assert stats.queue_spilled == 0
            assert len(in_memory(cache)) == stats.queue_depth >= 40
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        contents = {m.content async for m in cache.messages.all()}
        assert contents >= {f"message {i}" for i in range(40)}
    warnings = [r.getMessage() for r in caplog.records if "spill file" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert str(missing) in warnings[0]


async def test_an_event_that_cannot_be_read_back_is_reported_and_the_rest_lands(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged spill file (one event's bytes overwritten): that event is logged as lost and counted as
    failed; the events around it are stored."""
    caplog.set_level(logging.ERROR, logger="hikaripersist")
    backend = GatedBackend(db_path, batch_size=1000)

    def cache_of(bot: hikari.GatewayBot) -> persist.Cache:
        return persist.Cache(bot, backend, max_pending=10)

    async with started(cache_of) as (world, cache):
        failed_before = (await cache.stats()).events_failed
        records = [world.message_create(f"message {i}") for i in range(30)]
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            await world.feed(records)
            spilled = [event for _, event, _, _ in cache._pending if type(event) is Spilled]
            assert len(spilled) >= 15
            damaged = spilled[5]
            assert cache._spill is not None
            file = cache._spill._file
            assert file is not None
            file.flush()
            os.pwrite(file.fileno(), b"#" * damaged.size, damaged.offset)
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert (await cache.stats()).events_failed == failed_before + 1
        contents = {m.content async for m in cache.messages.all()}
        assert len(contents & {f"message {i}" for i in range(30)}) == 29
    lost = [r.getMessage() for r in caplog.records if "could not be read back" in r.getMessage()]
    assert len(lost) == 1, lost


def test_spill_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    assert persist.CacheConfig().spill is True
    assert persist.CacheConfig.from_env({"HIKARI_PERSIST_SPILL": "off"}).spill is False
    assert persist.CacheConfig.from_env({"HIKARI_PERSIST_SPILL": "yes"}).spill is True
    assert persist.CacheConfig.from_env({"HIKARI_PERSIST_SPILL": str(tmp_path)}).spill == str(tmp_path)
    bot = make_bot(hikari_cache=False)
    cache = persist.CacheConfig(f"sqlite:///{tmp_path / 'c.db'}", spill=False).create_cache(bot)
    assert cache._spill is None
    default = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "d.db"))
    assert default._spill is not None
    assert default._spill._directory == str(tmp_path)


async def test_closing_writes_what_waits_in_the_spill_file(db_path: pathlib.Path) -> None:
    """The bot stops while most of a backlog waits on disk: closing reads it back and writes it all, and a
    new cache on the same file finds every message."""
    backend = GatedBackend(db_path, batch_size=1000)
    bot = make_bot(hikari_cache=False)
    cache = persist.Cache(bot, backend, max_pending=10)
    await offline.start_offline(bot)
    try:
        world = World(bot)
        records = [world.message_create(f"message {i}") for i in range(200)]
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            await world.feed(records)
            assert (await cache.stats()).queue_spilled >= 150
    finally:
        await asyncio.wait_for(offline.stop_offline(bot), TIMEOUT)
    assert not cache.is_open
    reopened = persist.Cache(make_bot(hikari_cache=False), persist.SQLiteBackend(db_path))
    async with reopened:
        contents = {m.content async for m in reopened.messages.all()}
    assert contents >= {f"message {i}" for i in range(200)}
