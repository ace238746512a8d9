"""Crash safety: a bot killed at random points, and database servers crashing under a running bot.

SQLite: a real bot process (``tests/crash_worker.py``) replays a recorded session into a file and is
killed with ``SIGKILL`` at seeded random points, dozens of times, each time restarted from the start of
the session (as a restarted bot is fed its session again). After every kill the file passes SQLite's
integrity check and holds every message and member join whose confirmation the killed process had
dispatched; once a run completes, the store equals hikari's own cache fed the whole session.

PostgreSQL and Redis: private servers (a fresh PostgreSQL cluster, a ``redis-server`` with an
append-only file synced on every write) are crashed while a bot replays a session and started again.
The bot keeps running, its writer retries, nothing confirmed is lost, confirmations come once each and
in stream order, and the store ends equal to hikari's cache fed the whole session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import typing

import hikari
import orjson
import pytest

import hikaripersist as persist
from hikaripersist._internal import offline
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari
from tests.services import services_required

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator

    from hikaripersist._internal.gateway_session import GatewayRecord

ROOT: typing.Final = pathlib.Path(__file__).resolve().parent.parent
TIMEOUT: typing.Final = 60.0  # safety net only
KILLS: typing.Final = 24
BATCH_SIZE: typing.Final = 100
SEED: typing.Final = 1234
# A session of about 850 records (340 message creates, member joins, chunks, churn of every kind).
STREAM: typing.Final = {"seed": 5, "guilds": 3, "members": (300, 100, 40), "churn": 1.0, "messages_per_channel": 5}
PG_BIN: typing.Final = pathlib.Path("/usr/lib/postgresql/15/bin")


def stream() -> tuple[GatewayRecord, ...]:
    return session(**STREAM)  # pyright: ignore[reportArgumentType]


async def reference(times: int = 1) -> hikari.GatewayBot:
    """hikari's own cache fed the whole session ``times`` times."""
    bot = make_bot()
    for _ in range(times):
        await offline.replay(bot, stream())
    return bot


class Durable(typing.NamedTuple):
    """What must stay in the store from its confirmation on: effects the session never undoes."""

    messages: frozenset[int]
    joins: frozenset[tuple[int, int]]


def durable_effects(bot: hikari.GatewayBot) -> Durable:
    """Messages created once and still in hikari's cache at the end (ids are never reused, so nothing
    removed them meanwhile); members who joined once, never left, of guilds never deleted."""
    records = stream()
    created = {int(p["id"]) for name, _, p in records if name == "MESSAGE_CREATE" and "guild_id" in p}
    kept = {int(m) for m in bot.cache.get_messages_view()}
    adds: dict[tuple[int, int], int] = {}
    left: set[tuple[int, int]] = set()
    deleted_guilds = {int(p["id"]) for name, _, p in records if name == "GUILD_DELETE"}
    for name, _, payload in records:
        if name in {"GUILD_MEMBER_ADD", "GUILD_MEMBER_REMOVE"} and "user" in payload:
            key = (int(payload["guild_id"]), int(payload["user"]["id"]))
            if name == "GUILD_MEMBER_ADD":
                adds[key] = adds.get(key, 0) + 1
            else:
                left.add(key)
    joins = {
        key
        for key, count in adds.items()
        if count == 1
        and key not in left
        and key[0] not in deleted_guilds
        and bot.cache.get_member(key[0], key[1]) is not None
    }
    return Durable(frozenset(created & kept), frozenset(joins))


class Confirmed(typing.NamedTuple):
    messages: list[int]
    joins: list[tuple[int, int]]


class Outcome(typing.NamedTuple):
    confirmed: Confirmed
    finished: bool
    exit_code: int


class Worker:
    """``tests/crash_worker.py``: forks a bot process per run; ``run`` kills it after some confirmations."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.bot_pid = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, url: str, folder: pathlib.Path) -> AsyncGenerator[Worker, None]:
        path = folder / "stream.json"
        path.write_bytes(orjson.dumps([list(r) for r in stream()]))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.crash_worker",
            url,
            str(path),
            str(BATCH_SIZE),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(process)
        try:
            yield worker
        finally:
            if worker.bot_pid:  # a bot process still running when the test failed
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.bot_pid, signal.SIGKILL)
            if process.returncode is None:
                process.kill()
            await process.wait()

    async def _line(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        assert line, "the crash worker died"
        return line.decode().strip()

    async def run(self, kill_after: int | None, *, at_end: bool = False) -> Outcome:
        """One bot process, killed with SIGKILL once it reported ``kill_after`` confirmations (``0``: while
        it opens the store), or once the whole stream is durable (``at_end``: while it stops), or left to
        finish when ``None``."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"run\n")
        await self.process.stdin.drain()
        confirmed = Confirmed([], [])
        pid = 0
        killed = finished = False
        while True:
            line = await self._line()
            kind, _, rest = line.partition(" ")
            if kind == "started":
                pid = self.bot_pid = int(rest)
            elif kind == "m":
                confirmed.messages.append(int(rest))
            elif kind == "j":
                guild_id, user_id = rest.split()
                confirmed.joins.append((int(guild_id), int(user_id)))
            elif kind == "done":
                finished = True
            elif kind == "exit":
                self.bot_pid = 0
                return Outcome(confirmed, finished, int(rest))
            count = len(confirmed.messages) + len(confirmed.joins)
            due = finished if at_end else kill_after is not None and count >= kill_after
            if not killed and pid and due:
                os.kill(pid, signal.SIGKILL)
                killed = True


