"""The Redis backend: the conformance suite, and what sharing one store between processes needs.

Needs a Redis server (``PERSIST_TEST_REDIS``, see ``tests/services.py``); every test works under a
key prefix of its own, deleted afterwards. Several backend objects on one prefix stand for several
processes (tests/test_sharded.py runs real ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing
import urllib.parse

import orjson
import pytest
import redis.asyncio as redis_asyncio

import hikaripersist as persist
from hikaripersist import redis as redis_module
from hikaripersist._internal import offline, schema
from hikaripersist.redis import RedisBackend
from hikaripersist.testing import BackendConformance
from tests.conftest import make_bot
from tests.reference import compare_with_hikari
from tests.services import REDIS_URL
from tests.small_session import BASE
from tests.test_writer import running

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, Generator, Sequence

    from hikaripersist._internal.gateway_session import GatewayRecord
    from hikaripersist.testing import BackendFactory
    from tests.test_writer import Running


class TestRedisBackend(BackendConformance):
    @pytest.fixture
    def make_backend(self, redis_prefix: str) -> BackendFactory:
        return lambda: RedisBackend(REDIS_URL, prefix=redis_prefix)


@contextlib.asynccontextmanager
async def client() -> AsyncGenerator[typing.Any, None]:
    connection: typing.Any = redis_asyncio.Redis.from_url(REDIS_URL)  # pyright: ignore[reportUnknownMemberType]
    try:
        yield connection
    finally:
        await connection.aclose()


async def client_zrange(prefix: str, channel_id: str) -> list[bytes]:
    async with client() as redis:
        keys: list[bytes] = await redis.zrange(f"{prefix}:by:messages:channel_id:{channel_id}", 0, -1)
        return keys


def running_on(backend: RedisBackend) -> typing.AsyncContextManager[Running]:
    return running(typing.cast("persist.SQLiteBackend", backend))


async def replay(bot: typing.Any, cache: persist.Cache, records: Sequence[GatewayRecord]) -> None:
    await offline.replay(bot, records)
    await cache.flush()


class LogSignal(logging.Handler):
    """Sets an event when a log record containing ``text`` is emitted (the real signal, no polling)."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self._loop.call_soon_threadsafe(self.seen.set)


@contextlib.contextmanager
def log_signal(text: str) -> Generator[LogSignal, None, None]:
    handler = LogSignal(text)
    root = logging.getLogger("hikaripersist")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# -- layout --------------------------------------------------------------------------------------------


async def test_rows_are_readable_by_primary_key_from_any_client(redis_prefix: str) -> None:
    bot = make_bot()
    async with persist.Cache(bot, RedisBackend(REDIS_URL, prefix=redis_prefix)) as cache:
        await replay(bot, cache, BASE)
        await compare_with_hikari(cache, bot)
        guild = next(iter(bot.cache.get_guilds_view().values()))
        member = next(iter(bot.cache.get_members_view_for_guild(guild.id).values()))
        async with client() as redis:
            raw = await redis.hget(f"{redis_prefix}:rows:guilds", f"[{int(guild.id)}]")
            row = orjson.loads(raw)
            assert (row["id"], row["name"]) == (int(guild.id), guild.name)
            raw = await redis.hget(f"{redis_prefix}:rows:member_records", f"[{int(guild.id)},{int(member.id)}]")
            assert orjson.loads(raw)["nickname"] == member.nickname
            assert await redis.hlen(f"{redis_prefix}:rows:member_records") >= len(
                bot.cache.get_members_view_for_guild(guild.id)
            )
            meta = await redis.hgetall(f"{redis_prefix}:meta")
            assert meta[b"format"] == b"hikari-persist"
            assert int(meta[b"schema_version"]) == schema.SCHEMA_VERSION
            seq = int(await redis.get(f"{redis_prefix}:seq"))
            assert seq >= 1
            last = await redis.xrevrange(f"{redis_prefix}:log", count=1)
            assert last[0][0] == f"{seq}-1".encode()


async def test_url_names_the_server_and_prefix_without_the_password() -> None:
    backend = persist.backend_from_url("redis://:s3cret@cache.internal:6380/2?prefix=my-bot&socket_timeout=5")
    assert isinstance(backend, RedisBackend)
    assert backend.prefix == "my-bot"
    assert urllib.parse.urlsplit(backend.url).query == "socket_timeout=5"
    assert "s3cret" not in backend.name
    assert "s3cret" not in repr(backend)
    assert "cache.internal:6380" in backend.name
    assert persist.backend_from_url("rediss://cache.internal").prefix == "hikari-persist"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="prefix cannot be empty"):
        persist.backend_from_url("redis://cache.internal?prefix=")


