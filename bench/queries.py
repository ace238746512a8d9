"""What reading members back from the SQLite store costs, next to hikari's own in-memory answers.

One run builds a store of about 200,000 members (10 synthetic guilds, the biggest holding 30 % of
them, from the session generator with no churn and no edge cases). The session is replayed through
a real offline ``hikari.GatewayBot`` with hikari's own cache off and a ``persist.Cache`` attached,
then ``await cache.flush()``. The numbers are printed as ratios between things measured in the
same process on the same data, never as pass/fail thresholds:

1. ingest: replay and flush times (informational only).
2. ``where()`` on the indexed ``guild_id`` column: ``count()`` and full iteration of one mid-size
   guild (~5 % of the members) against a full scan (``count()`` / ``all()`` of every member). An
   indexed filter should cost about the guild's share of the scan, not the whole scan. Two
   non-indexed filters give context: ``nickname`` (a plain column, no index) and
   ``guild_avatar_hash`` (read from the entity's JSON with SQLite's JSON functions).
3. iteration throughput: ``hikari.Member`` objects per second out of ``async for m in
   cache.members.all()``, against hikari deserializing the same members from their gateway payloads
   (``bot.entity_factory.deserialize_member``, dicts already parsed, so JSON parsing is not counted
   for hikari) and against a raw ``sqlite3`` ``SELECT data FROM member_records`` (the floor: rows,
   no objects). Two more rows split the cache's cost: the cache's own SQL through plain ``sqlite3``
   (rows only), then the same plus the cache's decoding into ``hikari.Member`` (no aiosqlite).
4. point lookups: ``await cache.members.get(guild_id=, member_id=)`` per second for random
   existing members, against ``bot.cache.get_member`` of a second bot whose hikari cache was fed the
   same stream, and against raw ``sqlite3`` point selects (plus the cache's SQL and decoding
   without aiosqlite, to split the cost again).

Each measurement runs ``--repeat`` times (quick ones at least 5 times); the table shows the best and
the median, ratios use the best. Objects the benchmark itself keeps alive (the generated session,
the second bot's in-memory cache) are moved out of the garbage collector's sight with
``gc.freeze()`` so that they do not slow down whatever allocates after them.

The store also holds the documentation's 2-member Example Guild that every generated session has,
so 11 guilds are counted.

Run: ``python bench/queries.py [--members 200000] [--repeat 3] [--lookups 5000] [--profile]``; the
default run takes about 90 seconds on two cores (``--members 20000``: about 15 seconds). It prints a
table and writes JSON to ``bench/results/queries.json``. ``--profile`` adds a cProfile summary of
one ``all()`` iteration (the event loop thread only: aiosqlite runs SQLite in its own thread).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import json
import pathlib
import pstats
import random
import sqlite3
import tempfile
import time
import typing

import hikari
from _common import Sample, timed

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline
from hikaripersist._internal import reader as reader_

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from hikaripersist._internal.gateway_session import GatewayRecord

# Share of all members held by each of the 10 synthetic guilds (60k, 40k, 30k, 20k, 15k, 10k, ...).
_SHARES: typing.Final = (0.30, 0.20, 0.15, 0.10, 0.075, 0.05, 0.05, 0.035, 0.025, 0.015)
_MID_SHARE: typing.Final = 0.05
_SEED: typing.Final = 7
_HIKARI_LOOKUP_ROUNDS: typing.Final = 20  # in-memory lookups are too quick to time one pass of the keys
_MEMBER_ROW: typing.Final = "SELECT data FROM member_records WHERE guild_id = ? AND user_id = ?"
_CACHE_ALL_SQL: typing.Final = reader_.MEMBER_SELECT + " WHERE m.is_deleted = 0 ORDER BY m.guild_id, m.user_id"
_CACHE_GET_SQL: typing.Final = reader_.MEMBER_SELECT + " WHERE m.guild_id = ? AND m.user_id = ?"

MemberKey: typing.TypeAlias = "tuple[int, int]"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("inf")


# --- the store ------------------------------------------------------------------------------------


def _guild_sizes(members: int) -> list[int]:
    return [max(2, round(members * share)) for share in _SHARES]


def _member_payloads(records: Sequence[GatewayRecord]) -> dict[MemberKey, dict[str, typing.Any]]:
    """The last gateway payload of every member the session delivers, by ``(guild_id, user_id)``."""
    payloads: dict[MemberKey, dict[str, typing.Any]] = {}
    for name, _, payload in records:
        if name == "GUILD_CREATE":
            guild_id, members = int(payload["id"]), payload.get("members", ())
        elif name == "GUILD_MEMBERS_CHUNK":
            guild_id, members = int(payload["guild_id"]), payload["members"]
        elif name == "GUILD_MEMBER_ADD":
            guild_id, members = int(payload["guild_id"]), (payload,)
        else:
            continue
        for member in members:
            payloads[guild_id, int(member["user"]["id"])] = member
    return payloads


@dataclasses.dataclass
class Store:
    """The populated store and what the measurements need around it."""

    bot: hikari.GatewayBot
    cache: persist.Cache
    path: pathlib.Path
    raw: sqlite3.Connection
    keys: list[MemberKey]
    per_guild: dict[int, int]
    ingest: dict[str, float]


def _open_read_only(path: pathlib.Path) -> sqlite3.Connection:
    return sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)


def _file_sizes(path: pathlib.Path) -> tuple[int, int]:
    """Bytes of the database file and of its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


