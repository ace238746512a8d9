"""Async queries over the stored entities, returning native hikari objects."""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "ChannelQuery",
    "EmojiQuery",
    "GuildQuery",
    "InviteQuery",
    "MemberQuery",
    "MessageQuery",
    "PresenceQuery",
    "Query",
    "RoleQuery",
    "StickerQuery",
    "ThreadQuery",
    "UserQuery",
    "VoiceStateQuery",
)

import asyncio
import datetime
import enum
import time
import typing

import attrs
import hikari
from hikari import users as hikari_users

from hikaripersist import filters as filters_
from hikaripersist._internal import reader as reader_
from hikaripersist._internal import schema
from hikaripersist.iterator import CacheIterator

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    from hikaripersist.backend import Backend, Row

_T = typing.TypeVar("_T")
_Storable: typing.TypeAlias = "hikari.Member | hikari.PermissibleGuildChannel | hikari.GuildThreadChannel | hikari.Role"
_Builder = typing.Callable[["reader_.Reader", "Row"], typing.Any]
# Rows read per round trip when iterating (the next chunk is read while this one is decoded).
_CHUNK: typing.Final[int] = 1000
# Key column names of lookups.
_ID: typing.Final[tuple[str, ...]] = ("id",)
_GUILD_USER: typing.Final[tuple[str, ...]] = ("guild_id", "user_id")
# Longest an iteration keeps the event loop before letting other tasks run (decoding is CPU work).
_SLICE: typing.Final[float] = 0.0005


class _Spec(typing.NamedTuple):
    select: str
    alias: str
    keys: tuple[str, ...]
    columns: Mapping[str, str]
    base_where: str
    order_by: str
    build: _Builder
    # Every other field of the stored entity can be filtered on too, inside the database (through
    # SQLite's JSON functions on the data column, without an index).
    entity_fields: frozenset[str] = frozenset()
    # Whether `build` returns an awaitable (it reads referenced rows).
    awaits: bool = False


def _fields_of(*classes: type[typing.Any], stored_elsewhere: tuple[str, ...] = ()) -> frozenset[str]:
    names: set[str] = set()
    for cls in classes:
        for sub in (cls, *_subclasses(cls)):
            if attrs.has(sub):
                names.update(f.name for f in attrs.fields(sub))
    return frozenset(names - {"app", *stored_elsewhere})