# -- several processes ---------------------------------------------------------------------------------


async def test_two_writers_see_each_others_batches(redis_prefix: str) -> None:
    async with (
        running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (_, first, world),
        running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (_, second, other),
    ):
        await world.feed([world.message_create(f"from the first {i}") for i in range(5)])
        await first.flush()
        seen = {m.content async for m in second.messages.where(content=persist.startswith("from the first"))}
        assert seen == {f"from the first {i}" for i in range(5)}
        await other.feed([other.member_update(0, "renamed by the second")])
        await second.flush()
        member = await first.members.get(guild_id=int(world.guild_id), member_id=int(world.members[0]["user"]["id"]))
        assert member is not None
        assert member.nickname == "renamed by the second"


async def test_a_batch_whose_lock_expired_writes_nothing_and_is_retried(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    async with (
        running_on(first_backend) as (_, first, world),
        running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (_, second, other),
    ):
        await other.feed([other.message_create("written meanwhile by the second")])
        await second.flush()
        # The first writer behaves as if its lock had expired: it skips catching up once, so
        # its batch is based on a store that another writer has changed since.
        real = RedisBackend._catch_up
        skipped: list[bool] = []

        def stale_once(self: RedisBackend) -> None:
            if self is first_backend and not skipped:
                skipped.append(True)
                return
            real(self)

        monkeypatch.setattr(RedisBackend, "_catch_up", stale_once)
        world.snowflake()  # both worlds number their messages alike: skip the id the second used
        with log_signal("failed; retrying") as failed:
            await world.feed([world.message_create("written by the first")])
            await asyncio.wait_for(failed.seen.wait(), 30)
            await first.flush()
        assert skipped
        contents = {m.content async for m in second.messages.where(content=persist.startswith("written"))}
        assert contents == {"written meanwhile by the second", "written by the first"}
        assert {m.content async for m in first.messages.where(content=persist.startswith("written"))} == contents


async def test_a_reader_behind_the_log_reloads_the_store(redis_prefix: str) -> None:
    writer = RedisBackend(REDIS_URL, prefix=redis_prefix, log_length=1)
    async with running_on(writer) as (bot, cache, world):  # noqa: SIM117 (the reader needs the bot)
        async with persist.ReadOnlyCache(RedisBackend(REDIS_URL, prefix=redis_prefix), app=bot) as reader:
            assert await reader.messages.count() == await cache.messages.count()
            with log_signal("fell behind the store's log") as reloaded:
                for i in range(3):
                    await world.feed([world.message_create(f"batch {i}")])
                    await cache.flush()
                await compare_with_hikari(reader, bot)
            assert reloaded.seen.is_set()


async def test_restore_replaces_the_store_for_every_process(redis_prefix: str, tmp_path: pathlib.Path) -> None:
    backup = tmp_path / "backup.json"
    async with running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (bot, cache, world):  # noqa: SIM117
        async with persist.ReadOnlyCache(RedisBackend(REDIS_URL, prefix=redis_prefix), app=bot) as reader:
            await cache.backup(backup)
            before = await cache.messages.count()
            await world.feed([world.message_create(f"after the backup {i}") for i in range(3)])
            await cache.flush()
            assert await reader.messages.count() == before + 3
            newest = await client_zrange(redis_prefix, world.channel_id)
            await cache.restore(backup)
            assert await cache.messages.count() == before
            assert await reader.messages.count() == before
            # The lookups were rebuilt from the backup's rows: the newer messages left them too.
            restored = await client_zrange(redis_prefix, world.channel_id)
            assert set(restored) < set(newest)
            assert len(set(newest) - set(restored)) == 3
    document = orjson.loads(backup.read_bytes())
    assert document["format"] == "hikari-persist"
    assert len(document["tables"]["messages"]) == before
    # A JSON file backend reads the same backup.
    async with persist.ReadOnlyCache(persist.JSONBackend(backup)) as from_file:
        assert await from_file.messages.count() == before


# -- a lost connection ---------------------------------------------------------------------------------


class Proxy:
    """A TCP relay to the Redis server that the test can cut and restore (the network, not the server)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}


async def test_batches_written_while_the_server_is_unreachable_land_in_order_when_it_is_back(
    redis_prefix: str,
) -> None:
    parsed = urllib.parse.urlsplit(REDIS_URL)
    proxy = Proxy((parsed.hostname or "127.0.0.1", parsed.port or 6379))
    await proxy.start()
    try:
        async with running_on(RedisBackend(proxy.url, prefix=redis_prefix, flush_interval=0.01)) as (bot, cache, world):
            before = await cache.messages.count()
            await proxy.cut()
            with (
                log_signal("failed; retrying") as failed,
                log_signal("answering from the local replica") as offline_read,
            ):
                records = [world.message_create(f"while cut {i}", author=i) for i in range(10)]
                records += [world.member_update(i, f"nick while cut {i}") for i in range(len(world.members))]
                await world.feed(records)
                await asyncio.wait_for(failed.seen.wait(), 30)
                # The bot keeps running and reads answer from the replica as last committed.
                assert await cache.messages.count() == before
                assert offline_read.seen.is_set()
            await proxy.start()
            await cache.flush()
            await compare_with_hikari(cache, bot)
        async with persist.ReadOnlyCache(RedisBackend(REDIS_URL, prefix=redis_prefix), app=bot) as fresh:
            await compare_with_hikari(fresh, bot)
            ordered = [
                m.content async for m in fresh.messages.where(content=persist.startswith("while cut"), order_by="id")
            ]
            assert ordered == [f"while cut {i}" for i in range(10)]
    finally:
        with contextlib.suppress(AssertionError):
            await proxy.cut()


# -- opening and failing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("redis://:s3cret@127.0.0.1:1/0", "Connect call failed|Connection refused", id="refused"),
        pytest.param("redis://nobody-here:s3cret@127.0.0.1:6379/0", "refused the credentials", id="credentials"),
        pytest.param("redis://127.0.0.1:6379/999", "DB index is out of range|invalid DB index", id="database"),
    ],
)
async def test_open_errors_are_backend_errors_naming_the_server(redis_prefix: str, url: str, message: str) -> None:
    backend = RedisBackend(url, prefix=redis_prefix)
    with pytest.raises(persist.BackendError, match=message) as caught:
        await backend.open()
    assert "s3cret" not in str(caught.value)
    assert backend.name in str(caught.value)
    assert not backend.is_open
    await backend.close()


async def test_a_cache_on_an_unreachable_server_does_not_open(redis_prefix: str) -> None:
    cache = persist.Cache(make_bot(), RedisBackend("redis://127.0.0.1:1/0", prefix=redis_prefix))
    with pytest.raises(persist.BackendError, match="cannot connect"):
        await cache.open()


async def test_keys_of_another_application_are_refused_and_left_untouched(redis_prefix: str) -> None:
    async with client() as redis:
        await redis.hset(f"{redis_prefix}:meta", mapping={"format": "something-else"})
        with pytest.raises(persist.SchemaError, match="not a hikari-persist store"):
            await RedisBackend(REDIS_URL, prefix=redis_prefix).open()
        assert await redis.hgetall(f"{redis_prefix}:meta") == {b"format": b"something-else"}
        await redis.delete(f"{redis_prefix}:meta")
        await redis.hset(f"{redis_prefix}:rows:guilds", "x", "y")
        with pytest.raises(persist.SchemaError, match="not a hikari-persist store"):
            await RedisBackend(REDIS_URL, prefix=redis_prefix).open()
        assert not await redis.exists(f"{redis_prefix}:meta")


async def test_a_newer_schema_is_refused(redis_prefix: str) -> None:
    backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    await backend.open()
    await backend.close()
    async with client() as redis:
        await redis.hset(f"{redis_prefix}:meta", "schema_version", schema.SCHEMA_VERSION + 1)
    with pytest.raises(persist.SchemaError, match="newer hikari-persist"):
        await RedisBackend(REDIS_URL, prefix=redis_prefix).open()


async def test_an_older_store_is_migrated_and_read_at_the_new_version(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot()
    async with persist.Cache(bot, RedisBackend(REDIS_URL, prefix=redis_prefix)) as cache:
        await replay(bot, cache, BASE)
        guilds = await cache.guilds.count()
    migration = schema.Migration(
        schema.SCHEMA_VERSION + 1,
        (
            "CREATE TABLE IF NOT EXISTS extras (id INTEGER PRIMARY KEY)",
            "UPDATE guilds SET name = name || ' (migrated)'",
        ),
    )
    monkeypatch.setattr(schema, "SCHEMA_VERSION", migration.version)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, migration))
    # A release that migrates also declares the new layout (replicas are built from it).
    tables = {**schema.TABLES, "extras": "id INTEGER PRIMARY KEY"}
    monkeypatch.setattr(schema, "TABLES", tables)
    monkeypatch.setattr(redis_module.jsonfile_, "_LOADABLE_VERSIONS", frozenset(range(1, migration.version + 1)))
    backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    await backend.open()
    try:
        assert await backend.schema_version() == migration.version
        assert await backend.scalar("SELECT COUNT(*) FROM guilds WHERE name LIKE '% (migrated)'") == guilds
        assert await backend.scalar("SELECT COUNT(*) FROM extras") == 0
        async with client() as redis:
            assert int(await redis.hget(f"{redis_prefix}:meta", "schema_version")) == migration.version
            rows = (await redis.hgetall(f"{redis_prefix}:rows:guilds")).values()
            assert all(orjson.loads(row)["name"].endswith(" (migrated)") for row in rows)
    finally:
        await backend.close()
    reader = RedisBackend(REDIS_URL, prefix=redis_prefix)
    await reader.open_read_only()
    try:
        assert await reader.scalar("SELECT COUNT(*) FROM guilds WHERE name LIKE '% (migrated)'") == guilds
    finally:
        await reader.close()


def test_constructor_checks_its_arguments() -> None:
    options: list[dict[str, typing.Any]] = [
        {"prefix": ""},
        {"batch_size": 0},
        {"log_length": 0},
        {"flush_interval": -1},
        {"lock_timeout": 0},
    ]
    for option in options:
        with pytest.raises(ValueError, match=r"cannot|must"):
            RedisBackend(REDIS_URL, **option)


async def test_processes_opening_a_new_store_at_once_all_open_it(redis_prefix: str) -> None:
    backends = [RedisBackend(REDIS_URL, prefix=redis_prefix) for _ in range(6)]
    try:
        await asyncio.gather(*(backend.open() for backend in backends))
        versions = {await backend.schema_version() for backend in backends}
        assert versions == {schema.SCHEMA_VERSION}
        async with client() as redis:
            assert await redis.hget(f"{redis_prefix}:meta", "store") is not None
    finally:
        await asyncio.gather(*(backend.close() for backend in backends))


# -- a kept replica ------------------------------------------------------------------------------------


async def test_a_kept_replica_file_resumes_from_the_log_after_a_restart(
    redis_prefix: str, tmp_path: pathlib.Path
) -> None:
    replica = tmp_path / "replica.db"
    async with running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (bot, cache, world):
        reader = RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica)
        await reader.open_read_only()
        await reader.close()
        assert replica.exists(), "the replica file is kept when the backend closes"
        await world.feed([world.message_create(f"while the reader was off {i}") for i in range(3)])
        await cache.flush()
        with log_signal("resuming the replica file") as resumed, log_signal("reloading the replica") as reloaded:
            async with persist.ReadOnlyCache(
                RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica), app=bot
            ) as again:
                await compare_with_hikari(again, bot)
        assert resumed.seen.is_set()
        assert not reloaded.seen.is_set(), "the log covered the gap: nothing to reload"


async def test_a_kept_replica_reloads_when_the_log_no_longer_covers_the_gap(
    redis_prefix: str, tmp_path: pathlib.Path
) -> None:
    replica = tmp_path / "replica.db"
    async with running_on(RedisBackend(REDIS_URL, prefix=redis_prefix, log_length=1)) as (bot, cache, world):
        reader = RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica)
        await reader.open_read_only()
        await reader.close()
        for i in range(3):
            await world.feed([world.message_create(f"batch {i}")])
            await cache.flush()
        with log_signal("fell behind the store's log") as reloaded:
            async with persist.ReadOnlyCache(
                RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica), app=bot
            ) as again:
                await compare_with_hikari(again, bot)
        assert reloaded.seen.is_set()


async def test_a_replica_file_of_another_store_is_replaced(redis_prefix: str, tmp_path: pathlib.Path) -> None:
    replica = tmp_path / "replica.db"
    other = RedisBackend(REDIS_URL, prefix=f"{redis_prefix}-other", replica=replica)
    try:
        await other.open()
    finally:
        await other.close()
    async with running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (bot, _, _):
        with log_signal("holds another store") as replaced:
            async with persist.ReadOnlyCache(
                RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica), app=bot
            ) as cache:
                await compare_with_hikari(cache, bot)
        assert replaced.seen.is_set()
    async with client() as redis:
        keys = [key async for key in redis.scan_iter(match=f"{redis_prefix}-other:*")]
        await redis.delete(*keys)


async def test_two_processes_cannot_share_a_replica_file(redis_prefix: str, tmp_path: pathlib.Path) -> None:
    replica = tmp_path / "replica.db"
    first = RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica)
    await first.open()
    try:
        with pytest.raises(persist.BackendError, match="in use by another process"):
            await RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica).open()
    finally:
        await first.close()
    second = RedisBackend(REDIS_URL, prefix=redis_prefix, replica=replica)
    await second.open()  # free again once the first closed
    await second.close()


# -- lookups for other clients -------------------------------------------------------------------------


async def lookups_match_hikari(redis: typing.Any, prefix: str, bot: typing.Any) -> int:
    """Assert the store's sets equal what hikari's cache holds; return how many sets were compared."""
    compared = 0
    for guild_id in bot.cache.get_guilds_view():
        members = await redis.smembers(f"{prefix}:by:member_records:guild_id:{guild_id}")
        expected = {f"[{guild_id},{user_id}]".encode() for user_id in bot.cache.get_members_view_for_guild(guild_id)}
        assert members == expected, guild_id
        channels = await redis.smembers(f"{prefix}:by:channels:guild_id:{guild_id}")
        assert channels == {f"[{c}]".encode() for c in bot.cache.get_guild_channels_view_for_guild(guild_id)}
        roles = await redis.smembers(f"{prefix}:by:roles:guild_id:{guild_id}")
        assert roles == {f"[{r}]".encode() for r in bot.cache.get_roles_view_for_guild(guild_id)}
        compared += 3
    by_channel: dict[int, list[int]] = {}
    for message in bot.cache.get_messages_view().values():
        by_channel.setdefault(int(message.channel_id), []).append(int(message.id))
    for channel_id, ids in by_channel.items():
        newest_first = await redis.zrevrange(f"{prefix}:by:messages:channel_id:{channel_id}", 0, -1)
        assert [orjson.loads(key)[0] for key in newest_first] == sorted(ids, reverse=True), channel_id
        compared += 1
    return compared


async def test_sets_answer_a_guilds_members_and_a_channels_newest_messages(redis_prefix: str) -> None:
    async with running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (bot, cache, world), client() as redis:
        assert await lookups_match_hikari(redis, redis_prefix, bot) > 3
        gone = world.members[1]
        await world.feed(
            [
                ("GUILD_MEMBER_REMOVE", 0, {"guild_id": world.guild_id, "user": gone["user"]}),
                *(world.message_create(f"newer {i}") for i in range(3)),
            ]
        )
        await cache.flush()
        assert f"[{world.guild_id},{gone['user']['id']}]".encode() not in await redis.smembers(
            f"{redis_prefix}:by:member_records:guild_id:{world.guild_id}"
        )
        await lookups_match_hikari(redis, redis_prefix, bot)


async def test_reads_do_not_wait_for_a_batch_waiting_for_another_process(redis_prefix: str) -> None:
    async with running_on(RedisBackend(REDIS_URL, prefix=redis_prefix)) as (bot, cache, world), client() as redis:
        guilds = await cache.guilds.count()
        # Another process holds the lock (as while it writes a long batch).
        await redis.set(f"{redis_prefix}:lock", "another process", px=30_000)
        with log_signal("waiting for the lock") as waiting:
            await world.feed([world.message_create("queued behind the other process")])
            await asyncio.wait_for(waiting.seen.wait(), 30)
            # The batch waits; reads answer from what is committed (a deadline, far below the lock's 30 s).
            assert await asyncio.wait_for(cache.guilds.count(), 5) == guilds
            assert await asyncio.wait_for(cache.guilds.get(id=int(world.guild_id)), 5) is not None
            assert not [m async for m in cache.messages.where(content="queued behind the other process")]
        await redis.delete(f"{redis_prefix}:lock")
        await cache.flush()
        await compare_with_hikari(cache, bot)
