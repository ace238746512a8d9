"""The relational schema shared by the SQL backends, and its migrations.

Every kind has its own table with named, indexed columns for the fields people filter on (so
``sqlite3 cache.db`` answers analytics questions) and a ``data`` column holding the whole entity
as encoded by :mod:`hikaripersist._internal.codec`. Entities that hikari's cache shares by
reference (users inside members, messages, emojis, stickers and invites; members inside voice
states and messages) are stored once and re-attached on read, exactly like hikari's own
``RefCell`` records, so that a user's latest data shows everywhere.

Bump [`SCHEMA_VERSION`][] for every change and append a migration to [`MIGRATIONS`][]; a
database written by a newer version is refused instead of being altered.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "INDEXES",
    "MIGRATIONS",
    "PARTIAL_INDEXES",
    "SCHEMA_VERSION",
    "TABLES",
    "VIEWS",
    "Migration",
    "create_statements",
    "iso_time",
)

import datetime
import typing

SCHEMA_VERSION: typing.Final[int] = 4
"""Current version of the schema written by this release."""

# Version 1 was the first layout; version 2 added the `invites.expires_at` column and the
# `messages.created_at` index; version 3 added the `fresh_guilds` table; version 4 added
# `user_records.seen_at`. Older layouts are kept so that stores written by earlier versions are
# loaded (JSON, Redis) and migrated.
_TABLES_V1: typing.Final[dict[str, str]] = {
    "meta": "key TEXT PRIMARY KEY, value TEXT NOT NULL",
    "me": "id INTEGER PRIMARY KEY, data BLOB NOT NULL",
    "guilds": (
        "id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER, is_available INTEGER NOT NULL DEFAULT 1,"
        " data BLOB NOT NULL"
    ),
    "channels": (
        "id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, parent_id INTEGER, type INTEGER, name TEXT,"
        " position INTEGER, data BLOB NOT NULL"
    ),
    "threads": (
        "id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, parent_id INTEGER, owner_id INTEGER, type INTEGER,"
        " name TEXT, data BLOB NOT NULL"
    ),
    "roles": "id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, name TEXT, position INTEGER, data BLOB NOT NULL",
    "user_records": (
        "id INTEGER PRIMARY KEY, username TEXT, global_name TEXT, is_bot INTEGER,"
        " ref_count INTEGER NOT NULL DEFAULT 0, in_cache INTEGER NOT NULL DEFAULT 1, gen INTEGER NOT NULL DEFAULT 0,"
        " data BLOB NOT NULL"
    ),
    # Older records of a user that something still shows (hikari keeps such a RefCell alive after
    # dropping the user from its user mapping; whoever held it keeps seeing that data).
    "user_snapshots": (
        "id INTEGER NOT NULL, gen INTEGER NOT NULL, ref_count INTEGER NOT NULL, data BLOB NOT NULL,"
        " PRIMARY KEY (id, gen)"
    ),
    "member_records": (
        "guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, user_gen INTEGER NOT NULL DEFAULT 0,"
        " gen INTEGER NOT NULL DEFAULT 0, nickname TEXT,"
        " joined_at TEXT,"
        " ref_count INTEGER NOT NULL DEFAULT 0, is_deleted INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL,"
        " PRIMARY KEY (guild_id, user_id)"
    ),
    # Older member records still shown by a voice state or message (see user_snapshots).
    "member_snapshots": (
        "guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, gen INTEGER NOT NULL, user_gen INTEGER NOT NULL,"
        " ref_count INTEGER NOT NULL, is_deleted INTEGER NOT NULL, data BLOB NOT NULL,"
        " PRIMARY KEY (guild_id, user_id, gen)"
    ),
    "emojis": (
        "id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, name TEXT, user_id INTEGER, user_gen INTEGER,"
        " data BLOB NOT NULL"
    ),
    "stickers": (
        "id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, name TEXT, user_id INTEGER, user_gen INTEGER,"
        " data BLOB NOT NULL"
    ),
    "presences": (
        "guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, status TEXT, data BLOB NOT NULL,"
        " PRIMARY KEY (guild_id, user_id)"
    ),
    "voice_states": (
        "guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, channel_id INTEGER, has_member INTEGER NOT NULL,"
        " member_gen INTEGER,"
        " data BLOB NOT NULL, PRIMARY KEY (guild_id, user_id)"
    ),
    "messages": (
        "id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL, guild_id INTEGER, author_id INTEGER NOT NULL,"
        " author_gen INTEGER NOT NULL DEFAULT 0, member_gen INTEGER,"
        " is_reference INTEGER NOT NULL DEFAULT 0, ref_count INTEGER NOT NULL DEFAULT 0,"
        " has_member INTEGER NOT NULL DEFAULT 0, referenced_id INTEGER, mentions_known INTEGER NOT NULL DEFAULT 0,"
        " data BLOB NOT NULL"
    ),
    "message_mentions": (
        "message_id INTEGER NOT NULL, user_id INTEGER NOT NULL, user_gen INTEGER NOT NULL,"
        " PRIMARY KEY (message_id, user_id)"
    ),
    "invites": (
        "code TEXT PRIMARY KEY, guild_id INTEGER, channel_id INTEGER, inviter_id INTEGER, inviter_gen INTEGER,"
        " target_user_id INTEGER, target_user_gen INTEGER,"
        " data BLOB NOT NULL"
    ),
    "dm_channels": "user_id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL",
}

_INDEXES_V1: typing.Final[tuple[tuple[str, str, str], ...]] = (
    ("ix_channels_guild", "channels", "guild_id"),
    ("ix_channels_parent", "channels", "parent_id"),
    ("ix_threads_guild", "threads", "guild_id"),
    ("ix_threads_parent", "threads", "parent_id"),
    ("ix_roles_guild", "roles", "guild_id"),
    ("ix_members_user", "member_records", "user_id"),
    ("ix_emojis_guild", "emojis", "guild_id"),
    ("ix_stickers_guild", "stickers", "guild_id"),
    ("ix_presences_user", "presences", "user_id"),
    ("ix_voice_states_channel", "voice_states", "channel_id"),
    ("ix_messages_channel", "messages", "channel_id, id"),
    ("ix_messages_guild", "messages", "guild_id"),
    ("ix_messages_author", "messages", "author_id"),
    ("ix_messages_referenced", "messages", "referenced_id"),
    ("ix_invites_guild", "invites", "guild_id"),
    ("ix_invites_channel", "invites", "channel_id"),
    ("ix_users_username", "user_records", "username"),
    ("ix_message_mentions_user", "message_mentions", "user_id"),
    ("ix_member_snapshots_user", "member_snapshots", "user_id"),
    ("ix_emojis_user", "emojis", "user_id"),
    ("ix_stickers_user", "stickers", "user_id"),
    ("ix_invites_inviter", "invites", "inviter_id"),
    ("ix_invites_target", "invites", "target_user_id"),
    ("ix_guilds_name", "guilds", "name"),
    ("ix_channels_name", "channels", "name"),
)

_TABLES_V2: typing.Final[dict[str, str]] = {
    **_TABLES_V1,
    "invites": (
        "code TEXT PRIMARY KEY, guild_id INTEGER, channel_id INTEGER, inviter_id INTEGER, inviter_gen INTEGER,"
        " target_user_id INTEGER, target_user_gen INTEGER,"
        " expires_at TEXT, data BLOB NOT NULL"
    ),
    "messages": (
        "id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL, guild_id INTEGER, author_id INTEGER NOT NULL,"
        " author_gen INTEGER NOT NULL DEFAULT 0, member_gen INTEGER,"
        " created_at TEXT, is_reference INTEGER NOT NULL DEFAULT 0, ref_count INTEGER NOT NULL DEFAULT 0,"
        " has_member INTEGER NOT NULL DEFAULT 0, referenced_id INTEGER, mentions_known INTEGER NOT NULL DEFAULT 0,"
        " data BLOB NOT NULL"
    ),
}

_TABLES_V3: typing.Final[dict[str, str]] = {
    **_TABLES_V2,
    # Guilds listed by their shard's first READY since the bot started whose first GUILD_CREATE has
    # not been applied yet: that GUILD_CREATE replaces everything stored for the guild, even the kinds
    # it sends empty (the store outlived the session; see `Engine._on_session`). A table rather than
    # memory, because a READY and its GUILD_CREATEs may land in different batches.
    "fresh_guilds": "guild_id INTEGER PRIMARY KEY",
}

TABLES: typing.Final[dict[str, str]] = {
    **_TABLES_V3,
    # `seen_at`: when the bot received the user's data (ns since the epoch). Shard processes sharing
    # a store commit in any order; the newest data wins, not the last commit.
    "user_records": (
        "id INTEGER PRIMARY KEY, username TEXT, global_name TEXT, is_bot INTEGER,"
        " ref_count INTEGER NOT NULL DEFAULT 0, in_cache INTEGER NOT NULL DEFAULT 1, gen INTEGER NOT NULL DEFAULT 0,"
        " data BLOB NOT NULL, seen_at INTEGER"
    ),
}
"""Table name -> column definitions of the current schema."""

INDEXES: typing.Final[tuple[tuple[str, str, str], ...]] = (
    *_INDEXES_V1,
    ("ix_messages_created", "messages", "created_at"),
    ("ix_guilds_owner", "guilds", "owner_id"),
    ("ix_threads_owner", "threads", "owner_id"),
    ("ix_voice_states_user", "voice_states", "user_id"),
)
"""(index name, table, columns) of the current schema."""

PARTIAL_INDEXES: typing.Final[tuple[tuple[str, str, str, str], ...]] = (
    # Counting or listing a guild's members skips the records kept only for messages/voice states.
    ("ix_members_live", "member_records", "guild_id, user_id", "is_deleted = 0"),
)
"""(index name, table, columns, condition) of the current schema's partial indexes."""


