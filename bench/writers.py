"""Rows per second written by one and by several shard processes into one store, per backend.

A recorded 3-shard session (the session generator, ``--members`` spread over 6 guilds) is written by
``--writers`` processes, each a real offline ``hikari.GatewayBot`` with a ``persist.Cache`` replaying
the records of the shards it owns (shard ids dealt round-robin), as fast as it can, into one store.
The clock runs from the moment every process has built its bot and session (a "go" on standard
input) until every process has flushed its last batch and reported; rows per second are the rows
the caches' writers reported committing (``CacheStats.rows_written``) over that time. Each store is
new and empty for each run. SQLite with one writer is the baseline of the ratio column; every
figure comes from the same run on the same machine.

Backends: ``sqlite`` (a file; several writers take turns on its write lock), ``json`` (one
writer only: a JSON file has one owner), ``postgresql`` (``--postgresql`` URL, a fresh schema per
run). A server that is not reachable is reported as skipped.

Run: ``python bench/writers.py [--members 3000] [--writers 1,3] [--backends sqlite,postgresql,json]``
(the defaults take about a minute on two cores). It prints a table and writes JSON to
``bench/results/writers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import pathlib
import socket
import sys
import tempfile
import time
import typing
import urllib.parse
import uuid

import hikari

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

SHARDS: typing.Final = 3
RESULTS: typing.Final = pathlib.Path(__file__).parent / "results" / "writers.json"


def session(members: int, seed: int) -> list[gateway_session.GatewayRecord]:
    sizes = [max(10, members * share // 100) for share in (40, 25, 15, 10, 6, 4)]
    return list(gateway_session.generate_session(seed=seed, guilds=6, members=sizes, churn=1.0, shard_count=SHARDS))


# -- the worker process ----------------------------------------------------------------------------------


async def worker(url: str, members: int, seed: int, shards: frozenset[int]) -> None:
    records = [r for r in session(members, seed) if r[1] in shards]
    bot = offline.make_offline_bot(cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE))
    cache = persist.Cache(bot, persist.backend_from_url(url))
    await offline.start_offline(bot)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await offline.replay(bot, records, shard_count=SHARDS, yield_every=50)
    await cache.flush()
    stats = await cache.stats()
    await offline.stop_offline(bot)
    print(json.dumps({"events": len(records), "rows": stats.rows_written}), flush=True)


# -- the coordinator ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    backend: str
    writers: int
    events: int = 0
    rows: int = 0
    seconds: float = 0.0
    skipped: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


async def _read(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 600)
    if not line:
        assert process.stderr is not None
        error = await process.stderr.read()
        msg = f"a writer process died: {error.decode(errors='replace')[-2000:]}"
        raise RuntimeError(msg)
    return line.decode().strip()


async def measure(run: Run, url: str, members: int, seed: int) -> None:
    owned = [frozenset(s for s in range(SHARDS) if s % run.writers == w) for w in range(run.writers)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            url,
            str(members),
            str(seed),
            ",".join(map(str, sorted(shards))),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for shards in owned
    ]
    try:
        for process in processes:
            assert await _read(process) == "ready"
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        reports = [json.loads(await _read(process)) for process in processes]
        run.seconds = time.perf_counter() - started
        run.events = sum(r["events"] for r in reports)
        run.rows = sum(r["rows"] for r in reports)
        for process in processes:
            await process.wait()
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


def reachable(url: str) -> str | None:
    parsed = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), timeout=2):
            return None
    except OSError as exc:
        return f"no server at {parsed.hostname}:{parsed.port} ({exc})"


async def drop_schema(url: str, schema: str) -> None:
    import importlib

    asyncpg: typing.Any = importlib.import_module("asyncpg")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


async def main(arguments: argparse.Namespace) -> None:
    writer_counts: Sequence[int] = [int(n) for n in arguments.writers.split(",")]
    backends: Sequence[str] = arguments.backends.split(",")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hikaripersist-bench-") as directory:
        for backend in backends:
            for writers in writer_counts:
                run = Run(backend, writers)
                runs.append(run)
                if backend == "json" and writers > 1:
                    run.skipped = "a JSON file has one writer"
                    continue
                if backend == "sqlite":
                    await measure(run, f"sqlite:///{directory}/w{writers}.db", arguments.members, arguments.seed)
                elif backend == "json":
                    await measure(run, f"json:///{directory}/w{writers}.json", arguments.members, arguments.seed)
                elif backend == "postgresql":
                    run.skipped = reachable(arguments.postgresql)
                    if run.skipped is None:
                        schema = f"bench_{uuid.uuid4().hex[:10]}"
                        try:
                            await measure(
                                run, f"{arguments.postgresql}?schema={schema}", arguments.members, arguments.seed
                            )
                        finally:
                            await drop_schema(arguments.postgresql, schema)
                else:
                    run.skipped = f"unknown backend {backend!r}"
                print(f"  {backend:<11} {writers} writer(s): {run.rows_per_second:,.0f} rows/s", file=sys.stderr)
    report(runs, arguments)


def report(runs: Sequence[Run], arguments: argparse.Namespace) -> None:
    baseline = next((r for r in runs if r.backend == "sqlite" and r.writers == 1 and r.skipped is None), None)
    print(f"\nWriters into one store ({arguments.members:,} members, 3 shards, seed {arguments.seed})\n")
    print(
        f"{'backend':<11} {'writers':>7} {'events':>9} {'rows':>9} {'seconds':>8} {'rows/s':>10} {'vs SQLite x1':>13}"
    )
    for run in runs:
        if run.skipped is not None:
            print(f"{run.backend:<11} {run.writers:>7}  skipped: {run.skipped}")
            continue
        ratio = run.rows_per_second / baseline.rows_per_second if baseline else float("nan")
        print(
            f"{run.backend:<11} {run.writers:>7} {run.events:>9,} {run.rows:>9,} {run.seconds:>8.2f}"
            f" {run.rows_per_second:>10,.0f} {ratio:>12.2f}x"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "members": arguments.members,
                "seed": arguments.seed,
                "runs": [{**dataclasses.asdict(r), "rows_per_second": r.rows_per_second} for r in runs],
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=3000, help="members over the 6 guilds (default 3000)")
    parser.add_argument("--writers", default="1,3", help="comma-separated writer process counts (default 1,3)")
    parser.add_argument("--backends", default="sqlite,postgresql,json", help="comma-separated backends")
    parser.add_argument("--postgresql", default="postgresql://postgres@127.0.0.1:5432/test", help="server URL")
    parser.add_argument("--seed", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, url, members, seed, shards = sys.argv
        asyncio.run(worker(url, int(members), int(seed), frozenset(int(s) for s in shards.split(","))))
    else:
        asyncio.run(main(parse()))
