"""The operator command line, driven as operators do: ``python -m hikaripersist ...`` in a subprocess.

Stores are real (SQLite files, and the PostgreSQL, MySQL/MariaDB and Redis test servers), filled
by a real offline ``hikari.GatewayBot`` replaying a generated session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import gzip
import io
import json
import pathlib
import sqlite3
import subprocess
import sys
import typing

import pytest

import hikaripersist as persist
from hikaripersist._internal import cli as cli_module
from hikaripersist._internal import offline, portable, schema
from tests import conftest
from tests.services import POSTGRESQL_URL, REDIS_URL

if typing.TYPE_CHECKING:
    import os

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMANDS = (
    *("generate", "replay", "stats", "inspect", "export", "import", "backup", "restore"),
    *("migrate", "vacuum", "prune", "tour", "demo"),
)


@dataclasses.dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def cli(*args: object) -> Run:
    """Run ``python -m hikaripersist ARGS`` without blocking the event loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hikaripersist",
        *map(str, args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def ok(run: Run) -> Run:
    assert run.code == 0, f"exit {run.code}\nstdout: {run.out}\nstderr: {run.err}"
    assert "Traceback" not in run.err
    return run


def failed(run: Run, code: int, *needles: str) -> None:
    """The command exited with ``code`` and one clear message (no traceback) naming each needle."""
    assert run.code == code, f"exit {run.code}\nstdout: {run.out}\nstderr: {run.err}"
    assert "Traceback" not in run.err, run.err
    for needle in needles:
        assert needle in run.err, f"{needle!r} not in {run.err!r}"


def _records() -> tuple[typing.Any, ...]:
    return conftest.session(seed=7, guilds=2, members=(120, 40), churn=0.3, messages_per_channel=6)


async def _replay_into(db: pathlib.Path) -> dict[str, int]:
    bot = offline.make_offline_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(db))
    await offline.start_offline(bot)
    try:
        await offline.replay(bot, _records(), yield_every=200)
        await cache.flush()
        return dict(await cache.stats())
    finally:
        await offline.stop_offline(bot)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, int]]:
    """A SQLite store a real bot wrote, and its entities per kind (never changed by the tests)."""
    db = tmp_path_factory.mktemp("cli") / "cache.db"
    counts = asyncio.run(_replay_into(db))
    return db, counts


@pytest.fixture
def copy(store: tuple[pathlib.Path, dict[str, int]], tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of the store the test may change."""
    target = tmp_path / "copy.db"
    source = sqlite3.connect(store[0])
    try:
        with contextlib.closing(sqlite3.connect(target)) as db:
            source.backup(db)
    finally:
        source.close()
    return target


def export_rows(path: pathlib.Path) -> list[str]:
    """An export's row lines, sorted (row order is the database's business)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as file:
        lines = file.read().splitlines()
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert header["format"] == portable.FORMAT
    assert header["schema_version"] == schema.SCHEMA_VERSION
    assert trailer == {"end": {"rows": len(lines) - 2}}
    return sorted(lines[1:-1])


