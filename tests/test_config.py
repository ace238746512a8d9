"""Tests for building caches from configuration: backend URLs, `CacheConfig` and its environment variables."""

from __future__ import annotations

import pathlib
import typing

import pytest

import hikaripersist as persist
from hikaripersist._internal import offline
from tests.conftest import make_bot
from tests.small_session import BASE

if typing.TYPE_CHECKING:
    from collections.abc import Mapping


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///cache.db", "cache.db"),
        ("sqlite:///data/cache.db", "data/cache.db"),
        ("sqlite:////var/lib/bot/cache.db", "/var/lib/bot/cache.db"),
        ("SQLITE3:///cache.db", "cache.db"),
        ("sqlite:///my%20cache.db", "my cache.db"),
        ("cache.db", "cache.db"),
        ("/abs/cache.db", "/abs/cache.db"),
        ("C:\\bots\\cache.db", "C:\\bots\\cache.db"),
    ],
)
def test_sqlite_urls_and_paths(url: str, path: str) -> None:
    backend = persist.backend_from_url(url)
    assert isinstance(backend, persist.SQLiteBackend)
    assert backend.path == str(pathlib.PurePath(path)) if "://" in url else backend.path == path


def test_a_path_object_is_a_sqlite_file(tmp_path: pathlib.Path) -> None:
    backend = persist.backend_from_url(tmp_path / "x.db")
    assert isinstance(backend, persist.SQLiteBackend)
    assert backend.path == str(tmp_path / "x.db")


@pytest.mark.parametrize("url", ["sqlite://host/cache.db", "sqlite://", "sqlite:///"])
def test_malformed_sqlite_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///relative\.db"):
        persist.backend_from_url(url)


def test_unknown_scheme_names_what_is_supported() -> None:
    with pytest.raises(ValueError, match=r"no hikari-persist backend for mongodb:// URLs.*sqlite"):
        persist.backend_from_url("mongodb://localhost/db")


def test_defaults_from_an_empty_environment() -> None:
    config = persist.CacheConfig.from_env({})
    assert config == persist.CacheConfig()
    assert config.url == "sqlite:///hikari-persist.db"
    assert config.rule is None
    assert not config.flush_before_commands
    assert not config.chunk_members
    assert persist.CacheConfig().create_cache(make_bot())._chunker is None  # pyright: ignore[reportPrivateUsage]