def integrity(path: pathlib.Path) -> list[tuple[str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def stored(path: pathlib.Path) -> tuple[set[int], set[tuple[int, int]]]:
    """Message ids and (guild, user) of members in the file (committed data, read by plain sqlite3)."""
    db = sqlite3.connect(path)
    try:
        messages = {row[0] for row in db.execute("SELECT id FROM messages")}
        members = {(row[0], row[1]) for row in db.execute("SELECT guild_id, user_id FROM members")}
        return messages, members
    finally:
        db.close()


def assert_durable(path: pathlib.Path, confirmed: Confirmed, durable: Durable) -> int:
    """Every confirmed durable effect is in the file; return how many were checked."""
    messages, members = stored(path)
    expected_messages = durable.messages.intersection(confirmed.messages)
    expected_joins = durable.joins.intersection(confirmed.joins)
    assert expected_messages <= messages, f"confirmed messages lost: {sorted(expected_messages - messages)[:10]}"
    assert expected_joins <= members, f"confirmed joins lost: {sorted(expected_joins - members)[:10]}"
    return len(expected_messages) + len(expected_joins)


async def test_sqlite_survives_sigkill_at_random_points(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "crash.db"
    bot = await reference()
    durable = durable_effects(bot)
    assert len(durable.messages) > 200
    assert durable.joins
    # Kill points: while opening (0), while stopping (None), and after a seeded random number of
    # confirmations: anywhere in the writer's progress.
    upper = int(len(durable.messages) * 0.9)
    rng = random.Random(SEED)
    kill_points = [0, 0, None, *(rng.randrange(1, upper) for _ in range(KILLS - 3))]
    checked = 0
    mid_stream = 0
    async with Worker.start(f"sqlite:///{path}", tmp_path) as worker:
        for kill_after in kill_points:
            outcome = await worker.run(kill_after, at_end=kill_after is None)
            assert outcome.exit_code == -signal.SIGKILL, f"the bot process ended by itself ({outcome.exit_code})"
            assert outcome.finished == (kill_after is None)
            if path.exists():
                assert integrity(path) == [("ok",)]
                checked += assert_durable(path, outcome.confirmed, durable)
            mid_stream += bool(outcome.confirmed.messages) and not outcome.finished

        # Runs left alone catch up with the whole session.
        finals = [await worker.run(None) for _ in range(2)]
    for final in finals:
        assert final.exit_code == 0
        assert final.finished
    assert integrity(path) == [("ok",)]
    assert assert_durable(path, finals[-1].confirmed, durable) == len(durable.messages) + len(durable.joins)
    assert checked > 500  # confirmations of killed runs were checked, not just a handful
    assert mid_stream >= KILLS // 2  # most kills came after some confirmations, before the end
    # Every run started the session again from its READY: a restarted bot's store answers like hikari's
    # cache of a bot whose session started again (its READY, then each guild's GUILD_CREATE). hikari's
    # cache settles after three feeds of this session (users the session's removals release are gone
    # for good by then; a fourth feed changes nothing), and so must the store after the killed runs
    # and the two complete ones.
    again = await reference(times=3)
    async with persist.ReadOnlyCache(persist.SQLiteBackend(path), app=again) as cache:
        counts = await compare_with_hikari(cache, again)
    assert counts["messages"] > 200
    assert counts["members"] > 200


# -- database servers crashing under a running bot ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(reason: str) -> typing.NoReturn:
    if services_required():
        pytest.fail(f"PERSIST_REQUIRE_SERVICES=1 and {reason}", pytrace=False)
    pytest.skip(reason)


class Server:
    """A private database server the test may crash and start again."""

    def __init__(self, url: str, crash: Callable[[], None], start: Callable[[], None]) -> None:
        self.url = url
        self.crash = crash
        self.start = start


@contextlib.contextmanager
def private_postgresql() -> Generator[Server, None, None]:
    """A fresh PostgreSQL cluster on a free port (``initdb`` as the ``postgres`` user, since root may not)."""
    if not (PG_BIN / "initdb").exists() or shutil.which("su") is None:
        _missing(f"no PostgreSQL binaries at {PG_BIN} to run a private server")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="persist-crash-pg-"))
    shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()

    def as_postgres(*command: str | os.PathLike[str]) -> None:
        line = " ".join(str(part) for part in command)
        subprocess.run(["su", "postgres", "-c", line], check=True, capture_output=True, timeout=TIMEOUT)

    options = f"'-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on'"
    try:
        as_postgres(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        _missing(f"cannot create a private PostgreSQL cluster: {exc}")

    def start() -> None:
        as_postgres(PG_BIN / "pg_ctl", "-D", data, "-o", options, "-l", folder / "log", "-w", "start")

    def crash() -> None:
        # Immediate shutdown: no checkpoint, recovery from the WAL on the next start, as after a crash.
        as_postgres(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")

    start()
    try:
        yield Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", crash, start)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            as_postgres(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def private_redis() -> Generator[Server, None, None]:
    """A ``redis-server`` on a free port whose append-only file is synced on every write, so what it
    acknowledged survives ``SIGKILL`` (what a deployment needs for this guarantee too)."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("no redis-server binary to run a private server")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="persist-crash-redis-"))
    port = _free_port()
    process: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always"]
        started = subprocess.Popen(command, stdout=subprocess.PIPE)
        process.append(started)
        assert started.stdout is not None
        # It says so once it loaded the append-only file and listens.
        for line in started.stdout:
            if b"Ready to accept connections" in line:
                return
        msg = f"redis-server exited with {started.wait()}"
        raise RuntimeError(msg)

    def crash() -> None:
        process[-1].send_signal(signal.SIGKILL)
        process[-1].wait(TIMEOUT)

    start()
    try:
        yield Server(f"redis://127.0.0.1:{port}/0?prefix=crash", crash, start)
    finally:
        if process[-1].poll() is None:
            process[-1].kill()
            process[-1].wait(TIMEOUT)
        shutil.rmtree(folder, ignore_errors=True)


class RetrySignal(logging.Handler):
    """Set when the writer logs that a batch failed and will be retried."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failed = asyncio.Event()
        self.failures = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.failures += 1
            self.failed.set()


async def run_through_a_server_crash(server: Server) -> None:
    """Replay a session while ``server`` crashes and comes back; check what the bot confirmed."""
    records = stream()
    third = len(records) // 3
    bot = make_bot()
    cache = persist.Cache(bot, persist.backend_from_url(server.url))
    confirmed: list[int] = []
    received: list[int] = []
    progress = asyncio.Event()

    @bot.listen(hikari.GuildMessageCreateEvent)
    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
        received.append(int(event.message.id))

    @cache.listen(hikari.GuildMessageCreateEvent, confirm=True)
    async def on_confirmed(event: hikari.GuildMessageCreateEvent) -> None:
        confirmed.append(int(event.message.id))
        progress.set()

    async def all_confirmed() -> None:
        # Confirmations are dispatched right after the commit, their listeners run a little later.
        while len(confirmed) < len(received):
            progress.clear()
            await progress.wait()

    retries = RetrySignal()
    logger = logging.getLogger("hikaripersist")
    logger.addHandler(retries)
    loop = asyncio.get_running_loop()
    before_crash: list[int] = []

    async def session_with_a_crash() -> AsyncIterator[GatewayRecord]:
        # One replay (one shard session) that pauses at the thirds while the server goes and comes back.
        for record in records[:third]:
            yield record
        await cache.flush()
        await asyncio.wait_for(all_confirmed(), TIMEOUT)
        before_crash.extend(confirmed)
        assert len(before_crash) > 20

        await loop.run_in_executor(None, server.crash)
        # The bot keeps running: the next third is received and parsed while nothing can be written.
        for record in records[third : 2 * third]:
            yield record
        await asyncio.wait_for(retries.failed.wait(), TIMEOUT)
        assert len(received) > len(before_crash) + 50
        assert cache.pending > 0
        # A commit needs the server: nothing confirmed while it is down.
        assert confirmed == before_crash

        await loop.run_in_executor(None, server.start)
        for record in records[2 * third :]:
            yield record

    await offline.start_offline(bot)
    try:
        await offline.replay(bot, session_with_a_crash())
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert cache.pending == 0
        # Each message confirmed once, in the order received: the queued batches landed in order.
        await asyncio.wait_for(all_confirmed(), TIMEOUT)
        assert confirmed == received
        assert retries.failures >= 1
        stored_ids = {m.id async for m in cache.messages.all()}
        kept = set(bot.cache.get_messages_view())
        assert set(before_crash) & kept <= stored_ids  # confirmed before the crash, still there after it
        counts = await compare_with_hikari(cache, bot)
        assert counts["messages"] > 200
    finally:
        logger.removeHandler(retries)
        await asyncio.wait_for(offline.stop_offline(bot), TIMEOUT)


async def test_postgresql_server_crash_under_a_running_bot() -> None:
    with private_postgresql() as server:
        await run_through_a_server_crash(server)


async def test_redis_server_crash_under_a_running_bot() -> None:
    with private_redis() as server:
        await run_through_a_server_crash(server)
