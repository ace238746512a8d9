"""Tests for the cache's lifetime: opening on StartingEvent, draining and closing on StoppedEvent,
``open``/``close``/``async with``, ``flush()`` durability, open failures and restart survival.

Everything is real: offline ``hikari.GatewayBot``s fed raw gateway payloads through
``consume_raw_event`` and SQLite files under ``tmp_path``, read back either through a new cache or
through a second, plain ``sqlite3`` connection. Waiting is on real signals; timeouts are safety nets.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import typing
import warnings

import hikari
import pytest

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, Generator, Iterable, Sequence

    from hikaripersist.backend import WriteResult
    from hikaripersist.rules import Rule

Payload = dict[str, typing.Any]

TIMEOUT: typing.Final = 10.0  # safety net only
BOT_ID: typing.Final = gateway_session.BOT_USER_ID
DM_CHANNEL_ID: typing.Final = 700000000000000003
AUTHOR_ID: typing.Final = 700000000000000004
FIRST_MESSAGE_ID: typing.Final = 1_300_000_000_000_000_000


def message_create(message_id: int) -> Payload:
    """A DM MESSAGE_CREATE (stored by the cache like any message)."""
    return {
        "id": str(message_id),
        "channel_id": str(DM_CHANNEL_ID),
        "author": {
            "id": str(AUTHOR_ID),
            "username": "author",
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
        },
        "content": f"message {message_id}",
        "timestamp": "2025-06-01T12:00:00.000000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }


def message_ids(count: int, start: int = 0) -> list[int]:
    return [FIRST_MESSAGE_ID + start + i for i in range(count)]


class Gateway:
    """One connected offline shard feeding raw dispatches to a real bot's event manager."""

    def __init__(self, bot: hikari.GatewayBot) -> None:
        self.bot = bot
        self.shard = offline.OfflineShard(user_id=BOT_ID)

    def consume(self, ids: Iterable[int]) -> None:
        """MESSAGE_CREATE for every id, back to back without giving the loop a turn (a burst)."""
        for message_id in ids:
            self.bot.event_manager.consume_raw_event("MESSAGE_CREATE", self.shard, message_create(message_id))

    async def feed(self, ids: Iterable[int], *, yield_every: int = 1) -> None:
        """MESSAGE_CREATE for every id, yielding to the loop every ``yield_every`` records and at the end,
        so hikari's listener tasks (the cache's intake among them) take their first step."""
        for index, message_id in enumerate(ids, 1):
            self.consume([message_id])
            if index % yield_every == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)