def sqlite_rows(db: pathlib.Path, sql: str) -> list[tuple[typing.Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(sql).fetchall()


# --- usage and failures ---------------------------------------------------------------------------


def in_process(*args: object) -> Run:
    """The command's own entry point in this process: cheaper than a subprocess, for the variants."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_module.main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


async def in_thread(*args: object) -> Run:
    """[`in_process`][] from an async test (the command runs its own event loop)."""
    return await asyncio.to_thread(in_process, *args)


async def test_bad_usage_exits_2() -> None:
    missing = await cli("inspect", "cache.db")
    assert missing.code == 2
    assert "usage:" in missing.err
    assert "KIND" in missing.err


def test_help_lists_every_command() -> None:
    help_run = ok(in_process("--help"))
    for command in COMMANDS:
        assert f"\n    {command}" in help_run.out, command
    assert "exit codes:" in help_run.out
    assert "postgresql://" in help_run.out
    assert "redis://" in help_run.out


def test_every_option_is_explained_and_bad_options_exit_2() -> None:
    parser = cli_module._parser()
    subparsers: list[typing.Any] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands: dict[str, argparse.ArgumentParser] = subparsers[0].choices
    assert set(commands) == set(COMMANDS)
    for name, sub in commands.items():
        actions: list[argparse.Action] = sub._actions
        for action in actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        run = in_process(name, "--help")
        assert run.code == 0
        for action in actions:
            assert (action.option_strings or [str(action.metavar or action.dest)])[0] in run.out
    for args in ((), ("stats",), ("stats", "x.db", "--bogus"), ("inspect", "x.db", "members", "--format", "xml")):
        run = in_process(*args)
        assert run.code == 2, args
        assert "usage:" in run.err


async def test_failures_exit_1_with_one_clear_line(tmp_path: pathlib.Path) -> None:
    failed(await cli("stats", "postgresql://postgres@127.0.0.1:1/test"), 1, "cannot open PostgreSQL", "127.0.0.1:1")
    failed(await in_thread("stats", tmp_path / "missing.db"), 1, "does not exist")


def test_more_failures_exit_1(tmp_path: pathlib.Path, store: tuple[pathlib.Path, dict[str, int]]) -> None:
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(json.dumps({"format": portable.FORMAT, "version": 1, "schema_version": 4, "tables": {}}))
    not_ours = tmp_path / "notes.txt"
    not_ours.write_text("hello\n")
    target = tmp_path / "new.db"
    failed(in_process("stats", "nosuchscheme://host/db"), 1, "nosuchscheme")
    failed(in_process("import", tmp_path / "missing.jsonl", target), 1, "no export file")
    failed(in_process("import", truncated, target), 1, "truncated")
    failed(in_process("import", not_ours, target), 1, "not a hikari-persist export")
    failed(in_process("restore", tmp_path / "missing.db", target), 1, "no backup at")
    failed(in_process("restore", not_ours, target), 1, "not valid JSON")
    failed(in_process("inspect", target, "nosuchkind"), 1, "unknown kind")
    failed(in_process("prune", target, "--max-age", "soon"), 1, "--max-age")
    for command in ("vacuum", "migrate", "backup"):
        args = (target, tmp_path / "b.db") if command == "backup" else (target,)
        failed(in_process(command, *args), 1, "does not exist")
    failed(in_process("prune", target, "--max-age", "3d"), 1, "does not exist")
    # A file's name as a folder: nothing is written, no temporary file is left.
    failed(in_process("export", store[0], not_ours / "x.jsonl"), 1, "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "truncated.jsonl"]
    assert not target.exists()


# --- stats / inspect ------------------------------------------------------------------------------


async def test_stats_and_inspect_read_any_store(store: tuple[pathlib.Path, dict[str, int]]) -> None:
    db, counts = store
    ((guild_id, guild_name),) = sqlite_rows(
        db,
        "SELECT id, name FROM guilds WHERE id = (SELECT guild_id FROM members GROUP BY guild_id"
        " ORDER BY COUNT(*) DESC LIMIT 1)",
    )
    ((channel_id, in_channel),) = sqlite_rows(
        db, "SELECT channel_id, COUNT(*) FROM messages GROUP BY channel_id ORDER BY COUNT(*) DESC LIMIT 1"
    )
    stats, members = await asyncio.gather(
        cli("stats", f"sqlite:///{db}"),
        cli("inspect", db, "members", "--guild", guild_id, "--limit", "3", "--format", "json"),
    )
    messages = await in_thread("inspect", db, "messages", "--where", f"channel_id={channel_id}")
    guilds = await in_thread("inspect", db, "guilds")
    bad_field = await in_thread("inspect", db, "members", "--where", "nosuchfield=1")
    for kind, count in counts.items():
        assert any(line.split() == [kind, f"{count:,}"] for line in ok(stats).out.splitlines()), kind
    assert f"schema {schema.SCHEMA_VERSION}".split() in [line.split() for line in stats.out.splitlines()]

    assert guild_name in ok(guilds).out
    assert f"({counts['guilds']} guilds)" in guilds.out

    encoded = [json.loads(line) for line in ok(members).out.splitlines()]
    assert len(encoded) == 3
    assert all(m["!"] == "guilds.Member" and m["guild_id"] == guild_id for m in encoded)

    lines = ok(messages).out.splitlines()
    assert len(lines) == in_channel + 1
    assert lines[-1] == f"({in_channel} messages)"
    failed(bad_field, 1, "nosuchfield")


# --- export / import between backends --------------------------------------------------------------


def _pg_name(schema_name: str) -> str:
    return persist.PostgreSQLBackend(POSTGRESQL_URL, schema=schema_name).name


async def test_export_sqlite_import_postgresql_export_again_is_equal(
    store: tuple[pathlib.Path, dict[str, int]], postgresql_schema: str, tmp_path: pathlib.Path
) -> None:
    db, counts = store
    target = f"{POSTGRESQL_URL}?schema={postgresql_schema}"
    first, second = tmp_path / "sqlite.jsonl.gz", tmp_path / "postgresql.jsonl"
    assert "exported" in ok(await cli("export", db, first)).out
    imported = ok(await cli("import", first, target))
    # Scripts read stdout: one result line; the progress bar (one line per 10% off a terminal) is on stderr.
    rows = len(export_rows(first))
    assert imported.out.splitlines() == [f"imported {rows:,} rows from {first} into {_pg_name(postgresql_schema)}"]
    assert f"importing {first.name} [" in imported.err
    assert f"{rows:,}/{rows:,}" in imported.err
    ok(await cli("export", target, second))
    stats = await in_thread("stats", target)
    refused = await in_thread("import", first, target, "--no-progress")
    assert export_rows(first) == export_rows(second)
    assert sum(counts.values()) > 0
    for kind, count in counts.items():
        assert any(line.split() == [kind, f"{count:,}"] for line in ok(stats).out.splitlines()), kind
    failed(refused, 1, "not empty", "--replace")

    # The server store answers queries like the original (entities decoded from imported rows).
    async with persist.ReadOnlyCache(persist.PostgreSQLBackend(POSTGRESQL_URL, schema=postgresql_schema)) as cache:
        assert dict(await cache.stats()) == counts
        guild = await cache.guilds.all().first()
        assert guild is not None
        assert (
            await cache.members.count(guild_id=guild.id)
            == sqlite_rows(db, f"SELECT COUNT(*) FROM members WHERE guild_id = {int(guild.id)}")[0][0]
        )


@pytest.fixture(scope="module")
def exported(store: tuple[pathlib.Path, dict[str, int]], tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The store exported once (in-process; the command is tested above)."""
    path = tmp_path_factory.mktemp("export") / "store.jsonl"

    async def run() -> None:
        async with persist.ReadOnlyCache(persist.SQLiteBackend(store[0])):
            pass
        backend = persist.SQLiteBackend(store[0])
        await backend.open_read_only()
        try:
            await portable.export_store(backend, path)
        finally:
            await backend.close()

    asyncio.run(run())
    return path


async def test_import_into_mysql_redis_and_json_round_trips(
    exported: pathlib.Path, mysql_database: str, redis_prefix: str, tmp_path: pathlib.Path
) -> None:
    targets = [
        conftest.mysql_url(mysql_database),
        f"{REDIS_URL}?prefix={redis_prefix}",
        f"json:///{tmp_path / 'store.json'}",
    ]
    ok(await cli("import", exported, targets[0], "--no-progress"))
    for target in targets[1:]:
        ok(await in_thread("import", exported, target, "--no-progress"))
    outputs = [tmp_path / f"again-{i}.jsonl" for i in range(len(targets))]
    for target, output in zip(targets, outputs, strict=True):
        ok(await in_thread("export", target, output))
    expected = export_rows(exported)
    for output in outputs:
        assert export_rows(output) == expected, output


def test_import_migrates_an_older_export(exported: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # What an export of a schema-1 store looks like: no created_at/expires_at/seen_at, no fresh_guilds.
    old_tables = portable.table_columns(1)
    lines = exported.read_text().splitlines()
    header = json.loads(lines[0])
    header["schema_version"] = 1
    header["tables"] = {t: list(c) for t, c in old_tables.items() if t != "meta"}
    rows = [json.loads(line) for line in lines[1:-1]]
    old = [
        {"t": r["t"], "r": {c: v for c, v in r["r"].items() if c in old_tables[r["t"]]}}
        for r in rows
        if r["t"] in old_tables
    ]
    old_export = tmp_path / "old.jsonl"
    old_export.write_text("\n".join(json.dumps(x) for x in [header, *old, {"end": {"rows": len(old)}}]) + "\n")

    target = tmp_path / "migrated.db"
    run = ok(in_process("import", old_export, target, "--no-progress"))
    assert "migrated from schema 1" in run.out

    # The migration recomputed what schema 1 did not store: a message's time from its id.
    def from_id(snowflake: int) -> str:
        ms = (snowflake >> 22) + 1_420_070_400_000
        return schema.iso_time(datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc))

    ids = [r["r"]["id"] for r in rows if r["t"] == "messages"]
    assert ids
    assert dict(sqlite_rows(target, "SELECT id, created_at FROM messages")) == {i: from_id(i) for i in ids}
    assert sqlite_rows(target, "SELECT COUNT(*) FROM member_records") == [
        (sum(r["t"] == "member_records" for r in rows),)
    ]
    assert sqlite_rows(target, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(schema.SCHEMA_VERSION),)]


def test_import_refuses_a_newer_export(exported: pathlib.Path, tmp_path: pathlib.Path) -> None:
    lines = exported.read_text().splitlines()
    header = json.loads(lines[0])
    header["schema_version"] = schema.SCHEMA_VERSION + 1
    newer = tmp_path / "newer.jsonl"
    newer.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    failed(in_process("import", newer, tmp_path / "t.db"), 1, "newer", "upgrade hikari-persist")
    assert not (tmp_path / "t.db").exists()


# --- backup / restore -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _writing(db: pathlib.Path) -> typing.AsyncGenerator[persist.Cache, None]:
    """A bot whose cache keeps writing ``db`` (the session replayed over and over) until the block ends."""
    bot = offline.make_offline_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(db))
    await offline.start_offline(bot)
    stop = asyncio.Event()

    async def churn() -> None:
        while not stop.is_set():
            await offline.replay(bot, _records(), yield_every=20)

    task = asyncio.create_task(churn())
    try:
        await cache.flush()
        yield cache
    finally:
        stop.set()
        await task
        await offline.stop_offline(bot)


