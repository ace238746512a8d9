"""``python -m hikaripersist`` (also installed as ``hikari-persist``): offline replay, the demo, stats.

Exit codes: 0 success, 1 failure (the message says why), 2 bad usage.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("main",)

import argparse
import asyncio
import importlib
import importlib.resources
import logging
import os
import pathlib
import subprocess
import sys
import typing

import hikari

from hikaripersist._internal import gateway_session, offline
from hikaripersist._internal.progress import Progress
from hikaripersist.backend import BackendError
from hikaripersist.cache import Cache
from hikaripersist.sqlite import SQLiteBackend

if typing.TYPE_CHECKING:
    from collections.abc import Sequence


def demo_session_path() -> pathlib.Path:
    """The bundled recorded session used by ``make demo``."""
    return pathlib.Path(
        str(importlib.resources.files("hikaripersist") / "_internal" / "data" / "demo_session.jsonl.gz")
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hikaripersist",
        description="hikari-persist tools: replay recorded gateway sessions offline and look inside a cache.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser(
        "generate", help="write a synthetic, realistic recorded gateway session (JSON lines, .gz compresses)"
    )
    gen.add_argument("file", type=pathlib.Path, help="where to write the session (.jsonl or .jsonl.gz)")
    gen.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same session")
    gen.add_argument("--guilds", type=int, default=3, help="number of synthetic guilds (default 3)")
    gen.add_argument(
        "--members", default="2000,800,150", help="members per guild, comma separated, cycled (default 2000,800,150)"
    )
    gen.add_argument(
        "--churn", type=float, default=1.0, help="how much traffic follows the guild creates (default 1.0)"
    )
    gen.add_argument("--shards", type=int, default=1, help="number of shards the session is split across (default 1)")

    rep = sub.add_parser(
        "replay",
        help="feed a recorded session through a real, offline hikari bot with the cache attached",
        description=(
            "Feed a recorded session (from `generate`, or your own recording of (event name, shard id, payload)"
            " JSON lines {'t','s','d'}) through a real hikari.GatewayBot without connecting to Discord."
            " With --bot, your own bot object is used instead, so its listeners run against the recording."
        ),
    )
    rep.add_argument("file", type=pathlib.Path, help="the recorded session (.jsonl or .jsonl.gz)")
    rep.add_argument("--db", type=pathlib.Path, default=pathlib.Path("cache.db"), help="SQLite file (default cache.db)")
    rep.add_argument(
        "--bot",
        metavar="MODULE:ATTRIBUTE",
        help="use your own bot object (e.g. mybot:bot); it must not be running. A cache is attached unless"
        " one already is (--no-cache)",
    )
    rep.add_argument("--no-cache", action="store_true", help="do not attach a cache (your bot brings its own)")
    rep.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    stats = sub.add_parser("stats", help="print the rows per kind of a cache database")
    stats.add_argument("db", type=pathlib.Path, help="the SQLite file")

    tour = sub.add_parser("tour", help="answer what a bot would ask of a cache database, from native hikari objects")
    tour.add_argument("db", type=pathlib.Path, help="the SQLite file")

    demo = sub.add_parser("demo", help="replay the bundled session into SQLite, then query it from a fresh process")
    demo.add_argument("--dir", type=pathlib.Path, default=pathlib.Path("demo"), help="working folder (default demo)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "replay":
            return asyncio.run(
                _replay(
                    _require_file(args.file, "recorded session"),
                    args.db,
                    bot_ref=args.bot,
                    attach=not args.no_cache,
                    progress=not args.no_progress,
                )
            )
        if args.command == "stats":
            return asyncio.run(_stats(_require_file(args.db, "cache database")))
        if args.command == "tour":
            return asyncio.run(_tour(_require_file(args.db, "cache database")))
        if args.command == "demo":
            return _demo(args.dir)
    except (BackendError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _generate(args: argparse.Namespace) -> int:
    members = [int(m) for m in str(args.members).split(",") if m.strip()]
    records = gateway_session.generate_session(
        seed=args.seed, guilds=args.guilds, members=members, churn=args.churn, shard_count=args.shards
    )
    with Progress(f"writing {args.file}", None) as progress:
        count = gateway_session.write_session(args.file, records, progress=progress)
    print(f"wrote {count:,} events to {args.file}")
    return 0


def _load_bot(ref: str) -> typing.Any:
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        msg = f"--bot takes MODULE:ATTRIBUTE, got {ref!r}"
        raise ValueError(msg)
    sys.path.insert(0, os.getcwd())
    obj: typing.Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    if not hasattr(obj, "event_manager"):
        msg = f"{ref} is not a hikari bot (it has no event_manager)"
        raise ValueError(msg)
    return obj


async def _replay(
    path: pathlib.Path, db: pathlib.Path, *, bot_ref: str | None = None, attach: bool = True, progress: bool = True
) -> int:
    bot = (
        _load_bot(bot_ref)
        if bot_ref
        else offline.make_offline_bot(
            cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)
        )
    )
    cache = Cache(bot, SQLiteBackend(db)) if attach else None
    records = list(gateway_session.read_session(path))
    await offline.start_offline(bot)
    try:
        bar = Progress(f"replaying {path.name}", len(records)) if progress else None
        stats = await offline.replay(bot, records, progress=bar)
        if bar is not None:
            bar.close()
        if cache is not None:
            await cache.flush()
    finally:
        await offline.stop_offline(bot)
    errors = sum(stats.errors.values())
    print(f"replayed {stats.events:,} events ({errors} rejected by hikari) into {db if cache else 'your bot'}")
    if cache is not None:
        async with Cache(offline.make_offline_bot(), SQLiteBackend(db)) as reopened:
            counts = await reopened.stats()
        print("stored: " + ", ".join(f"{n:,} {k}" for k, n in counts.items()))
    return 0


def _require_file(path: pathlib.Path, what: str) -> pathlib.Path:
    if not path.is_file():
        msg = f"no {what} at {path}"
        raise OSError(msg)
    return path


async def _open_readonly(db: pathlib.Path) -> tuple[hikari.GatewayBot, Cache]:
    bot = offline.make_offline_bot()
    cache = Cache(bot, SQLiteBackend(db))
    await cache.open()
    return bot, cache


async def _stats(db: pathlib.Path) -> int:
    _, cache = await _open_readonly(db)
    try:
        stats = await cache.stats()
    finally:
        await cache.close()
    width = max(len(k) for k in stats)
    for kind, count in stats.items():
        print(f"{kind:<{width}}  {count:>10,}")
    if stats.database_size is not None:
        print(f"{'size (MB)':<{width}}  {stats.database_size / 1e6:>10,.1f}")
    print(f"{'schema':<{width}}  {stats.schema_version:>10}")
    return 0


async def _tour(db: pathlib.Path) -> int:
    bot, cache = await _open_readonly(db)
    try:
        print(f"Opened {db} in a fresh process; everything below is a native hikari object read from it.\n")
        counts = await cache.stats()
        print("Entities per kind:")
        for kind, count in counts.items():
            print(f"  {kind:<13} {count:>8,}")

        me = await cache.get_me()
        print(f"\nThe bot: {me} ({type(me).__name__}, id {me.id if me else '-'})")

        guilds = await cache.guilds.all().sort(key=lambda g: -(g.member_count or 0))
        if not guilds:
            print("No guilds stored.")
            return 0
        guild = guilds[0]
        members = await cache.members.count(guild_id=guild.id)
        print(f"\nLargest guild: {guild.name!r} ({type(guild).__name__}, id {guild.id}), {members:,} members stored")
        text = await cache.channels.where(guild_id=guild.id, type=hikari.ChannelType.GUILD_TEXT).collect()
        text.sort(key=lambda c: c.position)
        print(f"Its text channels ({len(text)}):")
        for channel in text:
            topic = getattr(channel, "topic", None)
            print(f"  {channel.mention:<24} #{channel.name:<20} {type(channel).__name__}  topic={topic!r}")

        member = await cache.members.where(guild_id=guild.id).find(lambda m: len(m.role_ids) > 1 and not m.user.is_bot)
        if member is not None:
            roles = [await cache.roles.get(id=role_id) for role_id in member.role_ids]
            names = ", ".join(r.name for r in roles if r is not None)
            print(f"\nA member: {member.display_name!r} ({member.mention}, joined {member.joined_at:%Y-%m-%d})")
            print(f"  roles: {names}")
            print(f"  {type(member).__name__}.app is the bot: {member.app is bot}")

        channel = text[0] if text else None
        if channel is not None:
            latest = await cache.messages.where(channel_id=channel.id).last()
            if latest is not None:
                print(f"\nLatest message in #{channel.name}: {latest.author.username}: {str(latest.content)[:60]!r}")
    finally:
        await cache.close()
    return 0


def _demo(folder: pathlib.Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "cache.db"
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(f"{db}{suffix}").unlink(missing_ok=True)
    session = demo_session_path()
    print(f"Replaying the bundled recorded gateway session through a real hikari.GatewayBot into {db}\n")
    code = asyncio.run(_replay(session, db, progress=True))
    if code:
        return code
    print("\nStarting a fresh process that opens the same file:\n", flush=True)
    return subprocess.call([sys.executable, "-m", "hikaripersist", "tour", str(db)])
