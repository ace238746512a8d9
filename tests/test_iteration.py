"""Iterating many entities builds them in batches with flat memory, from one consistent snapshot."""

from __future__ import annotations

import tracemalloc
import typing

import hikari

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline
from tests.conftest import filled_cache, make_bot, session
from tests.reference import compare_with_hikari

if typing.TYPE_CHECKING:
    import pathlib


async def test_iteration_memory_stays_flat(tmp_path: pathlib.Path) -> None:
    async with filled_cache(tmp_path, 12_000, seed=9) as (_, cache):
        total = await cache.members.count()
        assert total >= 12_000

        tracemalloc.start()
        try:
            seen = 0
            async for member in cache.members.all():
                assert isinstance(member, hikari.Member)
                seen += 1
            _, iterating_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            everything = await cache.members.all().collect()
            _, collecting_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert seen == total == len(everything)
        # Iterating holds one batch at a time; collecting holds every member at once.
        assert iterating_peak * 5 < collecting_peak, (iterating_peak, collecting_peak)


async def test_iteration_sees_one_snapshot_while_the_store_changes(tmp_path: pathlib.Path) -> None:
    """Rows written while an iteration is under way do not appear in it (they do in the next one)."""
    async with filled_cache(tmp_path, 3_000, seed=9) as (bot, cache):
        before = await cache.members.count()
        guild_id = (await cache.guilds.all().first() or typing.cast("hikari.GatewayGuild", None)).id
        shard = offline.OfflineShard(0, 1, user_id=gateway_session.BOT_USER_ID)
        seen = 0
        async for _ in cache.members.all():
            if seen == 10:
                # A burst of joins lands (and is committed) mid-iteration.
                for i in range(600):
                    user = {"id": str(900_000_000_000_000_000 + i), "username": f"late{i}", "discriminator": "0"}
                    payload: dict[str, typing.Any] = {
                        "guild_id": str(guild_id),
                        "user": {**user, "avatar": None, "global_name": None},
                        "roles": [],
                        "joined_at": "2025-01-01T00:00:00+00:00",
                        "deaf": False,
                        "mute": False,
                        "flags": 0,
                    }
                    bot.event_manager.consume_raw_event("GUILD_MEMBER_ADD", shard, payload)
                await cache.flush()
                assert await cache.members.count() == before + 600
            seen += 1
        assert seen == before
        assert await cache.members.count() == before + 600


async def test_an_open_iteration_of_an_in_memory_database_does_not_block_writes() -> None:
    """In-memory databases share a cache between connections, where an open read statement locked whole
    tables: writes committed while an iteration was paused failed and were lost. Nothing may be lost."""
    bot = make_bot()
    # More members than an iteration fetches at once (500), so its statement stays open.
    records = session(seed=4, guilds=2, members=(900, 40))
    async with persist.Cache(bot, persist.SQLiteBackend(":memory:")) as cache:
        iterations: list[typing.AsyncIterator[hikari.Member]] = []

        async def stream() -> typing.AsyncIterator[gateway_session.GatewayRecord]:
            for index, record in enumerate(records):
                if index == len(records) // 2:
                    await cache.flush()
                    iteration = cache.members.all().__aiter__()
                    await iteration.__anext__()  # a statement is open, and stays paused
                    iterations.append(iteration)
                yield record

        await offline.replay(bot, stream())
        await cache.flush()
        assert iterations
        assert (await cache.stats()).events_failed == 0
        await compare_with_hikari(cache, bot)
        async for _ in iterations[0]:  # the paused iteration still completes
            pass