def _consistent(db: pathlib.Path) -> None:
    assert sqlite_rows(db, "PRAGMA integrity_check") == [("ok",)]
    # Every stored member's user is stored: no half-applied batch in the copy.
    assert sqlite_rows(
        db,
        "SELECT COUNT(*) FROM member_records m WHERE NOT EXISTS (SELECT 1 FROM user_records u WHERE u.id = m.user_id)",
    ) == [(0,)]


async def test_backup_while_a_bot_writes_is_consistent_and_restores(copy: pathlib.Path, tmp_path: pathlib.Path) -> None:
    backup = tmp_path / "backup.db"
    async with _writing(copy) as cache:
        before = (await cache.stats()).batches_written
        run = ok(await cli("backup", copy, backup))
        assert (await cache.stats()).batches_written > before  # the bot wrote while the command ran
    assert "online backup" in run.out
    _consistent(backup)
    _consistent(copy)

    restored = tmp_path / "restored.db"
    ok(await in_thread("restore", backup, restored))
    tables = [t for t in portable.table_columns() if t != "meta"]
    for table in tables:
        query = f"SELECT * FROM {table}"
        assert sorted(sqlite_rows(restored, query)) == sorted(sqlite_rows(backup, query)), table


async def test_restore_an_export_replaces_a_store(
    exported: pathlib.Path, copy: pathlib.Path, store: tuple[pathlib.Path, dict[str, int]]
) -> None:
    with contextlib.closing(sqlite3.connect(copy)) as db:
        db.execute("DELETE FROM messages")
        db.commit()
    ok(await in_thread("restore", exported, copy, "--no-progress"))
    async with persist.ReadOnlyCache(persist.SQLiteBackend(copy)) as cache:
        assert dict(await cache.stats()) == store[1]


