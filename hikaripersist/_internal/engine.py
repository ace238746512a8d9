"""Applies hikari gateway events to the relational store with hikari's own cache semantics.

This is a port of ``hikari.impl.cache.CacheImpl`` (hikari 2.6) onto SQL rows: the same
operations in the same order for every event the event manager feeds its cache with
(``hikari.impl.event_manager``), including hikari's reference counting of users and members,
"referenced" messages and guild fields that GUILD_UPDATE must not overwrite. Keeping the port
literal is what makes the store answer exactly like ``bot.cache`` after the same stream.

The engine is synchronous: the writer runs it in the database thread, inside one transaction per
batch and one savepoint per event, so it never blocks the event loop and one bad event cannot
drop the others of its batch.

When asked to, it also reports what each event changed (see [`Tracking`][] and [`Change`][]):
temporary triggers note the state of every row before an event first touches it, and comparing
that with the state after the event gives the net inserts, updates and removes as the cache's
queries see them.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "TRACKED",
    "TRACKED_KINDS",
    "Change",
    "Engine",
    "SQLConnection",
    "StoreCodec",
    "Tracking",
    "track_changes",
)

import copy
import datetime
import functools
import logging
import time
import typing

import hikari

from hikaripersist._internal import codec as codec_
from hikaripersist._internal import ops, portable, schema
from hikaripersist._internal import reader as reader_
from hikaripersist._internal.kinds import SINGULAR

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence

    from hikaripersist.backend import Backend
    from hikaripersist.rules import KindRule, Rule, RuleKind

_T = typing.TypeVar("_T")

_LOGGER = logging.getLogger("hikaripersist.engine")

_Params = typing.Sequence[typing.Any]


class SQLConnection(typing.Protocol):
    """The subset of a DB-API connection the engine uses (``?`` placeholders)."""

    def execute(self, sql: str, parameters: _Params | Mapping[str, typing.Any] = ..., /) -> typing.Any: ...

    def executemany(
        self, sql: str, parameters: Iterable[_Params] | Iterable[Mapping[str, typing.Any]], /
    ) -> typing.Any: ...


# From this many users set at once, the dropped ones are looked up first (see `Engine._set_users`).
_FEW_USERS: typing.Final[int] = 8
# Entities encoded between two moments the writer thread lets go of the GIL (see StoreCodec).
_PACE: typing.Final[int] = 32


class StoreCodec:
    """Encodes entities to the ``data`` column, leaving out fields stored by reference."""

    __slots__: typing.Sequence[str] = ("_encoded",)

    def __init__(self) -> None:
        self._encoded = 0

    def dumps(self, obj: object, strip: Sequence[str] = ()) -> bytes:
        self._encoded += 1
        if self._encoded % _PACE == 0:
            # A big guild's members are encoded thousands in a row on the writer thread. CPython
            # makes a thread waiting for the GIL (the event loop's) wait up to 5 ms; letting go of
            # it now and then keeps those waits short.
            time.sleep(0)
        return codec_.dumps(obj, exclude=strip)

    @staticmethod
    def loads(raw: bytes | str, app: hikari.RESTAware | None) -> typing.Any:
        return codec_.loads(raw, app)


def _received_embed(embed: hikari.Embed) -> hikari.Embed:
    # hikari's cache rebuilds received embeds (turning an absent field list into an empty one);
    # storing them the same way keeps what we return equal to what bot.cache returns.
    return hikari.Embed.from_received_embed(
        title=embed.title,
        description=embed.description,
        url=embed.url,
        color=embed.color,
        timestamp=embed.timestamp,
        image=embed.image,
        thumbnail=embed.thumbnail,
        video=embed.video,
        author=embed.author,
        provider=embed.provider,
        footer=embed.footer,
        fields=list(embed.fields),
    )


_MessageT = typing.TypeVar("_MessageT", bound=hikari.PartialMessage)


def _member_user_id(member: hikari.Member) -> int:
    return int(member.user.id)


def _first_two(row: tuple[typing.Any, ...]) -> tuple[typing.Any, typing.Any]:
    return row[0], row[1]


def _with_received_embeds(message: _MessageT) -> _MessageT:
    embeds = message.embeds
    if embeds is hikari.UNDEFINED or not embeds:
        return message
    message = copy.copy(message)
    object.__setattr__(message, "embeds", [_received_embed(e) for e in embeds])
    return message


def _iso(value: datetime.datetime | None) -> str | None:
    return schema.iso_time(value) if value is not None else None


# Users follow hikari's RefCell records. A user dropped from hikari's user mapping (`in_cache = 0`)
# may still be shown by members, messages... that hold its record; setting the user again starts a
# new record (`gen + 1`) while the old one lives on in `user_snapshots` for whoever still holds it.
_SNAPSHOT_DROPPED_USER = (
    "INSERT OR REPLACE INTO user_snapshots (id, gen, ref_count, data)"
    " SELECT id, gen, ref_count, data FROM user_records WHERE id = ? AND in_cache = 0"
)
# A user's data is replaced unless the stored data was received later (another shard process
# committed newer data first); a dropped record (`in_cache = 0`) always starts anew. Columns read
# by a later assignment come last: MySQL assigns left to right, seeing the new values.
_NEWER_USER = (
    "(user_records.in_cache = 0 OR excluded.seen_at IS NULL OR user_records.seen_at IS NULL"
    " OR excluded.seen_at >= user_records.seen_at)"
)
_UPSERT_USER = (
    "INSERT INTO user_records (id, username, global_name, is_bot, ref_count, in_cache, gen, data, seen_at)"
    " VALUES (?, ?, ?, ?, 0, 1, 0, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET"
    + ",".join(
        f" {column} = CASE WHEN {_NEWER_USER} THEN excluded.{column} ELSE user_records.{column} END"
        for column in ("username", "global_name", "is_bot", "data")
    )
    + ", ref_count = CASE WHEN user_records.in_cache <> 0 THEN user_records.ref_count ELSE 0 END,"
    " gen = CASE WHEN user_records.in_cache <> 0 THEN user_records.gen ELSE user_records.gen + 1 END,"
    f" seen_at = CASE WHEN {_NEWER_USER} THEN excluded.seen_at ELSE user_records.seen_at END,"
    " in_cache = 1"
)
_CURRENT_GEN = "(SELECT gen FROM user_records WHERE id = ?)"
# Members follow hikari's RefCell records the same way (a voice state or message holds one).
_NEXT_MEMBER_GEN = "(SELECT COALESCE(MAX(gen) + 1, 0) FROM member_snapshots WHERE guild_id = ? AND user_id = ?)"
_CURRENT_MEMBER_GEN = "(SELECT gen FROM member_records WHERE guild_id = ? AND user_id = ?)"
_MEMBER_RECORD_HELD = (
    "EXISTS (SELECT 1 FROM voice_states v WHERE v.guild_id = {g} AND v.user_id = {u} AND v.has_member <> 0"
    " AND v.member_gen = {gen})"
    " OR EXISTS (SELECT 1 FROM messages ms WHERE ms.author_id = {u} AND ms.guild_id = {g} AND ms.has_member <> 0"
    " AND ms.member_gen = {gen})"
)
_MEMBER_HELD_BY_ROW = _MEMBER_RECORD_HELD.format(g="m.guild_id", u="m.user_id", gen="m.gen")
# Move a current member record that something still shows aside before it leaves the mapping.
_SNAPSHOT_MEMBERS = (
    "INSERT OR REPLACE INTO member_snapshots (guild_id, user_id, gen, user_gen, ref_count, is_deleted, data)"
    " SELECT m.guild_id, m.user_id, m.gen, m.user_gen, m.ref_count, m.is_deleted, m.data FROM member_records m"
    " WHERE {where} AND (" + _MEMBER_HELD_BY_ROW + ")"
)
_PURGE_MEMBER_SNAPSHOTS = (
    "DELETE FROM member_snapshots WHERE guild_id = ? AND user_id = ? AND NOT ("
    + _MEMBER_RECORD_HELD.format(
        g="member_snapshots.guild_id", u="member_snapshots.user_id", gen="member_snapshots.gen"
    )
    + ")"
)
# messages.mentions_known: unknown (UNDEFINED), shared user records in message_mentions, or
# detached copies stored inside the message's data.
_MENTIONS_UNDEFINED: typing.Final[int] = 0
_MENTIONS_SHARED: typing.Final[int] = 1
_MENTIONS_DETACHED: typing.Final[int] = 2
# messages.is_reference: 0 in hikari's message mapping, 1 kept as a referenced message, 2 collected
# by hikari but still shown by a reply that holds it (invisible to the cache's views).
_MESSAGE_COLLECTED: typing.Final[int] = 2
# "No limit" for a bound LIMIT (SQLite takes -1, PostgreSQL only non-negative numbers).
_NO_LIMIT: typing.Final[int] = 2**62
# Whether anything still shows record `gen` of user `id`.
_USER_RECORD_HELD = (
    "EXISTS (SELECT 1 FROM member_records WHERE user_id = :id AND user_gen = :gen)"
    " OR EXISTS (SELECT 1 FROM messages WHERE author_id = :id AND author_gen = :gen)"
    " OR EXISTS (SELECT 1 FROM message_mentions WHERE user_id = :id AND user_gen = :gen)"
    " OR EXISTS (SELECT 1 FROM emojis WHERE user_id = :id AND user_gen = :gen)"
    " OR EXISTS (SELECT 1 FROM stickers WHERE user_id = :id AND user_gen = :gen)"
    " OR EXISTS (SELECT 1 FROM invites WHERE inviter_id = :id AND inviter_gen = :gen)"
    " OR EXISTS (SELECT 1 FROM invites WHERE target_user_id = :id AND target_user_gen = :gen)"
    " OR EXISTS (SELECT 1 FROM member_snapshots WHERE user_id = :id AND user_gen = :gen)"
)
_PURGE_SNAPSHOTS = (
    "DELETE FROM user_snapshots WHERE id = :id AND NOT ("
    + _USER_RECORD_HELD.replace(":gen", "user_snapshots.gen")
    + ")"
)
_PURGE_USER = (
    "DELETE FROM user_records WHERE id = :id AND in_cache = 0"
    " AND NOT EXISTS (SELECT 1 FROM user_snapshots WHERE id = :id) AND NOT ("
    + _USER_RECORD_HELD.replace(":gen", "user_records.gen")
    + ")"
)
_UPSERT_MEMBER = (
    "INSERT INTO member_records (guild_id, user_id, user_gen, gen, nickname, joined_at, ref_count, is_deleted, data)"
    f" VALUES (?, ?, {_CURRENT_GEN}, {_NEXT_MEMBER_GEN}, ?, ?, 0, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
    " user_gen = excluded.user_gen, nickname = excluded.nickname, joined_at = excluded.joined_at,"
    " data = excluded.data"
)


# --- change tracking ----------------------------------------------------------------------------


class _Tracked(typing.NamedTuple):
    """How one kind is stored: its table, key, what makes a row visible to queries, and context."""

    table: str
    keys: tuple[str, ...]
    # SQL over a row alias ({r}) telling whether the cache's queries show the row.
    visible: str
    # Columns whose update can change what is shown (other updates, e.g. ref counts, are ignored).
    watched: str
    guild: str | None
    channel: str | None


_TRACKED: typing.Final[dict[str, _Tracked]] = {
    "guilds": _Tracked("guilds", ("id",), "1", "data", "id", None),
    "channels": _Tracked("channels", ("id",), "1", "data", "guild_id", None),
    "threads": _Tracked("threads", ("id",), "1", "data", "guild_id", None),
    "roles": _Tracked("roles", ("id",), "1", "data", "guild_id", None),
    "members": _Tracked(
        "member_records", ("guild_id", "user_id"), "{r}.is_deleted = 0", "is_deleted, data", "guild_id", None
    ),
    "users": _Tracked("user_records", ("id",), "{r}.in_cache = 1", "in_cache, data", None, None),
    "emojis": _Tracked("emojis", ("id",), "1", "data", "guild_id", None),
    "stickers": _Tracked("stickers", ("id",), "1", "data", "guild_id", None),
    "presences": _Tracked("presences", ("guild_id", "user_id"), "1", "data", "guild_id", None),
    "voice_states": _Tracked("voice_states", ("guild_id", "user_id"), "1", "data", "guild_id", "channel_id"),
    "messages": _Tracked("messages", ("id",), "{r}.is_reference < 2", "is_reference, data", "guild_id", "channel_id"),
    "invites": _Tracked("invites", ("code",), "1", "data", "guild_id", "channel_id"),
}  # fmt: skip

TRACKED: typing.Final[Mapping[str, _Tracked]] = _TRACKED
"""How each tracked kind is stored (for backends that build their own change tracking)."""

TRACKED_KINDS: typing.Final[frozenset[str]] = frozenset(_TRACKED)
"""The kinds whose changes can be tracked, named like the cache's query properties."""

