"""Rows per second written by one and by several shard processes into one store, per backend.

A recorded 3-shard session (the session generator, ``--members`` spread over 6 guilds) is written by
``--writers`` processes, each a real offline ``hikari.GatewayBot`` with a ``persist.Cache`` replaying
the records of the shards it owns (shard ids dealt round-robin), as fast as it can, into one store.
The clock runs from the moment every process has built its bot and session (a "go" on standard
input) until every process has flushed its last batch and reported; rows per second are the rows
the caches' writers reported committing (``CacheStats.rows_written``) over that time; each backend
counts its own rows, so ``events/s`` (gateway events replayed per second, the same work for every
backend) is printed beside them. Each store is new and empty for each run. SQLite with one writer
is the baseline of the ratio column (of rows/s); every figure comes from the same run on the same
machine.

Backends (``BACKENDS`` below; adding one is one entry there):

- ``sqlite``: a file; several writers take turns on its write lock.
- ``postgresql``: ``--postgresql`` URL, a fresh schema per run, dropped afterwards.
- ``mysql``: ``--mysql`` URL (MySQL or MariaDB), a fresh database per run on that server, dropped
  afterwards (the URL's own database is only used to connect; the account needs ``CREATE`` and
  ``DROP``).
- ``redis``: ``--redis`` URL, a fresh key prefix per run, its keys deleted afterwards (needs
  ``hikaripersist.redis``).
- ``json``: one writer only (a JSON file has one owner).

A backend whose Python dependency is missing or whose server does not answer is reported as
skipped with the reason; a run whose writer process dies is reported as failed with the end of its
error output; neither stops the other runs.

Run: ``python bench/writers.py [--members 3000] [--writers 1,3] [--backends sqlite,postgresql,mysql,redis,json]``
(the defaults take a few minutes on two cores with every server up). It prints a table and writes
JSON to ``bench/results/writers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
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
    from collections.abc import AsyncGenerator, Callable, Sequence

SHARDS: typing.Final = 3
RESULTS: typing.Final = pathlib.Path(__file__).parent / "results" / "writers.json"


def session(members: int, seed: int) -> list[gateway_session.GatewayRecord]:
    sizes = [max(10, members * share // 100) for share in (40, 25, 15, 10, 6, 4)]
    return list(gateway_session.generate_session(seed=seed, guilds=6, members=sizes, churn=1.0, shard_count=SHARDS))


# -- the backends ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """The store one run writes into, as handed to every writer process."""

    url: str
    """A store URL (files, SQL servers) or the server's URL (Redis)."""
    key: str = ""
    """What keeps this run's data apart on a shared server (a key prefix); empty when the URL says it."""


def from_url(target: Target) -> persist.Backend:
    return persist.backend_from_url(target.url)


@dataclasses.dataclass(frozen=True)
class BackendKind:
    """One row group of the table: how to make a fresh store for a run, and open it in a writer."""

    name: str
    store: Callable[[str, str], contextlib.AbstractAsyncContextManager[Target]]
    """``(place, run id)`` -> a new, empty store, removed on exit. ``place`` is the server URL of
    a server backend, the run's temporary directory otherwise."""
    server: str | None = None
    """The default server URL (a ``--NAME`` option); ``None`` for a file in the temporary directory."""
    make: Callable[[Target], persist.Backend] = from_url
    """Builds the (unopened) backend in each writer process."""
    requires: tuple[str, ...] = ()
    """Modules that must import, or the backend is skipped."""
    one_writer: str | None = None
    """Why only one writer is measured (``None``: any number)."""


@contextlib.asynccontextmanager
async def sqlite_store(directory: str, run_id: str) -> AsyncGenerator[Target, None]:
    yield Target(f"sqlite:///{directory}/{run_id}.db")


@contextlib.asynccontextmanager
async def json_store(directory: str, run_id: str) -> AsyncGenerator[Target, None]:
    yield Target(f"json:///{directory}/{run_id}.json")