def _commit_meanwhile(cache: persist.Cache, loop: asyncio.AbstractEventLoop, done: list[int]) -> None:
    """From the copy's worker thread: the bot's writer commits a write and this waits for it.

    A copy holding the writer (or running on the event loop) would never see that commit: the
    wait times out and the test fails.
    """
    if done:
        return

    async def write() -> int:
        member = await cache.members.all().first()
        assert member is not None
        before = (await cache.stats()).batches_written
        cache.store(member)  # the same member again: the content does not change
        await cache.flush()
        return (await cache.stats()).batches_written - before

    done.append(asyncio.run_coroutine_threadsafe(asyncio.wait_for(write(), 20), loop).result(30))


async def test_cache_backup_on_sqlite_lets_the_writer_commit(
    copy: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done: list[int] = []
    original = portable.sqlite_backup
    async with persist.Cache(offline.make_offline_bot(), persist.SQLiteBackend(copy)) as cache:
        loop = asyncio.get_running_loop()

        def copying(source: str, target: str | os.PathLike[str]) -> None:
            _commit_meanwhile(cache, loop, done)
            original(source, target)

        monkeypatch.setattr(portable, "sqlite_backup", copying)
        await cache.backup(tmp_path / "backup.db")
    assert done == [1]
    _consistent(tmp_path / "backup.db")


async def _backup_and_restore_include_the_queue(
    backend: persist.Backend, path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = offline.make_offline_bot()
    cache = persist.Cache(bot, backend)
    await offline.start_offline(bot)
    done: list[int] = []
    original = portable._write_chunk
    loop = asyncio.get_running_loop()

    def writing(*args: typing.Any) -> None:
        _commit_meanwhile(cache, loop, done)
        original(*args)

    monkeypatch.setattr(portable, "_write_chunk", writing)
    try:
        await offline.replay(bot, _records(), yield_every=500)
        # Not flushed: the backup must still hold everything received.
        await cache.backup(path)
        assert done == [1]
        expected = dict(await cache.stats())
        assert sum(expected.values()) > 0
        rows = export_rows(path)
        assert len([r for r in rows if '"t":"member_records"' in r]) >= expected["members"] > 0

        await cache.clear()
        assert sum(dict(await cache.stats()).values()) == 0
        await cache.restore(path)
        assert dict(await cache.stats()) == expected
    finally:
        await offline.stop_offline(bot)


async def test_cache_backup_and_restore_on_postgresql(
    postgresql_schema: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = persist.PostgreSQLBackend(POSTGRESQL_URL, schema=postgresql_schema)
    await _backup_and_restore_include_the_queue(backend, tmp_path / "backup.jsonl.gz", monkeypatch)


async def test_cache_restores_an_export_on_sqlite(
    exported: pathlib.Path, store: tuple[pathlib.Path, dict[str, int]], tmp_path: pathlib.Path
) -> None:
    async with persist.Cache(offline.make_offline_bot(), persist.SQLiteBackend(tmp_path / "fresh.db")) as cache:
        await cache.restore(exported)
        assert dict(await cache.stats()) == store[1]
        with pytest.raises(persist.SchemaError, match="truncated"):
            await cache.restore(_truncated(exported, tmp_path))
        assert dict(await cache.stats()) == store[1]  # checked before anything changed


def _truncated(export: pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
    lines = export.read_text().splitlines()
    target = folder / "cut.jsonl"
    target.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    return target


# --- migrate / vacuum / prune ---------------------------------------------------------------------


def _old_store(path: pathlib.Path, version: int) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        for statement in schema.create_statements(version):
            db.execute(statement)
        db.execute("PRAGMA application_id = 1213223764")  # 0x48505354, SQLite stores of ours
        db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),))
        db.execute("INSERT INTO messages (id, channel_id, author_id, data) VALUES (175928847299117063, 1, 2, '{}')")


async def test_migrate_reports_and_checks(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "old.db"
    _old_store(db, 2)
    failed(needed := await cli("migrate", db, "--check"), 3)
    assert f"schema 2; a migration to schema {schema.SCHEMA_VERSION} is needed" in needed.out
    assert sqlite_rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    assert f"from schema 2 to {schema.SCHEMA_VERSION}" in ok(await in_thread("migrate", db)).out
    assert sqlite_rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(schema.SCHEMA_VERSION),)]
    assert "nothing to migrate" in ok(await in_thread("migrate", db, "--check")).out