def rows(path: pathlib.Path, sql: str = "SELECT COUNT(*) FROM messages", params: Sequence[object] = ()) -> int:
    """First column of the first row, read on a second, plain sqlite3 connection (committed data only)."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute(sql, tuple(params)).fetchone()[0])
    finally:
        db.close()


def exists(path: pathlib.Path) -> bool:
    return path.exists()


def read_bytes(path: pathlib.Path) -> bytes:
    return path.read_bytes()


def write_bytes(path: pathlib.Path, data: bytes) -> None:
    path.write_bytes(data)


@contextlib.contextmanager
def deadline(seconds: float = TIMEOUT) -> Generator[None, None, None]:
    """Cancel the current task after ``seconds`` (a safety net that, unlike ``asyncio.wait_for``, does not
    run the awaited coroutine in a new task, which would give the loop a turn first)."""
    task = asyncio.current_task()
    assert task is not None
    handle = asyncio.get_running_loop().call_later(seconds, task.cancel)
    try:
        yield
    finally:
        handle.cancel()


async def stored_message_ids(path: pathlib.Path) -> set[int]:
    """Message ids in the file, read back through a brand new bot and cache."""
    async with persist.Cache(make_bot(), persist.SQLiteBackend(path)) as cache:
        return {int(m.id) async for m in cache.messages.all()}


@contextlib.asynccontextmanager
async def opened(cache: persist.Cache) -> AsyncGenerator[persist.Cache, None]:
    """Open ``cache``; close it on the way out whatever happens."""
    await cache.open()
    try:
        yield cache
    finally:
        await asyncio.wait_for(cache.close(), TIMEOUT)


# -- opening and closing with the bot -------------------------------------------------------------------


async def test_backend_opens_on_starting_and_closes_on_stopped(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    """The backend is open before StartedEvent (i.e. before any shard would connect), stays open while
    the bot stops (StoppingEvent) and is closed by StoppedEvent; a second start reopens it."""
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path))
    seen: list[tuple[str, bool, bool]] = []

    @bot.listen()
    async def on_started(_: hikari.StartedEvent) -> None:
        seen.append(("started", cache.is_open, cache.backend.is_open))

    @bot.listen()
    async def on_stopping(_: hikari.StoppingEvent) -> None:
        seen.append(("stopping", cache.is_open, cache.backend.is_open))

    assert not cache.is_open
    assert not exists(db_path)  # nothing touched before the bot starts
    gateway = Gateway(bot)

    await offline.start_offline(bot)
    assert seen == [("started", True, True)]
    await gateway.feed(message_ids(10))
    await cache.flush()
    assert rows(db_path) == 10

    await offline.stop_offline(bot)
    assert seen[-1] == ("stopping", True, True)
    assert not cache.is_open
    assert not cache.backend.is_open

    # The same bot started again: the same file is reopened and written to.
    await offline.start_offline(bot)
    assert seen[-1] == ("started", True, True)
    await gateway.feed(message_ids(5, start=10))
    await offline.stop_offline(bot)
    assert not cache.is_open
    assert rows(db_path) == 15


@pytest.mark.parametrize(
    ("mode", "max_pending", "batch_size"),
    [("burst", 10_000, 1000), ("trickle", 64, 50)],
    ids=["burst-no-yield", "trickle-with-backpressure"],
)
async def test_no_event_lost_between_stopping_and_stopped(
    bot: hikari.GatewayBot, db_path: pathlib.Path, mode: str, max_pending: int, batch_size: int
) -> None:
    """2,000 MESSAGE_CREATEs arriving after StoppingEvent (shards flushing their last frames) are all
    written before StoppedEvent returns (the original saved 0 rows), with or without backpressure."""
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path, batch_size=batch_size), max_pending=max_pending)
    gateway = Gateway(bot)
    await offline.start_offline(bot)
    await gateway.feed(message_ids(10))  # a running bot
    await cache.flush()

    await bot.event_manager.dispatch(hikari.StoppingEvent(app=bot), return_tasks=True)
    ids = message_ids(2000, start=10)
    if mode == "burst":
        gateway.consume(ids)  # StoppedEvent follows without the loop getting a single turn
    else:
        await gateway.feed(ids, yield_every=7)  # the writer is mid-batch when StoppedEvent comes
    await asyncio.wait_for(bot.event_manager.dispatch(hikari.StoppedEvent(app=bot), return_tasks=True), TIMEOUT)

    assert not cache.is_open
    assert cache.pending == 0
    assert rows(db_path) == 2010
    assert await stored_message_ids(db_path) == set(message_ids(2010))


async def test_open_and_close_are_idempotent_and_async_with_works(
    bot: hikari.GatewayBot, db_path: pathlib.Path
) -> None:
    """``open()``/``close()`` twice in a row are no-ops, ``async with`` opens and closes, and a closed
    cache can be reopened with its data."""
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path))
    gateway = Gateway(bot)
    await cache.close()  # closing a cache that never opened
    assert not cache.is_open

    await cache.open()
    await cache.open()
    assert cache.is_open
    await gateway.feed(message_ids(3))
    await cache.close()
    await cache.close()
    assert not cache.is_open
    assert not cache.backend.is_open
    assert rows(db_path) == 3

    async with cache as entered:
        assert entered is cache
        assert cache.is_open
        assert await cache.messages.count() == 3  # reopened with its data
        await gateway.feed(message_ids(2, start=3))
    assert not cache.is_open
    assert rows(db_path) == 5

    async def failing_block() -> None:
        async with cache:
            await gateway.feed(message_ids(1, start=5))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_block()
    assert not cache.is_open  # closed (and drained) on the way out of a failing block
    assert rows(db_path) == 6


# -- flush ----------------------------------------------------------------------------------------------


async def test_flush_makes_everything_received_durable(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    """After ``await cache.flush()`` another connection sees every message received so far, although the
    writer would otherwise wait a minute for a batch of 10,000 to fill."""
    backend = persist.SQLiteBackend(db_path, batch_size=10_000, flush_interval=60)
    async with opened(persist.Cache(bot, backend)) as cache:
        gateway = Gateway(bot)
        await gateway.feed(message_ids(500))
        assert cache.pending >= 500
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert cache.pending == 0
        assert rows(db_path) == 500
        await cache.flush()  # nothing pending: returns at once

        await gateway.feed(message_ids(250, start=500), yield_every=10)
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert rows(db_path) == 750


async def test_flush_covers_events_hikari_already_dispatched(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    """``flush()`` right after a burst of ``consume_raw_event`` calls makes the whole burst durable."""
    async with opened(persist.Cache(bot, persist.SQLiteBackend(db_path))) as cache:
        Gateway(bot).consume(message_ids(100))
        with deadline():
            await cache.flush()
        assert rows(db_path) == 100


async def test_flush_inside_a_listener_registered_before_the_cache(
    bot: hikari.GatewayBot, db_path: pathlib.Path
) -> None:
    """A listener that flushes then queries finds the message it is handling, whenever it was registered."""
    found: list[hikari.Message | None] = []
    done = asyncio.Event()
    cache: persist.Cache | None = None

    @bot.listen()
    async def on_message(event: hikari.DMMessageCreateEvent) -> None:
        assert cache is not None
        await cache.flush()
        found.append(await cache.messages.get(id=event.message_id))
        done.set()

    cache = persist.Cache(bot, persist.SQLiteBackend(db_path))
    async with opened(cache):
        await Gateway(bot).feed(message_ids(1))
        await asyncio.wait_for(done.wait(), TIMEOUT)
        assert found[0] is not None


def guild_message(message_id: int, guild_id: int) -> Payload:
    """A MESSAGE_CREATE in a guild channel (hikari dispatches a GuildMessageCreateEvent)."""
    return {**message_create(message_id), "guild_id": str(guild_id), "channel_id": str(guild_id + 1)}


async def test_flush_of_one_guild_waits_for_that_guild_only(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    """``flush(guild=A)`` makes A's events durable, then returns at once while a later burst of guild B
    stays queued (the writer would wait a minute for B's batch to fill); a guild with nothing queued
    needs no wait at all."""
    guild_a, guild_b, guild_c = 810000000000000000, 820000000000000000, 830000000000000000
    backend = persist.SQLiteBackend(db_path, batch_size=10_000, flush_interval=60)
    async with opened(persist.Cache(bot, backend)) as cache:
        shard = offline.OfflineShard(user_id=BOT_ID)
        manager = bot.event_manager
        manager.consume_raw_event("MESSAGE_CREATE", shard, guild_message(FIRST_MESSAGE_ID, guild_a))
        with deadline():
            await cache.flush(guild=guild_a)
        assert rows(db_path) == 1

        for offset in range(1, 51):
            manager.consume_raw_event("MESSAGE_CREATE", shard, guild_message(FIRST_MESSAGE_ID + offset, guild_b))
        await asyncio.sleep(0)  # let the cache's intake take the burst
        with deadline(2.0):
            await cache.flush(guild=guild_a)
            await cache.flush(guild=hikari.Snowflake(guild_c))
        assert cache.pending == 50
        assert rows(db_path) == 1

        with deadline():
            await cache.flush(guild=guild_b)
        assert cache.pending == 0
        assert rows(db_path) == 51


async def test_flush_on_a_cache_that_never_opened_raises(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    """With events pending and the cache never opened, ``flush()`` raises a helpful BackendError at once
    instead of waiting forever; the queued events are written once the cache opens."""
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path))
    await cache.flush()  # nothing pending: fine even when closed
    await Gateway(bot).feed(message_ids(3))
    assert cache.pending == 3
    with pytest.raises(persist.BackendError, match="not open") as info:
        await asyncio.wait_for(cache.flush(), TIMEOUT)
    assert "flush" in str(info.value)
    assert not exists(db_path)

    async with opened(cache):
        await asyncio.wait_for(cache.flush(), TIMEOUT)
        assert rows(db_path) == 3


async def test_flush_pending_while_the_cache_closes_never_hangs(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    """A flush waiting when ``close()`` is called completes (close drains the queue) or fails with
    BackendError; either way it returns. A flush after close with new events raises at once."""
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path, batch_size=100, flush_interval=60))
    gateway = Gateway(bot)
    await cache.open()
    # Full batches are written as they fill; the last 50 wait for a batch that never fills.
    await gateway.feed(message_ids(2050), yield_every=100)
    assert cache.pending >= 50
    waiter = asyncio.ensure_future(cache.flush())
    await asyncio.sleep(0)  # one loop turn: the flush is now registered and waiting for the writer
    assert not waiter.done()
    await asyncio.wait_for(cache.close(), TIMEOUT)

    try:
        await asyncio.wait_for(waiter, TIMEOUT)
    except persist.BackendError:
        pass  # allowed: the cache closed before the write was committed
    else:
        assert rows(db_path) == 2050  # completed: then everything it waited for is durable
    assert rows(db_path) == 2050  # close() drained the queue anyway

    await gateway.feed(message_ids(1, start=2050))
    assert cache.pending == 1
    with pytest.raises(persist.BackendError):
        await asyncio.wait_for(cache.flush(), TIMEOUT)


class BrokenDiskBackend(persist.SQLiteBackend):
    """The real SQLite backend on a disk that starts failing every transaction once ``broken`` is set."""

    def __init__(self, path: pathlib.Path) -> None:
        super().__init__(path)
        self.broken = False
        self.attempts = 0

    async def write(self, batch: Sequence[hikari.Event], *, rule: Rule | None) -> WriteResult:
        if self.broken:
            self.attempts += 1
            raise sqlite3.OperationalError("disk I/O error")
        return await super().write(batch, rule=rule)


async def test_close_gives_up_on_a_batch_that_keeps_failing(
    bot: hikari.GatewayBot, db_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Closing while the store fails every write returns (flush waiters get a BackendError) instead of
    retrying forever."""
    caplog.set_level("CRITICAL", logger="hikaripersist")  # the retries log a traceback each
    backend = BrokenDiskBackend(db_path)
    cache = persist.Cache(bot, backend)
    await cache.open()
    await Gateway(bot).feed(message_ids(5))
    backend.broken = True
    waiter = asyncio.ensure_future(cache.flush())
    closing = asyncio.ensure_future(cache.close())
    try:
        done, _ = await asyncio.wait([closing], timeout=3.5)  # three retries at least
        assert closing in done, f"close() still running after {backend.attempts} failed attempts"
        assert waiter.done()
        assert isinstance(waiter.exception(), persist.BackendError)
    finally:
        backend.broken = False  # let a hanging close() finish
        await asyncio.wait_for(asyncio.gather(closing, waiter, return_exceptions=True), TIMEOUT)


# -- opening failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["directory", "inside-a-file", "below-a-file"])
async def test_open_failure_raises_backend_error_naming_the_path(tmp_path: pathlib.Path, where: str) -> None:
    """A file that cannot be created raises BackendError naming it, from ``cache.open()`` and (as
    CacheStartupError, which stops the bot) from StartingEvent; a file in the way is left untouched."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = {
        "directory": tmp_path,
        "inside-a-file": blocker / "cache.db",
        "below-a-file": blocker / "sub" / "cache.db",
    }[where]
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(path))

    with pytest.raises(persist.BackendError) as info:
        await cache.open()
    assert str(path) in str(info.value)
    assert not cache.is_open

    with pytest.raises(persist.CacheStartupError) as startup:
        await offline.start_offline(bot)
    assert str(path) in str(startup.value)
    assert not cache.is_open
    assert blocker.read_text() == "not a folder"


async def test_open_refuses_a_tiny_foreign_file(tmp_path: pathlib.Path) -> None:
    """A non-empty file that is not an SQLite database is refused and left as it was, however short."""
    path = tmp_path / "notes.txt"
    write_bytes(path, b"x")
    cache = persist.Cache(make_bot(), persist.SQLiteBackend(path))
    try:
        with pytest.raises(persist.BackendError, match=r"notes\.txt"):
            await cache.open()
    finally:
        await cache.close()
    assert read_bytes(path) == b"x"


# -- restart survival -------------------------------------------------------------------------------------


async def test_restart_survival(db_path: pathlib.Path) -> None:
    """A whole recorded session, stopped and reopened by a fresh bot and cache, reads back deeply equal to
    what the first bot's own hikari cache holds, bound to the new bot."""
    first_bot = make_bot()
    persist.Cache(first_bot, persist.SQLiteBackend(db_path))
    await offline.start_offline(first_bot)
    stats = await offline.replay(first_bot, session())
    assert stats.events == len(session())
    await offline.stop_offline(first_bot)

    second_bot = make_bot(hikari_cache=False)
    second = persist.Cache(second_bot, persist.SQLiteBackend(db_path))
    await offline.start_offline(second_bot)
    try:
        counts = await compare_with_hikari(second, first_bot, app=second_bot)
        assert counts["members"] > 1000
        assert counts["messages"] > 1000
    finally:
        await offline.stop_offline(second_bot)


async def test_detach_stops_intake_and_the_lifetime_listeners(db_path: pathlib.Path) -> None:
    """After ``detach()`` the cache queues nothing, does not open on StartingEvent, is not subscribed
    again by a Confirmed type created later, and keeps answering queries once opened by hand."""
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path))
    cache.detach()
    cache.detach()  # idempotent
    assert cache.is_detached
    await offline.start_offline(bot)
    try:
        assert not cache.is_open
        _ = persist.Confirmed[hikari.GuildPinsUpdateEvent]  # would subscribe an attached cache
        assert bot.event_manager.get_listeners(hikari.GuildPinsUpdateEvent) == []
        await Gateway(bot).feed(message_ids(5))
        assert cache.pending == 0
    finally:
        await offline.stop_offline(bot)
    async with cache:
        assert await cache.messages.count() == 0