def _subclasses(cls: type[typing.Any]) -> list[type[typing.Any]]:
    found: list[type[typing.Any]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


_EPOCH: typing.Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# What SQLite (and the server stores' BIGINT) can bind.
_INT64_MIN: typing.Final[int] = -(2**63)
_INT64_MAX: typing.Final[int] = 2**63 - 1


def _aware(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:
        msg = "compare with timezone-aware datetimes (hikari's are UTC)"
        raise ValueError(msg)
    return value


def _int64(value: int) -> int:
    """``value``, refused with a clear error if the database could not take it (no stored value could match)."""
    if not _INT64_MIN <= value <= _INT64_MAX:
        msg = f"{value!r} does not fit in a 64-bit integer (no stored value is that large)"
        raise ValueError(msg)
    return value


def _json_value(value: object) -> object:
    """``value`` as the codec stores it inside an entity's JSON (the inner value of tagged values)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return _json_value(value.value)
    if isinstance(value, hikari.Unique):
        return int(value.id)
    if isinstance(value, int):
        return _int64(int(value))
    if isinstance(value, datetime.datetime):
        return (_aware(value) - _EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(value, datetime.timedelta):
        return value // datetime.timedelta(microseconds=1)
    if isinstance(value, (str, float)):
        return value
    msg = f"cannot filter on a value of type {type(value).__name__}"
    raise TypeError(msg)


def _column_kind(name: str) -> str:
    """What a named column holds, from the schema's naming (ids, times, flags, text, numbers)."""
    if name == "id" or name.endswith("_id"):
        return "id"
    if name.endswith("_at"):
        return "time"
    if name.startswith("is_"):
        return "flag"
    if name in ("type", "position"):
        return "number"
    return "text"


_ACCEPTED: typing.Final[dict[str, tuple[type[typing.Any], ...]]] = {
    "id": (int, hikari.Unique),
    "time": (datetime.datetime,),
    "flag": (bool,),
    "number": (int,),
    "text": (str,),
}


def _check_column_value(name: str, value: object) -> None:
    kind = _column_kind(name)
    accepted = _ACCEPTED[kind]
    if (isinstance(value, bool) and kind != "flag") or not isinstance(value, accepted):
        msg = f"{name} takes {' or '.join(t.__name__ for t in accepted)} values, not {type(value).__name__} ({value!r})"
        raise TypeError(msg)


def _sql_value(value: object) -> object:
    if isinstance(value, datetime.datetime):
        return schema.iso_time(_aware(value))
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, hikari.Unique):
        return int(value.id)
    if isinstance(value, int):
        return _int64(int(value))
    if value is None or isinstance(value, (str, float)):
        return value
    msg = f"cannot filter on a value of type {type(value).__name__}"
    raise TypeError(msg)


def _checked(name: str) -> Callable[[object], object]:
    def convert(value: object) -> object:
        _check_column_value(name, value)
        return _sql_value(value)

    return convert


class _Source(typing.Generic[_T]):
    """A lazy database-backed row source that the iterator can push limits and counts into."""

    __slots__: typing.Sequence[str] = ("_limit", "_order", "_params", "_query", "_where")

    def __init__(
        self,
        query: Query[_T],
        where: str,
        params: Sequence[object],
        limit: int | None = None,
        order: str | None = None,
    ) -> None:
        self._query = query
        self._where = where
        self._params = params
        self._limit = limit
        self._order = order

    def with_limit(self, n: int) -> _Source[_T]:
        limit = n if self._limit is None else min(n, self._limit)
        return _Source(self._query, self._where, self._params, limit, self._order)

    async def count(self) -> int:
        spec = self._query._spec
        sql = f"SELECT COUNT(*) FROM ({spec.select}{self._where}"
        if self._limit is not None:
            sql += f" LIMIT {int(self._limit)}"
        return int(await self._query._backend.scalar(sql + ") AS q", self._params) or 0)

    def __aiter__(self) -> AsyncIterator[_T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[_T]:
        spec = self._query._spec
        sql = f"{spec.select}{self._where} ORDER BY {self._order or spec.order_by}"
        if self._limit is not None:
            sql += f" LIMIT {int(self._limit)}"
        reader = self._query._reader()
        build, awaits = spec.build, spec.awaits
        clock = time.perf_counter
        # Rows may come without a pause (a small result read at once, or the next chunk already
        # read): decoding them all would block the loop, so it is let run every `_SLICE`.
        resume_at = clock() + _SLICE
        async for chunk in self._query._backend.fetch(sql, self._params, chunk=_CHUNK):
            for row in chunk:
                yield await build(reader, row) if awaits else build(reader, row)
                if clock() > resume_at:
                    await asyncio.sleep(0)
                    resume_at = clock() + _SLICE


class Query(typing.Generic[_T]):
    """Queries over one kind of stored entity.

    Every filter runs in the database; values are always bound parameters.
    """

    __slots__: typing.Sequence[str] = ("_app", "_backend_getter", "_get_sql", "_last_reader", "_spec", "_store")

    def __init__(
        self,
        backend: Callable[[], Backend],
        app: hikari.RESTAware | None,
        spec: _Spec,
        store: Callable[[_Storable], None] | None = None,
    ) -> None:
        self._backend_getter = backend
        self._app = app
        self._spec = spec
        self._store = store
        # Lookup SQL by key names: built once, and the same text keeps SQLite's prepared statement.
        self._get_sql: dict[tuple[str, ...], str] = {}
        self._last_reader: reader_.Reader | None = None

    def _keep(self, entity: _Storable) -> None:
        if self._store is not None:
            self._store(entity)

    @property
    def _backend(self) -> Backend:
        return self._backend_getter()

    def _reader(self) -> reader_.Reader:
        backend = self._backend_getter()
        reader = self._last_reader
        if reader is None or reader.backend is not backend:
            reader = self._last_reader = reader_.Reader(backend, self._app)
        return reader

    @property
    def fields(self) -> tuple[str, ...]:
        """Names accepted by [`where`][] and [`count`][]; the [`indexed_fields`][] are the fast ones."""
        return tuple(sorted({*self._spec.columns, *self._spec.entity_fields}))

    @property
    def indexed_fields(self) -> tuple[str, ...]:
        """Fields stored in their own column (most of them indexed)."""
        return tuple(self._spec.columns)

    def _compile(self, filters: Mapping[str, object]) -> tuple[str, list[object]]:
        spec = self._spec
        clauses: list[str] = [spec.base_where] if spec.base_where else []
        params: list[object] = []
        for name, value in filters.items():
            column = spec.columns.get(name)
            if isinstance(value, filters_.Filter) and (column is not None or name in spec.entity_fields):
                sql, values = (
                    value.column_sql(column, _checked(name))
                    if column is not None
                    else value.json_sql(f"{spec.alias}.data", f"$.{name}", _json_value)
                )
                # A condition that cannot hold (an empty one_of()) is written portably.
                clauses.append("1 = 0" if sql == "0" else sql)
                params.extend(values)
            elif column is not None:
                if value is None:
                    clauses.append(f"{column} IS NULL")
                else:
                    clauses.append(f"{column} = ?")
                    params.append(_checked(name)(value))
            elif name in spec.entity_fields:
                path = f"$.{name}"
                if value is None:
                    clauses.append(f"json_type({spec.alias}.data, ?) = 'null'")
                    params.append(path)
                else:
                    # A plain value, the inner value of a tagged one (enum, flag, time...), or an
                    # element of a list (`role_ids=role` finds members with that role).
                    # (UNDEFINED is stored as {"u": 0}: never equal to anything.)
                    clauses.append(
                        f"EXISTS (SELECT 1 FROM json_each({spec.alias}.data, ?) WHERE value = ? AND key IS NOT 'u')"
                    )
                    params.extend((path, _json_value(value)))
            else:
                known = ", ".join(sorted({*spec.columns, *spec.entity_fields}))
                msg = f"cannot filter on {name!r}; known fields: {known}"
                raise TypeError(msg)
        return ((" WHERE " + " AND ".join(clauses)) if clauses else ""), params

    async def _get(self, names: tuple[str, ...], *values: object) -> _T | None:
        """The entity whose key columns ``names`` hold ``values``."""
        sql = self._get_sql.get(names)
        if sql is None:
            where = " WHERE " + " AND ".join(f"{self._spec.alias}.{k} = ?" for k in names)
            sql = self._get_sql[names] = self._spec.select + where
        params = list(values)
        for v in values:  # (ints, mostly: checked here, without a call or a comprehension)
            if type(v) is not int or not _INT64_MIN <= v <= _INT64_MAX:
                params = [_sql_value(value) for value in values]
                break
        reader = self._reader()
        # SQLite's loop-thread reader mostly answers at once: no coroutine for the read then.
        now = reader.fetch_one_now
        found = now(sql, params) if now is not None else reader.backend.fetch_one(sql, params)
        if isinstance(found, list):
            row = found[0] if found else None
        else:
            row = await found
        if row is None:
            return None
        spec = self._spec
        return await spec.build(reader, row) if spec.awaits else spec.build(reader, row)

    def all(self) -> CacheIterator[_T]:
        """Iterate over every stored entity of this kind, lazily, in key order."""
        return self.where()

    def where(
        self, *, order_by: str | Sequence[str] | None = None, limit: int | None = None, **filters: object
    ) -> CacheIterator[_T]:
        """Iterate over the entities matching ``filters``, lazily, in batches, from one snapshot.

        Parameters
        ----------
        order_by
            Field name(s) with their own column (see [`indexed_fields`][]) to sort by, each
            prefixed with ``-`` for descending order; key order by default.
        limit
            Most entities to return (applied by the database).
        **filters
            ``field=value`` for equality (``None`` matches null; for a list field such as
            ``role_ids``, membership), or ``field=`` an operator from [`hikaripersist.filters`][]
            (``persist.after(t)``, ``persist.one_of(...)``, ``persist.startswith("x")``...).

        Raises
        ------
        TypeError
            If a field is unknown or a value cannot be compared in the database.
        ValueError
            If a value cannot be used (a naive datetime, a negative limit...).
        """
        where, params = self._compile(filters)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int):
                msg = f"limit takes an int, not {type(limit).__name__}"
                raise TypeError(msg)
            if limit < 0:
                msg = "limit cannot be negative"
                raise ValueError(msg)
            _int64(limit)
        return CacheIterator(_Source(self, where, params, limit, self._order(order_by)))

    def _order(self, order_by: str | Sequence[str] | None) -> str | None:
        if order_by is None:
            return None
        names = (order_by,) if isinstance(order_by, str) else tuple(order_by)
        terms: list[str] = []
        for name in names:
            descending = name.startswith("-")
            column = self._spec.columns.get(name.lstrip("-"))
            if column is None:
                msg = f"cannot order by {name!r}; sortable fields: {', '.join(self._spec.columns)}"
                raise TypeError(msg)
            terms.append(f"{column} DESC" if descending else column)
        # Ties are broken by the key so the order is stable.
        return ", ".join([*terms, self._spec.order_by])

    async def count(self, **filters: object) -> int:
        """Count the entities matching ``filters`` without building them."""
        where, params = self._compile(filters)
        return await _Source(self, where, params).count()

    async def exists(self, **filters: object) -> bool:
        """Whether any entity matches ``filters``."""
        where, params = self._compile(filters)
        return await _Source(self, where, params, 1).count() > 0


def _cols(alias: str, *names: str, **renamed: str) -> dict[str, str]:
    columns = {n: f"{alias}.{n}" for n in names}
    columns.update({public: f"{alias}.{col}" for public, col in renamed.items()})
    return columns


# The reader's methods themselves: one call less per entity.
_plain: _Builder = reader_.Reader.build_plain
_member: _Builder = reader_.Reader.build_member
_voice: _Builder = reader_.Reader.build_voice_state
_owned: _Builder = reader_.Reader.build_owned
_invite: _Builder = reader_.Reader.build_invite
_message: _Builder = reader_.Reader.build_message


_CHANNEL_FIELDS: typing.Final = frozenset(
    _fields_of(hikari.PermissibleGuildChannel) - _fields_of(hikari.GuildThreadChannel)
    | _fields_of(hikari.GuildTextChannel)
)

GUILDS = _Spec(
    "SELECT g.data FROM guilds g", "g", ("id",),
    _cols("g", "id", "name", "owner_id", "is_available"), "", "g.id", _plain,
    _fields_of(hikari.GatewayGuild),
)  # fmt: skip
CHANNELS = _Spec(
    "SELECT c.data FROM channels c", "c", ("id",),
    _cols("c", "id", "guild_id", "parent_id", "type", "name", "position"), "", "c.id", _plain,
    _CHANNEL_FIELDS,
)  # fmt: skip
THREADS = _Spec(
    "SELECT t.data FROM threads t", "t", ("id",),
    _cols("t", "id", "guild_id", "parent_id", "owner_id", "type", "name"), "", "t.id", _plain,
    _fields_of(hikari.GuildThreadChannel),
)  # fmt: skip
ROLES = _Spec(
    "SELECT r.data FROM roles r", "r", ("id",), _cols("r", "id", "guild_id", "name", "position"), "", "r.id", _plain,
    _fields_of(hikari.Role),
)  # fmt: skip
USERS = _Spec(
    "SELECT u.data FROM user_records u", "u", ("id",),
    _cols("u", "id", "username", "global_name", "is_bot"), "u.in_cache = 1", "u.id", _plain,
    _fields_of(hikari_users.UserImpl),
)  # fmt: skip
MEMBERS = _Spec(
    reader_.MEMBER_SELECT, "m", ("guild_id", "user_id"),
    _cols("m", "guild_id", "user_id", "nickname", "joined_at", member_id="user_id"), "m.is_deleted = 0",
    "m.guild_id, m.user_id", _member,
    _fields_of(hikari.Member, stored_elsewhere=("user",)),
)  # fmt: skip
EMOJIS = _Spec(
    reader_.EMOJI_SELECT, "e", ("id",), _cols("e", "id", "guild_id", "name", "user_id"), "", "e.id", _owned,
    _fields_of(hikari.KnownCustomEmoji, stored_elsewhere=("user",)),
)  # fmt: skip
STICKERS = _Spec(
    reader_.STICKER_SELECT, "st", ("id",), _cols("st", "id", "guild_id", "name", "user_id"), "", "st.id", _owned,
    _fields_of(hikari.GuildSticker, stored_elsewhere=("user",)),
)  # fmt: skip
PRESENCES = _Spec(
    "SELECT p.data FROM presences p", "p", ("guild_id", "user_id"),
    _cols("p", "guild_id", "user_id", "status"), "", "p.guild_id, p.user_id", _plain,
    _fields_of(hikari.MemberPresence),
)  # fmt: skip
VOICE_STATES = _Spec(
    reader_.VOICE_SELECT, "v", ("guild_id", "user_id"),
    _cols("v", "guild_id", "user_id", "channel_id"), "", "v.guild_id, v.user_id", _voice,
    _fields_of(hikari.VoiceState, stored_elsewhere=("member",)), awaits=True,
)  # fmt: skip
MESSAGES = _Spec(
    reader_.MESSAGE_SELECT, "m", ("id",),
    _cols("m", "id", "channel_id", "guild_id", "author_id"), "m.is_reference < 2", "m.id", _message,
    _fields_of(hikari.Message, stored_elsewhere=("author", "member", "referenced_message", "user_mentions")),
    awaits=True,
)  # fmt: skip
INVITES = _Spec(
    reader_.INVITE_SELECT, "i", ("code",),
    _cols("i", "code", "guild_id", "channel_id", "inviter_id", "target_user_id"), "", "i.code", _invite,
    _fields_of(hikari.InviteWithMetadata, stored_elsewhere=("inviter", "target_user")),
)  # fmt: skip


class GuildQuery(Query[hikari.GatewayGuild]):
    """Stored guilds, available or not."""

    __slots__: typing.Sequence[str] = ()

    @typing.overload
    async def get(
        self, *, id: hikari.Snowflakeish, fetch_if_missing: typing.Literal[False] = False
    ) -> hikari.GatewayGuild | None: ...

    @typing.overload
    async def get(
        self, *, id: hikari.Snowflakeish, fetch_if_missing: bool
    ) -> hikari.GatewayGuild | hikari.RESTGuild | None: ...

    async def get(
        self, *, id: hikari.Snowflakeish, fetch_if_missing: bool = False
    ) -> hikari.GatewayGuild | hikari.RESTGuild | None:
        """Return the stored guild ``id``.

        With ``fetch_if_missing``, a guild not stored is fetched over REST; that gives a
        `hikari.RESTGuild`, which hikari's cache never holds, so it is returned but not stored.
        """
        guild = await self._get(_ID, int(id))
        if guild is None and fetch_if_missing and isinstance(self._app, hikari.RESTAware):
            return await self._app.rest.fetch_guild(id)
        return guild

    def of_user(self, user: hikari.SnowflakeishOr[hikari.PartialUser]) -> CacheIterator[hikari.GatewayGuild]:
        """The guilds ``user`` is a member of."""
        where = " WHERE g.id IN (SELECT guild_id FROM member_records WHERE user_id = ? AND is_deleted = 0)"
        return CacheIterator(_Source(self, where, [int(user)]))


class ChannelQuery(Query[hikari.PermissibleGuildChannel]):
    """Stored guild channels (threads are in ``cache.threads``)."""

    __slots__: typing.Sequence[str] = ()

    def of_guild(
        self, guild: hikari.SnowflakeishOr[hikari.PartialGuild]
    ) -> CacheIterator[hikari.PermissibleGuildChannel]:
        """A guild's channels, by position."""
        return self.where(guild_id=int(guild), order_by="position")

    @typing.overload
    def where(
        self,
        *,
        type: typing.Literal[hikari.ChannelType.GUILD_TEXT],
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        **filters: object,
    ) -> CacheIterator[hikari.GuildTextChannel]: ...

    @typing.overload
    def where(
        self,
        *,
        type: typing.Literal[hikari.ChannelType.GUILD_VOICE],
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        **filters: object,
    ) -> CacheIterator[hikari.GuildVoiceChannel]: ...

    @typing.overload
    def where(
        self,
        *,
        type: typing.Literal[hikari.ChannelType.GUILD_CATEGORY],
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        **filters: object,
    ) -> CacheIterator[hikari.GuildCategory]: ...

    @typing.overload
    def where(
        self,
        *,
        type: typing.Literal[hikari.ChannelType.GUILD_NEWS],
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        **filters: object,
    ) -> CacheIterator[hikari.GuildNewsChannel]: ...

    @typing.overload
    def where(
        self,
        *,
        type: typing.Literal[hikari.ChannelType.GUILD_STAGE],
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        **filters: object,
    ) -> CacheIterator[hikari.GuildStageChannel]: ...

    @typing.overload
    def where(
        self,
        *,
        type: typing.Literal[hikari.ChannelType.GUILD_FORUM],
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        **filters: object,
    ) -> CacheIterator[hikari.GuildForumChannel]: ...

    @typing.overload
    def where(
        self,
        *,
        type: typing.Literal[hikari.ChannelType.GUILD_MEDIA],
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        **filters: object,
    ) -> CacheIterator[hikari.GuildMediaChannel]: ...

    @typing.overload
    def where(
        self, *, order_by: str | Sequence[str] | None = ..., limit: int | None = ..., **filters: object
    ) -> CacheIterator[hikari.PermissibleGuildChannel]: ...

    def where(
        self, *, order_by: str | Sequence[str] | None = None, limit: int | None = None, **filters: object
    ) -> CacheIterator[typing.Any]:
        """As [`Query.where`][]; ``type=hikari.ChannelType.X`` narrows the channel class for type checkers."""
        return super().where(order_by=order_by, limit=limit, **filters)

    async def get(
        self, *, id: hikari.Snowflakeish, fetch_if_missing: bool = False
    ) -> hikari.PermissibleGuildChannel | None:
        """Return the stored guild channel ``id`` (optionally fetched over REST when missing)."""
        channel = await self._get(_ID, int(id))
        if channel is None and fetch_if_missing and isinstance(self._app, hikari.RESTAware):
            fetched = await self._app.rest.fetch_channel(id)
            if isinstance(fetched, hikari.PermissibleGuildChannel):
                self._keep(fetched)
                return fetched
        return channel


class ThreadQuery(Query[hikari.GuildThreadChannel]):
    """Stored threads."""

    __slots__: typing.Sequence[str] = ()

    def of_guild(self, guild: hikari.SnowflakeishOr[hikari.PartialGuild]) -> CacheIterator[hikari.GuildThreadChannel]:
        """A guild's threads."""
        return self.where(guild_id=int(guild))

    def of_channel(
        self, channel: hikari.SnowflakeishOr[hikari.PartialChannel]
    ) -> CacheIterator[hikari.GuildThreadChannel]:
        """The threads of a channel."""
        return self.where(parent_id=int(channel))

    async def get(self, *, id: hikari.Snowflakeish) -> hikari.GuildThreadChannel | None:
        """Return the stored thread ``id``."""
        return await self._get(_ID, int(id))


class RoleQuery(Query[hikari.Role]):
    """Stored roles."""

    __slots__: typing.Sequence[str] = ()

    def of_guild(self, guild: hikari.SnowflakeishOr[hikari.PartialGuild]) -> CacheIterator[hikari.Role]:
        """A guild's roles, lowest position first."""
        return self.where(guild_id=int(guild), order_by="position")

    def of_member(self, member: hikari.Member) -> CacheIterator[hikari.Role]:
        """A member's roles as `hikari.Role` objects, lowest position first (those stored)."""
        return self.where(id=filters_.one_of(*member.role_ids), order_by="position")

    async def get(
        self, *, id: hikari.Snowflakeish, guild_id_if_missing: hikari.Snowflakeish | None = None
    ) -> hikari.Role | None:
        """Return the stored role ``id``; with ``guild_id_if_missing``, fetch the guild's roles over REST."""
        role = await self._get(_ID, int(id))
        if role is None and guild_id_if_missing is not None and isinstance(self._app, hikari.RESTAware):
            for candidate in await self._app.rest.fetch_roles(guild_id_if_missing):
                self._keep(candidate)
                if candidate.id == int(id):
                    role = candidate
        return role


class MemberQuery(Query[hikari.Member]):
    """Stored guild members, with their latest user data."""

    __slots__: typing.Sequence[str] = ()

    def of_guild(self, guild: hikari.SnowflakeishOr[hikari.PartialGuild]) -> CacheIterator[hikari.Member]:
        """A guild's members."""
        return self.where(guild_id=int(guild))

    def with_role(self, role: hikari.PartialRole | hikari.Role) -> CacheIterator[hikari.Member]:
        """The members that have ``role``."""
        guild_id = getattr(role, "guild_id", None)
        if guild_id is None:
            return self.where(role_ids=int(role.id))
        return self.where(guild_id=int(guild_id), role_ids=int(role.id))

    async def get(
        self, *, guild_id: hikari.Snowflakeish, member_id: hikari.Snowflakeish, fetch_if_missing: bool = False
    ) -> hikari.Member | None:
        """Return the member ``member_id`` of guild ``guild_id`` (optionally fetched over REST)."""
        member = await self._get(_GUILD_USER, int(guild_id), int(member_id))
        if member is None and fetch_if_missing and isinstance(self._app, hikari.RESTAware):
            member = await self._app.rest.fetch_member(guild_id, member_id)
            self._keep(member)
        return member


class UserQuery(Query[hikari.User]):
    """Users that hikari's cache would hold (referenced by a member, emoji, message...)."""

    __slots__: typing.Sequence[str] = ()

    async def get(self, *, id: hikari.Snowflakeish) -> hikari.User | None:
        """Return the stored user ``id``."""
        row = await self._backend.fetch_one(
            "SELECT data FROM user_records WHERE id = ? AND in_cache = 1", (_int64(int(id)),)
        )
        return self._reader().build_plain(row) if row is not None else None


class EmojiQuery(Query[hikari.KnownCustomEmoji]):
    """Stored custom emojis of guilds."""

    __slots__: typing.Sequence[str] = ()

    def of_guild(self, guild: hikari.SnowflakeishOr[hikari.PartialGuild]) -> CacheIterator[hikari.KnownCustomEmoji]:
        """A guild's custom emojis."""
        return self.where(guild_id=int(guild))

    async def get(self, *, id: hikari.Snowflakeish) -> hikari.KnownCustomEmoji | None:
        """Return the stored emoji ``id``."""
        return await self._get(_ID, int(id))


class StickerQuery(Query[hikari.GuildSticker]):
    """Stored guild stickers."""

    __slots__: typing.Sequence[str] = ()

    def of_guild(self, guild: hikari.SnowflakeishOr[hikari.PartialGuild]) -> CacheIterator[hikari.GuildSticker]:
        """A guild's stickers."""
        return self.where(guild_id=int(guild))

    async def get(self, *, id: hikari.Snowflakeish) -> hikari.GuildSticker | None:
        """Return the stored sticker ``id``."""
        return await self._get(_ID, int(id))


class PresenceQuery(Query[hikari.MemberPresence]):
    """Stored member presences."""

    __slots__: typing.Sequence[str] = ()

    async def get(self, *, guild_id: hikari.Snowflakeish, user_id: hikari.Snowflakeish) -> hikari.MemberPresence | None:
        """Return the presence of ``user_id`` in ``guild_id``."""
        return await self._get(_GUILD_USER, int(guild_id), int(user_id))


class VoiceStateQuery(Query[hikari.VoiceState]):
    """Stored voice states."""

    __slots__: typing.Sequence[str] = ()

    async def get(self, *, guild_id: hikari.Snowflakeish, user_id: hikari.Snowflakeish) -> hikari.VoiceState | None:
        """Return the voice state of ``user_id`` in ``guild_id``."""
        return await self._get(_GUILD_USER, int(guild_id), int(user_id))


class MessageQuery(Query[hikari.Message]):
    """Stored messages (including those kept because a stored reply references them)."""

    __slots__: typing.Sequence[str] = ()

    def of_channel(
        self, channel: hikari.SnowflakeishOr[hikari.PartialChannel], *, limit: int | None = None
    ) -> CacheIterator[hikari.Message]:
        """A channel's messages, newest first."""
        return self.where(channel_id=int(channel), order_by="-id", limit=limit)

    async def get(self, *, id: hikari.Snowflakeish) -> hikari.Message | None:
        """Return the stored message ``id``."""
        row = await self._backend.fetch_one(
            self._spec.select + " WHERE m.id = ? AND m.is_reference < 2", (_int64(int(id)),)
        )
        return await self._reader().build_message(row) if row is not None else None


class InviteQuery(Query[hikari.InviteWithMetadata]):
    """Stored invites."""

    __slots__: typing.Sequence[str] = ()

    async def get(self, *, code: str) -> hikari.InviteWithMetadata | None:
        """Return the stored invite ``code``."""
        return await self._get(("code",), code)