async def test_vacuum_and_prune(copy: pathlib.Path, store: tuple[pathlib.Path, dict[str, int]]) -> None:
    busiest = sqlite_rows(
        copy, "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM messages WHERE is_reference = 0 GROUP BY channel_id)"
    )[0][0]
    assert busiest > 2
    (guild_id,) = sqlite_rows(copy, "SELECT id FROM guilds ORDER BY id LIMIT 1")[0]
    vacuum, nothing = await in_thread("vacuum", copy), await in_thread("prune", copy)
    assert "vacuumed" in ok(vacuum).out
    failed(nothing, 1, "--max-messages-per-channel")

    run = ok(
        await cli("prune", copy, "--max-messages-per-channel", "2", "--drop-guild", guild_id, "--drop", "presences")
    )
    assert "removed" in run.out
    async with persist.ReadOnlyCache(persist.SQLiteBackend(copy)) as cache:
        assert await cache.presences.count() == 0
        assert await cache.guilds.get(id=guild_id) is None
        assert await cache.members.count(guild_id=guild_id) == 0
        assert await cache.members.count() > 0
    # The newest two of each channel stay (older ones only while a kept reply references them).
    assert sqlite_rows(
        copy, "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM messages WHERE is_reference = 0 GROUP BY channel_id)"
    ) == [(2,)]
    assert store[1]["presences"] > 0
