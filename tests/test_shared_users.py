"""A user shared by guilds of several shard processes ends up with the newest data received.

Processes commit their batches in any order: one may still hold older data of a user when another
has committed newer data. The store keeps what was received last, not what was committed last.
Two caches on two bots writing one store stand for two processes (tests/test_sharded.py runs real
processes); the first one's writer holds its batch until it is flushed.
"""

from __future__ import annotations

import typing

import pytest

import hikaripersist as persist
from hikaripersist.mysql import MySQLBackend
from hikaripersist.postgresql import PostgreSQLBackend
from hikaripersist.redis import RedisBackend
from tests.conftest import mysql_url
from tests.services import POSTGRESQL_URL, REDIS_URL
from tests.test_writer import running

if typing.TYPE_CHECKING:
    import pathlib

    from tests.test_writer import Record, World


class MakeBackend(typing.Protocol):
    def __call__(self, **options: typing.Any) -> persist.Backend: ...


@pytest.fixture(params=["sqlite", "postgresql", "mysql", "redis"])
def make_backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> MakeBackend:
    """Backends on one shared store of the kind the parameter names (removed afterwards)."""
    if request.param == "sqlite":

        def sqlite_store(**options: typing.Any) -> persist.Backend:
            return persist.SQLiteBackend(tmp_path / "shared.db", **options)

        return sqlite_store
    if request.param == "postgresql":
        name: str = request.getfixturevalue("postgresql_schema")

        def postgresql_store(**options: typing.Any) -> persist.Backend:
            return PostgreSQLBackend(POSTGRESQL_URL, schema=name, **options)

        return postgresql_store
    if request.param == "mysql":
        database: str = request.getfixturevalue("mysql_database")

        def mysql_store(**options: typing.Any) -> persist.Backend:
            return MySQLBackend(mysql_url(database), **options)

        return mysql_store
    prefix: str = request.getfixturevalue("redis_prefix")

    def redis_store(**options: typing.Any) -> persist.Backend:
        return RedisBackend(REDIS_URL, prefix=prefix, **options)

    return redis_store


def renamed(world: World, username: str) -> Record:
    """A member update of the world's first member carrying new user data."""
    member = world.members[0]
    return (
        "GUILD_MEMBER_UPDATE",
        0,
        {**member, "guild_id": world.guild_id, "user": {**member["user"], "username": username}},
    )


def on(backend: persist.Backend) -> typing.AsyncContextManager[typing.Any]:
    return running(typing.cast("persist.SQLiteBackend", backend))


async def test_older_data_committed_last_does_not_replace_newer_data(
    make_backend: MakeBackend,
) -> None:
    async with on(make_backend(flush_interval=60)) as (_, slow, slow_world), on(make_backend()) as (_, fast, world):
        user_id = int(world.members[0]["user"]["id"])
        # The slow process receives the user's data first; its writer holds the batch.
        await slow_world.feed([renamed(slow_world, "received first")])
        # Another process receives newer data of the same user and commits it at once.
        await world.feed([renamed(world, "received last")])
        await fast.flush()
        user = await fast.users.get(id=user_id)
        assert user is not None
        assert user.username == "received last"
        # The slow process commits its older data only now.
        await slow.flush()
        for cache in (fast, slow):
            user = await cache.users.get(id=user_id)
            assert user is not None
            assert user.username == "received last"
            member = await cache.members.get(guild_id=int(world.guild_id), member_id=user_id)
            assert member is not None
            assert member.user.username == "received last"
        # Data received later still replaces it, from either process.
        await slow_world.feed([renamed(slow_world, "received after both")])
        await slow.flush()
        user = await fast.users.get(id=user_id)
        assert user is not None
        assert user.username == "received after both"