async def test_concurrent_opens_open_the_backend_once(bot: hikari.GatewayBot, db_path: pathlib.Path) -> None:
    opened_count = 0

    class CountingBackend(persist.SQLiteBackend):
        async def open(self) -> None:
            nonlocal opened_count
            opened_count += 1
            await super().open()

    cache = persist.Cache(bot, CountingBackend(db_path))
    await asyncio.gather(cache.open(), cache.open(), cache.open())
    try:
        assert opened_count == 1
        assert cache.is_open
    finally:
        await cache.close()


def test_no_listener_and_no_warning_for_events_the_intents_never_deliver(db_path: pathlib.Path) -> None:
    """A bot without the presence intent gets no MissingIntentWarning from the cache, and the cache does
    not listen to presence updates; with the intent it does."""
    _ = persist.Confirmed[hikari.PresenceUpdateEvent]  # someone, somewhere, asked for its confirmation
    without = offline.make_offline_bot(intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_MEMBERS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hikari.MissingIntentWarning)
        persist.Cache(without, persist.SQLiteBackend(db_path))
    assert without.event_manager.get_listeners(hikari.PresenceUpdateEvent, polymorphic=False) == ()
    assert without.event_manager.get_listeners(hikari.MemberCreateEvent, polymorphic=False)

    with_intent = offline.make_offline_bot(intents=hikari.Intents.ALL)
    persist.Cache(with_intent, persist.SQLiteBackend(db_path))
    assert with_intent.event_manager.get_listeners(hikari.PresenceUpdateEvent, polymorphic=False)


