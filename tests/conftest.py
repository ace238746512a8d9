"""Shared fixtures: real offline GatewayBots, real SQLite files, recorded sessions."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import typing
import urllib.parse
import uuid

import hikari
import pytest
import redis.asyncio as redis_asyncio

import hikaripersist as persist
from hikaripersist._internal import gateway_session, offline
from tests.services import MYSQL_URL, POSTGRESQL_URL, REDIS_URL, require_service

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, AsyncIterator

    from hikaripersist._internal.gateway_session import GatewayRecord


def make_bot(*, hikari_cache: bool = True) -> hikari.GatewayBot:
    """A real GatewayBot that is never connected; hikari's own cache keeps every message."""
    settings = (
        hikari.impl.CacheSettings(max_messages=1_000_000)
        if hikari_cache
        else hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)
    )
    return offline.make_offline_bot(cache_settings=settings)


@functools.cache
def session(
    seed: int = 0,
    guilds: int = 3,
    members: tuple[int, ...] = (2000, 800, 150),
    churn: float = 1.0,
    messages_per_channel: int = 20,
) -> tuple[GatewayRecord, ...]:
    """A recorded gateway session (generated once per parameter set and shared between tests)."""
    return tuple(
        gateway_session.generate_session(
            seed=seed, guilds=guilds, members=members, churn=churn, messages_per_channel=messages_per_channel
        )
    )


@pytest.fixture
def bot() -> hikari.GatewayBot:
    return make_bot()


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "cache.db"


@pytest.fixture
async def cache(bot: hikari.GatewayBot, db_path: pathlib.Path) -> AsyncIterator[persist.Cache]:
    """An open cache on a fresh SQLite file, attached to ``bot``."""
    cache = persist.Cache(bot, persist.SQLiteBackend(db_path))
    async with cache:
        yield cache


@contextlib.asynccontextmanager
async def filled_cache(
    tmp_path: pathlib.Path, members: int, *, seed: int
) -> AsyncGenerator[tuple[hikari.GatewayBot, persist.Cache], None]:
    """An open cache (closed on exit) on a fresh SQLite file, holding one generated guild of ``members``."""
    bot = make_bot(hikari_cache=False)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "c.db"))
    await cache.open()
    try:
        records = gateway_session.generate_session(seed=seed, guilds=1, members=[members], churn=0.0, varied=False)
        await offline.replay(bot, records)
        await asyncio.wait_for(cache.flush(), 60.0)
        yield bot, cache
    finally:
        await cache.close()


@pytest.fixture
async def postgresql_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema name on the test server; the schema is dropped after the test."""
    url = require_service(POSTGRESQL_URL)
    name = f"persist_test_{uuid.uuid4().hex[:12]}"
    yield name
    asyncpg: typing.Any = importlib.import_module("asyncpg")  # ships no type information
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await connection.close()


def mysql_url(database: str) -> str:
    """The test MySQL/MariaDB server's URL with ``database`` as its path."""
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(MYSQL_URL)._replace(path=f"/{database}"))


@pytest.fixture
async def mysql_database() -> AsyncIterator[str]:
    """A fresh database on the test MySQL/MariaDB server, dropped after the test."""
    from tests import test_mysql  # the MySQL helpers live with the MySQL tests

    name = await test_mysql._fresh_database()
    yield name
    await test_mysql.sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh key prefix on the test Redis server; its keys are deleted after the test."""
    url = require_service(REDIS_URL)
    name = f"persist-test-{uuid.uuid4().hex[:12]}"
    yield name
    client: typing.Any = redis_asyncio.Redis.from_url(url)  # pyright: ignore[reportUnknownMemberType]
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
