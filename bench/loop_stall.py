"""Event-loop health while the cache writes a huge GUILD_CREATE.

A 1 ms ticker task runs on the bot's event loop. hikari parses a GUILD_CREATE synchronously (the
loop cannot tick meanwhile, with or without hikari-persist); what the cache adds is measured after
that: the ticker's delay while the writer stores the guild, against the same window for plain
hikari with its default cache (which has nothing left to do).

Run: ``python bench/loop_stall.py [--members 100000]``; prints a table and writes JSON to
``bench/results/loop_stall.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import tempfile
import time
import typing

import hikari
from _common import Ticker

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline

if typing.TYPE_CHECKING:
    from hikaripersist._internal.gateway_session import GatewayRecord


def _big_guild_session(members: int) -> list[GatewayRecord]:
    records = list(gateway_session.generate_session(seed=3, guilds=1, members=[members], churn=0.0, varied=False))
    big = max((r for r in records if r[0] == "GUILD_CREATE"), key=lambda r: int(r[2].get("member_count", 0)))
    # Fold the member chunks back into one GUILD_CREATE carrying every member.
    for name, _, payload in records:
        if name == "GUILD_MEMBERS_CHUNK" and payload["guild_id"] == big[2]["id"]:
            big[2]["members"].extend(payload["members"])
    return [r for r in records if r[0] == "READY"] + [big]


async def _measure(records: list[GatewayRecord], *, with_persist: bool, path: pathlib.Path) -> dict[str, float]:
    if with_persist:
        bot = offline.make_offline_bot(
            cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)
        )
        cache: persist.Cache | None = persist.Cache(bot, persist.SQLiteBackend(path))
    else:
        bot = offline.make_offline_bot()
        cache = None
    await offline.start_offline(bot)
    ticker = Ticker()
    ticker.start()
    started = time.perf_counter()
    await offline.replay(bot, records)
    parsed = time.perf_counter()
    # Start the window after hikari's own synchronous parse: reset the ticker's clock.
    await asyncio.sleep(0)
    ticker.reset()
    if cache is not None:
        await cache.flush()
    else:
        await asyncio.sleep(0.2)
    window = time.perf_counter() - parsed
    await ticker.stop()
    await offline.stop_offline(bot)
    delays = sorted(ticker.delays)
    return {
        "parse_s": parsed - started,
        "window_s": window,
        "ticks": len(delays),
        "p50_ms": delays[len(delays) // 2] * 1000 if delays else 0.0,
        "p99_ms": delays[int(len(delays) * 0.99)] * 1000 if delays else 0.0,
        "max_ms": delays[-1] * 1000 if delays else 0.0,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()
    records = _big_guild_session(args.members)
    members = max(len({m["user"]["id"] for m in r[2].get("members", [])}) for r in records)
    with tempfile.TemporaryDirectory() as folder:
        plain = await _measure(records, with_persist=False, path=pathlib.Path(folder) / "unused.db")
        with_persist = await _measure(records, with_persist=True, path=pathlib.Path(folder) / "cache.db")
    print(f"GUILD_CREATE with {members:,} members; 1 ms ticker delay after hikari's parse")
    print(f"{'':<28}{'parse s':>9}{'window s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, row in (("plain hikari (its cache)", plain), ("hikari-persist (SQLite)", with_persist)):
        print(
            f"{name:<28}{row['parse_s']:>9.2f}{row['window_s']:>10.2f}"
            f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['max_ms']:>9.2f}"
        )
    out = pathlib.Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "loop_stall.json").write_text(
        json.dumps({"members": members, "plain": plain, "persist": with_persist}, indent=2)
    )


if __name__ == "__main__":
    asyncio.run(main())
