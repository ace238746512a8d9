"""Building a cache from configuration: backend URLs, environment variables and `CacheConfig`.

The framework adapters' loadable extensions (``client.load_extension("hikaripersist_arc")`` and
the like) build their cache from a [`CacheConfig`][hikaripersist.config.CacheConfig]: one the
user registered, or one read from the environment by
[`CacheConfig.from_env`][hikaripersist.config.CacheConfig.from_env].
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("ENV_PREFIX", "CacheConfig", "backend_from_url")

import dataclasses
import os
import pathlib
import typing
import urllib.parse

from hikaripersist import rules as rules_
from hikaripersist.cache import Cache
from hikaripersist.jsonfile import JSONBackend
from hikaripersist.sqlite import SQLiteBackend

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    from hikaripersist.backend import Backend
    from hikaripersist.cache import _App

ENV_PREFIX: typing.Final[str] = "HIKARI_PERSIST_"
"""Prefix of the environment variables read by [`CacheConfig.from_env`][hikaripersist.config.CacheConfig.from_env]."""

_DEFAULT_URL: typing.Final[str] = "sqlite:///hikari-persist.db"
_TRUE: typing.Final = frozenset({"1", "true", "yes", "on"})
_FALSE: typing.Final = frozenset({"0", "false", "no", "off", ""})
_RULE_CLASSES: typing.Final[Mapping[str, type[rules_.KindRule[typing.Any]]]] = {
    "guild": rules_.GuildRule,
    "channel": rules_.ChannelRule,
    "thread": rules_.ThreadRule,
    "role": rules_.RoleRule,
    "member": rules_.MemberRule,
    "user": rules_.UserRule,
    "emoji": rules_.EmojiRule,
    "sticker": rules_.StickerRule,
    "presence": rules_.PresenceRule,
    "voice_state": rules_.VoiceStateRule,
    "message": rules_.MessageRule,
    "invite": rules_.InviteRule,
}
# Plural spellings accepted in HIKARI_PERSIST_DISABLE, as the query attributes are named.
_PLURALS: typing.Final[Mapping[str, str]] = {
    "guilds": "guild",
    "channels": "channel",
    "threads": "thread",
    "roles": "role",
    "members": "member",
    "users": "user",
    "emojis": "emoji",
    "stickers": "sticker",
    "presences": "presence",
    "voice_states": "voice_state",
    "messages": "message",
    "invites": "invite",
}


def backend_from_url(url: str | os.PathLike[str]) -> Backend:
    """Create the backend a URL names.

    Parameters
    ----------
    url
        ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
        ``json:///relative/path.json``, ``json:////absolute/path.json``, a plain file path
        (a JSON file when it ends in ``.json``, otherwise SQLite), or a PostgreSQL DSN
        ``postgresql://user:password@host:5432/database`` (libpq parameters such as ``sslmode``
        pass through; ``?schema=name`` picks the PostgreSQL schema, ``pool_size=n`` the reader
        pool), or a MySQL/MariaDB URL ``mysql://user:password@host:3306/database`` (also
        ``mariadb://``; ``?pool_size=n``), or a Redis URL ``redis://[:password@]host:6379/0``
        (also ``rediss://`` for TLS; ``?prefix=name`` picks the key prefix).

    Returns
    -------
    Backend
        A new, unopened backend.

    Raises
    ------
    ValueError
        If the URL's scheme names no backend this version provides.

    Examples
    --------
    >>> backend_from_url("sqlite:///cache.db")
    SQLiteBackend('cache.db')
    >>> backend_from_url("json:///cache.json")
    JSONBackend('cache.json')
    >>> backend_from_url("postgresql://bot@db.internal/bot?schema=cache")
    PostgreSQLBackend('postgresql://bot@db.internal/bot', schema='cache')
    """
    if isinstance(url, os.PathLike):
        return _file_backend(url)
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme == "" or (len(scheme) == 1 and url[1:3] in {":\\", ":/"}):
        # A plain path (a Windows drive letter parses as a one-letter scheme).
        return _file_backend(url)
    if scheme in {"sqlite", "sqlite3", "json"}:
        # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db" (SQLAlchemy's convention).
        path = urllib.parse.unquote(parsed.path)
        path = path[1:] if path.startswith("/") else path
        if parsed.netloc or not path:
            if scheme == "json":
                msg = f"a JSON URL looks like json:///relative.json or json:////absolute.json, got {url!r}"
            else:
                msg = f"a SQLite URL looks like sqlite:///relative.db or sqlite:////absolute.db, got {url!r}"
            raise ValueError(msg)
        return JSONBackend(pathlib.Path(path)) if scheme == "json" else SQLiteBackend(pathlib.Path(path))
    if scheme in {"postgresql", "postgres"}:
        return _postgresql(parsed)
    if scheme in {"mysql", "mariadb"}:
        return _mysql(parsed)
    if scheme in {"redis", "rediss"}:
        return _redis(parsed)
    msg = (
        f"no hikari-persist backend for {scheme}:// URLs"
        " (this version provides: sqlite:///path, json:///path.json, postgresql://..., mysql://..., redis://..."
        " or a file path)"
    )
    raise ValueError(msg)


def _postgresql(parsed: urllib.parse.SplitResult) -> Backend:
    from hikaripersist.postgresql import PostgreSQLBackend

    # Our own parameters are taken out; the rest (sslmode, application_name, ...) is libpq's.
    query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in {"schema", "pool_size"}}
    theirs = urllib.parse.urlencode([(key, value) for key, value in query if key not in ours])
    dsn = urllib.parse.urlunsplit(parsed._replace(query=theirs))
    options: dict[str, typing.Any] = {}
    if "schema" in ours:
        options["schema"] = ours["schema"]
    if "pool_size" in ours:
        try:
            options["pool_size"] = int(ours["pool_size"])
        except ValueError:
            msg = f"pool_size must be an integer, got {ours['pool_size']!r}"
            raise ValueError(msg) from None
    return PostgreSQLBackend(dsn, **options)


def _redis(parsed: urllib.parse.SplitResult) -> Backend:
    from hikaripersist.redis import RedisBackend

    # `prefix` is ours; the rest (ssl_cert_reqs, socket_timeout, ...) is redis-py's.
    query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    prefixes = [value for key, value in query if key == "prefix"]
    theirs = urllib.parse.urlencode([(key, value) for key, value in query if key != "prefix"])
    url = urllib.parse.urlunsplit(parsed._replace(query=theirs))
    if prefixes:
        if not prefixes[-1]:
            msg = "prefix cannot be empty"
            raise ValueError(msg)
        return RedisBackend(url, prefix=prefixes[-1])
    return RedisBackend(url)


def _file_backend(path: str | os.PathLike[str]) -> Backend:
    """The backend of a plain path: a JSON file when it ends in ``.json``, otherwise SQLite."""
    if os.fspath(path).lower().endswith(".json"):
        return JSONBackend(path)
    return SQLiteBackend(path)


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    msg = f"{name} must be one of 1/true/yes/on or 0/false/no/off, got {value!r}"
    raise ValueError(msg)


def _rule_disabling(names: str, variable: str) -> rules_.Rule | None:
    kinds: list[str] = []
    for raw in names.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        kind = _PLURALS.get(name, name)
        if kind not in _RULE_CLASSES:
            known = ", ".join(sorted(_PLURALS))
            msg = f"{variable} names an unknown kind {raw.strip()!r}; known kinds: {known}"
            raise ValueError(msg)
        kinds.append(kind)
    if not kinds:
        return None
    disabled: dict[str, typing.Any] = {kind: _RULE_CLASSES[kind](enabled=False) for kind in kinds}
    return rules_.Rule(**disabled)


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """How to build a [`Cache`][hikaripersist.cache.Cache] (used by the adapters' extensions).

    Parameters
    ----------
    url
        Where to store the cache, as accepted by
        [`backend_from_url`][hikaripersist.config.backend_from_url].
    rule
        What to store (``None``: everything).
    max_pending
        Passed to [`Cache`][hikaripersist.cache.Cache].
    max_pending_entities
        Passed to [`Cache`][hikaripersist.cache.Cache].
    chunk_members
        Passed to [`Cache`][hikaripersist.cache.Cache]: the cache asks for members of large guilds
        at its writer's pace (build the bot with ``auto_chunk_members=False``).
    spill
        Passed to [`Cache`][hikaripersist.cache.Cache]: where queued events wait while the queue
        in memory is over a budget (``True``: next to a file store, ``False``: in memory, or a
        folder).
    flush_before_commands
        Whether the framework adapters wait, before each command, until what the command's guild
        produced so far is committed (so the command reads its own guild's latest state).

    Examples
    --------
    >>> config = CacheConfig("sqlite:///cache.db", rule=persist.Rule(presence=persist.PresenceRule(enabled=False)))
    >>> cache = config.create_cache(bot)
    """

    url: str = _DEFAULT_URL
    rule: rules_.Rule | None = None
    max_pending: int = 10_000
    max_pending_entities: int = 50_000
    chunk_members: bool = False
    spill: bool | str = True
    flush_before_commands: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CacheConfig:
        """Read a configuration from environment variables.

        ``HIKARI_PERSIST_URL``
            The backend URL (default ``sqlite:///hikari-persist.db``).
        ``HIKARI_PERSIST_DISABLE``
            Comma-separated kinds not to store, e.g. ``presences,messages``.
        ``HIKARI_PERSIST_MAX_PENDING``, ``HIKARI_PERSIST_MAX_PENDING_ENTITIES``
            Integers, see [`Cache`][hikaripersist.cache.Cache].
        ``HIKARI_PERSIST_CHUNK_MEMBERS``, ``HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS``
            ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``.
        ``HIKARI_PERSIST_SPILL``
            One of those words, or the folder for the spill file.

        Parameters
        ----------
        environ
            The variables to read (default: `os.environ`).

        Returns
        -------
        CacheConfig
            The configuration; variables not set keep their defaults.

        Raises
        ------
        ValueError
            If a variable is set to a value it cannot take; the message names the variable.
        """
        env = os.environ if environ is None else environ
        url = env.get(f"{ENV_PREFIX}URL", "").strip() or _DEFAULT_URL
        rule = _rule_disabling(env.get(f"{ENV_PREFIX}DISABLE", ""), f"{ENV_PREFIX}DISABLE")
        max_pending = _parse_int(env, f"{ENV_PREFIX}MAX_PENDING", 10_000)
        max_entities = _parse_int(env, f"{ENV_PREFIX}MAX_PENDING_ENTITIES", 50_000)
        flush_name = f"{ENV_PREFIX}FLUSH_BEFORE_COMMANDS"
        flush = _parse_bool(flush_name, env.get(flush_name, ""))
        chunk_name = f"{ENV_PREFIX}CHUNK_MEMBERS"
        chunk = _parse_bool(chunk_name, env.get(chunk_name, ""))
        spill_raw = env.get(f"{ENV_PREFIX}SPILL", "").strip()
        spill: bool | str = True
        if spill_raw:
            try:
                spill = _parse_bool(f"{ENV_PREFIX}SPILL", spill_raw)
            except ValueError:
                spill = spill_raw  # a folder
        try:
            backend_from_url(url)  # validate now, naming the variable when it is wrong
        except ValueError as exc:
            msg = f"{ENV_PREFIX}URL: {exc}"
            raise ValueError(msg) from None
        return cls(
            url=url,
            rule=rule,
            max_pending=max_pending,
            max_pending_entities=max_entities,
            chunk_members=chunk,
            spill=spill,
            flush_before_commands=flush,
        )

    def __post_init__(self) -> None:
        for name in ("max_pending", "max_pending_entities"):
            if getattr(self, name) < 1:
                msg = f"{name} must be at least 1, got {getattr(self, name)}"
                raise ValueError(msg)

    def create_backend(self) -> Backend:
        """Create the (unopened) backend this configuration's ``url`` names.

        Returns
        -------
        Backend
            A new backend.
        """
        return backend_from_url(self.url)

    def create_cache(self, bot: _App) -> Cache:
        """Create a cache for ``bot`` from this configuration.

        Parameters
        ----------
        bot
            The hikari app whose events are cached.

        Returns
        -------
        Cache
            A new cache; it opens with the bot (on `hikari.StartingEvent`).
        """
        return Cache(
            bot,
            self.create_backend(),
            rule=self.rule,
            max_pending=self.max_pending,
            max_pending_entities=self.max_pending_entities,
            chunk_members=self.chunk_members,
            spill=self.spill,
        )


def _parse_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        msg = f"{name} must be an integer, got {raw!r}"
        raise ValueError(msg) from None


def _mysql(parsed: urllib.parse.SplitResult) -> Backend:
    from hikaripersist.mysql import MySQLBackend

    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    options: dict[str, typing.Any] = {}
    if "pool_size" in query:
        try:
            options["pool_size"] = int(query["pool_size"])
        except ValueError:
            msg = f"pool_size must be an integer, got {query['pool_size']!r}"
            raise ValueError(msg) from None
    return MySQLBackend(urllib.parse.urlunsplit(parsed._replace(query="")), **options)