async def _build_store(records: Sequence[GatewayRecord], path: pathlib.Path) -> Store:
    bot = offline.make_offline_bot(cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE))
    cache = persist.Cache(bot, persist.SQLiteBackend(path))
    await offline.start_offline(bot)
    started = time.perf_counter()
    stats = await offline.replay(bot, records)
    replayed = time.perf_counter()
    await cache.flush()
    flushed = time.perf_counter()
    if stats.error_count:
        print(f"warning: {stats.error_count} records failed to replay: {stats.errors}")
    raw = _open_read_only(path)
    keys: list[MemberKey] = [
        (int(g), int(u))
        for g, u in raw.execute("SELECT guild_id, user_id FROM members ORDER BY guild_id, user_id").fetchall()
    ]
    per_guild: dict[int, int] = {}
    for guild_id, _ in keys:
        per_guild[guild_id] = per_guild.get(guild_id, 0) + 1
    db_bytes, wal_bytes = _file_sizes(path)
    ingest = {
        "replay_s": replayed - started,
        "flush_s": flushed - replayed,
        "total_s": flushed - started,
        "members_per_s": len(keys) / (flushed - started),
        "db_bytes": float(db_bytes),
        "wal_bytes": float(wal_bytes),
    }
    return Store(bot, cache, path, raw, keys, per_guild, ingest)


async def _hikari_bot(records: Sequence[GatewayRecord]) -> tuple[hikari.GatewayBot, float]:
    """A second bot, with hikari's own cache, fed the same stream (the in-memory baseline)."""
    bot = offline.make_offline_bot()
    await offline.start_offline(bot)
    started = time.perf_counter()
    await offline.replay(bot, records)
    return bot, time.perf_counter() - started


# --- 2. where() -------------------------------------------------------------------------------------


async def _iterate(iterator: persist.CacheIterator[hikari.Member]) -> int:
    count = 0
    async for _ in iterator:
        count += 1
    return count


async def _where(store: Store, guild_id: int, repeat: int) -> dict[str, Sample]:
    members = store.cache.members
    quick = max(repeat, 5)

    async def count_all() -> int:
        return await members.count()

    async def count_guild() -> int:
        return await members.count(guild_id=guild_id)

    async def count_nickname() -> int:
        return await members.count(nickname=None)

    async def count_avatar() -> int:
        return await members.count(guild_avatar_hash=None)

    async def iterate_all() -> int:
        return await _iterate(members.all())

    async def iterate_guild() -> int:
        return await _iterate(members.where(guild_id=guild_id))

    async def iterate_guild_avatar() -> int:
        return await _iterate(members.where(guild_id=guild_id, guild_avatar_hash=None))

    return {
        "count_all": await timed(count_all, quick),
        "count_guild": await timed(count_guild, quick),
        "count_nickname_none": await timed(count_nickname, quick),
        "count_guild_avatar_hash_none": await timed(count_avatar, quick),
        "iterate_all": await timed(iterate_all, repeat),
        "iterate_guild": await timed(iterate_guild, quick),
        "iterate_guild_avatar_hash_none": await timed(iterate_guild_avatar, quick),
    }


# --- 3. iteration throughput ----------------------------------------------------------------------


