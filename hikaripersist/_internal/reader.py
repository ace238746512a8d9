"""Rebuilds native hikari objects from stored rows.

Entities that hikari's cache shares by reference are re-attached here: a member's ``user`` is the
latest stored user, a voice state's ``member`` the latest stored member, a message's author,
member, mentioned users and replied-to message likewise.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("Reader",)

import logging
import typing

import hikari

from hikaripersist._internal import codec

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from hikaripersist.backend import Backend, Row

_LOGGER = logging.getLogger("hikaripersist.reader")
_FetchNow: typing.TypeAlias = "Callable[[str, Sequence[typing.Any]], list[Row] | Awaitable[Row | None]]"


def _user_record(id_column: str, gen_column: str) -> str:
    """SQL for the user record a row holds: the current one, or an older one it still shows."""
    return (
        f"(SELECT CASE WHEN u.gen = {gen_column} THEN u.data ELSE"
        f" (SELECT s.data FROM user_snapshots s WHERE s.id = u.id AND s.gen = {gen_column}) END"
        f" FROM user_records u WHERE u.id = {id_column})"
    )


MEMBER_SELECT: typing.Final[str] = f"SELECT m.data, {_user_record('m.user_id', 'm.user_gen')} FROM member_records m"
VOICE_SELECT: typing.Final[str] = "SELECT v.data, v.has_member, v.guild_id, v.user_id, v.member_gen FROM voice_states v"
# A member record as a voice state or message holds it: the current one or an older snapshot.
_HELD_MEMBER: typing.Final[str] = (
    f"SELECT m.data, {_user_record('m.user_id', 'm.user_gen')} FROM member_records m"
    " WHERE m.guild_id = ? AND m.user_id = ? AND m.gen = ?"
    f" UNION ALL SELECT ms.data, {_user_record('ms.user_id', 'ms.user_gen')} FROM member_snapshots ms"
    " WHERE ms.guild_id = ? AND ms.user_id = ? AND ms.gen = ? LIMIT 1"
)
MESSAGE_SELECT: typing.Final[str] = (
    "SELECT m.data, m.id, m.author_id, m.guild_id, m.has_member, m.referenced_id, m.mentions_known, m.member_gen,"
    f" {_user_record('m.author_id', 'm.author_gen')} FROM messages m"
)
USER_SELECT: typing.Final[str] = "SELECT data FROM user_records"
EMOJI_SELECT: typing.Final[str] = f"SELECT e.data, {_user_record('e.user_id', 'e.user_gen')} FROM emojis e"
STICKER_SELECT: typing.Final[str] = f"SELECT st.data, {_user_record('st.user_id', 'st.user_gen')} FROM stickers st"
INVITE_SELECT: typing.Final[str] = (
    f"SELECT i.data, {_user_record('i.inviter_id', 'i.inviter_gen')},"
    f" {_user_record('i.target_user_id', 'i.target_user_gen')} FROM invites i"
)

_MAX_REPLY_DEPTH: typing.Final[int] = 16
_loads = codec.loads
# Entities re-attached below are not frozen, but `object.__setattr__` would also work if they were.
_set = object.__setattr__


class Reader:
    """Turns rows into hikari objects bound to ``app``."""

    __slots__: typing.Sequence[str] = ("_app", "_backend", "fetch_one_now")

    def __init__(self, backend: Backend, app: hikari.RESTAware | None) -> None:
        self._backend = backend
        self._app = app
        # `fetch_one` answered at once where the backend can (SQLite's `_fetch_one_now`: a lookup
        # without a coroutine when its loop-thread reader answers).
        self.fetch_one_now: _FetchNow | None = getattr(backend, "_fetch_one_now", None)

    @property
    def backend(self) -> Backend:
        """Where the rows are read from."""
        return self._backend

    def decode(self, raw: bytes | str) -> typing.Any:
        return _loads(raw, self._app)

    async def held_member(self, guild_id: int, user_id: int, gen: int | None) -> hikari.Member | None:
        """The member record ``gen`` that a voice state or message holds."""
        key = (guild_id, user_id, gen)
        row = await self._backend.fetch_one(_HELD_MEMBER, (*key, *key))
        return self.build_member(row) if row is not None else None

    def build_member(self, row: Row) -> hikari.Member:
        data, user = row
        member: hikari.Member = _loads(data, self._app)
        if user is not None:
            _set(member, "user", _loads(user, self._app))
        return member

    def build_plain(self, row: Row) -> typing.Any:
        return _loads(row[0], self._app)

    async def build_voice_state(self, row: Row) -> hikari.VoiceState:
        state: hikari.VoiceState = self.decode(row[0])
        if row[1]:
            object.__setattr__(state, "member", await self.held_member(row[2], row[3], row[4]))
        return state

    def build_owned(self, row: Row) -> typing.Any:
        """Emojis and stickers: re-attach the creator."""
        item = self.decode(row[0])
        if row[1] is not None:
            object.__setattr__(item, "user", self.decode(row[1]))
        return item

    def build_invite(self, row: Row) -> hikari.InviteWithMetadata:
        invite: hikari.InviteWithMetadata = self.decode(row[0])
        if row[1] is not None:
            object.__setattr__(invite, "inviter", self.decode(row[1]))
        if row[2] is not None:
            object.__setattr__(invite, "target_user", self.decode(row[2]))
        return invite

    async def message(self, message_id: int, depth: int = 0) -> hikari.Message | None:
        row = await self._backend.fetch_one(MESSAGE_SELECT + " WHERE m.id = ?", (message_id,))
        return await self.build_message(row, depth) if row is not None else None

    async def build_message(self, row: Row, depth: int = 0) -> hikari.Message:
        message: hikari.Message = self.decode(row[0])
        _, message_id, author_id, guild_id, has_member, referenced_id, mentions_known, member_gen, author = row
        if author is not None:
            object.__setattr__(message, "author", self.decode(author))
        if has_member and guild_id is not None:
            object.__setattr__(message, "member", await self.held_member(guild_id, author_id, member_gen))
        if mentions_known == 1:  # shared user records; 2 means detached copies kept in the data
            mentions: dict[hikari.Snowflake, hikari.User] = {}
            async for chunk in self._backend.fetch(
                f"SELECT mm.user_id, {_user_record('mm.user_id', 'mm.user_gen')} FROM message_mentions mm"
                " WHERE mm.message_id = ?",
                (message_id,),
            ):
                for user_id, raw in chunk:
                    if raw is not None:
                        mentions[hikari.Snowflake(user_id)] = self.decode(raw)
            object.__setattr__(message, "user_mentions", mentions)
        if referenced_id is not None and depth < _MAX_REPLY_DEPTH:
            object.__setattr__(message, "referenced_message", await self.message(referenced_id, depth + 1))
        return message
