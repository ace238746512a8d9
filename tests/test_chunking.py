"""Member chunks asked for at the writer's pace: ``Cache(chunk_members=True)``.

A real `hikari.GatewayBot` connects its real shard to the fake gateway of `tests.fake_discord`, which
sends READY and the guilds of a generated session, and answers each member request (opcode 8) with
all of that guild's chunks at once, as Discord does. The writer goes to a real SQLite file through a
gated backend the test holds shut where it needs the writer stuck. hikari's own cache, fed the same
events, is the reference for what is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import typing

import hikari

import hikaripersist as persist
from hikaripersist._internal import chunking
from hikaripersist._internal import gateway_session as gs
from tests.deepeq import assert_deep_equal
from tests.fake_discord import FakeDiscord
from tests.test_writer import GatedBackend, opens_gate_on_exit

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator

    import pytest

Payload = dict[str, typing.Any]

TIMEOUT: typing.Final = 60.0  # safety net only
BUDGET: typing.Final = 1500  # entities in the writer's queue
SIZES: typing.Final = (1800, 1200, 2600, 900, 1500)  # every synthetic guild is large (over 250)


def _gateway() -> tuple[list[tuple[str, Payload]], dict[str, list[Payload]]]:
    """READY and each guild's first GUILD_CREATE, and every guild's member chunks (not the by-id ones)."""
    records = gs.generate_session(seed=11, guilds=len(SIZES), members=SIZES, messages_per_channel=0, churn=0)
    initial: list[tuple[str, Payload]] = []
    chunks: dict[str, list[Payload]] = {}
    created: set[str] = set()
    for name, _shard, payload in records:
        if name == "READY" and not initial:
            initial.append((name, payload))
        elif name == "GUILD_CREATE" and payload["id"] not in created:
            created.add(payload["id"])
            initial.append((name, payload))
        elif name == "GUILD_MEMBERS_CHUNK" and "by-id" not in payload["nonce"]:
            chunks.setdefault(payload["guild_id"], []).append(payload)
    return initial, chunks


INITIAL, CHUNKS = _gateway()
LARGE: typing.Final = frozenset(p["id"] for name, p in INITIAL if name == "GUILD_CREATE" and p.get("large"))
# What each guild's chunks weigh in the queue's budget: one per chunk, member and presence.
WEIGHTS: typing.Final = {
    guild: sum(1 + len(c["members"]) + len(c.get("presences", ())) for c in chunks) for guild, chunks in CHUNKS.items()
}


class HeldCache(persist.Cache):
    """A cache that signals when something (its chunker) waits for room in a queue over budget."""

    __slots__ = ("held",)

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = asyncio.Event()

    async def wait_for_room(self) -> None:
        await asyncio.sleep(0)
        if self._over_budget():
            self.held.set()
        await super().wait_for_room()


class ChunkWatch:
    """Member chunks the bot received, per nonce, and the heaviest the cache's queue was after one."""

    def __init__(self, bot: hikari.GatewayBot, cache: persist.Cache) -> None:
        self._cache = cache
        self.received: dict[str | None, int] = {}
        self.completed: list[int] = []  # guild ids whose last chunk arrived, in order
        self.heaviest = 0
        self._changed = asyncio.Event()
        bot.event_manager.subscribe(hikari.MemberChunkEvent, self._on_chunk)

    async def _on_chunk(self, event: hikari.MemberChunkEvent) -> None:
        self.heaviest = max(self.heaviest, self._cache._pending_weight)
        seen = self.received[event.nonce] = self.received.get(event.nonce, 0) + 1
        if seen == event.chunk_count:
            self.completed.append(int(event.guild_id))
        self._changed.set()

    async def wait_for_guilds(self, count: int) -> None:
        async def wait() -> None:
            while len(self.completed) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), TIMEOUT)


@dataclasses.dataclass
class Connected:
    fake: FakeDiscord
    bot: hikari.GatewayBot
    cache: HeldCache
    backend: GatedBackend
    watch: ChunkWatch


