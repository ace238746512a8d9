"""``python -m hikaripersist`` (also installed as ``hikari-persist``): offline replay, the demo, operations.

Exit codes: 0 success, 1 failure (the message says why), 2 bad usage, 3 ``migrate --check``
found that a migration is needed.
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

from hikaripersist._internal import cli_ops, gateway_session, offline
from hikaripersist._internal.kinds import KINDS
from hikaripersist._internal.progress import Progress
from hikaripersist.backend import BackendError
from hikaripersist.cache import Cache
from hikaripersist.sqlite import SQLiteBackend

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence


def demo_session_path() -> pathlib.Path:
    """The bundled recorded session used by ``make demo``."""
    return pathlib.Path(
        str(importlib.resources.files("hikaripersist") / "_internal" / "data" / "demo_session.jsonl.gz")
    )


_EPILOG = """\
DB is a store's URL: a file path (SQLite, or a JSON store when it ends in .json),
sqlite:///cache.db, json:///cache.json, postgresql://user:pass@host:5432/db[?schema=name],
mysql://user:pass@host:3306/db (or mariadb://), redis://[:pass@]host:6379/0[?prefix=name].

exit codes:
  0  success
  1  failure: the store cannot be opened or used, a file is missing or damaged...
     (one line on stderr says why)
  2  bad usage (unknown command or option, missing argument)
  3  `migrate --check`: the store needs a migration