def with_query(url: str, **parameters: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(parameters.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@contextlib.asynccontextmanager
async def postgresql_store(url: str, run_id: str) -> AsyncGenerator[Target, None]:
    # The backend creates the schema; dropping it removes everything the run wrote.
    schema = f"bench_{run_id}"
    try:
        yield Target(with_query(url, schema=schema))
    finally:
        asyncpg: typing.Any = importlib.import_module("asyncpg")
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


async def mysql_execute(url: str, statement: str) -> None:
    """Run one statement on a connection to the server (no database selected)."""
    asyncmy: typing.Any = importlib.import_module("asyncmy")
    parts = urllib.parse.urlsplit(url)
    connection = await asyncmy.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=urllib.parse.unquote(parts.username) if parts.username else "root",
        password=urllib.parse.unquote(parts.password) if parts.password else "",
        autocommit=True,
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        connection.close()


@contextlib.asynccontextmanager
async def mysql_store(url: str, run_id: str) -> AsyncGenerator[Target, None]:
    # A MySQL store is a whole database: a new one per run, on the server the URL names.
    database = f"bench_{run_id}"
    await mysql_execute(url, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    try:
        yield Target(urllib.parse.urlsplit(url)._replace(path=f"/{database}").geturl())
    finally:
        await mysql_execute(url, f"DROP DATABASE IF EXISTS `{database}`")


@contextlib.asynccontextmanager
async def redis_store(url: str, run_id: str) -> AsyncGenerator[Target, None]:
    # A fresh key prefix per run (no glob characters); the backend names its keys "{prefix}:...",
    # and those are deleted afterwards.
    prefix = f"hpbench-{run_id}"
    try:
        yield Target(url, key=prefix)
    finally:
        redis: typing.Any = importlib.import_module("redis.asyncio")
        client = redis.from_url(url)
        try:
            batch: list[typing.Any] = []
            async for name in client.scan_iter(match=f"{prefix}:*", count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    await client.delete(*batch)
                    batch.clear()
            if batch:
                await client.delete(*batch)
        finally:
            await client.aclose()


def redis_open(target: Target) -> persist.Backend:
    backend: persist.Backend = importlib.import_module("hikaripersist.redis").RedisBackend(
        target.url, prefix=target.key
    )
    return backend


BACKENDS: typing.Final[Sequence[BackendKind]] = (
    BackendKind("sqlite", sqlite_store),
    BackendKind(
        "postgresql", postgresql_store, server="postgresql://postgres@127.0.0.1:5432/test", requires=("asyncpg",)
    ),
    BackendKind("mysql", mysql_store, server="mysql://root@127.0.0.1:3306/test", requires=("asyncmy",)),
    BackendKind(
        "redis",
        redis_store,
        server="redis://127.0.0.1:6379/0",
        make=redis_open,
        requires=("hikaripersist.redis", "redis.asyncio"),
    ),
    BackendKind("json", json_store, one_writer="a JSON file has one writer"),
)
BY_NAME: typing.Final[dict[str, BackendKind]] = {kind.name: kind for kind in BACKENDS}


def unavailable(kind: BackendKind, server: str | None) -> str | None:
    """Why ``kind`` cannot be measured here, or ``None``."""
    for module in kind.requires:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"{module} is not importable ({exc})"
    if server is None:
        return None
    parsed = urllib.parse.urlsplit(server)
    default_port = urllib.parse.urlsplit(kind.server).port if kind.server else None
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    if port is None:
        return f"the URL {server!r} names no port"
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"no server at {host}:{port} ({exc})"


# -- the worker process ----------------------------------------------------------------------------------


async def worker(kind: BackendKind, target: Target, members: int, seed: int, shards: frozenset[int]) -> None:
    records = [r for r in session(members, seed) if r[1] in shards]
    bot = offline.make_offline_bot(cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE))
    cache = persist.Cache(bot, kind.make(target))
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
    failed: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class WriterDied(RuntimeError):
    pass


async def _read(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 600)
    if not line:
        assert process.stderr is not None
        error = await process.stderr.read()
        msg = f"a writer process died: {error.decode(errors='replace')[-2000:]}"
        raise WriterDied(msg)
    return line.decode().strip()


async def measure(run: Run, target: Target, members: int, seed: int) -> None:
    owned = [frozenset(s for s in range(SHARDS) if s % run.writers == w) for w in range(run.writers)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            run.backend,
            target.url,
            target.key,
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


async def main(arguments: argparse.Namespace) -> None:
    writer_counts: Sequence[int] = [int(n) for n in arguments.writers.split(",")]
    kinds = [BY_NAME[name] for name in arguments.backends]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hikaripersist-bench-") as directory:
        for kind in kinds:
            server: str | None = getattr(arguments, kind.name) if kind.server is not None else None
            reason = unavailable(kind, server)
            for writers in writer_counts:
                run = Run(kind.name, writers)
                runs.append(run)
                if reason is not None:
                    run.skipped = reason
                elif kind.one_writer is not None and writers > 1:
                    run.skipped = kind.one_writer
                else:
                    run_id = f"w{writers}_{uuid.uuid4().hex[:10]}"
                    try:
                        async with kind.store(server or directory, run_id) as target:
                            await measure(run, target, arguments.members, arguments.seed)
                    except Exception as exc:  # one broken run is reported, the others still run
                        run.failed = str(exc) if isinstance(exc, WriterDied) else f"{type(exc).__name__}: {exc}"
                status = run.skipped or (run.failed and last_line(run.failed)) or f"{run.rows_per_second:,.0f} rows/s"
                print(f"  {kind.name:<11} {writers} writer(s): {status}", file=sys.stderr)
    report(runs, arguments)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else text


def report(runs: Sequence[Run], arguments: argparse.Namespace) -> None:
    baseline = next(
        (r for r in runs if r.backend == "sqlite" and r.writers == 1 and r.skipped is None and r.failed is None), None
    )
    print(f"\nWriters into one store ({arguments.members:,} members, 3 shards, seed {arguments.seed})\n")
    print(
        f"{'backend':<11} {'writers':>7} {'events':>9} {'rows':>9} {'seconds':>8} {'events/s':>9} {'rows/s':>10}"
        f" {'vs SQLite x1':>13}"
    )
    for run in runs:
        if run.skipped is not None:
            print(f"{run.backend:<11} {run.writers:>7}  skipped: {run.skipped}")
            continue
        if run.failed is not None:
            print(f"{run.backend:<11} {run.writers:>7}  failed: {last_line(run.failed)}")
            continue
        ratio = f"{run.rows_per_second / baseline.rows_per_second:.2f}x" if baseline else "n/a"
        print(
            f"{run.backend:<11} {run.writers:>7} {run.events:>9,} {run.rows:>9,} {run.seconds:>8.2f}"
            f" {run.events_per_second:>9,.0f} {run.rows_per_second:>10,.0f} {ratio:>13}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "members": arguments.members,
                "seed": arguments.seed,
                "runs": [
                    {
                        **dataclasses.asdict(r),
                        "rows_per_second": r.rows_per_second,
                        "events_per_second": r.events_per_second,
                    }
                    for r in runs
                ],
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS}")


def backend_names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown or not names:
        msg = f"unknown backend(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(BY_NAME)}"
        raise argparse.ArgumentTypeError(msg)
    return names


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=3000, help="members over the 6 guilds (default 3000)")
    parser.add_argument("--writers", default="1,3", help="comma-separated writer process counts (default 1,3)")
    parser.add_argument(
        "--backends",
        type=backend_names,
        default=list(BY_NAME),
        help=f"comma-separated subset of {','.join(BY_NAME)} (default: all, in that order)",
    )
    for kind in BACKENDS:
        if kind.server is not None:
            parser.add_argument(f"--{kind.name}", default=kind.server, help=f"server URL (default {kind.server})")
    parser.add_argument("--seed", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, name, url, key, members, seed, shards = sys.argv
        owned = frozenset(int(s) for s in shards.split(","))
        asyncio.run(worker(BY_NAME[name], Target(url, key), int(members), int(seed), owned))
    else:
        asyncio.run(main(parse()))