@contextlib.asynccontextmanager
async def connected(
    db_path: pathlib.Path,
    *,
    auto_chunk: bool,
    chunks: dict[str, list[Payload]] | None = None,
    **options: typing.Any,
) -> AsyncGenerator[Connected, None]:
    """A bot connected to the fake gateway with a cache on a gated SQLite backend (gate shut at start)."""
    async with FakeDiscord(INITIAL, member_chunks=CHUNKS if chunks is None else chunks) as fake:
        bot = fake.make_bot(auto_chunk_members=auto_chunk)
        backend = GatedBackend(db_path, batch_size=1000)
        backend.gate.clear()
        cache = HeldCache(bot, backend, max_pending_entities=BUDGET, **options)
        watch = ChunkWatch(bot, cache)
        try:
            with opens_gate_on_exit(backend):
                await asyncio.wait_for(fake.run_bot(bot), TIMEOUT)
                yield Connected(fake, bot, cache, backend, watch)
        finally:
            await asyncio.wait_for(bot.close(), TIMEOUT)


def requested(fake: FakeDiscord) -> list[str]:
    return [str(request["guild_id"]) for request in fake.member_requests]


async def assert_members_equal_hikari(bot: hikari.GatewayBot, cache: persist.Cache) -> None:
    for guild_id in LARGE:
        expected = bot.cache.get_members_view_for_guild(int(guild_id))
        stored = {member.id: member async for member in cache.members.where(guild_id=int(guild_id))}
        assert len(stored) == len(expected) == len({m["user"]["id"] for c in CHUNKS[guild_id] for m in c["members"]})
        for user_id, member in expected.items():
            assert_deep_equal(stored[user_id], member)


# -- pacing ----------------------------------------------------------------------------------------------


async def test_one_guild_at_a_time_while_the_writer_is_behind(db_path: pathlib.Path) -> None:
    """With the writer stuck, the cache asks for one guild's members, receives them, and then waits for
    room instead of asking for the next guild; once the writer moves, every large guild is asked for, one
    after the other, and the queue never holds much more than its budget plus one guild's members."""
    async with connected(db_path, auto_chunk=False, chunk_members=True) as c:
        await asyncio.wait_for(c.cache.held.wait(), TIMEOUT)
        assert len(c.fake.member_requests) == 1
        assert len(c.watch.completed) == 1
        stats = await c.cache.stats()
        assert stats.member_requests == 1
        assert stats.guilds_to_chunk == len(LARGE) - 1
        assert stats.queue_weight >= BUDGET

        c.backend.gate.set()
        await c.watch.wait_for_guilds(len(LARGE))
        await asyncio.wait_for(c.cache.flush(), TIMEOUT)
        assert sorted(requested(c.fake)) == sorted(LARGE)
        assert len(set(requested(c.fake))) == len(LARGE)
        assert [str(g) for g in c.watch.completed] == requested(c.fake)
        assert all(r["presences"] and r["query"] == "" and r["limit"] == 0 for r in c.fake.member_requests)
        assert c.watch.heaviest <= BUDGET + max(WEIGHTS.values()), c.watch.heaviest
        stats = await c.cache.stats()
        assert (stats.member_requests, stats.guilds_to_chunk) == (len(LARGE), 0)
        await assert_members_equal_hikari(c.bot, c.cache)