_TOUCHED_TABLE: typing.Final[str] = (
    "CREATE TEMP TABLE IF NOT EXISTS persist_touched (kind TEXT NOT NULL, k1 NOT NULL, k2 NOT NULL,"
    " visible INTEGER NOT NULL, data BLOB, guild_id INTEGER, channel_id INTEGER, PRIMARY KEY (kind, k1, k2))"
)


def _trigger_statements(kind: str) -> list[str]:
    """Temporary triggers noting a row's state before an event first touches it."""
    spec = _TRACKED[kind]
    a = spec.keys[0]
    b = spec.keys[1] if len(spec.keys) > 1 else None

    def image(row: str, *, joined: bool) -> str:
        # (visible, data, guild, channel) of `row`; a LEFT JOINed row may be missing (NULL key).
        visible = spec.visible.format(r=row)
        if joined:
            visible = f"CASE WHEN {row}.{a} IS NULL THEN 0 ELSE ({visible}) END"
        guild = f"{row}.{spec.guild}" if spec.guild else "NULL"
        channel = f"{row}.{spec.channel}" if spec.channel else "NULL"
        return f"{visible}, {row}.data, {guild}, {channel}"

    def first_touch(new_or_old: str) -> str:
        k2 = f"+{new_or_old}.{b}" if b else "0"
        # A guard instead of OR IGNORE: the conflict clause of the outer statement (an upsert or
        # INSERT OR REPLACE) would override the trigger's own. The unary + drops the column's
        # affinity, which would otherwise keep SQLite from using the index (a scan per row).
        return (
            f"WHERE NOT EXISTS (SELECT 1 FROM persist_touched x WHERE x.kind = '{kind}'"
            f" AND x.k1 = +{new_or_old}.{a} AND x.k2 = {k2})"
        )

    columns = "INSERT INTO persist_touched (kind, k1, k2, visible, data, guild_id, channel_id)"
    join = f"r.{a} = NEW.{a}" + (f" AND r.{b} = NEW.{b}" if b else "")
    on_insert = (
        f"{columns} SELECT '{kind}', NEW.{a}, {f'NEW.{b}' if b else '0'}, {image('r', joined=True)}"
        f" FROM (SELECT 1) LEFT JOIN main.{spec.table} r ON {join} {first_touch('NEW')};"
    )
    on_old = (
        f"{columns} SELECT '{kind}', OLD.{a}, {f'OLD.{b}' if b else '0'}, {image('OLD', joined=False)}"
        f" {first_touch('OLD')};"
    )
    name = f"persist_track_{kind}"
    return [
        f"CREATE TEMP TRIGGER IF NOT EXISTS {name}_insert BEFORE INSERT ON main.{spec.table} BEGIN {on_insert} END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {name}_update BEFORE UPDATE OF {spec.watched} ON main.{spec.table}"
        f" BEGIN {on_old} END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {name}_delete BEFORE DELETE ON main.{spec.table} BEGIN {on_old} END",
    ]


def track_changes(db: SQLConnection, kinds: frozenset[str], installed: frozenset[str]) -> frozenset[str]:
    """Install the triggers of ``kinds`` (and drop the others of ``installed``) outside a transaction.

    Returns what is installed now. Without tracked kinds no trigger exists, so writes cost nothing
    extra.
    """
    if kinds == installed:
        return installed
    if kinds:
        db.execute(_TOUCHED_TABLE)
    for kind in sorted(installed - kinds):
        for suffix in ("insert", "update", "delete"):
            db.execute(f"DROP TRIGGER IF EXISTS temp.persist_track_{kind}_{suffix}")
    for kind in sorted(kinds - installed):
        for statement in _trigger_statements(kind):
            db.execute(statement)
    return kinds


@functools.cache
def _after_state_query(kinds: frozenset[str]) -> str:
    """Each touched row of the event with its state now, in the order rows were first touched."""
    parts: list[str] = []
    for kind in sorted(kinds):
        spec = _TRACKED[kind]
        a = spec.keys[0]
        join = f"r.{a} = t.k1" + (f" AND r.{spec.keys[1]} = t.k2" if len(spec.keys) > 1 else "")
        parts.append(
            "SELECT t.rowid, t.kind, t.k1, t.k2, t.visible, t.guild_id, t.channel_id,"
            f" CASE WHEN r.{a} IS NULL THEN 0 ELSE ({spec.visible.format(r='r')}) END, t.data IS NOT r.data"
            f" FROM persist_touched t LEFT JOIN main.{spec.table} r ON {join} WHERE t.kind = '{kind}'"
        )
    return " UNION ALL ".join(parts) + " ORDER BY 1"


class Tracking(typing.NamedTuple):
    """What a batch reports about its changes."""

    installed: frozenset[str]
    """Kinds whose triggers are installed on the connection (see [`track_changes`][])."""
    wanted: Mapping[str, frozenset[str]]
    """Kind -> the actions (``insert``, ``update``, ``remove``, ``bulk``) to report."""
    app: hikari.RESTAware | None
    """The app entities rebuilt for inserts and updates are bound to."""


class Change(typing.NamedTuple):
    """One net change of an event, as the cache's queries see it."""

    kind: str
    """The kind, named like the cache's query properties (``"members"``)."""
    action: str
    """``"insert"``, ``"update"``, ``"remove"`` or ``"bulk"``."""
    key: tuple[typing.Any, ...]
    """The entity's key: ``(id,)``, ``(guild_id, user_id)`` or ``(code,)``."""
    entity: typing.Any = None
    """For inserts and updates: the entity as stored right after the event."""
    guild_id: int | None = None
    """For removes: the guild the entity belonged to, if any; for bulk changes: the guild."""
    channel_id: int | None = None
    """For removes of messages, voice states and invites: their channel."""
    ids: tuple[int, ...] = ()
    """For bulk changes: the ids stored."""


# Events that store a kind in bulk: their inserts and updates of it are reported as one change.
_BULK: typing.Final[dict[type[hikari.Event], frozenset[str]]] = {
    hikari.GuildAvailableEvent: frozenset(("channels", "roles", "members")),
    hikari.GuildJoinEvent: frozenset(("channels", "roles", "members")),
    hikari.GuildUpdateEvent: frozenset(("roles",)),
    hikari.MemberChunkEvent: frozenset(("members",)),
}


class _SyncRows:
    """Row access on the writer's own connection, so the reader sees this transaction's writes."""

    __slots__: typing.Sequence[str] = ("_db",)

    def __init__(self, db: SQLConnection) -> None:
        self._db = db

    async def fetch_one(self, sql: str, params: Sequence[typing.Any] = ()) -> tuple[typing.Any, ...] | None:
        row = self._db.execute(sql, tuple(params)).fetchone()
        return tuple(row) if row is not None else None

    async def fetch(
        self, sql: str, params: Sequence[typing.Any] = (), *, chunk: int = 500
    ) -> AsyncIterator[list[tuple[typing.Any, ...]]]:
        rows = self._db.execute(sql, tuple(params)).fetchall()
        if rows:
            yield [tuple(r) for r in rows]


