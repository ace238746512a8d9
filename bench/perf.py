"""hikari-persist's performance in one run: ingest, event-loop health, reads, memory and cold start.

One command measures, side by side in the same run, what the issue's targets are about, and prints
each target next to the measured figure:

1. ingest: gateway events per second until durable (``replay`` + ``await cache.flush()``) of one
   session from the bundled generator, with persist attached and hikari's own cache left on, with
   persist and hikari's cache off (``CacheComponents.NONE``), and for plain hikari with its default
   cache and no persist. The storage part is timed alone: a second persist run holds its writer
   back until the whole session is parsed and queued, then ``flush()`` measures the writer by itself
   (the engine turning events into rows, and SQLite). Its floor is raw ``sqlite3``: the rows the
   store ends up holding, copied table by table and inserted with ``executemany`` into the same
   tables (same columns, keys and indexes) of a fresh file in one transaction, with the store's
   pragmas (WAL, ``synchronous=NORMAL``); the same without the secondary indexes is shown too.
   Targets: persist at least as fast as plain hikari, the storage part within 2x of raw SQLite.
2. event-loop health: the delay of a 1 ms ticker task (see ``loop_stall.py``) while the biggest
   guild of the session (its ``GUILD_CREATE`` and member chunks) is ingested, from its first record
   until durable, with and without persist (each configuration run ``--repeat`` times, delays
   pooled). hikari parses every record synchronously, with or without persist, so its parse of a
   1,000-member chunk is in both. Target: persist's p99 at most 5 ms above plain hikari's.
3. reads, on the store of the persist run (hikari's cache off), opened by a fresh process:
   ``await cache.members.get(guild_id=, member_id=)`` of random existing members, iteration of
   ``cache.members.where(guild_id=biggest)`` and of ``cache.members.all()`` in members per second,
   against hikari's in-memory cache of the plain run (``bot.cache.get_member``, its member views)
   and raw ``sqlite3`` (point selects and selects of the ``data`` column: rows, no objects).
   Targets: 50,000 lookups/s, 100,000 members/s iterated.
4. memory: peak RSS (a child process each; ``VmHWM``, see :func:`_peak_rss_bytes`) holding
   ``--memory-members`` members (1,000,000 at full scale) with persist and hikari's cache off,
   against hikari's in-memory cache holding the same. Members come in ``GUILD_MEMBERS_CHUNK`` of
   1,000 made lazily from member payloads of the generator (new user ids, one chunk alive at a time)
   into a few huge guilds, so neither the generator nor the session is held in memory. The chunks
   come as fast as hikari parses them, faster than the writer stores them: what waits in the
   writer's queue is part of the figure (past the budget it waits in the spill file, on disk).
   Three more runs, for comparison: the same with ``Cache(spill=False)`` (the whole backlog waits in
   memory), the cache requesting the members itself (``Cache(chunk_members=True)``, the bot built
   with ``auto_chunk_members=False``; the offline shard answers each request with all of that
   guild's chunks at once, as Discord does), and a producer awaiting ``cache.wait_for_room()``
   before each record (what a shard cannot do).
   Target: persist under a quarter of hikari's figure.
   ``--skip-memory`` leaves it out.
5. cold start: a fresh process reopens the persist run's store, from constructing ``Cache`` /
   ``SQLiteBackend`` (opened the way a bot opens it) to the answer of the first ``get()``; also
   with a ``ReadOnlyCache``. The time since the process was spawned (interpreter and imports
   included) is shown for information. Target: under 0.5 s.

Every measurement that builds a bot runs in a child process of its own (this script with
``--child``), so caches, garbage and allocator state of one do not affect another.

Run: ``python bench/perf.py [--scale small|full] [--skip-memory] [--memory-members N] [--memory-guilds N]``. ``small``
(default) takes about a minute; ``full`` (50 guilds, the biggest with 25,000 members, ~217,000
events, 1,000,000 members for the memory test) takes about 20 minutes on two cores. It prints a table,
and writes ``bench/results/perf.json`` and a plot of the ingest and read figures to
``bench/results/perf.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import gc
import importlib
import json
import os
import pathlib
import platform
import random
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import typing

import hikari
from _common import Sample, Ticker, timed, timed_sync

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence

    from hikaripersist._internal.gateway_session import GatewayRecord
    from hikaripersist.backend import ChangeRequest, WriteResult
    from hikaripersist.rules import Rule

JsonDict: typing.TypeAlias = "dict[str, typing.Any]"
RESULTS: typing.Final = pathlib.Path(__file__).parent / "results"
_CHUNK: typing.Final = 1000  # members per GUILD_MEMBERS_CHUNK, as Discord sends them
_TEMPLATE_MEMBERS: typing.Final = 1000  # generated members per guild whose payloads the memory test clones
_SYNTHETIC_USER_BASE: typing.Final = 900_000_000_000_000_000
_CHILD_TIMEOUT: typing.Final = 3 * 3600.0


@dataclasses.dataclass(frozen=True)
class Scale:
    """The size of one run."""

    guilds: int
    biggest: int
    """Members of the biggest guild; guild ``i`` (0-based) gets ``biggest / (i + 1)``."""
    messages_per_channel: int
    churn: float
    memory_members: int
    memory_guilds: int
    lookups: int
    repeat: int

    def guild_sizes(self) -> list[int]:
        return [max(30, self.biggest // (i + 1)) for i in range(self.guilds)]


SCALES: typing.Final[dict[str, Scale]] = {
    "small": Scale(
        guilds=10,
        biggest=2_000,
        messages_per_channel=20,
        churn=1.0,
        memory_members=50_000,
        memory_guilds=2,
        lookups=2_000,
        repeat=3,
    ),
    "full": Scale(
        guilds=50,
        biggest=25_000,
        messages_per_channel=130,
        churn=2.5,
        memory_members=1_000_000,
        memory_guilds=4,
        lookups=5_000,
        repeat=3,
    ),
}


# --- timing helpers ------------------------------------------------------------------------------------


def _percentiles(delays: list[float]) -> JsonDict:
    delays = sorted(delays)
    if not delays:
        return {"ticks": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {
        "ticks": len(delays),
        "p50_ms": delays[len(delays) // 2] * 1000,
        "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000,
        "max_ms": delays[-1] * 1000,
    }


def _peak_rss_bytes() -> int:
    """This process's peak resident set size.

    On Linux, ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` is not used there because it keeps the
    high-water mark of the process image replaced by ``exec``, i.e. of the coordinator that forked
    this child (a child started by a 600 MiB parent reports 600 MiB), so it would add the
    coordinator's size to every figure.
    """
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("inf")


# --- bots and caches ---------------------------------------------------------------------------------


class TimedSQLite(persist.SQLiteBackend):
    """The SQLite backend, timing its writes; with a gate, writes wait until it is opened."""

    def __init__(self, path: str | os.PathLike[str], *, gate: asyncio.Event | None = None) -> None:
        super().__init__(path)
        self.gate = gate
        self.write_seconds = 0.0
        self.writes = 0

    async def _timed_write(self, write: Callable[[], Awaitable[WriteResult]]) -> WriteResult:
        if self.gate is not None:
            await self.gate.wait()
        started = time.perf_counter()
        try:
            return await write()
        finally:
            self.write_seconds += time.perf_counter() - started
            self.writes += 1

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        return await self._timed_write(lambda: super(TimedSQLite, self).write(batch, rule=rule))

    async def write_with_changes(
        self, batch: Sequence[hikari.Event], *, rule: Rule | None, changes: ChangeRequest
    ) -> WriteResult:
        return await self._timed_write(
            lambda: super(TimedSQLite, self).write_with_changes(batch, rule=rule, changes=changes)
        )


def _no_hikari_cache() -> hikari.impl.CacheSettings:
    return hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)


@dataclasses.dataclass
class Setup:
    """One configuration under test: a bot, and maybe a persist cache on it."""

    bot: hikari.GatewayBot
    cache: persist.Cache | None
    backend: TimedSQLite | None


CONFIGS: typing.Final[dict[str, str]] = {
    "plain": "plain hikari, its default cache (no persist)",
    "persist_hikari": "persist + hikari's own cache on",
    "persist": "persist, hikari's cache off",
    "persist_unspilled": "    same, Cache(spill=False)",
}


def _setup(
    config: str,
    path: pathlib.Path,
    *,
    gate: asyncio.Event | None = None,
    max_pending: int = 10_000,
    spill: bool = True,
) -> Setup:
    if config == "plain":
        return Setup(offline.make_offline_bot(), None, None)
    if config == "persist_hikari":
        bot = offline.make_offline_bot()
    else:
        bot = offline.make_offline_bot(cache_settings=_no_hikari_cache())
    backend = TimedSQLite(path, gate=gate)
    spill = spill and config != "persist_unspilled"
    return Setup(bot, persist.Cache(bot, backend, max_pending=max_pending, spill=spill), backend)


def _load_session(path: str) -> list[GatewayRecord]:
    records = list(gateway_session.read_session(path))
    # The session stays alive for the whole child: keep the collector from scanning it again and again.
    gc.collect()
    gc.freeze()
    return records


# --- child: ingest -------------------------------------------------------------------------------------


async def child_ingest(spec: JsonDict) -> JsonDict:
    """Replay the session into one configuration; ``isolated`` holds the writer until it is all queued."""
    config: str = spec["config"]
    isolated: bool = spec.get("isolated", False)
    records = _load_session(spec["session"])
    gate = asyncio.Event() if isolated else None
    # Isolated: every event waits in the queue, in memory (the writer alone is measured, not the
    # spill file), and the queue must not push back on the listeners.
    setup = _setup(
        config,
        pathlib.Path(spec["db"]),
        gate=gate,
        max_pending=10**9 if isolated else 10_000,
        spill=not isolated,
    )
    await offline.start_offline(setup.bot)
    started = time.perf_counter()
    stats = await offline.replay(setup.bot, records)
    replayed = time.perf_counter()
    result: JsonDict = {"config": config, "isolated": isolated, "events": stats.events, "errors": stats.errors}
    if setup.cache is not None and setup.backend is not None:
        if gate is not None:
            result["queued"] = setup.cache.pending
            gate.set()
        writer_started = time.perf_counter()
        await setup.cache.flush()
        flushed = time.perf_counter()
        cache_stats = await setup.cache.stats()
        result.update(
            replay_s=replayed - started,
            flush_s=flushed - replayed,
            total_s=flushed - started,
            writer_alone_s=flushed - writer_started if isolated else None,
            write_calls_s=setup.backend.write_seconds,
            batches=setup.backend.writes,
            rows_written=cache_stats.rows_written,
            events_failed=cache_stats.events_failed,
            members=cache_stats["members"],
            database_bytes=cache_stats.database_size,
            events_spilled=cache_stats.events_spilled,
        )
    else:
        result.update(replay_s=replayed - started, flush_s=0.0, total_s=replayed - started)
        result["reads"] = _hikari_reads(setup.bot, spec)
    result["events_per_s"] = result["events"] / result["total_s"]
    await offline.stop_offline(setup.bot)
    return result


def _hikari_reads(bot: hikari.GatewayBot, spec: JsonDict) -> JsonDict:
    """hikari's in-memory answers to the read measurements (the plain run's cache)."""
    views = bot.cache.get_members_view()
    keys = [(int(g), int(u)) for g, view in views.items() for u in view]
    sample = random.Random(spec["seed"]).sample(keys, min(spec["lookups"], len(keys)))
    guild_id = int(spec["guild_id"])
    rounds = 20  # in-memory lookups are too quick to time one pass of the keys

    def lookups() -> int:
        found = 0
        for _ in range(rounds):
            for g, u in sample:
                found += bot.cache.get_member(g, u) is not None
        return found

    def guild() -> int:
        return sum(1 for _ in bot.cache.get_members_view_for_guild(guild_id).values())

    def everything() -> int:
        return sum(1 for view in bot.cache.get_members_view().values() for _ in view.values())

    repeat = int(spec["repeat"])
    return {
        "members": len(keys),
        "get_member": timed_sync(lookups, max(repeat, 3)).as_json(),
        "guild_view": timed_sync(guild, max(repeat, 3)).as_json(),
        "all_views": timed_sync(everything, repeat).as_json(),
    }


# --- child: reads --------------------------------------------------------------------------------------


def _open_read_only(path: str) -> sqlite3.Connection:
    return sqlite3.connect(pathlib.Path(path).absolute().as_uri() + "?mode=ro", uri=True)


async def child_reads(spec: JsonDict) -> JsonDict:
    path: str = spec["db"]
    guild_id = int(spec["guild_id"])
    repeat = int(spec["repeat"])
    quick = max(repeat, 3)
    raw = _open_read_only(path)
    keys: list[tuple[int, int]] = [(int(g), int(u)) for g, u in raw.execute("SELECT guild_id, user_id FROM members")]
    sample = random.Random(spec["seed"]).sample(keys, min(spec["lookups"], len(keys)))
    gc.collect()
    gc.freeze()
    bot = offline.make_offline_bot(cache_settings=_no_hikari_cache())
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    await offline.start_offline(bot)
    members = cache.members

    async def get() -> int:
        found = 0
        for g, u in sample:
            found += await members.get(guild_id=g, member_id=u) is not None
        return found

    async def iterate(iterator: persist.CacheIterator[hikari.Member]) -> int:
        count = 0
        async for _ in iterator:
            count += 1
        return count

    async def where() -> int:
        return await iterate(members.where(guild_id=guild_id))

    async def everything() -> int:
        return await iterate(members.all())

    point = "SELECT data FROM member_records WHERE guild_id = ? AND user_id = ?"

    def raw_get() -> int:
        return sum(raw.execute(point, key).fetchone() is not None for key in sample)

    def raw_where() -> int:
        return len(raw.execute("SELECT data FROM members WHERE guild_id = ?", (guild_id,)).fetchall())

    def raw_all() -> int:
        return len(raw.execute("SELECT data FROM members").fetchall())

    result: JsonDict = {
        "members": len(keys),
        "guild_members": sum(1 for g, _ in keys if g == guild_id),
        "get": (await timed(get, quick)).as_json(),
        "where": (await timed(where, quick)).as_json(),
        "all": (await timed(everything, repeat)).as_json(),
        "raw_get": timed_sync(raw_get, quick).as_json(),
        "raw_where": timed_sync(raw_where, quick).as_json(),
        "raw_all": timed_sync(raw_all, repeat).as_json(),
    }
    raw.close()
    await offline.stop_offline(bot)
    return result


# --- child: cold start ---------------------------------------------------------------------------------


async def child_cold(spec: JsonDict) -> JsonDict:
    path: str = spec["db"]
    guild_id, user_id = int(spec["guild_id"]), int(spec["user_id"])
    started = time.perf_counter()
    bot = offline.make_offline_bot(cache_settings=_no_hikari_cache())
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    await offline.start_offline(bot)  # StartingEvent: the cache opens its backend, as in bot.start()
    opened = time.perf_counter()
    member = await cache.members.get(guild_id=guild_id, member_id=user_id)
    answered = time.perf_counter()
    since_spawn = time.time() - float(spec["spawned_at"])
    await offline.stop_offline(bot)

    ro_started = time.perf_counter()
    read_only = persist.ReadOnlyCache(persist.SQLiteBackend(path))
    await read_only.open()
    ro_opened = time.perf_counter()
    ro_member = await read_only.members.get(guild_id=guild_id, member_id=user_id)
    ro_answered = time.perf_counter()
    await read_only.close()
    return {
        "cache": {"open_s": opened - started, "first_get_s": answered - opened, "total_s": answered - started},
        "read_only": {
            "open_s": ro_opened - ro_started,
            "first_get_s": ro_answered - ro_opened,
            "total_s": ro_answered - ro_started,
        },
        "since_spawn_s": since_spawn,
        "found": member is not None and ro_member is not None,
    }


# --- child: event-loop health --------------------------------------------------------------------------


def _biggest_guild_records(path: str, guild_id: str) -> list[GatewayRecord]:
    """``READY``, the guild's first ``GUILD_CREATE`` and the member chunks that follow it."""
    out: list[GatewayRecord] = []
    created = False
    for name, shard, payload in gateway_session.read_session(path):
        if name == "READY":
            out.append((name, shard, payload))
        elif name == "GUILD_CREATE" and payload.get("id") == guild_id and not created:
            out.append((name, shard, payload))
            created = True
        elif name == "GUILD_MEMBERS_CHUNK" and created and payload.get("guild_id") == guild_id:
            out.append((name, shard, payload))
            if int(payload["chunk_index"]) >= int(payload["chunk_count"]) - 1:
                break
    return out


async def _loop_once(
    config: str, records: list[GatewayRecord], path: pathlib.Path, window: float
) -> tuple[list[float], JsonDict]:
    """Ticker delays from the first record until durable, and at least ``window`` seconds."""
    setup = _setup(config, path)
    await offline.start_offline(setup.bot)
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.01)
    ticker.reset()
    delays = ticker.delays
    started = time.perf_counter()
    await offline.replay(setup.bot, records)
    replayed = time.perf_counter()
    during_replay = len(delays)
    if setup.cache is not None:
        await setup.cache.flush()
    durable = time.perf_counter()
    if durable - started < window:
        await asyncio.sleep(window - (durable - started))
    await ticker.stop()
    observed = time.perf_counter() - started
    await offline.stop_offline(setup.bot)
    after = _percentiles(delays[during_replay:])
    return delays, {
        "replay_s": replayed - started,
        "until_durable_s": durable - started,
        "window_s": observed,
        "after_replay": after,
    }


async def child_loop(spec: JsonDict) -> JsonDict:
    records = _biggest_guild_records(spec["session"], spec["guild_id"])
    members = sum(len(p.get("members", ())) for n, _, p in records if n in ("GUILD_CREATE", "GUILD_MEMBERS_CHUNK"))
    gc.collect()
    gc.freeze()
    folder = pathlib.Path(spec["folder"])
    pooled: list[float] = []
    runs: list[JsonDict] = []
    for run in range(int(spec["repeat"])):
        path = folder / f"loop_{spec['config']}_{run}.db"
        delays, info = await _loop_once(spec["config"], records, path, float(spec.get("window", 0.0)))
        pooled += delays
        runs.append({**info, **_percentiles(delays)})
    return {"config": spec["config"], "records": len(records), "members": members, **_percentiles(pooled), "runs": runs}


# --- child: memory -------------------------------------------------------------------------------------


class _MemoryWorld:
    """About ``total`` members in ``guilds`` huge guilds, their chunks made lazily one at a time.

    The guilds, and 1,000 member payloads of each that are cloned with new user ids, come from the
    generator; only ``READY``, each guild's first ``GUILD_CREATE`` and its own chunks are kept.
    """

    def __init__(self, total: int, guilds: int, seed: int) -> None:
        self.ready, self.creates, self.templates, self.shard_of = _memory_skeleton(guilds, seed)
        self.per_guild = max(1, total // max(1, len(self.creates)))
        self._next_user = _SYNTHETIC_USER_BASE

    def flood(self) -> Iterator[GatewayRecord]:
        """Every guild's ``GUILD_CREATE`` followed by all its chunks, as hikari's auto chunking gets them."""
        yield from self.ready
        for guild_id in self.creates:
            yield self.create(guild_id)
            yield from self.chunks(guild_id)

    def create(self, guild_id: str) -> GatewayRecord:
        return "GUILD_CREATE", self.shard_of[guild_id], {**self.creates[guild_id], "member_count": self.per_guild}

    def chunks(self, guild_id: str) -> Iterator[GatewayRecord]:
        per_guild = self.per_guild
        chunk_count = -(-per_guild // _CHUNK)
        pool = self.templates[guild_id]
        for index in range(chunk_count):
            size = min(_CHUNK, per_guild - index * _CHUNK)
            members: list[JsonDict] = []
            for i in range(size):
                template = pool[(index * _CHUNK + i) % len(pool)]
                name = f"{template['user']['username']}{i}"
                user = {**template["user"], "id": str(self._next_user), "username": name}
                members.append({**template, "user": user})
                self._next_user += 1
            payload: JsonDict = {
                "guild_id": guild_id,
                "members": members,
                "chunk_index": index,
                "chunk_count": chunk_count,
                "not_found": [],
            }
            yield "GUILD_MEMBERS_CHUNK", self.shard_of[guild_id], payload

    async def on_request(self, requests: asyncio.Queue[tuple[str, str | None]]) -> AsyncIterator[GatewayRecord]:
        """``READY`` and every ``GUILD_CREATE``, then each guild's chunks once its members are requested
        (all of them at once, with the request's nonce, as Discord sends them)."""
        for record in self.ready:
            yield record
        for guild_id in self.creates:
            yield self.create(guild_id)
        for _ in self.creates:
            guild_id, nonce = await requests.get()
            for name, shard, payload in self.chunks(guild_id):
                yield name, shard, {**payload, "nonce": nonce} if nonce is not None else payload


def _memory_skeleton(
    guilds: int, seed: int
) -> tuple[list[GatewayRecord], dict[str, JsonDict], dict[str, list[JsonDict]], dict[str, int]]:
    skeleton = list(
        gateway_session.generate_session(
            seed=seed,
            guilds=guilds,
            members=[_TEMPLATE_MEMBERS] * guilds,
            churn=0.0,
            messages_per_channel=0,
            varied=False,
        )
    )
    creates: dict[str, JsonDict] = {}
    templates: dict[str, list[JsonDict]] = collections.defaultdict(list)
    shard_of: dict[str, int] = {}
    ready: list[GatewayRecord] = []
    for name, shard, payload in skeleton:
        if name == "READY":
            ready.append((name, shard, payload))
        elif name == "GUILD_CREATE" and int(payload.get("member_count", 0)) >= _TEMPLATE_MEMBERS:
            creates.setdefault(payload["id"], payload)
            shard_of[payload["id"]] = shard
        elif name == "GUILD_MEMBERS_CHUNK" and payload["guild_id"] in creates:
            templates[payload["guild_id"]].extend(payload["members"])
    return ready, creates, templates, shard_of


async def _throttled(records: Iterable[GatewayRecord], cache: persist.Cache) -> AsyncIterator[GatewayRecord]:
    """``records``, each once the cache's queue is under its budgets (``Cache.wait_for_room``)."""
    for record in records:
        await cache.wait_for_room()
        yield record


async def child_memory(spec: JsonDict) -> JsonDict:
    """Peak RSS holding the members: ``plain`` (hikari's cache), ``persist``, ``persist_unspilled``,
    ``persist_chunked`` or ``persist_throttled``.

    ``plain`` and ``persist`` get every guild's chunks as they come with hikari's auto chunking (as
    fast as hikari parses them). ``persist_chunked`` is a bot built with ``auto_chunk_members=False``
    and ``Cache(chunk_members=True)``: the offline shard answers each member request the cache sends
    with all of that guild's chunks at once, as Discord does, and the cache asks for the next guild
    once the writer's queue has room. ``persist_throttled`` is a producer that respects the cache's
    backpressure: it awaits ``cache.wait_for_room()`` before each record, so the queue stays under
    ``max_pending_entities`` (50,000 entities by default). A hikari shard cannot wait like this (it hands events over
    synchronously); the plain ``persist`` run is what a gateway flood does (the backlog past the
    budget waiting in the spill file), ``persist_unspilled`` the same with every queued event in memory.
    """
    config: str = spec["config"]
    chunked = config == "persist_chunked"
    throttled = config == "persist_throttled"
    if chunked:
        bot = offline.make_offline_bot(cache_settings=_no_hikari_cache(), auto_chunk_members=False)
        backend = TimedSQLite(pathlib.Path(spec["db"]))
        setup = Setup(bot, persist.Cache(bot, backend, chunk_members=True), backend)
    else:
        setup = _setup("persist" if throttled else config, pathlib.Path(spec["db"]))
    await offline.start_offline(setup.bot)
    gc.collect()
    baseline_peak, baseline_rss = _peak_rss_bytes(), _current_rss_bytes()
    max_queue = 0
    sampling = True

    async def sample_queue() -> None:
        nonlocal max_queue
        while sampling and setup.cache is not None:
            max_queue = max(max_queue, setup.cache.pending)
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample_queue())
    started = time.perf_counter()
    world = _MemoryWorld(int(spec["members"]), int(spec["guilds"]), int(spec["seed"]))
    if chunked:
        requests: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()

        def answer(call: offline.ShardCall) -> None:
            if call.method == "request_guild_members":
                nonce = call.arguments["nonce"]
                requests.put_nowait((str(int(call.arguments["guild"])), nonce if isinstance(nonce, str) else None))

        shard = offline.OfflineShard(0, 1, intents=setup.bot.intents, on_call=answer)
        stats = await offline.replay(setup.bot, world.on_request(requests), shards={0: shard})
    elif throttled and setup.cache is not None:
        stats = await offline.replay(setup.bot, _throttled(world.flood(), setup.cache))
    else:
        stats = await offline.replay(setup.bot, world.flood())
    replayed = time.perf_counter()
    if setup.cache is not None:
        await setup.cache.flush()
    done = time.perf_counter()
    sampling = False
    await sampler
    if setup.cache is not None:
        held = await setup.cache.members.count()
        size = (await setup.cache.stats()).database_size
    else:
        held = sum(len(view) for view in setup.bot.cache.get_members_view().values())
        size = None
    gc.collect()
    result: JsonDict = {
        "config": config,
        "events": stats.events,
        "errors": stats.errors,
        "members_held": held,
        "replay_s": replayed - started,
        "total_s": done - started,
        "peak_rss_bytes": _peak_rss_bytes(),
        "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_after_bytes": _current_rss_bytes(),
        "baseline_peak_rss_bytes": baseline_peak,
        "baseline_rss_bytes": baseline_rss,
        "max_queue_depth": max_queue if setup.cache is not None else None,
        "database_bytes": size,
    }
    await offline.stop_offline(setup.bot)
    return result


CHILDREN: typing.Final[dict[str, Callable[[JsonDict], Coroutine[typing.Any, typing.Any, JsonDict]]]] = {
    "ingest": child_ingest,
    "reads": child_reads,
    "cold": child_cold,
    "loop": child_loop,
    "memory": child_memory,
}


# --- the coordinator -----------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[perf] {message}", file=sys.stderr, flush=True)


def _run_child(kind: str, spec: JsonDict) -> JsonDict:
    """Run one measurement in a fresh process; a failure or hang is reported, not raised."""
    spec = {**spec, "spawned_at": time.time()}
    label = f"{kind} {spec.get('config', '')}{' (writer held back)' if spec.get('isolated') else ''}".strip()
    _log(f"{label} ...")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=_CHILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        _log(f"{label} hung (killed after {_CHILD_TIMEOUT:.0f} s)")
        return {"error": f"timed out after {_CHILD_TIMEOUT:.0f} s", "stderr": stderr[-4000:]}
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        _log(f"{label} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit code {done.returncode}"
        return {"error": last, "stderr": done.stderr[-4000:], "exit_code": done.returncode}
    _log(f"{label} done in {elapsed:.1f} s")
    result: JsonDict = json.loads(lines[-1][len("RESULT ") :])
    result["child_s"] = elapsed
    return result


@dataclasses.dataclass
class SessionInfo:
    events: int = 0
    by_name: collections.Counter[str] = dataclasses.field(default_factory=lambda: collections.Counter[str]())
    guild_sizes: dict[str, int] = dataclasses.field(default_factory=lambda: dict[str, int]())

    def tally(self, records: Iterable[GatewayRecord]) -> Iterator[GatewayRecord]:
        for record in records:
            name, _, payload = record
            self.events += 1
            self.by_name[name] += 1
            if name == "GUILD_CREATE" and "member_count" in payload:
                self.guild_sizes.setdefault(payload["id"], int(payload["member_count"]))
            yield record

    @property
    def biggest(self) -> str:
        return max(self.guild_sizes, key=lambda g: self.guild_sizes[g])


def _raw_floor(store: pathlib.Path, folder: pathlib.Path, repeat: int) -> JsonDict:
    """Insert the rows the store holds into the same tables of a fresh file, in one transaction."""
    source = _open_read_only(str(store))
    tables: list[tuple[str, str]] = source.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    indexes: list[str] = [
        sql for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    ]
    data = {name: source.execute(f'SELECT * FROM "{name}"').fetchall() for name, _ in tables}
    source.close()
    rows = sum(len(r) for r in data.values())
    result: JsonDict = {"rows": rows, "rows_by_table": {name: len(r) for name, r in data.items() if r}}
    for variant, with_indexes in (("same_schema", True), ("tables_only", False)):
        times: list[float] = []
        for run in range(repeat):
            path = folder / f"raw_{variant}_{run}.db"
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            for _, sql in tables:
                db.execute(sql)
            for sql in indexes if with_indexes else ():
                db.execute(sql)
            started = time.perf_counter()
            db.execute("BEGIN")
            for name, table_rows in data.items():
                if table_rows:
                    marks = ", ".join("?" * len(table_rows[0]))
                    db.executemany(f'INSERT INTO "{name}" VALUES ({marks})', table_rows)
            db.execute("COMMIT")
            times.append(time.perf_counter() - started)
            db.close()
            for suffix in ("", "-wal", "-shm"):
                pathlib.Path(f"{path}{suffix}").unlink(missing_ok=True)
        result[variant] = Sample(rows, times).as_json()
    return result


def _some_member(store: pathlib.Path, guild_id: str) -> tuple[int, int]:
    db = _open_read_only(str(store))
    row = db.execute("SELECT guild_id, user_id FROM members WHERE guild_id = ? LIMIT 1", (int(guild_id),)).fetchone()
    db.close()
    if row is None:
        msg = f"the store holds no member of guild {guild_id}"
        raise RuntimeError(msg)
    return int(row[0]), int(row[1])


def _machine() -> JsonDict:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "sqlite": sqlite3.sqlite_version,
        "hikari": hikari.__version__,
    }


def run(arguments: argparse.Namespace) -> JsonDict:
    scale = SCALES[arguments.scale]
    if arguments.memory_members is not None:
        scale = dataclasses.replace(scale, memory_members=arguments.memory_members)
    if arguments.memory_guilds is not None:
        scale = dataclasses.replace(scale, memory_guilds=max(1, arguments.memory_guilds))
    if arguments.repeat is not None:
        scale = dataclasses.replace(scale, repeat=max(1, arguments.repeat))
    seed: int = arguments.seed
    began = time.perf_counter()
    result: JsonDict = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": _machine(),
        "scale": {"name": arguments.scale, **dataclasses.asdict(scale), "seed": seed},
    }
    with tempfile.TemporaryDirectory(prefix="hikaripersist-perf-") as directory:
        folder = pathlib.Path(directory)
        session_path = folder / "session.jsonl"
        info = SessionInfo()
        _log(f"generating the session ({scale.guilds} guilds, biggest {scale.biggest:,} members) ...")
        started = time.perf_counter()
        gateway_session.write_session(
            session_path,
            info.tally(
                gateway_session.generate_session(
                    seed=seed,
                    guilds=scale.guilds,
                    members=scale.guild_sizes(),
                    messages_per_channel=scale.messages_per_channel,
                    churn=scale.churn,
                    varied=False,
                )
            ),
        )
        biggest = info.biggest
        result["session"] = {
            "events": info.events,
            "generate_s": time.perf_counter() - started,
            "guild_sizes": scale.guild_sizes(),
            "biggest_guild_id": biggest,
            "biggest_guild_members": info.guild_sizes[biggest],
            "events_by_name": dict(info.by_name.most_common()),
        }
        _log(f"{info.events:,} events in {result['session']['generate_s']:.1f} s")
        common: JsonDict = {
            "session": str(session_path),
            "seed": seed,
            "lookups": scale.lookups,
            "repeat": scale.repeat,
            "guild_id": biggest,
            "folder": str(folder),
        }
        store = folder / "persist.db"

        # 1. ingest
        ingest: JsonDict = {
            "plain": _run_child("ingest", {**common, "config": "plain", "db": ""}),
            "persist_hikari": _run_child(
                "ingest", {**common, "config": "persist_hikari", "db": str(folder / "persist_hikari.db")}
            ),
            "persist": _run_child("ingest", {**common, "config": "persist", "db": str(store)}),
            # What the spill file costs while the writer is behind (events encoded and read back).
            "persist_unspilled": _run_child(
                "ingest", {**common, "config": "persist_unspilled", "db": str(folder / "persist_unspilled.db")}
            ),
            "storage": _run_child(
                "ingest", {**common, "config": "persist", "isolated": True, "db": str(folder / "isolated.db")}
            ),
        }
        result["ingest"] = ingest
        stored = store.exists() and "error" not in ingest["persist"]
        if stored:
            # 5. cold start first, before anything else reads the file.
            guild_id, user_id = _some_member(store, biggest)
            result["cold_start"] = _run_child(
                "cold", {**common, "db": str(store), "guild_id": guild_id, "user_id": user_id}
            )
            # 3. reads
            result["reads"] = _run_child("reads", {**common, "db": str(store)})
            _log("raw sqlite3 floor ...")
            ingest["raw_sqlite3"] = _raw_floor(store, folder, max(scale.repeat, 3))
        else:
            result["cold_start"] = result["reads"] = {"error": "no store: the persist ingest failed"}
            ingest["raw_sqlite3"] = {"error": "no store: the persist ingest failed"}

        # 2. event-loop health. Percentiles of ticks depend on how long the window is: plain hikari
        # is observed for as long as the slowest persist run took to be durable (its loop idles
        # meanwhile), so that both count the same stretch of time.
        loop: JsonDict = {
            config: _run_child("loop", {**common, "config": config}) for config in ("persist", "persist_hikari")
        }
        windows = [r["until_durable_s"] for node in loop.values() for r in node.get("runs", ())]
        loop["plain"] = _run_child("loop", {**common, "config": "plain", "window": max(windows, default=0.0)})
        result["loop"] = loop

        # 4. memory
        if arguments.skip_memory:
            result["memory"] = {"skipped": True}
        else:
            memory = {"members": scale.memory_members, "guilds": scale.memory_guilds, "seed": seed}
            result["memory"] = {
                "plain": _run_child("memory", {**memory, "config": "plain", "db": ""}),
                "persist": _run_child("memory", {**memory, "config": "persist", "db": str(folder / "memory.db")}),
                "persist_unspilled": _run_child(
                    "memory", {**memory, "config": "persist_unspilled", "db": str(folder / "memory_unspilled.db")}
                ),
                "persist_chunked": _run_child(
                    "memory", {**memory, "config": "persist_chunked", "db": str(folder / "memory_chunked.db")}
                ),
                "persist_throttled": _run_child(
                    "memory", {**memory, "config": "persist_throttled", "db": str(folder / "memory_throttled.db")}
                ),
            }
    result["elapsed_s"] = time.perf_counter() - began
    result["targets"] = _targets(result)
    return result


# --- targets and the report ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    section: str
    name: str
    measured: float | None
    shown: str
    target: str
    met: bool | None

    def as_json(self) -> JsonDict:
        return dataclasses.asdict(self)


def _get(data: JsonDict, *path: str) -> typing.Any:
    """``data[path[0]][path[1]]...``, or ``None`` where anything is missing or failed."""
    node: typing.Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = typing.cast("JsonDict", node)[key]
    return node


def _targets(result: JsonDict) -> list[JsonDict]:
    targets: list[Target] = []

    def add(section: str, name: str, measured: float | None, shown: str, target: str, ok: bool | None) -> None:
        targets.append(Target(section, name, measured, shown, target, ok if measured is not None else None))

    plain = _get(result, "ingest", "plain", "events_per_s")
    for config in ("persist_hikari", "persist"):
        rate = _get(result, "ingest", config, "events_per_s")
        ratio = _ratio(rate, plain) if rate is not None and plain else None
        add(
            "ingest",
            f"{CONFIGS[config]} vs plain hikari",
            ratio,
            f"{ratio:.2f}x" if ratio is not None else "n/a",
            ">= 1.0x",
            ratio is not None and ratio >= 1.0,
        )
    storage = _get(result, "ingest", "storage", "writer_alone_s")
    floor = _get(result, "ingest", "raw_sqlite3", "same_schema", "best_s")
    ratio = _ratio(storage, floor) if storage is not None and floor else None
    add(
        "ingest",
        "storage part vs raw sqlite3 (same rows, same schema)",
        ratio,
        f"{ratio:.2f}x" if ratio is not None else "n/a",
        "<= 2.0x",
        ratio is not None and ratio <= 2.0,
    )
    base = _get(result, "loop", "plain", "p99_ms")
    for config in ("persist", "persist_hikari"):
        p99 = _get(result, "loop", config, "p99_ms")
        above = p99 - base if p99 is not None and base is not None else None
        add(
            "loop",
            f"ticker p99, {CONFIGS[config]}, above plain hikari",
            above,
            f"{above:+.2f} ms" if above is not None else "n/a",
            "<= +5 ms",
            above is not None and above <= 5.0,
        )
    get_rate = _get(result, "reads", "get", "per_s")
    add(
        "reads",
        "get() point lookups",
        get_rate,
        f"{get_rate:,.0f}/s" if get_rate is not None else "n/a",
        ">= 50,000/s",
        get_rate is not None and get_rate >= 50_000,
    )
    for key, label in (("all", "all() iteration"), ("where", "where(guild_id=biggest) iteration")):
        rate = _get(result, "reads", key, "per_s")
        add(
            "reads",
            label,
            rate,
            f"{rate:,.0f}/s" if rate is not None else "n/a",
            ">= 100,000/s",
            rate is not None and rate >= 100_000,
        )
    persist_rss = _get(result, "memory", "persist", "peak_rss_bytes")
    hikari_rss = _get(result, "memory", "plain", "peak_rss_bytes")
    share = _ratio(persist_rss, hikari_rss) if persist_rss is not None and hikari_rss else None
    if not _get(result, "memory", "skipped"):
        add(
            "memory",
            "peak RSS, persist (hikari's cache off) / hikari's cache",
            share,
            f"{share:.2f}x" if share is not None else "n/a",
            "< 0.25x",
            share is not None and share < 0.25,
        )
    cold = _get(result, "cold_start", "cache", "total_s")
    add(
        "cold start",
        "reopen the store (Cache) and answer the first get()",
        cold,
        f"{cold:.3f} s" if cold is not None else "n/a",
        "< 0.5 s",
        cold is not None and cold < 0.5,
    )
    return [t.as_json() for t in targets]


_W: typing.Final = (58, 18, 26, 13, 8)


def _line(label: str, figure: str = "", compared: str = "", target: str = "", met: str = "") -> str:
    return f"  {label:<{_W[0]}}{figure:>{_W[1]}}{compared:>{_W[2]}}{target:>{_W[3]}}{met:>{_W[4]}}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def _failed(node: typing.Any) -> str | None:
    if isinstance(node, dict) and "error" in node:
        return f"failed: {typing.cast('JsonDict', node)['error']}"[: _W[1] + _W[2] + 20]
    return None


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def report(result: JsonDict) -> str:
    out: list[str] = []
    session, machine = result["session"], result["machine"]
    targets: dict[str, JsonDict] = {t["name"]: t for t in result["targets"]}

    def target_line(name: str, label: str, figure: str, compared: str = "") -> None:
        t = targets.get(name)
        if t is None:
            out.append(_line(label, figure, compared))
        else:
            out.append(_line(label, figure, compared or t["shown"], t["target"], _met(t["met"])))

    members = _get(result, "ingest", "persist", "members")
    out.append(
        f"hikari-persist performance, scale {result['scale']['name']}: {len(session['guild_sizes'])} guilds"
        f" (biggest {session['biggest_guild_members']:,} members), {session['events']:,} events"
        + (f", {members:,} members stored" if members is not None else "")
    )
    out.append(
        f"machine: {machine['cores']} cores, Python {machine['python']} ({machine['implementation']}),"
        f" SQLite {machine['sqlite']}, hikari {machine['hikari']}; {machine['platform']}"
    )
    out.append(f"command: {result['command']}")
    out.append(f"took {result['elapsed_s']:.0f} s (generating the session {session['generate_s']:.0f} s)")
    out.append("")
    out.append(_line("measurement", "figure", "compared", "target", "met"))

    ingest = result["ingest"]
    out.append("1. ingest: events per second until durable (replay + flush)")
    for config in ("plain", "persist_hikari", "persist", "persist_unspilled"):
        node = ingest.get(config)
        if node is None:
            continue
        label = CONFIGS[config]
        if (failure := _failed(node)) is not None:
            out.append(_line(label, failure))
            continue
        figure = f"{node['events_per_s']:,.0f} ev/s"
        if config == "plain":
            out.append(_line(label, figure, f"in {node['total_s']:.1f} s"))
        elif config == "persist_unspilled":
            plain_rate = ingest["plain"].get("events_per_s")
            ratio = f"{node['events_per_s'] / plain_rate:.2f}x" if plain_rate else ""
            out.append(_line(label, figure, ratio))
        else:
            target_line(f"{label} vs plain hikari", label, figure)
            out.append(
                _line(
                    "    replay / flush / writer busy",
                    f"{node['replay_s']:.1f}/{node['flush_s']:.1f}/{node['write_calls_s']:.1f} s",
                    f"{node.get('events_spilled', 0):,} events spilled",
                )
            )
    storage, raw = ingest["storage"], ingest.get("raw_sqlite3", {})
    if (failure := _failed(storage)) is not None:
        out.append(_line("storage part alone (writer held back, then flush)", failure))
    else:
        out.append(
            _line(
                "storage part alone (writer held back, then flush)",
                f"{storage['writer_alone_s']:.2f} s",
                f"{storage['events'] / storage['writer_alone_s']:,.0f} ev/s",
            )
        )
    if (failure := _failed(raw)) is not None:
        out.append(_line("raw sqlite3 executemany of the final rows", failure))
    else:
        same, bare = raw["same_schema"], raw["tables_only"]
        name = "storage part vs raw sqlite3 (same rows, same schema)"
        target_line(
            name,
            f"raw sqlite3, {raw['rows']:,} rows, same schema",
            f"{same['best_s']:.2f} s",
            f"storage ÷ raw {targets[name]['shown']}" if name in targets else "",
        )
        out.append(
            _line(
                "raw sqlite3, same tables without secondary indexes",
                f"{bare['best_s']:.2f} s",
                f"{bare['per_s']:,.0f} rows/s",
            )
        )

    loop = result["loop"]
    big = next((n for n in loop.values() if "members" in n), None)
    out.append(
        "2. event-loop health: 1 ms ticker delay (p50/p99/max) while the biggest guild"
        + (f" ({big['members']:,} members, {big['records']} records)" if big is not None else "")
        + f" is ingested, {result['scale']['repeat']} runs pooled"
    )
    for config in ("plain", "persist", "persist_hikari"):
        node = loop[config]
        label = CONFIGS[config]
        if (failure := _failed(node)) is not None:
            out.append(_line(label, failure))
            continue
        figure = f"{node['p50_ms']:.2f}/{node['p99_ms']:.2f}/{node['max_ms']:.1f} ms"
        windows = [r["window_s"] for r in node["runs"]]
        if config == "plain":
            out.append(_line(label, figure, f"{node['ticks']:,} ticks in {sum(windows):.1f} s"))
        else:
            target_line(f"ticker p99, {label}, above plain hikari", label, figure)
            out.append(_line("    ticks, time observed", "", f"{node['ticks']:,} ticks in {sum(windows):.1f} s"))
            after = [r["after_replay"]["p99_ms"] for r in node["runs"]]
            durable = [r["until_durable_s"] for r in node["runs"]]
            out.append(
                _line(
                    "    after hikari's parse (writer catching up): p99",
                    f"{max(after):.2f} ms",
                    f"durable after {statistics.median(durable):.2f} s",
                )
            )

    out.append("3. reads (store of the persist run, fresh process)")
    reads = result["reads"]
    hikari_reads = _get(ingest, "plain", "reads")
    if (failure := _failed(reads)) is not None:
        out.append(_line("reads", failure))
    else:
        rows = (
            ("get", "get() point lookups", "get_member", "raw_get"),
            ("where", "where(guild_id=biggest) iteration", "guild_view", "raw_where"),
            ("all", "all() iteration", "all_views", "raw_all"),
        )
        for key, name, hikari_key, raw_key in rows:
            rate = reads[key]["per_s"]
            target_line(name, f"{name} ({reads[key]['items']:,})", f"{rate:,.0f}/s")
            hikari_rate = _get(hikari_reads, hikari_key, "per_s") if hikari_reads is not None else None
            if hikari_rate is not None:
                hikari_label = {"get": "bot.cache.get_member", "where": "guild member view", "all": "all member views"}
                out.append(
                    _line(
                        f"    hikari in memory: {hikari_label[key]}",
                        f"{hikari_rate:,.0f}/s",
                        f"persist ÷ hikari {rate / hikari_rate:.3f}x",
                    )
                )
            raw_rate = reads[raw_key]["per_s"]
            out.append(
                _line(
                    f"    raw sqlite3 {'point SELECT data' if key == 'get' else 'SELECT data (rows)'}",
                    f"{raw_rate:,.0f}/s",
                    f"persist ÷ raw {rate / raw_rate:.3f}x",
                )
            )

    out.append("4. memory: peak RSS holding the members (a child process each)")
    memory = result["memory"]
    if memory.get("skipped"):
        out.append(_line("skipped (--skip-memory)"))
    else:
        rows = (
            ("plain", "hikari's in-memory cache"),
            ("persist", "persist, hikari's cache off"),
            ("persist_unspilled", "    same, Cache(spill=False): the whole flood waits in memory"),
            ("persist_chunked", "    same, Cache(chunk_members=True) asking guild by guild"),
            ("persist_throttled", "    same, the producer awaiting cache.wait_for_room()"),
        )
        for config, label in rows:
            node = memory.get(config)
            if node is None:
                continue
            if (failure := _failed(node)) is not None:
                out.append(_line(label, failure))
                continue
            figure = _mib(node["peak_rss_bytes"])
            above = f"+{_mib(node['peak_rss_bytes'] - node['baseline_rss_bytes'])} over idle"
            if config == "persist":
                target_line("peak RSS, persist (hikari's cache off) / hikari's cache", label, figure)
                out.append(_line("    (peak over the idle bot)", "", above))
            else:
                plain_peak = _get(memory, "plain", "peak_rss_bytes")
                versus = f"{node['peak_rss_bytes'] / plain_peak:.2f}x, " if plain_peak and config != "plain" else ""
                out.append(_line(label, figure, versus + above))
            queue = f", queue <= {node['max_queue_depth']:,} events" if node.get("max_queue_depth") is not None else ""
            size = f", file {_mib(node['database_bytes'])}" if node.get("database_bytes") else ""
            out.append(_line(f"      {node['members_held']:,} members, {node['total_s']:.0f} s{queue}{size}"))
        baseline = _get(memory, "plain", "baseline_rss_bytes")
        if baseline is not None:
            out.append(_line("    RSS of the idle bot (before any member)", _mib(baseline)))

    out.append("5. cold start: a fresh process reopens the store and answers the first get()")
    cold = result["cold_start"]
    if (failure := _failed(cold)) is not None:
        out.append(_line("cold start", failure))
    else:
        target_line(
            "reopen the store (Cache) and answer the first get()",
            "Cache + SQLiteBackend: open, first get()",
            f"{cold['cache']['total_s']:.3f} s",
            f"open {cold['cache']['open_s']:.3f} + get {cold['cache']['first_get_s']:.3f} s",
        )
        out.append(
            _line(
                "    ReadOnlyCache: open, first get()",
                f"{cold['read_only']['total_s']:.3f} s",
                f"open {cold['read_only']['open_s']:.3f} + get {cold['read_only']['first_get_s']:.3f} s",
            )
        )
        out.append(_line("    since the process was spawned (imports included)", f"{cold['since_spawn_s']:.2f} s"))

    failures: list[str] = []
    for section in ("ingest", "memory"):
        nodes: JsonDict = result.get(section) or {}
        for name, node in nodes.items():
            if isinstance(node, dict) and typing.cast("JsonDict", node).get("errors"):
                failures.append(f"{section} {name}: {typing.cast('JsonDict', node)['errors']}")
    if failures:
        out.append("")
        out.append("records hikari or the cache could not consume (by event name): " + "; ".join(failures))

    met = [t for t in result["targets"] if t["met"]]
    missed = [t for t in result["targets"] if t["met"] is False]
    out.append("")
    out.append(f"targets: {len(met)} met, {len(missed)} not met, {len(result['targets']) - len(met) - len(missed)} n/a")
    for t in missed:
        out.append(f"  not met: [{t['section']}] {t['name']}: {t['shown']} (target {t['target']})")
    return "\n".join(out)


def plot(result: JsonDict, path: pathlib.Path) -> None:
    """The ingest and read figures as bar charts (log scale where in-memory hikari dwarfs the rest)."""
    importlib.import_module("matplotlib").use("Agg")
    plt: typing.Any = importlib.import_module("matplotlib.pyplot")

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    fig.suptitle(
        f"hikari-persist perf ({result['scale']['name']}: {result['session']['events']:,} events,"
        f" {result['machine']['cores']} cores, Python {result['machine']['python']})"
    )

    def bars(ax: typing.Any, items: list[tuple[str, float | None]], title: str, unit: str, *, log: bool) -> None:
        shown = [(label, value) for label, value in items if value is not None]
        if not shown:
            ax.set_title(f"{title} (no data)")
            return
        labels, values = [label for label, _ in shown], [value for _, value in shown]
        colours = ["#4c72b0" if "persist" in label else "#999999" for label in labels]
        ax.barh(labels, values, color=colours)
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(importlib.import_module("matplotlib.ticker").NullFormatter())
            ax.set_xlim(min(values) / 2, max(values) * 3)
        ax.set_title(title)
        ax.set_xlabel(unit)
        for i, value in enumerate(values):
            ax.text(value, i, f" {value:,.0f}", va="center", fontsize=8)

    ingest = result["ingest"]
    storage_s = _get(ingest, "storage", "writer_alone_s")
    raw_s = _get(ingest, "raw_sqlite3", "same_schema", "best_s")
    events = result["session"]["events"]
    bars(
        axes[0][0],
        [
            ("plain hikari", _get(ingest, "plain", "events_per_s")),
            ("persist + hikari cache", _get(ingest, "persist_hikari", "events_per_s")),
            ("persist, hikari cache off", _get(ingest, "persist", "events_per_s")),
            ("persist storage part alone", events / storage_s if storage_s else None),
            ("raw sqlite3 (same final rows)", events / raw_s if raw_s else None),
        ],
        "1. ingest until durable",
        "events per second (storage and raw: session events / their seconds)",
        log=False,
    )
    reads: JsonDict = result.get("reads", {})
    hikari_reads: JsonDict = _get(ingest, "plain", "reads") or {}
    bars(
        axes[0][1],
        [
            ("persist get()", _get(reads, "get", "per_s")),
            ("hikari get_member", _get(hikari_reads, "get_member", "per_s")),
            ("raw sqlite3 point select", _get(reads, "raw_get", "per_s")),
        ],
        "3. point lookups (target 50,000/s)",
        "lookups per second (log)",
        log=True,
    )
    axes[0][1].axvline(50_000, color="red", linestyle="--", linewidth=1)
    bars(
        axes[1][0],
        [
            ("persist where(guild)", _get(reads, "where", "per_s")),
            ("hikari guild view", _get(hikari_reads, "guild_view", "per_s")),
            ("raw sqlite3 guild rows", _get(reads, "raw_where", "per_s")),
            ("persist all()", _get(reads, "all", "per_s")),
            ("hikari all views", _get(hikari_reads, "all_views", "per_s")),
            ("raw sqlite3 all rows", _get(reads, "raw_all", "per_s")),
        ],
        "3. iteration (target 100,000/s)",
        "members per second (log)",
        log=True,
    )
    axes[1][0].axvline(100_000, color="red", linestyle="--", linewidth=1)
    loop = result["loop"]
    ax = axes[1][1]
    names = [n for n in ("plain", "persist", "persist_hikari") if _get(loop, n, "p99_ms") is not None]
    width = 0.25
    for offset, key in enumerate(("p50_ms", "p99_ms", "max_ms")):
        ax.bar(
            [i + (offset - 1) * width for i in range(len(names))],
            [loop[n][key] for n in names],
            width,
            label=key.replace("_ms", ""),
        )
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(["plain hikari", "persist", "persist + hikari cache"][: len(names)] if names else [])
    ax.set_yscale("log")
    ax.set_ylabel("ticker delay, ms (log)")
    ax.set_title("2. event loop while the biggest guild is ingested")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small", help="run size (default: small)")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the memory measurement")
    parser.add_argument("--memory-members", type=int, default=None, help="members for the memory measurement")
    parser.add_argument(
        "--memory-guilds",
        type=int,
        default=None,
        help="guilds the memory measurement's members are spread over (full: 4, small: 2)",
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs of each quick measurement (default 3)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help="folder for perf.json and perf.png")
    return parser.parse_args()


def main() -> None:
    arguments = parse()
    result = run(arguments)
    print(report(result))
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "perf.json").write_text(json.dumps(result, indent=2))
    plot(result, arguments.out / "perf.png")
    print(f"\nwrote {arguments.out / 'perf.json'} and {arguments.out / 'perf.png'}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        outcome = asyncio.run(CHILDREN[sys.argv[2]](json.loads(sys.argv[3])))
        print("RESULT " + json.dumps(outcome), flush=True)
    else:
        main()