async def _throughput(
    store: Store, payloads: Sequence[tuple[hikari.Snowflake, dict[str, typing.Any]]], repeat: int
) -> dict[str, Sample]:
    factory = store.bot.entity_factory
    reader = reader_.Reader(store.cache.backend, store.bot)
    raw = store.raw

    async def hikari_deserialize() -> int:
        for guild_id, payload in payloads:
            factory.deserialize_member(payload, guild_id=guild_id)
        return len(payloads)

    async def raw_rows() -> int:
        count = 0
        for _ in raw.execute("SELECT data FROM member_records"):
            count += 1
        return count

    async def cache_sql_rows() -> int:
        count = 0
        for _ in raw.execute(_CACHE_ALL_SQL):
            count += 1
        return count

    async def cache_sql_decode() -> int:
        count = 0
        for row in raw.execute(_CACHE_ALL_SQL):
            reader.build_member(tuple(row))
            count += 1
        return count

    return {
        "hikari_deserialize": await timed(hikari_deserialize, repeat),
        "raw_select_data": await timed(raw_rows, repeat),
        "sqlite3_cache_sql": await timed(cache_sql_rows, repeat),
        "sqlite3_cache_sql_decode": await timed(cache_sql_decode, repeat),
    }


# --- 4. point lookups -----------------------------------------------------------------------------


async def _lookups(
    store: Store, hikari_bot: hikari.GatewayBot, keys: Sequence[MemberKey], repeat: int
) -> dict[str, Sample]:
    members = store.cache.members
    hikari_cache = hikari_bot.cache
    reader = reader_.Reader(store.cache.backend, store.bot)
    raw = store.raw
    missing: dict[str, int] = {}

    def miss(name: str) -> None:
        missing[name] = missing.get(name, 0) + 1

    async def cache_get() -> int:
        for guild_id, user_id in keys:
            if await members.get(guild_id=guild_id, member_id=user_id) is None:
                miss("cache")
        return len(keys)

    async def hikari_get() -> int:
        for _ in range(_HIKARI_LOOKUP_ROUNDS):
            for guild_id, user_id in keys:
                if hikari_cache.get_member(guild_id, user_id) is None:
                    miss("hikari")
        return len(keys) * _HIKARI_LOOKUP_ROUNDS

    async def raw_get() -> int:
        for key in keys:
            if raw.execute(_MEMBER_ROW, key).fetchone() is None:
                miss("raw")
        return len(keys)

    async def cache_sql_decode() -> int:
        for key in keys:
            row = raw.execute(_CACHE_GET_SQL, key).fetchone()
            if row is None:
                miss("sqlite3")
            else:
                reader.build_member(tuple(row))
        return len(keys)

    samples = {
        "cache_get": await timed(cache_get, repeat),
        "hikari_get_member": await timed(hikari_get, repeat),
        "raw_point_select": await timed(raw_get, repeat),
        "sqlite3_cache_sql_decode": await timed(cache_sql_decode, repeat),
    }
    if missing:
        print(f"warning: lookups that found nothing (over all runs): {missing}")
    return samples


# --- profile ----------------------------------------------------------------------------------------