def _complete(awaitable: Coroutine[typing.Any, typing.Any, _T]) -> _T:
    """Run a reader coroutine to its end: over `_SyncRows` it never suspends."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return typing.cast("_T", done.value)
    awaitable.close()
    msg = "reading the store suspended in the writer thread"
    raise RuntimeError(msg)


def _restricts(rule: KindRule[typing.Any]) -> bool:
    """Whether a kind rule can refuse anything (disabled, a predicate or an id list)."""
    return (
        not rule.enabled
        or rule.predicate is not None
        or any(rule.allowlist(d) or rule.denylist(d) for d in rule.dimensions)
    )


# What prune walks, in an order where holders go after what they hold is judged.
_PRUNE_ORDER: typing.Final[tuple[str, ...]] = (
    "guilds", "channels", "threads", "roles", "emojis", "stickers", "invites", "presences", "voice_states",
    "members", "messages",
)  # fmt: skip
# Rows prune walks per kind: the ones the cache's queries show as the kind's own entities.
_PRUNE_WHERE: typing.Final[dict[str, str]] = {"members": "is_deleted = 0", "messages": "is_reference = 0"}
_USER_BEARING: typing.Final[frozenset[str]] = frozenset(("members", "presences", "voice_states", "messages"))
_GUILD_SCOPED_TABLES: typing.Final[tuple[str, ...]] = (
    "channels", "threads", "roles", "member_records", "emojis", "stickers", "presences", "voice_states", "invites",
)  # fmt: skip


class Engine:
    """Applies one hikari event at a time to an open transaction.

    Parameters
    ----------
    db
        Connection inside a transaction.
    rule
        Decides which entities are stored; ``None`` stores everything.
    tracking
        When given, [`take_changes`][] reports what each event changed.
    """

    __slots__: typing.Sequence[str] = (
        "_codec",
        "_db",
        "_handlers",
        "_max_age",
        "_max_per_channel",
        "_reader",
        "_received",
        "_released",
        "_released_members",
        "_released_messages",
        "_rule",
        "_touched",
        "_tracking",
        "_users_filtered",
    )

    def __init__(self, db: SQLConnection, *, rule: Rule | None = None, tracking: Tracking | None = None) -> None:
        self._db = db
        self._codec = StoreCodec()
        self._rule = rule
        self._tracking = tracking if tracking is not None and tracking.installed else None
        self._reader: reader_.Reader | None = None
        self._received: int | None = None
        self._touched = 0
        self._max_per_channel = rule.message.max_per_channel if rule is not None else None
        self._max_age = rule.message.max_age if rule is not None else None
        # Checking users costs a rule call per user stored: only when the user rule can refuse one.
        self._users_filtered = rule is not None and _restricts(rule.user)
        # Users whose records were released during the current event; unheld records are purged
        # once the whole event is applied (hikari's records live while anything references them).
        self._released: set[int] = set()
        self._released_members: set[tuple[int, int]] = set()
        self._released_messages: set[int] = set()
        self._handlers: dict[type[hikari.Event], Callable[[typing.Any], None]] = {
            hikari.ShardReadyEvent: self._on_ready,
            hikari.OwnUserUpdateEvent: self._on_own_user_update,
            hikari.GuildAvailableEvent: self._on_guild_create,
            hikari.GuildJoinEvent: self._on_guild_create,
            hikari.GuildUpdateEvent: self._on_guild_update,
            hikari.GuildLeaveEvent: self._on_guild_leave,
            hikari.GuildUnavailableEvent: self._on_guild_unavailable,
            hikari.GuildChannelCreateEvent: self._on_channel_set,
            hikari.GuildChannelUpdateEvent: self._on_channel_set,
            hikari.GuildChannelDeleteEvent: self._on_channel_delete,
            hikari.GuildThreadCreateEvent: self._on_thread_set,
            hikari.GuildThreadAccessEvent: self._on_thread_set,
            hikari.GuildThreadUpdateEvent: self._on_thread_set,
            hikari.GuildThreadDeleteEvent: self._on_thread_delete,
            hikari.ThreadListSyncEvent: self._on_thread_list_sync,
            hikari.ThreadMembersUpdateEvent: self._on_thread_members_update,
            hikari.EmojisUpdateEvent: self._on_emojis_update,
            hikari.StickersUpdateEvent: self._on_stickers_update,
            hikari.MemberCreateEvent: self._on_member_set,
            hikari.MemberUpdateEvent: self._on_member_set,
            hikari.MemberDeleteEvent: self._on_member_delete,
            hikari.MemberChunkEvent: self._on_member_chunk,
            hikari.RoleCreateEvent: self._on_role_set,
            hikari.RoleUpdateEvent: self._on_role_set,
            hikari.RoleDeleteEvent: self._on_role_delete,
            hikari.InviteCreateEvent: self._on_invite_create,
            hikari.InviteDeleteEvent: self._on_invite_delete,
            hikari.GuildMessageCreateEvent: self._on_message_create,
            hikari.DMMessageCreateEvent: self._on_message_create,
            hikari.GuildMessageUpdateEvent: self._on_message_update,
            hikari.DMMessageUpdateEvent: self._on_message_update,
            hikari.GuildMessageDeleteEvent: self._on_message_delete,
            hikari.DMMessageDeleteEvent: self._on_message_delete,
            hikari.GuildBulkMessageDeleteEvent: self._on_message_bulk_delete,
            hikari.PresenceUpdateEvent: self._on_presence_update,
            hikari.VoiceStateUpdateEvent: self._on_voice_state_update,
            ops.StoreOp: self._on_store,
            ops.ClearOp: self._on_clear,
            ops.RetainOp: self._on_retain,
            ops.SessionOp: self._on_session,
            ops.PruneOp: self._on_prune,
            ops.ImportOp: self._on_import,
        }

    @staticmethod
    def handled_event_types() -> tuple[type[hikari.Event], ...]:
        """The hikari event types that change the cache."""
        return _HANDLED

    def apply(self, event: hikari.Event, *, received: int | None = None) -> bool:
        """Apply ``event``; return whether it is one that changes the cache.

        ``received`` is when the bot received the event (``time.time_ns()``): a user's data is
        only replaced by data received later, so processes sharing a store keep the newest.
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            return False
        self._received = received
        handler(event)
        self._settle()
        return True

    def _settle(self) -> None:
        """Purge what the last operation released and nothing holds any more."""
        if self._released_messages:
            # Collected messages kept for the replies that showed them: gone with the last reply.
            released_messages, self._released_messages = self._released_messages, set()
            self._purge_messages(released_messages)
        if self._released_members:
            # Member records hold user records: purge them first.
            released_members, self._released_members = self._released_members, set()
            self._db.executemany(_PURGE_MEMBER_SNAPSHOTS, list(released_members))
        if self._released:
            released, self._released = self._released, set()
            self._purge_users(released)

    def _allowed(self, kind: RuleKind, obj: object) -> bool:
        return self._rule is None or self._rule.allows(kind, obj)

    # --- the user rule (users are stored as parts of what shows them) ---------------------------

    def _user_ok(self, user: hikari.User) -> bool:
        return not self._users_filtered or self._allowed("user", user)

    def _user_id_ok(self, user_id: int) -> bool:
        # Without a user object (presences, voice states without a member) only the id lists apply.
        rule = self._rule
        return rule is None or not self._users_filtered or (rule.user.enabled and rule.user.allows_ids(user=user_id))

    def _user_allows(self, kind: str, entity: typing.Any) -> bool:
        """Whether the user an entity is about passes the user rule (members, presences, ...)."""
        if not self._users_filtered:
            return True
        if kind == "members":
            return self._user_ok(entity.user)
        if kind == "messages":
            return self._user_ok(entity.author)
        if kind == "voice_states" and entity.member is not None:
            return self._user_ok(entity.member.user)
        if kind in ("presences", "voice_states"):
            return self._user_id_ok(int(entity.user_id))
        return True

    def _keeps(self, kind: str, entity: typing.Any) -> bool:
        return self._allowed(SINGULAR[kind], entity) and self._user_allows(kind, entity)

    def _allowed_users(self, users: Mapping[hikari.Snowflake, hikari.User]) -> dict[hikari.Snowflake, hikari.User]:
        return {i: u for i, u in users.items() if self._user_ok(u)}

    def _without_denied_mentions(self, message: _MessageT) -> _MessageT:
        """Drop mentioned users the user rule refuses (a copy; the message itself is kept)."""
        mentions = message.user_mentions
        if not self._users_filtered or mentions is hikari.UNDEFINED:
            return message
        allowed = self._allowed_users(mentions)
        if len(allowed) == len(mentions):
            return message
        message = copy.copy(message)
        object.__setattr__(message, "user_mentions", allowed)
        return message

    # --- change reports ------------------------------------------------------------------------

    def take_changes(self, event: hikari.Event | None) -> list[Change]:
        """Return the net changes since the last call (``event`` caused them; ``None``: the writer).

        Also records a [`ops.PruneOp`][]'s removals per kind.
        """
        tracking = self._tracking
        if tracking is None:
            return []
        rows = self._db.execute(_after_state_query(tracking.installed)).fetchall()
        self._touched = len(rows)
        if not rows:
            return []
        self._db.execute("DELETE FROM persist_touched")
        bulk_kinds: frozenset[str] = _BULK.get(type(event), frozenset()) if event is not None else frozenset()
        bulk: dict[str, list[int]] = {}
        removed: dict[str, int] = {}
        changes: list[Change] = []
        for _, kind, k1, k2, before, guild_id, channel_id, after, differs in rows:
            if kind != "invites":
                # A store may note keys as text (PostgreSQL's change log has one key column for all kinds).
                k1 = int(k1)
            key = (k1, k2) if len(_TRACKED[kind].keys) > 1 else (k1,)
            if before and not after:
                removed[kind] = removed.get(kind, 0) + 1
                if "remove" in tracking.wanted.get(kind, ()):
                    changes.append(Change(kind, "remove", key, guild_id=guild_id, channel_id=channel_id))
            elif after and kind in bulk_kinds:
                bulk.setdefault(kind, []).append(int(key[-1]))
            elif after and (not before or differs):
                action = "update" if before else "insert"
                if action in tracking.wanted.get(kind, ()):
                    entity = self._entity(kind, key)
                    if entity is not None:
                        changes.append(Change(kind, action, key, entity))
        for kind, ids in bulk.items():
            if "bulk" in tracking.wanted.get(kind, ()):
                guild_id = int(typing.cast("hikari.GuildEvent", event).guild_id)
                changes.append(Change(kind, "bulk", (guild_id,), guild_id=guild_id, ids=tuple(ids)))
        if isinstance(event, ops.PruneOp):
            event.removed = removed
        return changes

    def discard_changes(self) -> None:
        """Forget what a rolled-back event touched."""
        if self._tracking is not None:
            self._db.execute("DELETE FROM persist_touched")
        self._touched = 0

    @property
    def bookkeeping_rows(self) -> int:
        """Rows the tracking triggers wrote while the changes [`take_changes`][] last read were made."""
        return self._touched

    def _rows(self) -> reader_.Reader:
        if self._reader is None:
            app = self._tracking.app if self._tracking is not None else None
            self._reader = reader_.Reader(typing.cast("Backend", _SyncRows(self._db)), app)
        return self._reader

    def _entity(self, kind: str, key: tuple[typing.Any, ...]) -> typing.Any:
        """The entity ``key`` of ``kind`` as the cache's queries would build it now."""
        reader = self._rows()
        db = self._db
        if kind == "members":
            row = db.execute(reader_.MEMBER_SELECT + " WHERE m.guild_id = ? AND m.user_id = ?", key).fetchone()
            return reader.build_member(tuple(row)) if row is not None else None
        if kind == "users":
            row = db.execute("SELECT data FROM user_records WHERE id = ?", key).fetchone()
        elif kind in ("emojis", "stickers"):
            select = (
                reader_.EMOJI_SELECT + " WHERE e.id = ?"
                if kind == "emojis"
                else reader_.STICKER_SELECT + " WHERE st.id = ?"
            )
            row = db.execute(select, key).fetchone()
            return reader.build_owned(tuple(row)) if row is not None else None
        elif kind == "voice_states":
            row = db.execute(reader_.VOICE_SELECT + " WHERE v.guild_id = ? AND v.user_id = ?", key).fetchone()
            return _complete(reader.build_voice_state(tuple(row))) if row is not None else None
        elif kind == "messages":
            return _complete(reader.message(int(key[0])))
        elif kind == "invites":
            row = db.execute(reader_.INVITE_SELECT + " WHERE i.code = ?", key).fetchone()
            return reader.build_invite(tuple(row)) if row is not None else None
        else:
            spec = _TRACKED[kind]
            where = " AND ".join(f"{k} = ?" for k in spec.keys)
            row = db.execute(f"SELECT data FROM {spec.table} WHERE {where}", key).fetchone()
        return reader.build_plain(tuple(row)) if row is not None else None

    # --- users (hikari: _set_user / _garbage_collect_user) --------------------------------------

    def _user_row(self, user: hikari.User) -> tuple[typing.Any, ...]:
        return (
            int(user.id),
            user.username,
            user.global_name,
            int(user.is_bot),
            self._codec.dumps(user),
            self._received,
        )

    def _set_user(self, user: hikari.User) -> None:
        self._set_users((user,))

    def _set_users(self, users: Iterable[hikari.User]) -> None:
        rows = [self._user_row(u) for u in users]
        ids = [r[0] for r in rows]
        if len(ids) >= _FEW_USERS:
            # Only a dropped record (rare) is snapshotted: one query finds them among many users
            # instead of one statement per user.
            ids = self._dropped_users(ids)
        if ids:
            self._db.executemany(_SNAPSHOT_DROPPED_USER, [(i,) for i in ids])
        self._db.executemany(_UPSERT_USER, rows)

    def _dropped_users(self, user_ids: Sequence[int]) -> list[int]:
        """Those of ``user_ids`` whose stored record was dropped from the cache (``in_cache = 0``)."""
        return self._ids_among("SELECT id FROM user_records WHERE in_cache = 0 AND id IN ({})", (), user_ids)

    def _ids_among(self, sql: str, params: _Params, ids: Sequence[int]) -> list[int]:
        """The first column of ``sql``'s rows, its ``IN ({})`` list given ``ids`` 500 at a time after ``params``."""
        found: list[int] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._db.execute(sql.format(", ".join("?" * len(chunk))), (*params, *chunk)).fetchall()
            found.extend(r[0] for r in rows)
        return found

    def _incref_users(self, user_ids: Iterable[int], delta: int = 1) -> None:
        """Count references to the current records of ``user_ids``."""
        self._db.executemany(
            "UPDATE user_records SET ref_count = ref_count + ? WHERE id = ?", [(delta, i) for i in user_ids]
        )

    def _gc_users(self, refs: Iterable[tuple[int, int]], *, decrement: int = 1) -> None:
        """Port of ``_garbage_collect_user(record, decrement=...)`` for held ``(user id, gen)`` records."""
        touched: set[int] = set()
        for user_id, gen in refs:
            current = self._db.execute("SELECT gen, in_cache FROM user_records WHERE id = ?", (user_id,)).fetchone()
            if current is None:
                continue
            touched.add(user_id)
            if gen == current[0]:
                self._db.execute("UPDATE user_records SET ref_count = ref_count - ? WHERE id = ?", (decrement, user_id))
                count = self._scalar("SELECT ref_count FROM user_records WHERE id = ?", (user_id,))
            else:
                self._db.execute(
                    "UPDATE user_snapshots SET ref_count = ref_count - ? WHERE id = ? AND gen = ?",
                    (decrement, user_id, gen),
                )
                count = self._scalar("SELECT ref_count FROM user_snapshots WHERE id = ? AND gen = ?", (user_id, gen))
            # hikari drops the user *by id* when the record it was handed is unreferenced, even if
            # that record was an older one: mirror it.
            if (count is None or count < 1) and current[1]:
                self._db.execute("UPDATE user_records SET in_cache = 0 WHERE id = ?", (user_id,))
                self._db.execute("DELETE FROM dm_channels WHERE user_id = ?", (user_id,))
        self._released.update(touched)

    def _purge_users(self, user_ids: Iterable[int]) -> None:
        params = [{"id": i} for i in user_ids]
        if params:
            self._db.executemany(_PURGE_SNAPSHOTS, params)
            self._db.executemany(_PURGE_USER, params)

    def _scalar(self, sql: str, params: _Params) -> typing.Any:
        row = self._db.execute(sql, params).fetchone()
        return row[0] if row is not None else None

    def _own_id(self, shard: hikari.api.GatewayShard) -> int | None:
        """The bot's user id: from the shard, or once it has closed (events drained at shutdown), the store."""
        try:
            return int(shard.get_user_id())
        except (hikari.ComponentStateConflictError, AssertionError):
            # READY stored it; a bot that never had a READY has no messages of its own either.
            return self._scalar("SELECT id FROM me", ())

    # --- me ---------------------------------------------------------------------------------

    def _on_ready(self, event: hikari.ShardReadyEvent) -> None:
        self._set_me(event.my_user)

    def _on_session(self, op: ops.SessionOp) -> None:
        """A shard's first READY since the bot started: drop its guilds READY leaves out, mark the rest.

        hikari starts every process with an empty cache, so its GUILD_CREATE never has to undo state
        older than the session; our store outlives restarts. READY lists every guild of the shard:
        those of its stored guilds it leaves out were left or deleted while the bot was away, and
        the first GUILD_CREATE of each listed guild is its complete state (see `_on_guild_create`).
        Guilds of other shards, maybe written by other processes, are left to their own shard's
        READY. Later READYs of the same process (and RESUMED) keep hikari's semantics: its cache
        still holds what it had, and the store must answer like it.
        """
        listed_ids = set(op.guild_ids)
        shard_id, shard_count = op.shard_id, max(op.shard_count, 1)
        stored = " UNION ".join(
            ["SELECT id AS guild_id FROM guilds", "SELECT guild_id FROM fresh_guilds"]
            + [f"SELECT guild_id FROM {t}" for t in _GUILD_SCOPED_TABLES]
        )
        for (guild_id,) in self._db.execute(f"SELECT guild_id FROM ({stored}) AS s").fetchall():
            # Shard of a guild: Discord's `(guild_id >> 22) % shard_count`.
            if guild_id is not None and (guild_id >> 22) % shard_count == shard_id and guild_id not in listed_ids:
                # Exactly a guild leave, so the change reports are a leave's too.
                self.remove_guild(guild_id)
        rule = self._rule
        self._db.executemany(
            "INSERT OR REPLACE INTO fresh_guilds (guild_id) VALUES (?)",
            [(guild_id,) for guild_id in sorted(listed_ids) if rule is None or rule.allows_guild_id(guild_id)],
        )

    def _on_own_user_update(self, event: hikari.OwnUserUpdateEvent) -> None:
        self._set_me(event.user)

    def _set_me(self, user: hikari.OwnUser) -> None:
        self._db.execute(
            "INSERT INTO me (id, data) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (self._codec.dumps(user),),
        )

    # --- guilds -----------------------------------------------------------------------------

    def _update_guild(self, guild: hikari.GatewayGuild, *, complete: bool = False) -> None:
        if not self._allowed("guild", guild):
            return
        # A session's first GUILD_CREATE (`complete`) finds what a fresh hikari finds: no guild yet.
        raw = None if complete else self._scalar("SELECT data FROM guilds WHERE id = ?", (int(guild.id),))
        if raw is not None:
            # hikari keeps these from the first GUILD_CREATE: GUILD_UPDATE does not carry them.
            cached = self._codec.loads(raw, None)
            guild = copy.copy(guild)
            guild.member_count = cached.member_count
            guild.joined_at = cached.joined_at
            guild.is_large = cached.is_large
        self._db.execute(
            "INSERT INTO guilds (id, name, owner_id, is_available, data) VALUES (?, ?, ?, 1, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id,"
            " is_available = 1, data = excluded.data",
            (int(guild.id), guild.name, int(guild.owner_id), self._codec.dumps(guild)),
        )

    def _on_guild_create(self, event: hikari.GuildAvailableEvent | hikari.GuildJoinEvent) -> None:
        guild_id = int(event.guild.id)
        if self._rule is not None and not self._rule.allows_guild_id(guild_id):
            return
        # hikari skips the kinds a GUILD_CREATE sends empty, which within one process only keeps what
        # it already had. The first GUILD_CREATE after its shard's first READY of the process
        # (`_on_session`) is the guild's complete state, and what we stored may predate it: replace all.
        fresh = self._scalar("SELECT 1 FROM fresh_guilds WHERE guild_id = ?", (guild_id,)) is not None
        if fresh:
            self._db.execute("DELETE FROM fresh_guilds WHERE guild_id = ?", (guild_id,))
        self._update_guild(event.guild, complete=fresh)
        if event.channels or fresh:
            self._clear_guild("channels", guild_id)
            self._set_channels(event.channels.values())
        if event.emojis or fresh:
            self._clear_emojis_for_guild(guild_id)
            self._set_emojis(event.emojis.values())
        if event.stickers or fresh:
            self._clear_stickers_for_guild(guild_id)
            self._set_stickers(event.stickers.values())
        if event.roles or fresh:
            self._clear_guild("roles", guild_id)
            self._set_roles(event.roles.values())
        if event.members or fresh:
            # Members it leaves out (large guilds) come back through member chunks, as in hikari.
            self._clear_members_for_guild(guild_id)
            self._set_members(guild_id, event.members.values())
        if event.presences or fresh:
            self._clear_presences_for_guild(guild_id)
            self._set_presences(event.presences.values())
        if event.voice_states or fresh:
            self._clear_voice_states_for_guild(guild_id)
            for voice_state in event.voice_states.values():
                self._set_voice_state(voice_state)
        if event.threads or fresh:
            self._clear_guild("threads", guild_id)
            self._set_threads(event.threads.values())

    def _on_guild_update(self, event: hikari.GuildUpdateEvent) -> None:
        guild_id = int(event.guild.id)
        if self._rule is not None and not self._rule.allows_guild_id(guild_id):
            return
        self._update_guild(event.guild)
        if event.emojis:
            self._clear_emojis_for_guild(guild_id)
            self._set_emojis(event.emojis.values())
        if event.stickers:
            self._clear_stickers_for_guild(guild_id)
            self._set_stickers(event.stickers.values())
        if event.roles:
            self._clear_guild("roles", guild_id)
            self._set_roles(event.roles.values())

    def _on_guild_unavailable(self, event: hikari.GuildUnavailableEvent) -> None:
        self._db.execute("UPDATE guilds SET is_available = 0 WHERE id = ?", (int(event.guild_id),))

    def _on_guild_leave(self, event: hikari.GuildLeaveEvent) -> None:
        self.remove_guild(int(event.guild_id))

    def remove_guild(self, guild_id: int) -> None:
        """Remove a guild and everything hikari drops with it (messages stay, as in hikari)."""
        self._db.execute("DELETE FROM guilds WHERE id = ?", (guild_id,))
        self._db.execute("DELETE FROM fresh_guilds WHERE guild_id = ?", (guild_id,))
        self._clear_voice_states_for_guild(guild_id)
        self._clear_invites_for_guild(guild_id)
        self._clear_members_for_guild(guild_id)
        self._clear_presences_for_guild(guild_id)
        self._clear_guild("channels", guild_id)
        self._clear_guild("threads", guild_id)
        self._clear_emojis_for_guild(guild_id)
        self._clear_stickers_for_guild(guild_id)
        self._clear_guild("roles", guild_id)

    def _clear_guild(self, table: str, guild_id: int) -> None:
        self._db.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))

    # --- channels, threads, roles -----------------------------------------------------------

    def _set_channels(self, channels: Iterable[hikari.PermissibleGuildChannel]) -> None:
        rows = [
            (
                int(c.id),
                int(c.guild_id),
                int(c.parent_id) if c.parent_id is not None else None,
                int(c.type),
                c.name,
                c.position,
                self._codec.dumps(c),
            )
            for c in channels
            if self._allowed("channel", c)
        ]
        self._db.executemany(
            "INSERT OR REPLACE INTO channels (id, guild_id, parent_id, type, name, position, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _on_channel_set(self, event: hikari.GuildChannelCreateEvent | hikari.GuildChannelUpdateEvent) -> None:
        channel = event.channel
        if not self._allowed("channel", channel):
            self._db.execute("DELETE FROM channels WHERE id = ?", (int(channel.id),))
            return
        self._set_channels((channel,))

    def _on_channel_delete(self, event: hikari.GuildChannelDeleteEvent) -> None:
        channel_id = int(event.channel.id)
        self._db.execute("DELETE FROM channels WHERE id = ?", (channel_id,))
        self._db.execute("DELETE FROM threads WHERE guild_id = ? AND parent_id = ?", (int(event.guild_id), channel_id))

    def _set_threads(self, threads: Iterable[hikari.GuildThreadChannel]) -> None:
        rows = [
            (
                int(t.id),
                int(t.guild_id),
                int(t.parent_id),
                int(t.owner_id),
                int(t.type),
                t.name,
                self._codec.dumps(t),
            )
            for t in threads
            if self._allowed("thread", t)
        ]
        self._db.executemany(
            "INSERT OR REPLACE INTO threads (id, guild_id, parent_id, owner_id, type, name, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _on_thread_set(
        self,
        event: hikari.GuildThreadCreateEvent | hikari.GuildThreadAccessEvent | hikari.GuildThreadUpdateEvent,
    ) -> None:
        if not self._allowed("thread", event.thread):
            self._db.execute("DELETE FROM threads WHERE id = ?", (int(event.thread.id),))
            return
        self._set_threads((event.thread,))

    def _on_thread_delete(self, event: hikari.GuildThreadDeleteEvent) -> None:
        self._db.execute("DELETE FROM threads WHERE id = ?", (int(event.thread_id),))

    def _on_thread_list_sync(self, event: hikari.ThreadListSyncEvent) -> None:
        guild_id = int(event.guild_id)
        if event.channel_ids:
            self._db.executemany(
                "DELETE FROM threads WHERE guild_id = ? AND parent_id = ?",
                [(guild_id, int(c)) for c in event.channel_ids],
            )
        else:
            self._clear_guild("threads", guild_id)
        self._set_threads(event.threads.values())

    def _on_thread_members_update(self, event: hikari.ThreadMembersUpdateEvent) -> None:
        # Only our own removal matters: being added comes with a THREAD_CREATE.
        if self._own_id(event.shard) in event.removed_member_ids:
            self._db.execute("DELETE FROM threads WHERE id = ?", (int(event.thread_id),))

    def _set_roles(self, roles: Iterable[hikari.Role]) -> None:
        rows = [
            (int(r.id), int(r.guild_id), r.name, r.position, self._codec.dumps(r))
            for r in roles
            if self._allowed("role", r)
        ]
        self._db.executemany(
            "INSERT OR REPLACE INTO roles (id, guild_id, name, position, data) VALUES (?, ?, ?, ?, ?)", rows
        )

    def _on_role_set(self, event: hikari.RoleCreateEvent | hikari.RoleUpdateEvent) -> None:
        if not self._allowed("role", event.role):
            self._db.execute("DELETE FROM roles WHERE id = ?", (int(event.role.id),))
            return
        self._set_roles((event.role,))

    def _on_role_delete(self, event: hikari.RoleDeleteEvent) -> None:
        self._db.execute("DELETE FROM roles WHERE id = ?", (int(event.role_id),))

    # --- emojis and stickers (users referenced, counted) ---------------------------------------

    def _set_owned(
        self, table: str, kind: RuleKind, items: Sequence[hikari.KnownCustomEmoji | hikari.GuildSticker]
    ) -> None:
        items = [self._without_denied_creator(i) for i in items if self._allowed(kind, i)]
        if not items:
            return
        self._set_users([i.user for i in items if i.user])
        new_user_ids: list[int] = []
        for item in items:
            if item.user and self._scalar(f"SELECT 1 FROM {table} WHERE id = ?", (int(item.id),)) is None:
                new_user_ids.append(int(item.user.id))
        self._incref_users(new_user_ids)
        self._db.executemany(
            f"INSERT OR REPLACE INTO {table} (id, guild_id, name, user_id, user_gen, data)"
            f" VALUES (?, ?, ?, ?, {_CURRENT_GEN}, ?)",
            [
                (
                    int(i.id),
                    int(i.guild_id) if i.guild_id is not None else None,
                    i.name,
                    int(i.user.id) if i.user else None,
                    int(i.user.id) if i.user else None,
                    self._codec.dumps(i, ("user",)),
                )
                for i in items
            ],
        )

    def _without_denied_creator(
        self, item: hikari.KnownCustomEmoji | hikari.GuildSticker
    ) -> hikari.KnownCustomEmoji | hikari.GuildSticker:
        if item.user is None or self._user_ok(item.user):
            return item
        item = copy.copy(item)
        object.__setattr__(item, "user", None)
        return item

    def _delete_owned(self, table: str, where: str, params: _Params) -> None:
        held = self._db.execute(
            f"SELECT user_id, user_gen FROM {table} WHERE {where} AND user_id IS NOT NULL", params
        ).fetchall()
        self._db.execute(f"DELETE FROM {table} WHERE {where}", params)
        self._gc_users(held)

    def _clear_owned_for_guild(self, table: str, guild_id: int) -> None:
        self._delete_owned(table, "guild_id = ?", (guild_id,))

    def _set_emojis(self, emojis: Iterable[hikari.KnownCustomEmoji]) -> None:
        self._set_owned("emojis", "emoji", list(emojis))

    def _set_stickers(self, stickers: Iterable[hikari.GuildSticker]) -> None:
        self._set_owned("stickers", "sticker", list(stickers))

    def _clear_emojis_for_guild(self, guild_id: int) -> None:
        self._clear_owned_for_guild("emojis", guild_id)

    def _clear_stickers_for_guild(self, guild_id: int) -> None:
        self._clear_owned_for_guild("stickers", guild_id)

    def _on_emojis_update(self, event: hikari.EmojisUpdateEvent) -> None:
        guild_id = int(event.guild_id)
        self._clear_emojis_for_guild(guild_id)
        self._set_emojis(event.emojis)

    def _on_stickers_update(self, event: hikari.StickersUpdateEvent) -> None:
        guild_id = int(event.guild_id)
        self._clear_stickers_for_guild(guild_id)
        self._set_stickers(event.stickers)

    # --- members (hikari: _set_member / _garbage_collect_member) --------------------------------

    def _member_row(self, member: hikari.Member, *, is_deleted: bool) -> tuple[typing.Any, ...]:
        guild_id, user_id = int(member.guild_id), int(member.user.id)
        return (
            guild_id,
            user_id,
            user_id,
            guild_id,
            user_id,
            member.nickname,
            _iso(member.joined_at),
            int(is_deleted),
            self._codec.dumps(member, ("user",)),
        )

    def _set_members(self, guild_id: int, members: Iterable[hikari.Member]) -> None:
        """``set_member`` for many members of one guild (non-reference members)."""
        members = [m for m in members if self._allowed("member", m) and self._user_ok(m.user)]
        if not members:
            return
        # In key order, the statements below walk each B-tree once instead of jumping around it
        # (a stable sort: of two copies of one member the later still wins).
        members.sort(key=_member_user_id)
        existing = self._existing_members(guild_id, [int(m.user.id) for m in members])
        self._set_users([m.user for m in members])
        self._incref_users([int(m.user.id) for m in members if int(m.user.id) not in existing])
        self._db.executemany(
            _UPSERT_MEMBER.replace("data = excluded.data", "data = excluded.data, is_deleted = 0"),
            [self._member_row(m, is_deleted=False) for m in members],
        )

    def _existing_members(self, guild_id: int, user_ids: Sequence[int]) -> set[int]:
        sql = "SELECT user_id FROM member_records WHERE guild_id = ? AND user_id IN ({})"
        return set(self._ids_among(sql, (guild_id,), user_ids))

    def _set_reference_member(self, member: hikari.Member, *, user_stored: bool = False) -> None:
        """``_set_member(member, is_reference=True)``; ``user_stored``: its user was just set."""
        if not user_stored:
            self._set_user(member.user)
        guild_id, user_id = int(member.guild_id), int(member.user.id)
        # A new member row holds its user: counted in the same statement as the check, which
        # (unlike a read) a server store can send along with the other writes.
        self._db.execute(
            "UPDATE user_records SET ref_count = ref_count + 1 WHERE id = ?"
            " AND NOT EXISTS (SELECT 1 FROM member_records WHERE guild_id = ? AND user_id = ?)",
            (user_id, guild_id, user_id),
        )
        # A reference keeps the existing row's deleted flag; a new reference-only row is "deleted".
        self._db.execute(_UPSERT_MEMBER, self._member_row(member, is_deleted=True))

    def _gc_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        gen: int | None = None,
        decrement: int | None = None,
        deleting: bool = False,
    ) -> bool:
        """Port of ``_garbage_collect_member`` for the record ``gen`` (default: the current one)."""
        key = (guild_id, user_id)
        current = self._scalar("SELECT gen FROM member_records WHERE guild_id = ? AND user_id = ?", key)
        if gen is None or gen == current:
            if current is None:
                return False
            table, where, params = "member_records", "guild_id = ? AND user_id = ?", key
        else:
            table, where, params = "member_snapshots", "guild_id = ? AND user_id = ? AND gen = ?", (*key, gen)
        if deleting:
            self._db.execute(f"UPDATE {table} SET is_deleted = 1 WHERE {where}", params)
        if decrement is not None:
            self._db.execute(f"UPDATE {table} SET ref_count = ref_count - ? WHERE {where}", (decrement, *params))
        row = self._db.execute(
            f"SELECT ref_count < 1 AND is_deleted <> 0, user_gen FROM {table} WHERE {where}", params
        ).fetchone()
        if current is None or row is None or not row[0]:
            return False
        # hikari removes the guild's member *by id*, even when handed an older record.
        self._drop_members("m.guild_id = ? AND m.user_id = ?", key)
        self._gc_users(((user_id, row[1]),))
        return True

    def _drop_members(self, where: str, params: _Params) -> None:
        """Remove current member records, keeping those a voice state or message still shows."""
        self._db.execute(_SNAPSHOT_MEMBERS.format(where=where), params)
        dropped = self._db.execute(
            f"SELECT m.guild_id, m.user_id FROM member_records m WHERE {where}", params
        ).fetchall()
        self._db.execute(f"DELETE FROM member_records AS m WHERE {where}", params)
        self._released_members.update((g, u) for g, u in dropped)

    def _clear_members_for_guild(self, guild_id: int) -> None:
        self._db.execute("UPDATE member_records SET is_deleted = 1 WHERE guild_id = ?", (guild_id,))
        removable = self._db.execute(
            "SELECT user_id, user_gen FROM member_records WHERE guild_id = ? AND ref_count < 1", (guild_id,)
        ).fetchall()
        self._drop_members("m.guild_id = ? AND m.ref_count < 1", (guild_id,))
        self._gc_users(removable)

    def _on_member_set(self, event: hikari.MemberCreateEvent | hikari.MemberUpdateEvent) -> None:
        member = event.member
        if not self._allowed("member", member) or not self._user_ok(member.user):
            self._gc_member(int(member.guild_id), int(member.user.id), deleting=True)
            return
        self._set_members(int(member.guild_id), (member,))

    def _on_member_delete(self, event: hikari.MemberDeleteEvent) -> None:
        self._gc_member(int(event.guild_id), int(event.user_id), deleting=True)

    def _on_member_chunk(self, event: hikari.MemberChunkEvent) -> None:
        guild_id = int(event.guild_id)
        if self._rule is not None and not self._rule.allows_guild_id(guild_id):
            return
        self._set_members(guild_id, event.members.values())
        self._set_presences(event.presences.values())

    # --- presences ----------------------------------------------------------------------------

    def _set_presences(self, presences: Iterable[hikari.MemberPresence]) -> None:
        rows = [
            (int(p.guild_id), int(p.user_id), str(p.visible_status), self._codec.dumps(p))
            for p in presences
            if self._allowed("presence", p) and self._user_id_ok(int(p.user_id))
        ]
        if len(rows) > 1:
            rows.sort(key=_first_two)  # key order: see _set_members
        self._db.executemany(
            "INSERT OR REPLACE INTO presences (guild_id, user_id, status, data) VALUES (?, ?, ?, ?)", rows
        )

    def _clear_presences_for_guild(self, guild_id: int) -> None:
        self._clear_guild("presences", guild_id)

    def _on_presence_update(self, event: hikari.PresenceUpdateEvent) -> None:
        presence = event.presence
        if (
            presence.visible_status is hikari.Status.OFFLINE
            or not self._allowed("presence", presence)
            or not self._user_id_ok(int(presence.user_id))
        ):
            self._db.execute(
                "DELETE FROM presences WHERE guild_id = ? AND user_id = ?",
                (int(presence.guild_id), int(presence.user_id)),
            )
        else:
            self._set_presences((presence,))

    # --- voice states (members referenced, counted) ---------------------------------------------

    def _set_voice_state(self, state: hikari.VoiceState) -> None:
        if not self._keeps("voice_states", state):
            self._delete_voice_state(int(state.guild_id), int(state.user_id))
            return
        key = (int(state.guild_id), int(state.user_id))
        is_new = self._scalar("SELECT 1 FROM voice_states WHERE guild_id = ? AND user_id = ?", key) is None
        if state.member:
            self._set_reference_member(state.member)
            if is_new:
                self._db.execute(
                    "UPDATE member_records SET ref_count = ref_count + 1 WHERE guild_id = ? AND user_id = ?",
                    (int(state.member.guild_id), int(state.member.user.id)),
                )
        # The record a replaced voice state showed may now be unheld.
        self._released_members.add(key)
        self._db.execute(
            "INSERT OR REPLACE INTO voice_states (guild_id, user_id, channel_id, has_member, member_gen, data)"
            f" VALUES (?, ?, ?, ?, CASE WHEN ? <> 0 THEN {_CURRENT_MEMBER_GEN} END, ?)",
            (
                *key,
                int(state.channel_id) if state.channel_id is not None else None,
                int(state.member is not None),
                int(state.member is not None),
                *key,
                self._codec.dumps(state, ("member",)),
            ),
        )

    def _delete_voice_state(self, guild_id: int, user_id: int) -> None:
        key = (guild_id, user_id)
        row = self._db.execute(
            "SELECT has_member, member_gen FROM voice_states WHERE guild_id = ? AND user_id = ?", key
        ).fetchone()
        if row is None:
            return
        self._db.execute("DELETE FROM voice_states WHERE guild_id = ? AND user_id = ?", key)
        self._released_members.add(key)
        if row[0]:
            self._gc_member(guild_id, user_id, gen=row[1], decrement=1)

    def _clear_voice_states_for_guild(self, guild_id: int) -> None:
        with_member = self._db.execute(
            "SELECT user_id, member_gen FROM voice_states WHERE guild_id = ? AND has_member <> 0", (guild_id,)
        ).fetchall()
        self._clear_guild("voice_states", guild_id)
        for user_id, gen in with_member:
            self._released_members.add((guild_id, user_id))
            self._gc_member(guild_id, user_id, gen=gen, decrement=1)

    def _on_voice_state_update(self, event: hikari.VoiceStateUpdateEvent) -> None:
        state = event.state
        if state.channel_id is None:
            self._delete_voice_state(int(state.guild_id), int(state.user_id))
        else:
            self._set_voice_state(state)

    # --- invites (users referenced, counted) ------------------------------------------------------

    def _on_invite_create(self, event: hikari.InviteCreateEvent) -> None:
        invite = event.invite
        if not self._allowed("invite", invite):
            return
        # What hikari's InviteData keeps: no embedded guild/channel or approximate counts, and an
        # expiry derived from the creation time.
        invite = copy.copy(invite)
        invite.guild = None
        invite.channel = None
        invite.approximate_member_count = None
        invite.approximate_active_member_count = None
        invite.expires_at = invite.created_at + invite.max_age if invite.max_age else None
        if invite.inviter is not None and not self._user_ok(invite.inviter):
            invite.inviter = None
        if invite.target_user is not None and not self._user_ok(invite.target_user):
            invite.target_user = None
        is_new = self._scalar("SELECT 1 FROM invites WHERE code = ?", (invite.code,)) is None
        for user in (invite.inviter, invite.target_user):
            if user is not None:
                self._set_user(user)
                if is_new:
                    self._incref_users((int(user.id),))
        self._db.execute(
            "INSERT OR REPLACE INTO invites (code, guild_id, channel_id, inviter_id, inviter_gen, target_user_id,"
            f" target_user_gen, expires_at, data) VALUES (?, ?, ?, ?, {_CURRENT_GEN}, ?, {_CURRENT_GEN}, ?, ?)",
            (
                invite.code,
                int(invite.guild_id) if invite.guild_id is not None else None,
                int(invite.channel_id) if invite.channel_id is not None else None,
                int(invite.inviter.id) if invite.inviter else None,
                int(invite.inviter.id) if invite.inviter else None,
                int(invite.target_user.id) if invite.target_user else None,
                int(invite.target_user.id) if invite.target_user else None,
                _iso(invite.expires_at),
                self._codec.dumps(invite, ("inviter", "target_user")),
            ),
        )

    def _delete_invites(self, where: str, params: _Params) -> None:
        rows = self._db.execute(
            f"SELECT inviter_id, inviter_gen, target_user_id, target_user_gen FROM invites WHERE {where}",
            params,
        ).fetchall()
        self._db.execute(f"DELETE FROM invites WHERE {where}", params)
        held: list[tuple[int, int]] = []
        for inviter_id, inviter_gen, target_id, target_gen in rows:
            if inviter_id is not None:
                held.append((inviter_id, inviter_gen))
            if target_id is not None:
                held.append((target_id, target_gen))
        self._gc_users(held)

    def _on_invite_delete(self, event: hikari.InviteDeleteEvent) -> None:
        self._delete_invites("code = ?", (event.code,))

    def _clear_invites_for_guild(self, guild_id: int) -> None:
        self._delete_invites("guild_id = ?", (guild_id,))

    # --- messages (hikari: _set_message / update / _garbage_collect_message) ----------------------

    def _on_message_create(self, event: hikari.MessageCreateEvent) -> None:
        message = event.message
        if not self._keeps("messages", message):
            return
        self.set_message(self._without_denied_mentions(message), is_reference=False)
        if message.guild_id is None and message.author.id != self._own_id(event.shard):
            # hikari learns DM channel ids from REST; a DM received tells us the same thing.
            self._db.execute(
                "INSERT OR REPLACE INTO dm_channels (user_id, channel_id) VALUES (?, ?)",
                (int(message.author.id), int(message.channel_id)),
            )
        if self._max_per_channel is not None:
            self._trim_channel(int(message.channel_id))

    def set_message(self, message: hikari.Message, *, is_reference: bool) -> None:
        """Port of ``CacheImpl._set_message``."""
        message_id = int(message.id)
        self._set_user(message.author)
        guild_id = int(message.member.guild_id) if message.member else None
        if message.member:
            # hikari builds a message's member around its author: that user is stored already.
            self._set_reference_member(message.member, user_stored=message.member.user is message.author)

        if message.user_mentions is not hikari.UNDEFINED:
            self._set_users(message.user_mentions.values())

        referenced_id: int | None = None
        if message.referenced_message:
            ref_id = int(message.referenced_message.id)
            if self._scalar("SELECT 1 FROM messages WHERE id = ? AND is_reference < 2", (ref_id,)) is not None:
                # Only a cached message can be updated from the partial copy embedded in a reply.
                referenced_id = ref_id
                self._update_message(message.referenced_message, global_mentions=False)

        # A collected message (kept only for a reply) is not in hikari's mappings: setting it is new.
        existing = self._db.execute(
            "SELECT is_reference, referenced_id FROM messages WHERE id = ? AND is_reference < 2", (message_id,)
        ).fetchone()
        if existing is not None and existing[1] is not None and existing[1] != referenced_id:
            self._released_messages.add(existing[1])
        if existing is None:
            if message.member and guild_id is not None:
                self._db.execute(
                    "UPDATE member_records SET ref_count = ref_count + 1 WHERE guild_id = ? AND user_id = ?",
                    (guild_id, int(message.member.user.id)),
                )
            if referenced_id is not None:
                self._db.execute("UPDATE messages SET ref_count = ref_count + 1 WHERE id = ?", (referenced_id,))
            if message.user_mentions is not hikari.UNDEFINED:
                self._incref_users(int(u) for u in message.user_mentions)

        still_reference = is_reference and (existing is None or bool(existing[0]))
        mentions_known = message.user_mentions is not hikari.UNDEFINED
        mentions_mode = _MENTIONS_SHARED if mentions_known else _MENTIONS_UNDEFINED
        data = self._codec.dumps(
            _with_received_embeds(message), ("author", "member", "referenced_message", "user_mentions")
        )
        self._db.execute(
            "INSERT INTO messages (id, channel_id, guild_id, author_id, author_gen, created_at, is_reference,"
            " ref_count, has_member, member_gen, referenced_id, mentions_known, data)"
            f" VALUES (?, ?, ?, ?, {_CURRENT_GEN}, ?, ?, 0, ?,"
            f" CASE WHEN ? <> 0 THEN {_CURRENT_MEMBER_GEN} END, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET"
            " channel_id = excluded.channel_id, member_gen = excluded.member_gen,"
            " guild_id = excluded.guild_id, author_id = excluded.author_id, author_gen = excluded.author_gen,"
            " created_at = excluded.created_at,"
            " is_reference = excluded.is_reference, has_member = excluded.has_member,"
            " referenced_id = excluded.referenced_id, mentions_known = excluded.mentions_known, data = excluded.data",
            (
                message_id,
                int(message.channel_id),
                int(message.guild_id) if message.guild_id is not None else None,
                int(message.author.id),
                int(message.author.id),
                _iso(message.timestamp),
                int(still_reference),
                int(message.member is not None),
                int(message.member is not None),
                guild_id,
                int(message.member.user.id) if message.member else None,
                referenced_id,
                mentions_mode,
                data,
            ),
        )
        if existing is not None and guild_id is not None:
            # A re-delivered message may hold a newer member record than before.
            self._released_members.add((guild_id, int(message.author.id)))
        self._set_mentions(message_id, None if message.user_mentions is hikari.UNDEFINED else message.user_mentions)

    def _set_mentions(
        self, message_id: int, mentions: Mapping[hikari.Snowflake, hikari.User] | None, *, detached: bool = False
    ) -> None:
        self._db.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))
        if mentions:
            # Detached copies (gen -1) hold no shared record; releasing one still drops the user by
            # id, as hikari's garbage collection does with such a copy.
            gen = "-1" if detached else _CURRENT_GEN
            self._db.executemany(
                f"INSERT INTO message_mentions (message_id, user_id, user_gen) VALUES (?, ?, {gen})",
                [(message_id, int(i), int(i)) if not detached else (message_id, int(i)) for i in mentions],
            )

    def _mentions(self, message_id: int) -> list[tuple[int, int]]:
        return self._db.execute(
            "SELECT user_id, user_gen FROM message_mentions WHERE message_id = ?", (message_id,)
        ).fetchall()

    def _update_message(self, partial: hikari.PartialMessage, *, global_mentions: bool) -> None:
        """Port of ``MessageData.update`` (and ``CacheImpl.update_message`` when ``global_mentions``)."""
        message_id = int(partial.id)
        row = self._db.execute(
            "SELECT data, mentions_known FROM messages WHERE id = ? AND is_reference < 2", (message_id,)
        ).fetchone()
        if row is None:
            return
        partial = self._without_denied_mentions(partial)
        message: hikari.Message = self._codec.loads(row[0], None)
        mentions_mode = int(row[1])
        changed = False
        partial = _with_received_embeds(partial)
        for name in ("content", "edited_timestamp", "is_pinned", "attachments", "embeds", "components"):
            value = getattr(partial, name)
            if value is not hikari.UNDEFINED:
                object.__setattr__(message, name, value)
                changed = True
        if partial.user_mentions is not hikari.UNDEFINED:
            changed = True
            if global_mentions:
                self._set_users(partial.user_mentions.values())
                old = self._mentions(message_id) if mentions_mode else []
                self._gc_users([(i, g) for i, g in old if i not in partial.user_mentions])
                self._set_mentions(message_id, partial.user_mentions)
                mentions_mode = _MENTIONS_SHARED
                object.__setattr__(message, "user_mentions", None)
            else:
                # hikari keeps copies here, detached from the shared user records (and does not
                # release the records it held before).
                object.__setattr__(message, "user_mentions", dict(partial.user_mentions))
                self._set_mentions(message_id, partial.user_mentions, detached=True)
                mentions_mode = _MENTIONS_DETACHED
        for name in ("role_mention_ids", "channel_mentions", "mentions_everyone"):
            value = getattr(partial, name)
            if value is not hikari.UNDEFINED:
                object.__setattr__(message, name, value)
                changed = True
        if changed:
            self._db.execute(
                "UPDATE messages SET data = ?, mentions_known = ? WHERE id = ?",
                (self._codec.dumps(message), mentions_mode, message_id),
            )

    def _on_message_update(self, event: hikari.MessageUpdateEvent) -> None:
        self._update_message(event.message, global_mentions=True)

    def _gc_message(self, message_id: int, *, decrement: int | None = None) -> None:
        if decrement is not None:
            self._db.execute("UPDATE messages SET ref_count = ref_count - ? WHERE id = ?", (decrement, message_id))
        row = self._db.execute(
            "SELECT is_reference, ref_count, author_id, has_member, referenced_id, guild_id, author_gen, member_gen"
            " FROM messages WHERE id = ?",
            (message_id,),
        ).fetchone()
        # Removable once it is only a reference (deleted or expired) and nothing counted replies to it.
        if row is None or not row[0] or row[1] >= 1:
            return
        _, _, author_id, has_member, referenced_id, guild_id, author_gen, member_gen = row
        mentions = self._mentions(message_id)
        if self._scalar("SELECT 1 FROM messages WHERE referenced_id = ? AND id != ? LIMIT 1", (message_id, message_id)):
            # A reply linked without being counted still shows it (hikari keeps that RefCell):
            # hide it from the cache's views but keep it for the reply.
            self._db.execute("UPDATE messages SET is_reference = ? WHERE id = ?", (_MESSAGE_COLLECTED, message_id))
        else:
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            self._db.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))
        self._gc_users(((author_id, author_gen),))
        if has_member and guild_id is not None:
            self._released_members.add((guild_id, author_id))
            self._gc_member(guild_id, author_id, gen=member_gen, decrement=1)
        if referenced_id is not None:
            self._gc_message(referenced_id, decrement=1)
        self._gc_users(mentions)

    def _purge_messages(self, message_ids: Iterable[int]) -> None:
        for message_id in message_ids:
            row = self._db.execute(
                "SELECT author_id, author_gen, guild_id, has_member FROM messages WHERE id = ? AND is_reference = ?"
                " AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.referenced_id = messages.id)",
                (message_id, _MESSAGE_COLLECTED),
            ).fetchone()
            if row is None:
                continue
            self._released.update(user_id for user_id, _ in self._mentions(message_id))
            self._released.add(row[0])
            if row[3] and row[2] is not None:
                self._released_members.add((row[2], row[0]))
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            self._db.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))

    def _on_message_delete(self, event: hikari.MessageDeleteEvent) -> None:
        self._mark_deleted_and_gc(int(event.message_id))

    def _mark_deleted_and_gc(self, message_id: int) -> None:
        row = self._db.execute("SELECT is_reference FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None or row[0]:
            return
        self._db.execute("UPDATE messages SET is_reference = 1 WHERE id = ?", (message_id,))
        self._gc_message(message_id)

    def _on_message_bulk_delete(self, event: hikari.GuildBulkMessageDeleteEvent) -> None:
        for message_id in event.message_ids:
            self._mark_deleted_and_gc(int(message_id))

    # --- retention (hikari: _on_message_expire) -------------------------------------------------

    def _trim_channel(self, channel_id: int, *, limit: int | None = None) -> tuple[int, bool]:
        """Expire all but the newest ``max_per_channel`` messages of a channel, oldest first.

        Like hikari's ``_on_message_expire``: a message a stored reply still counts stays as a
        referenced message. Returns how many expired and whether ``limit`` left some.
        """
        keep = self._max_per_channel
        if keep is None:
            return 0, False
        # The newest message beyond the limit (a walk of the channel index, usually finding none).
        newest_excess = self._scalar(
            "SELECT id FROM messages WHERE channel_id = ? AND is_reference = 0 ORDER BY id DESC LIMIT 1 OFFSET ?",
            (channel_id, keep),
        )
        if newest_excess is None:
            return 0, False
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM messages WHERE channel_id = ? AND is_reference = 0 AND id <= ? ORDER BY id LIMIT ?",
                (channel_id, newest_excess, _NO_LIMIT if limit is None else limit),
            ).fetchall()
        ]
        for message_id in ids:
            self._mark_deleted_and_gc(message_id)
        return len(ids), bool(ids) and ids[-1] != newest_excess

    def expire_messages(self, limit: int, *, now: datetime.datetime | None = None) -> int:
        """Expire up to ``limit`` of the oldest messages older than the message rule's ``max_age``.

        Bounded so that a backlog is worked off over several transactions instead of stalling one.
        Returns how many expired (``limit`` means some may be left).
        """
        if self._max_age is None:
            return 0
        now = now or datetime.datetime.now(datetime.timezone.utc)
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM messages WHERE created_at < ? AND is_reference = 0 ORDER BY created_at LIMIT ?",
                (schema.iso_time(now - self._max_age), limit),
            ).fetchall()
        ]
        for message_id in ids:
            self._mark_deleted_and_gc(message_id)
        self._settle()
        return len(ids)

    def _on_retain(self, op: ops.RetainOp) -> None:
        # The writer runs the age retention after every batch; this op only makes a batch happen.
        pass

    # --- prune: apply the current rules to what is stored ---------------------------------------

    def _on_prune(self, op: ops.PruneOp) -> None:
        """One bounded step of a prune; the next step resumes from ``op.next_cursor``."""
        phases = self._prune_phases()
        index, after = op.cursor if op.cursor is not None else (0, None)
        budget = op.limit
        while index < len(phases) and budget > 0:
            name, step = phases[index]
            op.phase = name
            done, after, used = step(after, budget)
            self._settle()
            budget -= max(used, 1)
            if done:
                index, after = index + 1, None
        op.next_cursor = (index, after) if index < len(phases) else None

    def _prune_phases(
        self,
    ) -> list[
        tuple[str, Callable[[tuple[typing.Any, ...] | None, int], tuple[bool, tuple[typing.Any, ...] | None, int]]]
    ]:
        rule = self._rule
        if rule is None:
            return []
        guild_lists = any(rule.guild.allowlist(d) or rule.guild.denylist(d) for d in rule.guild.dimensions)
        phases: list[
            tuple[str, Callable[[tuple[typing.Any, ...] | None, int], tuple[bool, tuple[typing.Any, ...] | None, int]]]
        ] = []
        if guild_lists:
            phases.append(("guilds", self._prune_denied_guilds))
        for kind in _PRUNE_ORDER:
            kind_rule = rule.kind_rule(SINGULAR[kind])
            if not kind_rule.enabled:
                phases.append((kind, functools.partial(self._prune_kind, kind, judge=False)))
            elif (
                _restricts(kind_rule)
                # Leaving a guild keeps its messages (as hikari does): the cascade judges them here.
                or (guild_lists and kind == "messages")
                or (self._users_filtered and kind in _USER_BEARING)
            ):
                phases.append((kind, functools.partial(self._prune_kind, kind, judge=True)))
        if self._max_per_channel is not None and rule.message.enabled:
            phases.append(("messages", self._prune_channels))
        if self._max_age is not None and rule.message.enabled:
            phases.append(("messages", self._prune_age))
        return phases

    def _prune_denied_guilds(
        self, after: tuple[typing.Any, ...] | None, budget: int
    ) -> tuple[bool, tuple[typing.Any, ...] | None, int]:
        """Remove what hikari drops with a guild, for guilds the guild rule's id lists refuse.

        One guild per step: its removal is a few set-wide statements whatever its size.
        """
        assert self._rule is not None
        stored = " UNION ".join(
            ["SELECT id AS guild_id FROM guilds"] + [f"SELECT guild_id FROM {t}" for t in _GUILD_SCOPED_TABLES]
        )
        start = after[0] if after is not None else -1
        for (guild_id,) in self._db.execute(
            f"SELECT guild_id FROM ({stored}) AS s WHERE guild_id > ? ORDER BY guild_id", (start,)
        ).fetchall():
            if not self._rule.allows_guild_id(guild_id):
                self.remove_guild(guild_id)
                return False, (guild_id,), budget
        return True, None, 1

    def _prune_kind(
        self, kind: str, after: tuple[typing.Any, ...] | None, budget: int, *, judge: bool
    ) -> tuple[bool, tuple[typing.Any, ...] | None, int]:
        """Walk ``budget`` rows of a kind in key order, removing those the rule refuses (all if not ``judge``)."""
        spec = _TRACKED[kind]
        keys = ", ".join(spec.keys)
        clauses = [_PRUNE_WHERE[kind]] if kind in _PRUNE_WHERE else []
        params: list[typing.Any] = []
        if after is not None:
            clauses.append(f"({keys}) > ({', '.join('?' * len(after))})")
            params.extend(after)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            f"SELECT {keys} FROM {spec.table}{where} ORDER BY {keys} LIMIT ?", (*params, budget)
        ).fetchall()
        for row in rows:
            key = tuple(row)
            if judge:
                entity = self._entity(kind, key)
                if entity is None or self._keeps(kind, entity):
                    continue
            self._remove(kind, key)
        done = len(rows) < budget
        return done, (tuple(rows[-1]) if rows else after), len(rows)

    def _remove(self, kind: str, key: tuple[typing.Any, ...]) -> None:
        """Remove one entity the way the gateway's own removal of it does."""
        if kind == "members":
            self._gc_member(int(key[0]), int(key[1]), deleting=True)
        elif kind == "messages":
            self._mark_deleted_and_gc(int(key[0]))
        elif kind == "voice_states":
            self._delete_voice_state(int(key[0]), int(key[1]))
        elif kind == "invites":
            self._delete_invites("code = ?", key)
        elif kind in ("emojis", "stickers"):
            self._delete_owned(kind, "id = ?", key)
        else:
            spec = _TRACKED[kind]
            self._db.execute(f"DELETE FROM {spec.table} WHERE {' AND '.join(f'{k} = ?' for k in spec.keys)}", key)

    def _prune_channels(
        self, after: tuple[typing.Any, ...] | None, budget: int
    ) -> tuple[bool, tuple[typing.Any, ...] | None, int]:
        """Apply ``max_per_channel`` to every channel with stored messages."""
        start = after[0] if after is not None else -1
        used = 0
        channels = self._db.execute(
            "SELECT DISTINCT channel_id FROM messages WHERE channel_id > ? ORDER BY channel_id LIMIT ?", (start, budget)
        ).fetchall()
        for (channel_id,) in channels:
            expired, more = self._trim_channel(channel_id, limit=max(budget - used, 1))
            used += expired + 1
            if more:
                # Not finished with this channel: resume just before it.
                return False, (channel_id - 1,), used
            if used >= budget:
                return False, (channel_id,), used
        return len(channels) < budget, (channels[-1][0],) if channels else after, used

    def _prune_age(
        self, after: tuple[typing.Any, ...] | None, budget: int
    ) -> tuple[bool, tuple[typing.Any, ...] | None, int]:
        expired = self.expire_messages(budget)
        return expired < budget, None, expired

    # --- the cache's own writes ---------------------------------------------------------------------

    def _on_store(self, op: ops.StoreOp) -> None:
        entity = op.entity
        if isinstance(entity, hikari.Member):
            self._set_members(int(entity.guild_id), (entity,))
        elif isinstance(entity, hikari.GuildThreadChannel):
            self._set_threads((entity,))
        elif isinstance(entity, hikari.Role):
            self._set_roles((entity,))
        else:
            self._set_channels((entity,))

    def _on_clear(self, op: ops.ClearOp) -> None:
        for kind in sorted(op.kinds):
            table = _CLEARABLE[kind]
            self._db.execute(f"DELETE FROM {table}")
            if kind == "messages":
                self._db.execute("DELETE FROM message_mentions")
        # Users (and their older records) that nothing holds any more go with what held them.
        self._db.execute(
            "DELETE FROM user_snapshots WHERE NOT (" + _USER_RECORD_HELD_BY_ROW.format(t="user_snapshots") + ")"
        )
        self._db.execute(
            "DELETE FROM user_records WHERE NOT ("
            + _USER_RECORD_HELD_BY_ROW.format(t="user_records")
            + ") AND NOT EXISTS (SELECT 1 FROM user_snapshots s WHERE s.id = user_records.id)"
        )

    def _on_import(self, op: ops.ImportOp) -> None:
        op.applied, op.error = False, None
        try:
            self._import_rows(op)
        except Exception as exc:
            op.error = exc
            raise
        op.applied = True

    def _import_rows(self, op: ops.ImportOp) -> None:
        # Names come from a file: only the current schema's tables and columns are accepted.
        tables = portable.table_columns()
        if op.clear:
            for table in tables:
                if table != "meta":
                    self._db.execute(f"DELETE FROM {table}")
        if op.table == "meta" or op.table not in tables:
            msg = f"cannot import rows of {op.table!r}: not a table of schema {schema.SCHEMA_VERSION}"
            raise ValueError(msg)
        unknown = set(op.columns) - set(tables[op.table])
        if unknown or not op.columns:
            msg = f"cannot import {op.table!r}: unknown columns {sorted(unknown)}"
            raise ValueError(msg)
        if op.rows:
            marks = ", ".join("?" for _ in op.columns)
            self._db.executemany(f"INSERT INTO {op.table} ({', '.join(op.columns)}) VALUES ({marks})", op.rows)


_CLEARABLE: typing.Final[dict[str, str]] = {
    "guilds": "guilds",
    "channels": "channels",
    "threads": "threads",
    "roles": "roles",
    "members": "member_records",
    "emojis": "emojis",
    "stickers": "stickers",
    "presences": "presences",
    "voice_states": "voice_states",
    "messages": "messages",
    "invites": "invites",
    "users": "user_records",
}
_USER_RECORD_HELD_BY_ROW: typing.Final[str] = _USER_RECORD_HELD.replace(":id", "{t}.id").replace(":gen", "{t}.gen")

_HANDLED: typing.Final[tuple[type[hikari.Event], ...]] = tuple(Engine(typing.cast("SQLConnection", None))._handlers)