# -- shutdown through a real bot.close() ------------------------------------------------------------------


GUILD_ID: typing.Final = 840000000000000000


async def close_while_the_gateway_sends(tmp_path: pathlib.Path, payload: typing.Callable[[int], Payload]) -> None:
    """A real ``bot.start()``/``bot.close()`` against the local fake Discord: 300 messages the gateway sends
    after StoppingEvent (the shard still reads until it is closed) are stored by the time ``close()``
    returns, although the writer would wait a minute for its batch to fill; a listener awaiting
    ``bot.wait_for(Confirmed[...])`` and ``confirm=True`` listeners of those messages all run."""
    from tests.fake_discord import FakeDiscord  # the framework tests' fake network

    path = tmp_path / "cache.db"
    before, after = message_ids(20), message_ids(300, start=20)
    last = after[-1]
    async with FakeDiscord() as fake:
        bot = fake.make_bot(cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE))
        cache = persist.Cache(bot, persist.SQLiteBackend(path, batch_size=10_000, flush_interval=60))
        received: list[int] = []
        confirmed: list[int] = []
        waited: list[object] = []
        everything_received = asyncio.Event()
        progress = asyncio.Event()

        @bot.listen(hikari.MessageCreateEvent)
        async def on_message(event: hikari.MessageCreateEvent) -> None:
            received.append(int(event.message_id))
            if len(received) == len(before) + len(after):
                everything_received.set()
            if event.message_id == last:
                # A listener waiting for the confirmation of its own message while the bot closes.
                try:
                    confirmation = await bot.wait_for(
                        persist.Confirmed[hikari.MessageCreateEvent],
                        timeout=None,
                        predicate=lambda e: e.event.message_id == last,
                    )
                except persist.BackendError as exc:
                    waited.append(exc)
                else:
                    waited.append(int(confirmation.event.message_id))
                progress.set()

        @cache.listen(hikari.MessageCreateEvent, confirm=True)
        async def on_confirmed(event: hikari.MessageCreateEvent) -> None:
            confirmed.append(int(event.message_id))
            progress.set()

        @bot.listen(hikari.StoppingEvent)
        async def on_stopping(_: hikari.StoppingEvent) -> None:
            # The gateway's last frames: sent now, read by the shard before hikari closes it.
            for message_id in after:
                await fake.dispatch("MESSAGE_CREATE", payload(message_id))
            await everything_received.wait()

        await asyncio.wait_for(fake.run_bot(bot), TIMEOUT)
        try:
            for message_id in before:
                await fake.dispatch("MESSAGE_CREATE", payload(message_id))
        finally:
            await asyncio.wait_for(bot.close(), TIMEOUT)

        assert not cache.is_open
        assert cache.pending == 0
        assert received == before + after
        assert await stored_message_ids(path) == set(before + after)
        # Confirmations were dispatched before close() returned; their listeners run right after.
        with deadline():
            while len(confirmed) < len(received) or not waited:
                progress.clear()
                await progress.wait()
        assert confirmed == received
        assert waited == [last]


