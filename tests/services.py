"""Database servers the server-backend tests need: where they are, and what to do when one is missing.

On a developer's machine without a server the tests that need it are skipped with a reason that
says how to provide it; with ``PERSIST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing server
fails the test instead, so CI cannot pass by skipping.

Addresses default to the local services and can be overridden:
``PERSIST_TEST_POSTGRESQL`` (``postgresql://postgres@127.0.0.1:5432/test``),
``PERSIST_TEST_MYSQL`` (``mysql://root@127.0.0.1:3306/test``),
``PERSIST_TEST_REDIS`` (``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

__all__ = ("MYSQL_URL", "POSTGRESQL_URL", "REDIS_URL", "require_service", "services_required")

import os
import socket
import typing
import urllib.parse

import pytest

POSTGRESQL_URL: typing.Final = os.environ.get("PERSIST_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL: typing.Final = os.environ.get("PERSIST_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL: typing.Final = os.environ.get("PERSIST_TEST_REDIS", "redis://127.0.0.1:6379/0")

_DEFAULT_PORTS: typing.Final = {"postgresql": 5432, "mysql": 3306, "redis": 6379}


def services_required() -> bool:
    """Whether a missing server fails the tests (CI) rather than skipping them."""
    return os.environ.get("PERSIST_REQUIRE_SERVICES", "").strip() not in {"", "0"}


def require_service(url: str) -> str:
    """Return ``url`` if its server accepts TCP connections; otherwise skip the test (or fail it in CI).

    Parameters
    ----------
    url
        The server's URL, e.g. [`POSTGRESQL_URL`][].
    """
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0)
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as exc:
        reason = (
            f"no {parsed.scheme} server at {host}:{port} ({exc}); start one or point "
            f"PERSIST_TEST_{parsed.scheme.upper()} at one"
        )
        if services_required():
            pytest.fail(f"PERSIST_REQUIRE_SERVICES=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    return url
