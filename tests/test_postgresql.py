"""The PostgreSQL backend behaves like the SQLite one: same entities, changes, retention and schema rules.

Needs a PostgreSQL server (``PERSIST_TEST_POSTGRESQL``, see ``tests/services.py``); every test works
in a fresh schema of its own, dropped afterwards.
"""

from __future__ import annotations

import functools
import importlib
import typing
import urllib.parse

import hikari
import pytest

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline, schema
from hikaripersist.postgresql import PostgreSQLBackend
from tests.conftest import make_bot, session
from tests.reference import compare_with_hikari
from tests.server_tests import (
    check_a_failing_event_is_undone_alone,
    check_a_statement_the_server_refuses_is_undone_with_its_event,
    check_each_event_of_a_batch_reports_the_entity_as_it_left_it,
    check_every_kind_reports_insert_update_remove,
    check_max_age_expires_old_messages,
    check_max_per_channel_expires_like_hikaris_message_limit,
    check_message_creates_share_round_trips,
    count_round_trips,
)
from tests.services import POSTGRESQL_URL
from tests.test_change_events import KIND_EVENTS
from tests.test_writer import running

# asyncpg ships no type information.
asyncpg: typing.Any = importlib.import_module("asyncpg")

if typing.TYPE_CHECKING:
    from tests.test_writer import Running

Payload = dict[str, typing.Any]
Record = tuple[str, int, Payload]


@pytest.fixture
def store(postgresql_schema: str) -> str:
    """A fresh schema name (see the ``postgresql_schema`` fixture)."""
    return postgresql_schema


def backend(name: str, **options: typing.Any) -> PostgreSQLBackend:
    return PostgreSQLBackend(POSTGRESQL_URL, schema=name, **options)


async def sql(query: str, *args: typing.Any, schema_name: str | None = None) -> list[typing.Any]:
    """Run ``query`` on a connection of its own (in ``schema_name`` when given)."""
    settings = {"search_path": f'"{schema_name}"'} if schema_name else {}
    connection = await asyncpg.connect(POSTGRESQL_URL, server_settings=settings)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


def running_on(store_backend: PostgreSQLBackend) -> typing.AsyncContextManager[Running]:
    return running(typing.cast("persist.SQLiteBackend", store_backend))


# -- fidelity ------------------------------------------------------------------------------------------


async def test_session_equals_hikari_cache_before_and_after_reopening(store: str) -> None:
    records = session(seed=1, guilds=3, members=(300, 100, 30), churn=3.0)
    bot = make_bot()
    async with persist.Cache(bot, backend(store)) as cache:
        stats = await offline.replay(bot, records)
        await cache.flush()
        counts = await compare_with_hikari(cache, bot)
        member = await cache.members.all().first()
        assert isinstance(member, hikari.Member)
        assert member.app is bot
        forum = await cache.channels.where(type=hikari.ChannelType.GUILD_FORUM).first()
        assert isinstance(forum, hikari.GuildForumChannel)
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


async def test_name_and_repr_describe_the_store_without_the_password(store: str) -> None:
    parts = urllib.parse.urlsplit(POSTGRESQL_URL)
    with_password = parts._replace(netloc=f"{parts.username or 'postgres'}:s3cret-pw@{parts.hostname}:{parts.port}")
    store_backend = PostgreSQLBackend(urllib.parse.urlunsplit(with_password), schema=store)
    assert "s3cret-pw" not in store_backend.name
    assert "s3cret-pw" not in repr(store_backend)
    assert store in store_backend.name
    assert f"{parts.hostname}:{parts.port}" in store_backend.name


# -- change events -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KIND_EVENTS))
async def test_every_kind_reports_insert_update_remove(store: str, kind: str) -> None:
    await check_every_kind_reports_insert_update_remove(functools.partial(backend, store), kind)


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
    connection_type = typing.cast("typing.Any", importlib.import_module("hikaripersist.postgresql"))._SyncConnection
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
    finally:
        await store_backend.close()
    await sql(
        "UPDATE meta SET value = $1 WHERE key = 'schema_version'", str(schema.SCHEMA_VERSION + 1), schema_name=store
    )
    with pytest.raises(persist.SchemaError, match="newer hikari-persist"):
        await backend(store).open()


