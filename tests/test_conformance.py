"""The backend conformance suite (`hikaripersist.testing.BackendConformance`) run against our backends."""

from __future__ import annotations

import typing

import pytest

import hikaripersist as persist
from hikaripersist.testing import BackendConformance
from tests.services import POSTGRESQL_URL

if typing.TYPE_CHECKING:
    import pathlib

    from hikaripersist.testing import BackendFactory


class TestSQLiteBackend(BackendConformance):
    @pytest.fixture
    def make_backend(self, tmp_path: pathlib.Path) -> BackendFactory:
        return lambda: persist.SQLiteBackend(tmp_path / "conformance.db")


class TestJSONBackend(BackendConformance):
    @pytest.fixture
    def make_backend(self, tmp_path: pathlib.Path) -> BackendFactory:
        return lambda: persist.JSONBackend(tmp_path / "conformance.json")


class TestPostgreSQLBackend(BackendConformance):
    @pytest.fixture
    def make_backend(self, postgresql_schema: str) -> BackendFactory:
        return lambda: persist.PostgreSQLBackend(POSTGRESQL_URL, schema=postgresql_schema)
