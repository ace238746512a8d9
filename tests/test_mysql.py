"""The MySQL/MariaDB backend behaves like the SQLite one: same entities, changes, retention and schema rules.

Needs a MySQL or MariaDB server (``PERSIST_TEST_MYSQL``, see ``tests/services.py``); every test works
in a fresh database of its own, dropped afterwards. Also runs the conformance suite and the query
tests of the SQLite store against it.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import typing
import urllib.parse
import uuid

import hikari
import pytest
import pytest_asyncio

import hikaripersist as persist
from hikaripersist._internal import dialect, engine, gateway_session, offline, schema
from hikaripersist.mysql import MySQLBackend
from hikaripersist.testing import BackendConformance
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari, hikari_counts
from tests.server_tests import (
    check_a_failing_event_is_undone_alone,
    check_a_statement_the_server_refuses_is_undone_with_its_event,
    check_each_event_of_a_batch_reports_the_entity_as_it_left_it,
    check_every_kind_reports_insert_update_remove,
    check_max_age_expires_old_messages,
    check_max_per_channel_expires_like_hikaris_message_limit,
    check_message_creates_share_round_trips,
    count_round_trips,
    filled_cache,
    query_tests,
)
from tests.services import MYSQL_URL, require_service
from tests.test_change_events import KIND_EVENTS
from tests.test_writer import running

asyncmy: typing.Any = importlib.import_module("asyncmy")

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hikaripersist.testing import BackendFactory
    from tests.test_writer import Running

Payload = dict[str, typing.Any]
Record = tuple[str, int, Payload]


def _url(database: str | None = None, **changes: typing.Any) -> str:
    parts = urllib.parse.urlsplit(MYSQL_URL)
    user = changes.get("user", parts.username or "root")
    password = changes.get("password", parts.password)
    host = parts.hostname or "127.0.0.1"
    port = changes.get("port", parts.port or 3306)
    name = database if database is not None else parts.path.lstrip("/")
    credentials = f"{user}:{password}" if password else user
    return urllib.parse.urlunsplit((parts.scheme, f"{credentials}@{host}:{port}", f"/{name}", "", ""))


async def sql(query: str, *args: typing.Any, database: str | None = None) -> list[tuple[typing.Any, ...]]:
    """Run ``query`` (``%s`` placeholders) on a connection of its own."""
    parts = urllib.parse.urlsplit(_url(database))
    connection = await asyncmy.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        password=parts.password or "",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(query, args or None)
            return [tuple(r) for r in await cursor.fetchall()] if cursor.description else []
    finally:
        connection.close()


async def _fresh_database() -> str:
    require_service(MYSQL_URL)
    name = f"persist_test_{uuid.uuid4().hex[:12]}"
    await sql(f"CREATE DATABASE {name}")
    return name


@pytest.fixture
async def store() -> AsyncIterator[str]:
    """A fresh database, dropped after the test."""
    name = await _fresh_database()
    yield name
    await sql(f"DROP DATABASE IF EXISTS {name}")


def backend(name: str, **options: typing.Any) -> MySQLBackend:
    return MySQLBackend(_url(name), **options)


def running_on(store_backend: MySQLBackend) -> typing.AsyncContextManager[Running]:
    return running(typing.cast("persist.SQLiteBackend", store_backend))


# -- conformance ---------------------------------------------------------------------------------------


class TestMySQLConformance(BackendConformance):
    @pytest.fixture
    def make_backend(self, store: str) -> BackendFactory:
        return functools.partial(backend, store)


# -- queries (the SQLite store's query tests, on a MySQL store) ----------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filled() -> AsyncIterator[tuple[hikari.GatewayBot, persist.Cache]]:
    name = await _fresh_database()
    try:
        async with filled_cache(backend(name)) as filled:
            yield filled
    finally:
        await sql(f"DROP DATABASE IF EXISTS {name}")


globals().update(query_tests())


# -- the dialect ---------------------------------------------------------------------------------------


def test_statements_are_translated_once_with_reordered_named_placeholders() -> None:
    translated = dialect.to_mysql("SELECT 1 FROM t WHERE a = :x AND b = :y AND c = :x")
    assert translated.sql == "SELECT 1 FROM t WHERE a = %s AND b = %s AND c = %s"
    assert translated.names == ("x", "y", "x")
    assert dialect.to_mysql("SELECT 1 FROM t WHERE a = :x AND b = :y AND c = :x") is translated
    upsert = dialect.to_mysql("INSERT OR REPLACE INTO presences (guild_id, user_id, status, data) VALUES (?, ?, ?, ?)")
    assert upsert.sql.endswith("ON DUPLICATE KEY UPDATE status = VALUES(status), data = VALUES(data)")
    conflict = dialect.to_mysql(
        "INSERT INTO me (id, data) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data"
    )
    assert conflict.sql == "INSERT INTO me (id, data) VALUES (0, %s) ON DUPLICATE KEY UPDATE data = VALUES(data)"
    assert (
        dialect.to_mysql("SELECT t.data IS NOT r.data, '%' FROM t").sql == "SELECT NOT (t.data <=> r.data), '%%' FROM t"
    )
    assert dialect.to_mysql("SELECT value FROM meta WHERE key = ?").sql == "SELECT value FROM meta WHERE `key` = %s"


def test_json_paths_are_inlined_only_when_they_name_a_field() -> None:
    translated = dialect.to_mysql("SELECT 1 FROM t WHERE EXISTS (SELECT 1 FROM json_each(t.data, ?) WHERE value = ?)")
    rendered, args = dialect.render_mysql(translated, ["$.name", "x"])
    assert "JSON_TABLE(t.data, '$.name'" in rendered
    assert args == ["x"]
    with pytest.raises(ValueError, match="JSON path"):
        dialect.render_mysql(translated, ["$.name' OR 1 --", "x"])


# -- fidelity ------------------------------------------------------------------------------------------


async def test_session_equals_hikari_cache_before_and_after_reopening(store: str) -> None:
    records = session(seed=1, guilds=2, members=(150, 30), churn=3.0)
    bot = make_bot()
    async with persist.Cache(bot, backend(store)) as cache:
        stats = await offline.replay(bot, records)
        await cache.flush()
        counts = await compare_with_hikari(cache, bot)
        member = await cache.members.all().first()
        assert isinstance(member, hikari.Member)
        assert member.app is bot
        me = await cache.get_me()
        assert me is not None
        assert me.id == gateway_session.BOT_USER_ID
    bad = [
        f for f in stats.failures if not gateway_session.is_deliberately_unparseable(f.event_name, records[f.index][2])
    ]
    assert not bad, bad
    assert all(count > 0 for count in counts.values()), counts

    reopened_bot = make_bot()
    async with persist.Cache(reopened_bot, backend(store)) as reopened:
        assert await compare_with_hikari(reopened, bot, app=reopened_bot) == counts


async def test_iterations_stream_and_one_stopped_early_leaves_the_readers_usable(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cursor_type = importlib.import_module("asyncmy.cursors").SSCursor
    reads: list[int] = []
    original = cursor_type.fetchmany

    async def counted(self: typing.Any, size: int | None = None) -> typing.Any:
        rows = await original(self, size)
        reads.append(len(rows))
        return rows

    # The driver's class is compiled: a subclass counts the reads from the server.
    monkeypatch.setattr(
        importlib.import_module("asyncmy.cursors"), "SSCursor", type("SSCursor", (cursor_type,), {"fetchmany": counted})
    )
    bot = make_bot()
    store_backend = backend(store, pool_size=2)
    # Two reader connections: connections left with unread rows would soon block every later query.
    async with persist.Cache(bot, store_backend) as cache:
        await offline.replay(bot, session(seed=2, guilds=1, members=(300,), churn=0.0))
        await cache.flush()
        total = hikari_counts(bot.cache)["members"]
        chunks = store_backend.fetch("SELECT user_id FROM member_records", chunk=50)
        first = await anext(chunks)
        assert len(first) == 50
        assert reads == [50], "one chunk read from the server, not the whole result"
        await typing.cast("typing.Any", chunks).aclose()
        for _ in range(3):
            async for _member in cache.members.all():
                break
        assert await asyncio.wait_for(cache.members.count(), 30) == total
        assert len([m async for m in cache.members.all()]) == total


async def test_name_and_repr_describe_the_store_without_the_password(store: str) -> None:
    store_backend = MySQLBackend(_url(store, password="s3cret-pw"))
    assert "s3cret-pw" not in store_backend.name
    assert "s3cret-pw" not in repr(store_backend)
    assert store in store_backend.name
    assert MySQLBackend(_url(store).replace("mysql://", "mariadb://")).database == store


# -- change events -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KIND_EVENTS))
async def test_every_kind_reports_insert_update_remove(store: str, kind: str) -> None:
    await check_every_kind_reports_insert_update_remove(functools.partial(backend, store), kind)
    assert await sql("SELECT COUNT(*) FROM persist_touched", database=store) == [(0,)]


async def test_each_event_of_a_batch_reports_the_entity_as_it_left_it(store: str) -> None:
    await check_each_event_of_a_batch_reports_the_entity_as_it_left_it(functools.partial(backend, store))


async def test_a_failing_event_is_undone_alone(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await check_a_failing_event_is_undone_alone(backend(store, batch_size=1000, flush_interval=60), monkeypatch)


async def test_a_statement_the_server_refuses_is_undone_with_its_event(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await check_a_statement_the_server_refuses_is_undone_with_its_event(
        backend(store, batch_size=1000, flush_interval=60), monkeypatch
    )


async def test_writes_share_round_trips(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    connection_type = typing.cast("typing.Any", importlib.import_module("hikaripersist.mysql"))._SyncConnection
    trips = count_round_trips(monkeypatch, connection_type)
    await check_message_creates_share_round_trips(backend(store, batch_size=1000, flush_interval=60), trips)


# -- retention -----------------------------------------------------------------------------------------


async def test_max_per_channel_expires_like_hikaris_message_limit(store: str) -> None:
    await check_max_per_channel_expires_like_hikaris_message_limit(functools.partial(backend, store))


async def test_max_age_expires_old_messages(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await check_max_age_expires_old_messages(functools.partial(backend, store), monkeypatch)


# -- schema --------------------------------------------------------------------------------------------


async def test_schema_version_is_recorded_and_a_newer_one_is_refused(store: str) -> None:
    store_backend = backend(store)
    await store_backend.open()
    try:
        assert await store_backend.schema_version() == schema.SCHEMA_VERSION
        assert await store_backend.database_size() > 0
    finally:
        await store_backend.close()
    await sql(
        "UPDATE meta SET value = %s WHERE `key` = 'schema_version'", str(schema.SCHEMA_VERSION + 1), database=store
    )
    with pytest.raises(persist.SchemaError, match="newer hikari-persist"):
        await backend(store).open()


async def test_another_applications_tables_are_refused(store: str) -> None:
    await sql("CREATE TABLE guilds (id BIGINT PRIMARY KEY)", database=store)
    with pytest.raises(persist.SchemaError, match="not hikari-persist's"):
        await backend(store).open()
    assert await sql("SELECT COUNT(*) FROM guilds", database=store) == [(0,)]


async def test_reopening_keeps_the_schema_and_its_triggers(store: str) -> None:
    for _ in range(2):
        store_backend = backend(store)
        await store_backend.open()
        await store_backend.close()
    triggers = await sql(
        "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = %s", store, database=store
    )
    assert triggers == [(3 * len(engine.TRACKED),)]


# -- opening and failing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param(_url("test", port=1, password="s3cret-pw"), "connection refused", id="refused"),
        pytest.param(_url("no_such_database_here"), "database does not exist", id="database"),
        pytest.param(
            _url("test", user="no_such_user_here", password="s3cret-pw"), "refused the credentials", id="user"
        ),
    ],
)
async def test_open_errors_are_backend_errors_naming_the_server(url: str, message: str) -> None:
    require_service(MYSQL_URL)
    store_backend = MySQLBackend(url)
    with pytest.raises(persist.BackendError, match=message) as caught:
        await store_backend.open()
    assert "s3cret-pw" not in str(caught.value)
    assert store_backend.name in str(caught.value)
    assert not store_backend.is_open
    await store_backend.close()


def test_urls_without_a_database_are_refused() -> None:
    with pytest.raises(ValueError, match="no database"):
        MySQLBackend("mysql://root@127.0.0.1:3306")


# -- a lost connection ---------------------------------------------------------------------------------


async def test_a_batch_written_after_the_connection_dropped_is_retried_without_loss(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    store_backend = backend(store)
    async with running_on(store_backend) as (bot, cache, world):
        writer = store_backend._writer
        assert writer is not None
        assert writer.connection is not None
        await sql(f"KILL {int(writer.connection.thread_id())}")
        records = [world.message_create(f"after the drop {i}", author=i) for i in range(20)]
        records += [world.member_update(i, f"nick {i}") for i in range(len(world.members))]
        await world.feed(records)
        await cache.flush()
        await compare_with_hikari(cache, bot)
        assert {m.content async for m in cache.messages.where(content=persist.startswith("after the drop"))} == {
            f"after the drop {i}" for i in range(20)
        }
    assert any("failed; retrying" in r.getMessage() for r in caplog.records), "the lost connection failed a batch"