async def test_another_applications_tables_are_refused(store: str) -> None:
    await sql(f'CREATE SCHEMA "{store}"')
    await sql("CREATE TABLE guilds (id BIGINT PRIMARY KEY)", schema_name=store)
    with pytest.raises(persist.SchemaError, match="not hikari-persist's"):
        await backend(store).open()
    assert [r[0] for r in await sql("SELECT COUNT(*) FROM guilds", schema_name=store)] == [0]


async def test_an_older_store_is_migrated(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store_backend = backend(store)
    await store_backend.open()
    await store_backend.close()
    migration = schema.Migration(
        schema.SCHEMA_VERSION + 1,
        ("ALTER TABLE guilds ADD COLUMN IF NOT EXISTS extra INTEGER",),
        postgresql=("ALTER TABLE guilds ADD COLUMN IF NOT EXISTS extra BIGINT",),
    )
    monkeypatch.setattr(schema, "SCHEMA_VERSION", migration.version)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, migration))
    store_backend = backend(store)
    await store_backend.open()
    try:
        assert await store_backend.schema_version() == migration.version
        assert await store_backend.scalar("SELECT COUNT(extra) FROM guilds") == 0
    finally:
        await store_backend.close()


# -- opening and failing -------------------------------------------------------------------------------


def _with(**changes: typing.Any) -> str:
    parts = urllib.parse.urlsplit(POSTGRESQL_URL)
    user = changes.get("user", parts.username or "postgres")
    password = changes.get("password")
    host = parts.hostname or "127.0.0.1"
    port = changes.get("port", parts.port or 5432)
    database = changes.get("database", parts.path.lstrip("/"))
    credentials = f"{user}:{password}" if password else user
    return urllib.parse.urlunsplit((parts.scheme, f"{credentials}@{host}:{port}", f"/{database}", "", ""))


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        pytest.param(_with(port=1, password="s3cret-pw"), "connection refused", id="refused"),
        pytest.param(_with(database="no_such_database_here"), "database does not exist", id="database"),
        pytest.param(_with(user="no_such_user_here", password="s3cret-pw"), "refused the credentials", id="user"),
        pytest.param("postgresql://127.0.0.1:notaport/test", "invalid DSN", id="dsn"),
    ],
)
async def test_open_errors_are_backend_errors_naming_the_server(store: str, dsn: str, message: str) -> None:
    store_backend = PostgreSQLBackend(dsn, schema=store)
    with pytest.raises(persist.BackendError, match=message) as caught:
        await store_backend.open()
    assert "s3cret-pw" not in str(caught.value)
    assert store_backend.name in str(caught.value)
    assert not store_backend.is_open
    await store_backend.close()


async def test_a_cache_on_an_unreachable_server_does_not_open(store: str) -> None:
    cache = persist.Cache(make_bot(), PostgreSQLBackend(_with(port=1), schema=store))
    with pytest.raises(persist.BackendError, match="connection refused"):
        await cache.open()


# -- a lost connection ---------------------------------------------------------------------------------


async def test_a_batch_written_after_the_connection_dropped_is_retried_without_loss(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_on(backend(store)) as (bot, cache, world):
        terminated = await sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            f"hikari-persist writer {store}",
        )
        assert [tuple(r) for r in terminated] == [(True,)]
        records = [world.message_create(f"after the drop {i}", author=i) for i in range(20)]
        records += [world.member_update(i, f"nick {i}") for i in range(len(world.members))]
        await world.feed(records)
        await cache.flush()
        await compare_with_hikari(cache, bot)
        assert {m.content async for m in cache.messages.where(content=persist.startswith("after the drop"))} == {
            f"after the drop {i}" for i in range(20)
        }
    assert any("failed; retrying" in r.getMessage() for r in caplog.records), "the lost connection failed a batch"