async def _profile_iteration(store: Store, top: int = 14) -> dict[str, typing.Any]:
    """cProfile one ``all()`` iteration; the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    await _iterate(store.cache.members.all())
    profiler.disable()
    profile = pstats.Stats(profiler).get_stats_profile()
    ranked = sorted(profile.func_profiles.items(), key=lambda item: item[1].tottime, reverse=True)
    functions: list[dict[str, typing.Any]] = []
    for name, function in ranked[:top]:
        where = "/".join(pathlib.PurePath(function.file_name).parts[-2:]) if function.file_name != "~" else "(builtin)"
        functions.append(
            {
                "function": f"{where}:{function.line_number}({name})",
                "calls": function.ncalls,
                "tottime_s": function.tottime,
                "cumtime_s": function.cumtime,
                "share_of_total": _ratio(function.tottime, profile.total_tt),
            }
        )
    return {"total_s": profile.total_tt, "top_by_own_time": functions}


def _print_profile(profile: dict[str, typing.Any]) -> None:
    print(f"\ncProfile of one all() iteration (event loop thread only, {profile['total_s']:.2f} s), by own time:")
    print(f"  {'own s':>7}{'share':>7}{'cum s':>8}{'calls':>16}  function")
    for row in profile["top_by_own_time"]:
        print(
            f"  {row['tottime_s']:>7.2f}{row['share_of_total']:>7.1%}{row['cumtime_s']:>8.2f}"
            f"{row['calls']:>16}  {row['function']}"
        )


# --- report -----------------------------------------------------------------------------------------


def _row(label: str, sample: Sample, ratio: float | None, *, unit: str = "ms") -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    shown = f"{ratio:>12.3f}" if ratio is not None else f"{'':>12}"
    return f"  {label:<56}{sample.items:>10,}{sample.best * scale:>11.1f}{sample.median * scale:>11.1f}{shown}"


def _rate_row(label: str, sample: Sample, ratios: Sequence[float | None]) -> str:
    shown = "".join(f"{r:>12.3f}" if r is not None else f"{'':>12}" for r in ratios)
    return f"  {label:<56}{sample.items:>10,}{sample.best:>9.3f}{sample.median:>9.3f}{sample.rate:>13,.0f}{shown}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=200_000, help="members in the store (about)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--lookups", type=int, default=5000, help="random members looked up per run")
    parser.add_argument("--profile", action="store_true", help="also profile one all() iteration")
    args = parser.parse_args()
    repeat: int = max(1, args.repeat)

    sizes = _guild_sizes(args.members)
    generated = time.perf_counter()
    records = list(
        gateway_session.generate_session(
            seed=_SEED, guilds=len(sizes), members=sizes, churn=0.0, varied=False, messages_per_channel=0
        )
    )
    generated = time.perf_counter() - generated
    all_payloads = _member_payloads(records)
    gc.collect()
    gc.freeze()

    with tempfile.TemporaryDirectory() as folder:
        store = await _build_store(records, pathlib.Path(folder) / "cache.db")
        total = len(store.keys)
        payloads = [(hikari.Snowflake(k[0]), all_payloads[k]) for k in store.keys if k in all_payloads]
        del all_payloads
        target = total * _MID_SHARE
        guild_id = min(store.per_guild, key=lambda g: (abs(store.per_guild[g] - target), g))
        guild_members = store.per_guild[guild_id]

        where = await _where(store, guild_id, repeat)
        iteration = await _throughput(store, payloads, repeat)
        iteration["cache_all"] = where["iterate_all"]

        hikari_bot, hikari_replay_s = await _hikari_bot(records)
        del records
        gc.collect()
        gc.freeze()
        keys = random.Random(_SEED).sample(store.keys, min(args.lookups, total))
        lookups = await _lookups(store, hikari_bot, keys, repeat)
        profile = await _profile_iteration(store) if args.profile else None

        await offline.stop_offline(hikari_bot)
        store.raw.close()
        await offline.stop_offline(store.bot)

    ingest = {**store.ingest, "generate_s": generated, "hikari_own_cache_replay_s": hikari_replay_s}
    share = guild_members / total
    print(
        f"\nhikari-persist queries: {total:,} members in {len(store.per_guild)} guilds; SQLite file"
        f" {ingest['db_bytes'] / 2**20:,.0f} MiB (+ {ingest['wal_bytes'] / 2**20:,.0f} MiB WAL);"
        f" best and median of {repeat}+ runs, ratios use the best"
    )
    print("\n1. ingest (informational)")
    print(f"  {'generate the session':<56}{generated:>10.1f} s")
    print(f"  {'replay through GatewayBot (hikari parse + cache intake)':<56}{ingest['replay_s']:>10.1f} s")
    print(f"  {'flush (writer catches up)':<56}{ingest['flush_s']:>10.1f} s")
    print(f"  {'total':<56}{ingest['total_s']:>10.1f} s   {ingest['members_per_s']:,.0f} members/s")
    print(f"  {'same replay, hikari with its own cache (no persist)':<56}{hikari_replay_s:>10.1f} s")

    print(
        f"\n2. where() on the indexed guild_id vs a full scan:"
        f" guild {guild_id} holds {guild_members:,} members ({share:.1%})"
    )
    print(f"  {'':<56}{'rows':>10}{'best ms':>11}{'median ms':>11}{'÷ full scan':>12}")
    count_all, iterate_all = where["count_all"].best, where["iterate_all"].best
    for label, key, base in (
        ("count()  all members (full scan)", "count_all", count_all),
        ("count(guild_id=G)  indexed", "count_guild", count_all),
        ("count(nickname=None)  column, no index", "count_nickname_none", count_all),
        ("count(guild_avatar_hash=None)  JSON, no index", "count_guild_avatar_hash_none", count_all),
        ("all()  iterate every member (full scan)", "iterate_all", iterate_all),
        ("where(guild_id=G)  iterate, indexed", "iterate_guild", iterate_all),
        ("where(guild_id=G, guild_avatar_hash=None)  + JSON", "iterate_guild_avatar_hash_none", iterate_all),
    ):
        print(_row(label, where[key], _ratio(where[key].best, base)))
    where_ratios = {
        "guild_share_of_members": share,
        "count_guild_vs_count_all": _ratio(where["count_guild"].best, count_all),
        "iterate_guild_vs_iterate_all": _ratio(where["iterate_guild"].best, iterate_all),
        "count_nickname_none_vs_count_all": _ratio(where["count_nickname_none"].best, count_all),
        "count_guild_avatar_hash_none_vs_count_all": _ratio(where["count_guild_avatar_hash_none"].best, count_all),
        "iterate_guild_avatar_hash_none_vs_iterate_guild": _ratio(
            where["iterate_guild_avatar_hash_none"].best, where["iterate_guild"].best
        ),
    }

    hikari_rate, raw_rate = iteration["hikari_deserialize"].rate, iteration["raw_select_data"].rate
    print("\n3. iteration throughput")
    print(f"  {'':<56}{'objects':>10}{'best s':>9}{'median s':>9}{'objects/s':>13}{'÷ hikari':>12}{'÷ raw rows':>12}")
    for label, key in (
        ("async for m in cache.members.all()  -> Member", "cache_all"),
        ("hikari entity_factory.deserialize_member (dicts)", "hikari_deserialize"),
        ("raw sqlite3 SELECT data FROM member_records (floor)", "raw_select_data"),
        ("  split: the cache's SQL via sqlite3, rows only", "sqlite3_cache_sql"),
        ("  split: the cache's SQL via sqlite3 + build_member", "sqlite3_cache_sql_decode"),
    ):
        rate = iteration[key].rate
        print(_rate_row(label, iteration[key], (_ratio(rate, hikari_rate), _ratio(rate, raw_rate))))
    cache_rate = iteration["cache_all"].rate
    iteration_ratios = {
        "cache_vs_hikari_deserialize": _ratio(cache_rate, hikari_rate),
        "cache_vs_raw_select": _ratio(cache_rate, raw_rate),
        "sqlite3_cache_sql_decode_vs_cache": _ratio(iteration["sqlite3_cache_sql_decode"].rate, cache_rate),
    }

    hikari_lookup, raw_lookup = lookups["hikari_get_member"].rate, lookups["raw_point_select"].rate
    print(f"\n4. point lookups of {len(keys):,} random existing members")
    print(f"  {'':<56}{'lookups':>10}{'best s':>9}{'median s':>9}{'lookups/s':>13}{'÷ hikari':>12}{'÷ raw sql':>12}")
    for label, key in (
        ("await cache.members.get(guild_id=, member_id=)", "cache_get"),
        ("hikari bot.cache.get_member (in memory)", "hikari_get_member"),
        ("raw sqlite3 point SELECT data (floor)", "raw_point_select"),
        ("  split: the cache's SQL via sqlite3 + build_member", "sqlite3_cache_sql_decode"),
    ):
        rate = lookups[key].rate
        print(_rate_row(label, lookups[key], (_ratio(rate, hikari_lookup), _ratio(rate, raw_lookup))))
    lookup_rate = lookups["cache_get"].rate
    lookup_ratios = {
        "cache_vs_hikari_get_member": _ratio(lookup_rate, hikari_lookup),
        "cache_vs_raw_point_select": _ratio(lookup_rate, raw_lookup),
        "sqlite3_cache_sql_decode_vs_cache": _ratio(lookups["sqlite3_cache_sql_decode"].rate, lookup_rate),
    }

    out = pathlib.Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    result: dict[str, typing.Any] = {
        "members": total,
        "guild_sizes_requested": sizes,
        "members_per_guild": {str(g): n for g, n in sorted(store.per_guild.items())},
        "repeat": repeat,
        "ingest": ingest,
        "where": {
            "guild_id": guild_id,
            "guild_members": guild_members,
            "samples": {k: v.as_json() for k, v in where.items()},
            "ratios": where_ratios,
        },
        "iteration": {"samples": {k: v.as_json() for k, v in iteration.items()}, "ratios": iteration_ratios},
        "lookups": {
            "keys": len(keys),
            "hikari_rounds": _HIKARI_LOOKUP_ROUNDS,
            "samples": {k: v.as_json() for k, v in lookups.items()},
            "ratios": lookup_ratios,
        },
    }
    if profile is not None:
        result["profile_all"] = profile
    (out / "queries.json").write_text(json.dumps(result, indent=2))
    if profile is not None:
        _print_profile(profile)
    print(f"\nwrote {out / 'queries.json'}")


if __name__ == "__main__":
    asyncio.run(main())
