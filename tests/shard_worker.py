"""One shard process of a sharded bot, for the multi-process tests and benchmarks.

``python -m tests.shard_worker URL SEED`` builds the same deterministic recorded session as its
coordinator, runs a real offline `hikari.GatewayBot` with a real `Cache` on the store ``URL``,
and then follows orders from standard input, one JSON value per line:

- ``[start, stop]``: replay records ``start`` to ``stop - 1`` of the session (they belong to this
  process's shards), wait until they are durable, then print ``ok`` (so the coordinator can hand
  the stream out in its order across processes);
- ``"stop"``: stop the bot (the cache drains and closes), print ``done`` and exit.

A process keeps one offline shard per shard id across orders, as a real shard keeps its session.
"""

from __future__ import annotations

import asyncio
import json
import sys
import typing

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

SESSION_SHARDS: typing.Final = 3


def session(seed: int) -> tuple[gateway_session.GatewayRecord, ...]:
    """The session every process and the coordinator build (same arguments, same records)."""
    return tuple(
        gateway_session.generate_session(seed=seed, guilds=4, members=(300, 90), churn=2.0, shard_count=SESSION_SHARDS)
    )


async def _lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line.strip()


async def run(url: str, seed: int) -> None:
    records = session(seed)
    bot = offline.make_offline_bot(cache_settings=persist_cache_off())
    cache = persist.Cache(bot, persist.backend_from_url(url))
    await offline.start_offline(bot)

    async def stream() -> AsyncIterator[gateway_session.GatewayRecord]:
        async for line in _lines():
            order = json.loads(line)
            if order == "stop":
                return
            start, stop = typing.cast("Sequence[int]", order)
            for index in range(start, stop):
                yield records[index]
            # Resumed for the next record: the previous ones were consumed (flush lets their events in).
            await cache.flush()
            print("ok", flush=True)

    await offline.replay(bot, stream(), shard_count=SESSION_SHARDS)
    await offline.stop_offline(bot)
    print("done", flush=True)


def persist_cache_off() -> typing.Any:
    import hikari

    # The shard processes keep nothing in memory: only the shared store.
    return hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2])))