def iso_time(value: datetime.datetime) -> str:
    """The text form of times in named columns: UTC ISO 8601 with milliseconds, sortable as text."""
    if value.tzinfo is not datetime.timezone.utc:  # (hikari's times are; `astimezone` costs a call)
        value = value.astimezone(datetime.timezone.utc)
    # "YYYY-MM-DDTHH:MM:SS.mmm+00:00" from C, half the cost of strftime.
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


class Migration(typing.NamedTuple):
    """Statements taking a database from ``version - 1`` to ``version``."""

    version: int
    statements: tuple[str, ...]
    postgresql: tuple[str, ...] | None = None
    """The statements for PostgreSQL when SQLite's do not translate (``None``: translate them).

    PostgreSQL stores start at schema 2, so the migrations up to 2 never run there."""


# Times in named columns are UTC ISO 8601 with milliseconds ("2025-01-31T12:00:00.000Z"), so
# they sort and compare as text; `iso_time` in the engine writes the same format.
_SQL_ISO = "strftime('%Y-%m-%dT%H:%M:%fZ', {seconds}, 'unixepoch')"

MIGRATIONS: typing.Final[tuple[Migration, ...]] = (
    Migration(
        2,
        (
            "ALTER TABLE invites ADD COLUMN expires_at TEXT",
            "ALTER TABLE messages ADD COLUMN created_at TEXT",
            # A message's id carries its creation time (ms since 2015-01-01).
            "UPDATE messages SET created_at = " + _SQL_ISO.format(seconds="((id >> 22) + 1420070400000) / 1000.0"),
            # hikari derives an invite's expiry from its creation time and maximum age.
            "UPDATE invites SET expires_at = "
            + _SQL_ISO.format(
                seconds="(json_extract(data, '$.created_at.dt') + json_extract(data, '$.max_age.td')) / 1000000.0"
            )
            + " WHERE json_extract(data, '$.max_age.td') > 0",
            "CREATE INDEX IF NOT EXISTS ix_messages_created ON messages (created_at)",
        ),
    ),
    # Stores migrated from 2 have no marks: the next READY of each shard sets them.
    Migration(
        3,
        ("CREATE TABLE IF NOT EXISTS fresh_guilds (guild_id INTEGER PRIMARY KEY)",),
        postgresql=("CREATE TABLE IF NOT EXISTS fresh_guilds (guild_id BIGINT PRIMARY KEY)",),
    ),
    # Users stored before have no receive time: the next data received replaces theirs.
    Migration(4, ("ALTER TABLE user_records ADD COLUMN seen_at BIGINT",)),
)
"""Ordered migrations; each runs inside the transaction that records its version."""


