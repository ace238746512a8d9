"""The backend conformance suite (`hikaripersist.testing.BackendConformance`) run against our backends."""

from __future__ import annotations

import importlib
import typing
import uuid

import pytest

import hikaripersist as persist
from hikaripersist.testing import BackendConformance
from tests.services import POSTGRESQL_URL, require_service

# asyncpg ships no type information.
asyncpg: typing.Any = importlib.import_module("asyncpg")

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from hikaripersist.testing import BackendFactory


class TestSQLiteBackend(BackendConformance):
    @pytest.fixture
    def make_backend(self, tmp_path: pathlib.Path) -> BackendFactory:
        return lambda: persist.SQLiteBackend(tmp_path / "conformance.db")


class TestJSONBackend(BackendConformance):
    @pytest.fixture
    def make_backend(self, tmp_path: pathlib.Path) -> BackendFactory:
        return lambda: persist.JSONBackend(tmp_path / "conformance.json")


@pytest.fixture
async def postgresql_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, dropped after the test."""
    url = require_service(POSTGRESQL_URL)
    name = f"persist_conformance_{uuid.uuid4().hex[:12]}"
    yield name
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await connection.close()


class TestPostgreSQLBackend(BackendConformance):
    supports_read_only = False  # a missing schema cannot be told from an empty one

    @pytest.fixture
    def make_backend(self, postgresql_schema: str) -> BackendFactory:
        return lambda: persist.PostgreSQLBackend(POSTGRESQL_URL, schema=postgresql_schema)
