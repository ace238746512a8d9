"""Several real shard processes write one store; the result equals hikari's cache fed the whole stream.

Each process (``tests/shard_worker.py``) runs its own offline GatewayBot and Cache for the shards it
owns. The coordinator hands the recorded 3-shard session out in stream order, a run of consecutive
records of one process at a time, and waits until that run is durable before the next: the order
across processes is the stream's (on a real bot it is whatever the gateways deliver).
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import sys
import typing

import pytest

import hikaripersist as persist
from hikaripersist._internal import offline
from tests import test_redis
from tests.conftest import make_bot, mysql_url
from tests.reference import compare_with_hikari
from tests.services import POSTGRESQL_URL, REDIS_URL
from tests.shard_worker import SESSION_SHARDS, session

if typing.TYPE_CHECKING:
    from collections.abc import Sequence


ROOT: typing.Final = pathlib.Path(__file__).resolve().parent.parent
TIMEOUT: typing.Final = 120.0
SEED: typing.Final = 21


async def _order(process: asyncio.subprocess.Process, order: object, expect: str) -> None:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write((json.dumps(order) + "\n").encode())
    await process.stdin.drain()
    line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
    assert line.decode().strip() == expect, f"worker answered {line!r}"


async def run_sharded(url: str, owners: Sequence[frozenset[int]]) -> None:
    """Replay the session through one process per entry of ``owners`` (the shard ids it runs)."""
    owner_of = {shard: index for index, shards in enumerate(owners) for shard in shards}
    assert sorted(owner_of) == list(range(SESSION_SHARDS))
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.shard_worker",
            url,
            str(SEED),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in owners
    ]
    try:
        records = session(SEED)
        start = 0
        while start < len(records):
            owner = owner_of[records[start][1]]
            stop = start
            while stop < len(records) and owner_of[records[stop][1]] == owner:
                stop += 1
            await _order(processes[owner], [start, stop], "ok")
            start = stop
        for process in processes:
            await _order(process, "stop", "done")
            assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def reference() -> typing.Any:
    bot = make_bot()
    await offline.replay(bot, session(SEED), shard_count=SESSION_SHARDS)
    return bot


OWNERS: typing.Final = {
    "one process per shard": (frozenset({0}), frozenset({1}), frozenset({2})),
    "two processes": (frozenset({0, 2}), frozenset({1})),
}


@pytest.mark.parametrize("layout", list(OWNERS))
async def test_shard_processes_share_one_sqlite_file(tmp_path: pathlib.Path, layout: str) -> None:
    path = tmp_path / "shared.db"
    await run_sharded(f"sqlite:///{path}", OWNERS[layout])
    bot = await reference()
    async with persist.ReadOnlyCache(persist.SQLiteBackend(path), app=bot) as cache:
        counts = await compare_with_hikari(cache, bot)
    assert counts["guilds"] >= 4
    assert counts["members"] > 400


async def test_shard_processes_share_one_postgresql_store(postgresql_schema: str) -> None:
    url = f"{POSTGRESQL_URL}?schema={postgresql_schema}"
    await run_sharded(url, OWNERS["one process per shard"])
    bot = await reference()
    async with persist.ReadOnlyCache(persist.backend_from_url(url), app=bot) as cache:
        counts = await compare_with_hikari(cache, bot)
    assert counts["members"] > 400


async def test_shard_processes_share_one_mysql_store(mysql_database: str) -> None:
    url = mysql_url(mysql_database)
    await run_sharded(url, OWNERS["two processes"])  # three writers: PostgreSQL's test (time)
    bot = await reference()
    async with persist.ReadOnlyCache(persist.backend_from_url(url), app=bot) as cache:
        counts = await compare_with_hikari(cache, bot)
    assert counts["members"] > 400


async def test_shard_processes_share_one_redis_store(redis_prefix: str) -> None:
    url = f"{REDIS_URL}?prefix={redis_prefix}"
    await run_sharded(url, OWNERS["two processes"])
    bot = await reference()
    async with persist.ReadOnlyCache(persist.backend_from_url(url), app=bot) as cache:
        counts = await compare_with_hikari(cache, bot)
    assert counts["members"] > 400
    # The sets other clients read were kept right by all the writers.
    async with test_redis.client() as redis:
        assert await test_redis.lookups_match_hikari(redis, redis_prefix, bot) > 10