async def test_hikari_auto_chunking_floods_the_queue(db_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    """The same guilds with hikari's ``auto_chunk_members``: hikari asks for every guild at once and, with the
    writer stuck, every guild's members pile up in the queue. ``chunk_members=True`` does not ask a second
    time; it warns that the bot should leave the asking to it."""
    caplog.set_level(logging.WARNING, logger="hikaripersist")
    async with connected(db_path, auto_chunk=True, chunk_members=True) as c:
        await c.watch.wait_for_guilds(len(LARGE))
        assert sorted(requested(c.fake)) == sorted(LARGE)
        assert c.watch.heaviest >= sum(WEIGHTS.values()), c.watch.heaviest
        assert (await c.cache.stats()).member_requests == 0
        c.backend.gate.set()
        await asyncio.wait_for(c.cache.flush(), TIMEOUT)
        await assert_members_equal_hikari(c.bot, c.cache)
    warnings = [r.getMessage() for r in caplog.records if "auto_chunk_members=False" in r.getMessage()]
    assert len(warnings) == 1


# -- what is asked for ---------------------------------------------------------------------------------


async def test_a_guild_left_while_queued_is_not_asked_for(db_path: pathlib.Path) -> None:
    async with connected(db_path, auto_chunk=False, chunk_members=True) as c:
        await asyncio.wait_for(c.cache.held.wait(), TIMEOUT)
        first = requested(c.fake)[0]
        left = next(g for g in sorted(LARGE) if g != first)
        gone = asyncio.Event()

        async def on_leave(event: hikari.GuildLeaveEvent) -> None:
            gone.set()

        c.bot.event_manager.subscribe(hikari.GuildLeaveEvent, on_leave)
        await c.fake.dispatch("GUILD_DELETE", {"id": left})
        await asyncio.wait_for(gone.wait(), TIMEOUT)  # the chunker's listener, subscribed first, ran first
        assert (await c.cache.stats()).guilds_to_chunk == len(LARGE) - 2
        c.backend.gate.set()
        await c.watch.wait_for_guilds(len(LARGE) - 1)
        assert left not in requested(c.fake)
        assert sorted(requested(c.fake)) == sorted(LARGE - {left})


async def test_a_new_session_forgets_the_queue_and_asks_for_the_guilds_it_sends_again(db_path: pathlib.Path) -> None:
    """A READY starts a new session: the guilds queued in the old one are forgotten (the new session sends
    its guilds again, and those are asked for)."""
    async with connected(db_path, auto_chunk=False, chunk_members=True) as c:
        await asyncio.wait_for(c.cache.held.wait(), TIMEOUT)
        first = requested(c.fake)[0]
        assert (await c.cache.stats()).guilds_to_chunk == len(LARGE) - 1
        ready = asyncio.Event()

        async def on_ready(event: hikari.ShardReadyEvent) -> None:
            ready.set()

        c.bot.event_manager.subscribe(hikari.ShardReadyEvent, on_ready)
        await c.fake.dispatch(*INITIAL[0])
        await asyncio.wait_for(ready.wait(), TIMEOUT)  # the chunker's listener, subscribed first, ran first
        assert (await c.cache.stats()).guilds_to_chunk == 0

        again = next(g for g in sorted(LARGE) if g != first)
        create = next(p for name, p in INITIAL if name == "GUILD_CREATE" and p["id"] == again)
        await c.fake.dispatch("GUILD_CREATE", create)
        c.backend.gate.set()
        await c.watch.wait_for_guilds(2)
        assert requested(c.fake) == [first, again]


async def test_a_guild_that_never_answers_is_given_up(
    db_path: pathlib.Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose chunks never come (lost with a connection) does not stop the others: after
    ``PROGRESS_TIMEOUT`` without a chunk the cache warns and asks for the next guild."""
    monkeypatch.setattr(chunking, "PROGRESS_TIMEOUT", 0.2)
    caplog.set_level(logging.WARNING, logger="hikaripersist")
    silent = sorted(LARGE)[0]
    answered = {g: c for g, c in CHUNKS.items() if g != silent}
    async with connected(db_path, auto_chunk=False, chunks=answered, chunk_members=True) as c:
        c.backend.gate.set()
        await c.watch.wait_for_guilds(len(LARGE) - 1)
        assert sorted(requested(c.fake)) == sorted(LARGE)
    assert any(f"guild {silent} sent 0 of ? member chunks" in r.getMessage() for r in caplog.records)


async def test_guilds_whose_members_the_rule_refuses_are_not_asked_for(db_path: pathlib.Path) -> None:
    refused = sorted(LARGE)[:2]
    rule = persist.Rule(guild=persist.GuildRule(guild_denylist=[int(g) for g in refused]))
    async with connected(db_path, auto_chunk=False, chunk_members=True, rule=rule) as c:
        c.backend.gate.set()
        await c.watch.wait_for_guilds(len(LARGE) - 2)
        assert sorted(requested(c.fake)) == sorted(LARGE - set(refused))

    no_members = persist.Rule(member=persist.MemberRule(enabled=False))
    async with connected(db_path, auto_chunk=False, chunk_members=True, rule=no_members) as c:
        c.backend.gate.set()
        await asyncio.wait_for(c.cache.flush(), TIMEOUT)
        assert c.fake.member_requests == []
        assert (await c.cache.stats()).guilds_to_chunk == 0


async def test_without_chunk_members_the_cache_asks_for_nothing(db_path: pathlib.Path) -> None:
    async with connected(db_path, auto_chunk=False) as c:
        c.backend.gate.set()
        await asyncio.wait_for(c.cache.flush(), TIMEOUT)
        assert c.fake.member_requests == []
        stats = await c.cache.stats()
        assert (stats.member_requests, stats.guilds_to_chunk) == (0, 0)
