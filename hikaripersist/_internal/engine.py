"""Applies hikari gateway events to the relational store with hikari's own cache semantics.

This is a port of ``hikari.impl.cache.CacheImpl`` (hikari 2.6) onto SQL rows: the same
operations in the same order for every event the event manager feeds its cache with
(``hikari.impl.event_manager``), including hikari's reference counting of users and members,
"referenced" messages and guild fields that GUILD_UPDATE must not overwrite. Keeping the port
literal is what makes the store answer exactly like ``bot.cache`` after the same stream.

The engine is synchronous: the writer runs it in the database thread, inside one transaction per
batch and one savepoint per event, so it never blocks the event loop and one bad event cannot
drop the others of its batch.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("Engine", "SQLConnection", "StoreCodec")

import copy
import logging
import typing

import hikari

from hikaripersist._internal import codec as codec_
from hikaripersist._internal import ops, schema

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from hikaripersist.rules import Rule, RuleKind

_LOGGER = logging.getLogger("hikaripersist.engine")

_Params = typing.Sequence[typing.Any]


class SQLConnection(typing.Protocol):
    """The subset of a DB-API connection the engine uses (``?`` placeholders)."""

    def execute(self, sql: str, parameters: _Params | Mapping[str, typing.Any] = ..., /) -> typing.Any: ...

    def executemany(
        self, sql: str, parameters: Iterable[_Params] | Iterable[Mapping[str, typing.Any]], /
    ) -> typing.Any: ...


class StoreCodec:
    """Encodes entities to the ``data`` column, leaving out fields stored by reference."""

    __slots__: typing.Sequence[str] = ()

    @staticmethod
    def dumps(obj: object, strip: Sequence[str] = ()) -> bytes:
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
_UPSERT_USER = (
    "INSERT INTO user_records (id, username, global_name, is_bot, ref_count, in_cache, gen, data)"
    " VALUES (?, ?, ?, ?, 0, 1, 0, ?)"
    " ON CONFLICT (id) DO UPDATE SET username = excluded.username, global_name = excluded.global_name,"
    " is_bot = excluded.is_bot, data = excluded.data,"
    " ref_count = CASE WHEN user_records.in_cache THEN user_records.ref_count ELSE 0 END,"
    " gen = CASE WHEN user_records.in_cache THEN user_records.gen ELSE user_records.gen + 1 END, in_cache = 1"
)
_CURRENT_GEN = "(SELECT gen FROM user_records WHERE id = ?)"
# Members follow hikari's RefCell records the same way (a voice state or message holds one).
_NEXT_MEMBER_GEN = "(SELECT COALESCE(MAX(gen) + 1, 0) FROM member_snapshots WHERE guild_id = ? AND user_id = ?)"
_CURRENT_MEMBER_GEN = "(SELECT gen FROM member_records WHERE guild_id = ? AND user_id = ?)"
_MEMBER_RECORD_HELD = (
    "EXISTS (SELECT 1 FROM voice_states v WHERE v.guild_id = {g} AND v.user_id = {u} AND v.has_member"
    " AND v.member_gen = {gen})"
    " OR EXISTS (SELECT 1 FROM messages ms WHERE ms.author_id = {u} AND ms.guild_id = {g} AND ms.has_member"
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


class Engine:
    """Applies one hikari event at a time to an open transaction.

    Parameters
    ----------
    db
        Connection inside a transaction.
    rule
        Decides which entities are stored; ``None`` stores everything.
    """

    __slots__: typing.Sequence[str] = (
        "_codec",
        "_db",
        "_handlers",
        "_released",
        "_released_members",
        "_released_messages",
        "_rule",
    )

    def __init__(self, db: SQLConnection, *, rule: Rule | None = None) -> None:
        self._db = db
        self._codec = StoreCodec()
        self._rule = rule
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
        }

    @staticmethod
    def handled_event_types() -> tuple[type[hikari.Event], ...]:
        """The hikari event types that change the cache."""
        return _HANDLED

    def apply(self, event: hikari.Event) -> bool:
        """Apply ``event``; return whether it is one that changes the cache."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return False
        handler(event)
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
        return True

    def _allowed(self, kind: RuleKind, obj: object) -> bool:
        return self._rule is None or self._rule.allows(kind, obj)

    # --- users (hikari: _set_user / _garbage_collect_user) --------------------------------------

    def _user_row(self, user: hikari.User) -> tuple[typing.Any, ...]:
        return (int(user.id), user.username, user.global_name, int(user.is_bot), self._codec.dumps(user))

    def _set_user(self, user: hikari.User) -> None:
        self._set_users((user,))

    def _set_users(self, users: Iterable[hikari.User]) -> None:
        rows = [self._user_row(u) for u in users]
        self._db.executemany(_SNAPSHOT_DROPPED_USER, [(r[0],) for r in rows])
        self._db.executemany(_UPSERT_USER, rows)

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

    # --- me ---------------------------------------------------------------------------------

    def _on_ready(self, event: hikari.ShardReadyEvent) -> None:
        self._set_me(event.my_user)

    def _on_own_user_update(self, event: hikari.OwnUserUpdateEvent) -> None:
        self._set_me(event.user)

    def _set_me(self, user: hikari.OwnUser) -> None:
        self._db.execute(
            "INSERT INTO me (id, data) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (self._codec.dumps(user),),
        )

    # --- guilds -----------------------------------------------------------------------------

    def _update_guild(self, guild: hikari.GatewayGuild) -> None:
        if not self._allowed("guild", guild):
            return
        raw = self._scalar("SELECT data FROM guilds WHERE id = ?", (int(guild.id),))
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
        self._update_guild(event.guild)
        if event.channels:
            self._clear_guild("channels", guild_id)
            self._set_channels(event.channels.values())
        if event.emojis:
            self._clear_emojis_for_guild(guild_id)
            self._set_emojis(event.emojis.values())
        if event.stickers:
            self._clear_stickers_for_guild(guild_id)
            self._set_stickers(event.stickers.values())
        if event.roles:
            self._clear_guild("roles", guild_id)
            self._set_roles(event.roles.values())
        if event.members:
            self._clear_members_for_guild(guild_id)
            self._set_members(guild_id, event.members.values())
        if event.presences:
            self._clear_presences_for_guild(guild_id)
            self._set_presences(event.presences.values())
        if event.voice_states:
            self._clear_voice_states_for_guild(guild_id)
            for voice_state in event.voice_states.values():
                self._set_voice_state(voice_state)
        if event.threads:
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
        if event.shard.get_user_id() in event.removed_member_ids:
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
        items = [i for i in items if self._allowed(kind, i)]
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

    def _clear_owned_for_guild(self, table: str, guild_id: int) -> None:
        held = self._db.execute(
            f"SELECT user_id, user_gen FROM {table} WHERE guild_id = ? AND user_id IS NOT NULL",
            (guild_id,),
        ).fetchall()
        self._clear_guild(table, guild_id)
        self._gc_users(held)

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
        members = [m for m in members if self._allowed("member", m)]
        if not members:
            return
        existing = self._existing_members(guild_id, [int(m.user.id) for m in members])
        self._set_users([m.user for m in members])
        self._incref_users([int(m.user.id) for m in members if int(m.user.id) not in existing])
        self._db.executemany(
            _UPSERT_MEMBER.replace("data = excluded.data", "data = excluded.data, is_deleted = 0"),
            [self._member_row(m, is_deleted=False) for m in members],
        )

    def _existing_members(self, guild_id: int, user_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(
                r[0]
                for r in self._db.execute(
                    f"SELECT user_id FROM member_records WHERE guild_id = ? AND user_id IN ({marks})",
                    (guild_id, *chunk),
                ).fetchall()
            )
        return found

    def _set_reference_member(self, member: hikari.Member) -> bool:
        """``_set_member(member, is_reference=True)``; return whether the member row was new."""
        self._set_user(member.user)
        key = (int(member.guild_id), int(member.user.id))
        is_new = self._scalar("SELECT 1 FROM member_records WHERE guild_id = ? AND user_id = ?", key) is None
        if is_new:
            self._incref_users((key[1],))
        # A reference keeps the existing row's deleted flag; a new reference-only row is "deleted".
        self._db.execute(_UPSERT_MEMBER, self._member_row(member, is_deleted=True))
        return is_new

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
            f"SELECT ref_count < 1 AND is_deleted, user_gen FROM {table} WHERE {where}", params
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
        if not self._allowed("member", member):
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
        self._db.executemany(
            "INSERT OR REPLACE INTO presences (guild_id, user_id, status, data) VALUES (?, ?, ?, ?)",
            [
                (int(p.guild_id), int(p.user_id), str(p.visible_status), self._codec.dumps(p))
                for p in presences
                if self._allowed("presence", p)
            ],
        )

    def _clear_presences_for_guild(self, guild_id: int) -> None:
        self._clear_guild("presences", guild_id)

    def _on_presence_update(self, event: hikari.PresenceUpdateEvent) -> None:
        presence = event.presence
        if presence.visible_status is hikari.Status.OFFLINE or not self._allowed("presence", presence):
            self._db.execute(
                "DELETE FROM presences WHERE guild_id = ? AND user_id = ?",
                (int(presence.guild_id), int(presence.user_id)),
            )
        else:
            self._set_presences((presence,))

    # --- voice states (members referenced, counted) ---------------------------------------------

    def _set_voice_state(self, state: hikari.VoiceState) -> None:
        if not self._allowed("voice_state", state):
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
            f" VALUES (?, ?, ?, ?, CASE WHEN ? THEN {_CURRENT_MEMBER_GEN} END, ?)",
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
            "SELECT user_id, member_gen FROM voice_states WHERE guild_id = ? AND has_member", (guild_id,)
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
        if not self._allowed("message", message):
            return
        self.set_message(message, is_reference=False)
        if message.guild_id is None and message.author.id != event.shard.get_user_id():
            # hikari learns DM channel ids from REST; a DM received tells us the same thing.
            self._db.execute(
                "INSERT OR REPLACE INTO dm_channels (user_id, channel_id) VALUES (?, ?)",
                (int(message.author.id), int(message.channel_id)),
            )

    def set_message(self, message: hikari.Message, *, is_reference: bool) -> None:
        """Port of ``CacheImpl._set_message``."""
        message_id = int(message.id)
        self._set_user(message.author)
        guild_id = int(message.member.guild_id) if message.member else None
        if message.member:
            self._set_reference_member(message.member)

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
            f" VALUES (?, ?, ?, ?, {_CURRENT_GEN}, ?, ?, 0, ?, CASE WHEN ? THEN {_CURRENT_MEMBER_GEN} END, ?, ?, ?)"
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
