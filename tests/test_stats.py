"""``cache.stats()``: stored rows per kind (still readable as a mapping) and the writer's counters."""

from __future__ import annotations

import collections.abc
import sqlite3
import typing

import attrs
import pytest

import hikaripersist as persist
from hikaripersist._internal import engine as engine_module
from hikaripersist._internal import ops, schema
from hikaripersist.cache import KINDS
from tests.conftest import make_bot
from tests.test_writer import GatedBackend, RecordingBackend, message_ids, opens_gate_on_exit, running, stored

if typing.TYPE_CHECKING:
    import pathlib

    import hikari


async def test_a_fresh_cache_reports_an_empty_store(db_path: pathlib.Path) -> None:
    async with persist.Cache(make_bot(), persist.SQLiteBackend(db_path)) as cache:
        stats = await cache.stats()
    assert stats.rows == dict.fromkeys(KINDS, 0)
    assert stats.schema_version == schema.SCHEMA_VERSION
    assert stats.database_size is not None
    assert stats.database_size > 0  # the schema itself takes pages
    assert (stats.queue_depth, stats.batches_written, stats.events_written, stats.rows_written) == (0, 0, 0, 0)
    assert stats.events_failed == 0
    assert stats.last_flush_latency == 0


async def test_counters_follow_the_writer(db_path: pathlib.Path) -> None:
    backend = RecordingBackend(db_path, batch_size=25)
    async with running(backend) as (_bot, cache, world):
        first = await cache.stats()
        committed_events = sum(1 for batch in backend.batches for e in batch if not isinstance(e, ops.InternalOp))
        assert first.batches_written == len(backend.batches) > 0
        assert first.events_written == committed_events
        assert first.rows_written > first.events_written  # each event writes a few rows
        assert first.last_flush_latency > 0
        assert first.queue_depth == 0
        assert first.rows == {kind: await getattr(cache, kind).count() for kind in KINDS}

        backend.batches.clear()
        records = [world.message_create("x" * 2000 + str(i), author=i) for i in range(400)]
        await world.feed(records, yield_every=0)
        await cache.flush()
        second = await cache.stats()
        assert second.batches_written == first.batches_written + len(backend.batches)
        assert len(backend.batches) == 400 // 25
        assert second.events_written == first.events_written + 400
        # A new message writes its row, its author's records and its mentions: at least one row each.
        assert second.rows_written >= first.rows_written + 400
        assert second["messages"] == first["messages"] + 400
        # The store grew by at least the text written.
        assert first.database_size is not None
        assert second.database_size is not None
        assert second.database_size >= first.database_size + 400 * 2000
        assert second.database_size == _file_pages(db_path)


def _file_pages(path: pathlib.Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA page_count").fetchone()[0]) * int(db.execute("PRAGMA page_size").fetchone()[0])


async def test_queue_depth_while_the_writer_is_held(db_path: pathlib.Path) -> None:
    backend = GatedBackend(db_path, batch_size=50)
    async with running(backend) as (_, cache, world):
        before = await cache.stats()
        records = [world.message_create(f"queued {i}", author=i) for i in range(120)]
        with opens_gate_on_exit(backend):
            backend.gate.clear()
            await world.feed(records)
            held = await cache.stats()
            # Everything received waits; reads still answer from what is committed.
            assert held.queue_depth == cache.pending >= 120
            assert held.batches_written == before.batches_written
            assert held["messages"] == before["messages"]
        await cache.flush()
        after = await cache.stats()
        assert after.queue_depth == 0
        assert after.batches_written > before.batches_written
        ids = message_ids(records)
        assert stored(db_path, f"SELECT COUNT(*) FROM messages WHERE id IN ({', '.join('?' * len(ids))})", ids) == [
            (len(ids),)
        ]


async def test_failed_events_are_counted_not_written(db_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = engine_module.Engine._on_message_create

    def fail_on_boom(self: engine_module.Engine, event: hikari.MessageCreateEvent) -> None:
        original(self, event)
        if event.message.content == "boom":
            msg = "cannot store this one"
            raise RuntimeError(msg)

    monkeypatch.setattr(engine_module.Engine, "_on_message_create", fail_on_boom)
    async with running(persist.SQLiteBackend(db_path, batch_size=1000, flush_interval=60)) as (_, cache, world):
        before = await cache.stats()
        await world.feed([world.message_create("boom"), world.message_create("fine")], yield_every=0)
        await cache.flush()
        after = await cache.stats()
        assert after.events_failed == before.events_failed + 1
        assert after.events_written == before.events_written + 1
        assert after.batches_written == before.batches_written + 1
        assert after["messages"] == before["messages"] + 1


async def test_stats_still_reads_like_the_old_mapping(db_path: pathlib.Path) -> None:
    async with running(persist.SQLiteBackend(db_path)) as (_, cache, world):
        stats = await cache.stats()
        assert isinstance(stats, collections.abc.Mapping)
        assert tuple(stats) == KINDS
        assert len(stats) == len(KINDS)
        assert dict(stats) == dict(stats.rows)
        assert stats["members"] == await cache.members.count()
        assert sum(stats.values()) > 0
        # Equality is about the stored rows, as when stats() returned a dict: counters are left out.
        await world.feed([world.member_update(3, "a nick")])
        await cache.flush()
        again = await cache.stats()
        assert again.batches_written > stats.batches_written
        assert again == stats
        assert again == dict(stats.rows)
        assert stats != {**stats.rows, "members": -1}
        with pytest.raises(KeyError):
            stats["webhooks"]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            stats.queue_depth = 3  # pyright: ignore[reportAttributeAccessIssue]
        assert not hasattr(stats, "__dict__")