def test_every_variable_is_read(tmp_path: pathlib.Path) -> None:
    env = {
        "HIKARI_PERSIST_URL": f"sqlite:///{tmp_path}/bot.db",
        "HIKARI_PERSIST_DISABLE": " presences, message ,voice_states",
        "HIKARI_PERSIST_MAX_PENDING": "500",
        "HIKARI_PERSIST_MAX_PENDING_ENTITIES": "7000",
        "HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS": "yes",
        "HIKARI_PERSIST_CHUNK_MEMBERS": "on",
    }
    config = persist.CacheConfig.from_env(env)
    assert config.max_pending == 500
    assert config.max_pending_entities == 7000
    assert config.flush_before_commands
    assert config.chunk_members
    assert config.rule is not None
    assert not config.rule.presence.enabled
    assert not config.rule.message.enabled
    assert not config.rule.voice_state.enabled
    assert config.rule.member.enabled
    backend = config.create_backend()
    assert isinstance(backend, persist.SQLiteBackend)
    assert backend.path == str(tmp_path / "bot.db")
    cache = config.create_cache(make_bot())
    assert cache._max_pending == 500  # pyright: ignore[reportPrivateUsage]
    assert cache._max_pending_entities == 7000  # pyright: ignore[reportPrivateUsage]
    assert cache._chunker is not None  # pyright: ignore[reportPrivateUsage]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HIKARI_PERSIST_URL": "mongodb://x"}, "HIKARI_PERSIST_URL"),
        ({"HIKARI_PERSIST_DISABLE": "members,potatoes"}, "HIKARI_PERSIST_DISABLE.*'potatoes'.*guilds"),
        ({"HIKARI_PERSIST_MAX_PENDING": "lots"}, "HIKARI_PERSIST_MAX_PENDING must be an integer"),
        ({"HIKARI_PERSIST_MAX_PENDING": "0"}, "max_pending must be at least 1"),
        ({"HIKARI_PERSIST_MAX_PENDING_ENTITIES": "1e6"}, "HIKARI_PERSIST_MAX_PENDING_ENTITIES must be an integer"),
        ({"HIKARI_PERSIST_MAX_PENDING_ENTITIES": "-5"}, "max_pending_entities must be at least 1"),
        ({"HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS": "maybe"}, "HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS must be one of"),
        ({"HIKARI_PERSIST_CHUNK_MEMBERS": "2"}, "HIKARI_PERSIST_CHUNK_MEMBERS must be one of"),
    ],
)
def test_bad_values_name_the_variable(env: Mapping[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        persist.CacheConfig.from_env(env)


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("HIKARI_PERSIST_URL", str(tmp_path / "env.db"))
    backend = persist.CacheConfig.from_env().create_backend()
    assert isinstance(backend, persist.SQLiteBackend)
    assert backend.path == str(tmp_path / "env.db")


async def test_create_cache_stores_with_the_configured_rule(tmp_path: pathlib.Path) -> None:
    """A cache built from a configuration opens with the bot, writes where the URL says, under the
    configured rule (presences disabled: none stored although hikari cached some)."""
    bot = make_bot()
    rule = persist.CacheConfig.from_env({"HIKARI_PERSIST_DISABLE": "presences"}).rule
    config = persist.CacheConfig(f"sqlite:///{tmp_path}/cfg.db", rule=rule)
    cache = config.create_cache(bot)
    assert cache.bot is bot
    assert cache.rule is rule
    await offline.start_offline(bot)
    try:
        assert cache.is_open
        assert (tmp_path / "cfg.db").exists()
        await offline.replay(bot, [r for r in BASE if r[0] in {"READY", "GUILD_CREATE"}])
        await cache.flush()
        assert await cache.guilds.count() == len(bot.cache.get_guilds_view()) > 0
        assert await cache.members.count() > 0
        assert len(bot.cache.get_presences_view()) > 0
        assert await cache.presences.count() == 0
    finally:
        await offline.stop_offline(bot)
    assert not cache.is_open


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("json:///cache.json", "cache.json"),
        ("json:////srv/bot/cache.json", "/srv/bot/cache.json"),
        ("cache.json", "cache.json"),
        ("/srv/Cache.JSON", "/srv/Cache.JSON"),
    ],
)
def test_json_urls_and_paths(url: str, path: str) -> None:
    backend = persist.backend_from_url(url)
    assert isinstance(backend, persist.JSONBackend)
    assert backend.path == path


def test_a_json_path_object_is_a_json_file(tmp_path: pathlib.Path) -> None:
    backend = persist.backend_from_url(tmp_path / "x.json")
    assert isinstance(backend, persist.JSONBackend)


def test_postgresql_urls_keep_libpq_parameters_and_take_ours() -> None:
    backend = persist.backend_from_url("postgresql://bot:secret@db.internal:5433/bots?schema=cache&sslmode=disable")
    assert isinstance(backend, persist.PostgreSQLBackend)
    assert backend.schema == "cache"
    assert "secret" not in repr(backend)
    assert "secret" not in backend.name
    assert "db.internal:5433" in backend.name
    assert isinstance(persist.backend_from_url("postgres://127.0.0.1/test"), persist.PostgreSQLBackend)
    with pytest.raises(ValueError, match="pool_size must be an integer"):
        persist.backend_from_url("postgresql://127.0.0.1/test?pool_size=many")


def test_mysql_and_mariadb_urls() -> None:
    backend = persist.backend_from_url("mysql://bot:secret@db.internal:3307/bots?pool_size=4")
    assert isinstance(backend, persist.MySQLBackend)
    assert "secret" not in repr(backend)
    assert "secret" not in backend.name
    assert isinstance(persist.backend_from_url("mariadb://127.0.0.1/test"), persist.MySQLBackend)
    with pytest.raises(ValueError, match="pool_size must be an integer"):
        persist.backend_from_url("mysql://127.0.0.1/test?pool_size=x")