Run `python -m hikaripersist COMMAND --help` for a command's options.
"""

_DB_HELP = "the store: a path or URL (see `python -m hikaripersist --help`)"


class _Formatter(argparse.HelpFormatter):
    """Wraps descriptions to the terminal; keeps the layout of multi-line texts (the epilog)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hikaripersist",
        description=(
            "hikari-persist tools: replay recorded gateway sessions offline, look inside a cache,"
            " and operate stores (export/import between backends, backup/restore, migrate, vacuum, prune)."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
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

    stats = sub.add_parser(
        "stats",
        help="print the entities per kind, size and schema version of a store",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    stats.add_argument("db", metavar="DB", help=_DB_HELP)

    insp = sub.add_parser(
        "inspect",
        help="print the stored entities of one kind, filtered",
        description="Print stored entities of KIND (guilds, channels, members, messages...), one per line.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    insp.add_argument("db", metavar="DB", help=_DB_HELP)
    insp.add_argument("kind", metavar="KIND", help="the kind: " + ", ".join(KINDS))
    insp.add_argument("--guild", type=int, metavar="ID", help="only entities of this guild")
    insp.add_argument("--id", type=int, metavar="ID", dest="entity_id", help="only the entity with this id")
    insp.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help='only entities whose FIELD equals VALUE (integers, true/false/null, else text; "quoted" is always text);'
        " repeatable",
    )
    insp.add_argument("--limit", type=int, metavar="N", help="print at most N entities")
    insp.add_argument(
        "--format", choices=("text", "json"), default="text", help="text (default) or json: one encoded entity a line"
    )

    exp = sub.add_parser(
        "export",
        help="write a store's rows to a portable JSON lines file (any backend)",
        description=(
            "Write every row of DB to FILE in the portable export format (JSON lines; .gz compresses),"
            " from one consistent snapshot: a bot may keep writing meanwhile. `import` reads it into any backend."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    exp.add_argument("db", metavar="DB", help=_DB_HELP)
    exp.add_argument("file", metavar="FILE", type=pathlib.Path, help="the export to write (.jsonl or .jsonl.gz)")
    exp.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    imp = sub.add_parser(
        "import",
        help="load a portable export into a store (any backend)",
        description=(
            "Load FILE (written by `export` or a server backend's `backup`) into DB, created if missing."
            " Exports of an older schema are migrated; newer ones are refused."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    imp.add_argument("file", metavar="FILE", type=pathlib.Path, help="the export to read")
    imp.add_argument("db", metavar="DB", help=_DB_HELP)
    imp.add_argument(
        "--replace", action="store_true", help="replace what DB holds (by default a non-empty DB is refused)"
    )
    imp.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    bak = sub.add_parser(
        "backup",
        help="copy a store consistently while the bot runs",
        description=(
            "Copy DB to FILE while a bot may be writing it: SQLite uses its online backup (FILE is an SQLite"
            " database), JSON and Redis stores write a hikari-persist JSON file, PostgreSQL and MySQL an export."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    bak.add_argument("db", metavar="DB", help=_DB_HELP)
    bak.add_argument("file", metavar="FILE", type=pathlib.Path, help="where to write the backup")
    bak.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    res = sub.add_parser(
        "restore",
        help="replace a store's content with a backup",
        description=(
            "Replace DB's content with FILE: an SQLite backup, a hikari-persist JSON file or an export, into"
            " any backend (the file is checked before anything changes)."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    res.add_argument("file", metavar="FILE", type=pathlib.Path, help="the backup to read")
    res.add_argument("db", metavar="DB", help=_DB_HELP)
    res.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    mig = sub.add_parser(
        "migrate",
        help="bring a store to this release's schema",
        description="Migrate DB to this release's schema and report the versions (a bot's cache also does on open).",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    mig.add_argument("db", metavar="DB", help=_DB_HELP)
    mig.add_argument(
        "--check", action="store_true", help="change nothing; exit 0 when up to date, 3 when a migration is needed"
    )

    vac = sub.add_parser(
        "vacuum",
        help="reclaim free space (SQLite VACUUM, PostgreSQL VACUUM ANALYZE, MySQL OPTIMIZE TABLE)",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    vac.add_argument("db", metavar="DB", help=_DB_HELP)

    pru = sub.add_parser(
        "prune",
        help="remove stored entities by rule (message limits, guilds, whole kinds)",
        description=(
            "Remove what the rule the options describe would not store, through a writer of DB (the bot may"
            " keep running), in short transactions. Removals follow the gateway's own (users stay consistent)."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    pru.add_argument("db", metavar="DB", help=_DB_HELP)
    pru.add_argument(
        "--max-messages-per-channel", type=int, metavar="N", help="keep the newest N messages of each channel"
    )
    pru.add_argument(
        "--max-age", metavar="AGE", help="remove messages older than AGE: 30d, 12h, 90m, 45s (days if bare)"
    )
    pru.add_argument(
        "--keep-guild", type=int, action="append", default=[], metavar="ID", help="keep only these guilds; repeatable"
    )
    pru.add_argument(
        "--drop-guild", type=int, action="append", default=[], metavar="ID", help="remove these guilds; repeatable"
    )
    pru.add_argument(
        "--drop", action="append", default=[], metavar="KIND", help="remove every entity of KIND; repeatable"
    )
    pru.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

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
        if args.command in _OPERATIONS:
            return _operate(args)
        if args.command == "tour":
            return asyncio.run(_tour(_require_file(args.db, "cache database")))
        if args.command == "demo":
            return _demo(args.dir)
    except (BackendError, OSError, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _operate(args: argparse.Namespace) -> int:
    # The hikaripersist loggers would repeat a failure the error line already reports.
    # (asyncmy warns about every `CREATE TABLE IF NOT EXISTS` of a store that exists.)
    loggers = [logging.getLogger(name) for name in ("hikaripersist", "asyncmy")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_OPERATIONS[args.command](args))
    except (BackendError, OSError, ValueError, ImportError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a driver's or server's error: still one line, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


_OPERATIONS: typing.Final[dict[str, Callable[[argparse.Namespace], Coroutine[typing.Any, typing.Any, int]]]] = {
    "stats": lambda a: cli_ops.stats(a.db),
    "inspect": lambda a: cli_ops.inspect(
        a.db, a.kind, guild=a.guild, entity_id=a.entity_id, where=a.where, limit=a.limit, output=a.format
    ),
    "export": lambda a: cli_ops.export(a.db, a.file, progress=not a.no_progress),
    "import": lambda a: cli_ops.import_(a.file, a.db, replace=a.replace, progress=not a.no_progress),
    "backup": lambda a: cli_ops.backup(a.db, a.file, progress=not a.no_progress),
    "restore": lambda a: cli_ops.restore(a.file, a.db, progress=not a.no_progress),
    "migrate": lambda a: cli_ops.migrate(a.db, check=a.check),
    "vacuum": lambda a: cli_ops.vacuum(a.db),
    "prune": lambda a: _prune(a),
}


def _prune(args: argparse.Namespace) -> Coroutine[typing.Any, typing.Any, int]:
    rule = cli_ops.prune_rule(
        max_messages_per_channel=args.max_messages_per_channel,
        max_age=args.max_age,
        keep_guilds=args.keep_guild,
        drop_guilds=args.drop_guild,
        drop_kinds=args.drop,
    )
    return cli_ops.prune(args.db, rule, progress=not args.no_progress)


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