VIEWS: typing.Final[dict[str, str]] = {
    # What SQL users mean by "members" and "users": hikari's per-guild member views and its user
    # mapping. The tables also keep records hikari keeps only because a message, voice state...
    # still shows them.
    "members": ("SELECT guild_id, user_id, nickname, joined_at, data FROM member_records WHERE is_deleted = 0"),
    "users": "SELECT id, username, global_name, is_bot, data FROM user_records WHERE in_cache = 1",
}
"""Read-only views for people querying the database directly."""


def create_statements(version: int = SCHEMA_VERSION) -> list[str]:
    """Return the DDL creating a fresh database at ``version`` (1 up to the current one)."""
    tables = {1: _TABLES_V1, 2: _TABLES_V2, 3: _TABLES_V3}.get(version, TABLES)
    indexes = _INDEXES_V1 if version == 1 else INDEXES
    statements = [f"CREATE TABLE IF NOT EXISTS {name} ({cols})" for name, cols in tables.items()]
    statements += [f"CREATE INDEX IF NOT EXISTS {ix} ON {table} ({cols})" for ix, table, cols in indexes]
    if version != 1:
        statements += [
            f"CREATE INDEX IF NOT EXISTS {ix} ON {table} ({cols}) WHERE {cond}"
            for ix, table, cols, cond in PARTIAL_INDEXES
        ]
    statements += [f"CREATE VIEW IF NOT EXISTS {name} AS {query}" for name, query in VIEWS.items()]
    return statements
