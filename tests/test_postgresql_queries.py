"""The query and filter-operator tests of the SQLite store, run against a PostgreSQL store.

The test functions are those of ``tests/server_tests.py``; only the ``filled`` fixture differs
(same session, written to a fresh PostgreSQL schema).
"""

from __future__ import annotations

import importlib
import typing
import uuid

import pytest_asyncio

from hikaripersist.postgresql import PostgreSQLBackend
from tests.server_tests import filled_cache, query_tests
from tests.services import POSTGRESQL_URL, require_service

# asyncpg ships no type information.
asyncpg: typing.Any = importlib.import_module("asyncpg")

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import hikari

    import hikaripersist as persist

globals().update(query_tests())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filled() -> AsyncIterator[tuple[hikari.GatewayBot, persist.Cache]]:
    url = require_service(POSTGRESQL_URL)
    name = f"persist_test_{uuid.uuid4().hex[:12]}"
    try:
        async with filled_cache(PostgreSQLBackend(url, schema=name)) as filled:
            yield filled
    finally:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await connection.close()
