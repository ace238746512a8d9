"""The query and filter-operator tests of the SQLite store, run against a PostgreSQL store.

The test functions are those of ``tests/test_queries.py`` and ``tests/test_query_operators.py``;
only the ``filled`` fixture differs (same session, written to a fresh PostgreSQL schema).
"""

from __future__ import annotations

import importlib
import typing
import uuid

import pytest
import pytest_asyncio

import hikaripersist as persist
from hikaripersist._internal import offline
from hikaripersist.postgresql import PostgreSQLBackend
from tests.conftest import make_bot, session
from tests.services import POSTGRESQL_URL, require_service
from tests.test_queries import (
    test_every_field_filters_like_python_would,
    test_list_fields_match_membership,
    test_unknown_fields_and_values_are_refused_at_the_call,
    test_values_are_bound_parameters,
)
from tests.test_query_operators import (
    test_limit_and_count_are_pushed_into_the_query,
    test_membership_and_null_checks,
    test_not_equal,
    test_order_and_limit_are_applied_by_the_database,
    test_ranges_on_an_indexed_time_column,
    test_ranges_on_json_fields,
    test_relationship_shortcuts,
    test_text_prefix_and_contains_are_case_sensitive,
)

# asyncpg ships no type information.
asyncpg: typing.Any = importlib.import_module("asyncpg")

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import hikari

__all__ = (
    "test_every_field_filters_like_python_would",
    "test_limit_and_count_are_pushed_into_the_query",
    "test_list_fields_match_membership",
    "test_membership_and_null_checks",
    "test_not_equal",
    "test_order_and_limit_are_applied_by_the_database",
    "test_ranges_on_an_indexed_time_column",
    "test_ranges_on_json_fields",
    "test_relationship_shortcuts",
    "test_text_prefix_and_contains_are_case_sensitive",
    "test_unknown_fields_and_values_are_refused_at_the_call",
    "test_values_are_bound_parameters",
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filled() -> AsyncIterator[tuple[hikari.GatewayBot, persist.Cache]]:
    url = require_service(POSTGRESQL_URL)
    name = f"persist_test_{uuid.uuid4().hex[:12]}"
    bot = make_bot()
    try:
        async with persist.Cache(bot, PostgreSQLBackend(url, schema=name)) as cache:
            # Smaller than the SQLite run: every statement is a round trip to the server.
            await offline.replay(bot, session(seed=5, members=(400, 120, 30), messages_per_channel=6))
            await cache.flush()
            yield bot, cache
    finally:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await connection.close()