async def test_bot_close_drains_what_arrives_while_stopping_and_confirms_it(tmp_path: pathlib.Path) -> None:
    await close_while_the_gateway_sends(tmp_path, lambda message_id: guild_message(message_id, GUILD_ID))


async def test_bot_close_drains_dms_that_arrive_while_stopping(tmp_path: pathlib.Path) -> None:
    await close_while_the_gateway_sends(tmp_path, message_create)


async def test_a_confirmation_that_can_never_come_fails_its_waiter(
    bot: hikari.GatewayBot, db_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When closing gives up on queued events (the store keeps failing), ``bot.wait_for(Confirmed[...])``
    calls waiting for them fail with BackendError instead of waiting forever; a waiter for an event that
    is not among them keeps waiting (its own timeout applies)."""
    caplog.set_level("CRITICAL", logger="hikaripersist")
    backend = BrokenDiskBackend(db_path)
    cache = persist.Cache(bot, backend)
    await cache.open()
    ids = message_ids(5)
    backend.broken = True
    await Gateway(bot).feed(ids)
    confirmed_type = persist.Confirmed[hikari.DMMessageCreateEvent]
    # The event manager's own wait_for: bot.wait_for refuses a bot that was not started.
    doomed = asyncio.ensure_future(
        bot.event_manager.wait_for(confirmed_type, timeout=None, predicate=lambda e: e.event.message_id == ids[2])
    )
    unrelated = asyncio.ensure_future(
        bot.event_manager.wait_for(confirmed_type, timeout=None, predicate=lambda e: e.event.message_id == 42)
    )
    try:
        await asyncio.sleep(0)  # both waiters registered
        await asyncio.wait_for(cache.close(), TIMEOUT)
        with pytest.raises(persist.BackendError, match="kept failing while closing"):
            await asyncio.wait_for(doomed, TIMEOUT)
        assert not unrelated.done()
    finally:
        unrelated.cancel()
        backend.broken = False
