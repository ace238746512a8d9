"""Deterministic generator of a realistic, varied recorded Discord gateway session.

A session is a stream of records ``(event_name, shard_id, payload)`` where ``payload`` is the gateway
dispatch ``d`` object, exactly what :meth:`hikari.api.EventManager.consume_raw_event` takes.  The stream
starts like a real bot connecting (one ``READY`` per shard followed by its ``GUILD_CREATE`` burst and
member chunks) and then interleaves the everyday churn of a live bot: messages, edits, reactions,
presences, voice, members joining/leaving, channels, threads, roles, emojis, invites, an outage, a
guild leave and a resume.

The example objects of the Discord API documentation in ``payloads/`` (see ``payloads/README.md``)
are all put into the stream the way that README describes; everything else is synthesized around
them from a seeded :class:`random.Random`, so the same parameters always give the same records.

With ``varied=True`` the stream also carries the edge cases a persistent cache must survive: optional
fields absent or null, hostile unicode, unknown enum values and channel types, updates for entities
that were never created, an event name hikari does not know and two deliberately malformed payloads
(see :func:`is_deliberately_unparseable`).
"""

from __future__ import annotations

__all__ = [
    "BOT_APPLICATION_ID",
    "BOT_USER_ID",
    "GatewayRecord",
    "generate_session",
    "is_deliberately_unparseable",
    "load_docs_payloads",
    "make_ready_payload",
    "read_session",
    "shard_for_guild",
    "write_session",
]

import gzip
import itertools
import json
import math
import random
import time
import typing
from pathlib import Path
from typing import Any, Final, Generic, TypeAlias, TypeVar

if typing.TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence


try:
    import orjson

    def _dumps(obj: object) -> bytes:
        return orjson.dumps(obj)

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

except ImportError:  # pragma: no cover - orjson is a dependency; plain json is only a fallback

    def _dumps(obj: object) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    def _loads(data: bytes) -> Any:
        return json.loads(data)


GatewayRecord: TypeAlias = tuple[str, int, dict[str, Any]]
"""One dispatch of a recorded session: ``(event_name, shard_id, payload)``."""

_Payload: TypeAlias = dict[str, Any]
_Due: TypeAlias = "tuple[float, str, Callable[[], bool], Callable[[], bool] | None]"
_T = TypeVar("_T")

BOT_USER_ID: Final = 123456789012345678
"""The bot's own user id (the id encoded in the token :mod:`hikaripersist._internal.offline` uses)."""

BOT_APPLICATION_ID: Final = BOT_USER_ID
"""The bot's application id (equal to its user id, as for every bot created since 2019)."""

_BOT: Final = str(BOT_USER_ID)
_DISCORD_EPOCH_MS: Final = 1_420_070_400_000
_SESSION_START_MS: Final = 1_748_779_200_000  # 2025-06-01T12:00:00Z
_YEAR_MS: Final = 31_557_600_000
_PAYLOAD_DIR: Final = Path(__file__).parent / "payloads"
_LARGE_THRESHOLD: Final = 250  # hikari identifies with large_threshold=250
_CHUNK_SIZE: Final = 1000  # Discord sends at most 1000 members per GUILD_MEMBERS_CHUNK
_RECENT_MESSAGES: Final = 4096  # edits, reactions and deletes target recent messages only

# Permission integers as Discord sends them (strings).
_EVERYONE_PERMS: Final = "2248473465835073"
_MOD_PERMS: Final = "1099511627775"
_SEND_MESSAGES: Final = 1 << 11
_VIEW_CHANNEL: Final = 1 << 10

_DOCS_GUILD_ID: Final = "197038439483310086"
_DOCS_TEXT_CHANNEL_ID: Final = "41771983423143937"
_DOCS_VOICE_CHANNEL_ID: Final = "155101607195836416"

# Edge-case record shapes hikari 2.6 cannot deserialize; see is_deliberately_unparseable().
_UNPARSEABLE_MISSING_KEY: Final = {"GUILD_MEMBER_ADD": "user", "THREAD_CREATE": "thread_metadata"}

_WORDS: Final = (
    "pixel", "wolf", "moon", "byte", "fox", "sun", "ghost", "cat", "dev", "rain", "nova", "echo", "frost",
    "ember", "mint", "orbit", "maple", "tide", "zen", "lynx",
)  # fmt: skip
_NAMES: Final = (
    "alex", "sam", "kai", "mika", "jules", "river", "sky", "zoe", "leo", "ivy", "max", "ash", "rin", "yuki",
    "omar", "lena", "finn", "maya", "theo", "noor", "ravi", "elif", "sven", "ana", "luca", "hana", "ezra",
    "iris", "juno", "tariq", "chen", "aiko", "bram", "dara", "femi", "goran", "ines", "jonas", "kofi", "lior",
)  # fmt: skip
_GLOBAL_NAMES: Final = (
    "Zoë", "Łukasz", "Renée", "José", "Ørjan", "Ærin", "Saša", "Ahmet Yılmaz", "Nguyễn Văn An", "Иван",  # noqa: RUF001
    "Ελένη", "محمد", "שרה", "李小龙", "さくら", "김민준", "Ravi ☕", "✨ nova ✨", "🦊 Fox", "Mx. Pixel",
    "Dr. Byte", "la rana 🐸", "Ñandú", "Þór", "Kübra", "Ιωάννης", "Олена", "अर्जुन", "สมชาย", "Amélie",
)  # fmt: skip
# Only in varied sessions: names that break naive escaping, collation and rendering.
_HOSTILE_NAMES: Final = (
    "'); DROP TABLE users;--",
    'O\'Brien "The Ghost"',
    "back\\slash\\",
    "zero\u200bwidth\u200d",
    "\u202egnp.exe",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "Z̵̢a̸͎l̴̰g̷̱o̶͉",
    "𝔉𝔞𝔫𝔠𝔶 𝕿𝖊𝖝𝖙",  # noqa: RUF001 - look-alike letters on purpose
    "%s%n{0}${x}",
    "مرحبا עולם mixed",
)
_SENTENCES: Final = (
    "hey everyone!",
    "anyone up for a game tonight?",
    "lol",
    "that patch broke everything again 😅",
    "gm ☀️",
    "has anyone tried the new update?",
    "brb",
    "I pushed the fix, can someone review?",
    "```py\nprint('hello world')\n```",
    "check the pinned messages first",
    "**bold** _italic_ ~~strike~~ ||spoiler||",
    "> quoting this for later",
    "https://example.com/article?id=42&ref=discord",
    "Guten Morgen zusammen 👋",
    "¿alguien sabe cómo se hace esto?",
    "ça marche pour moi",
    "今日はいい天気ですね",
    "спасибо большое!",
    "مرحبا بالجميع",
    "שלום לכולם",
    "🎉🎉🎉",
    "+1",
    "ok",
    "no way 😂😂",
    "# Heading\n- list item\n- another one",
    "-# small text footnote",
)
_HOSTILE_CONTENT: Final = (
    "Robert'); DROP TABLE messages;--",
    "' OR '1'='1",
    "quotes \"double\" 'single' `back`",
    "C:\\Users\\bot\\path\\n not a newline \\u0000",
    "\u202eRTL override then normal",
    "זה טקסט מימין לשמאל עם English באמצע",
    "zero\u200bwidth\u200cjoiners\u200d\ufeff",
    "👩\u200d💻👨\u200d👩\u200d👧\u200d👦🏳️\u200d🌈🇺🇦",
    "<script>alert(1)</script>",
    "%s %d {0} {{x}} ${HOME}",
    "NULL",
    "",
)
_UNICODE_EMOJIS: Final = ("👍", "❤️", "😂", "🔥", "🎉", "👀", "✅", "😭", "🙏", "💯", "🤔", "🐸", "👋🏽", "🇯🇵")
_GAMES: Final = ("Minecraft", "Elden Ring", "Stardew Valley", "Rocket League", "Factorio", "Hades II", "Celeste")
_CUSTOM_STATUSES: Final = ("studying 📚", "do not disturb pls", "on vacation 🏖️", "building something", "🎧")
_EMOJI_NAMES: Final = (
    "pepe_hands", "kekw", "catjam", "blobheart", "partyparrot", "thonk", "pog", "sadge", "ayaya", "wumpus_wave",
    "peepo_love", "nod", "yikes", "ferris",
)  # fmt: skip
_LOCALES: Final = ("en-US", "en-GB", "de", "fr", "ja", "pt-BR", "es-ES", "ko", "tr", "nl")
_FEATURES: Final = (
    "COMMUNITY", "NEWS", "WELCOME_SCREEN_ENABLED", "MEMBER_VERIFICATION_GATE_ENABLED", "PREVIEW_ENABLED",
    "ANIMATED_ICON", "BANNER", "ROLE_ICONS", "SOUNDBOARD", "AUTO_MODERATION", "GUILD_ONBOARDING", "INVITE_SPLASH",
)  # fmt: skip


def shard_for_guild(guild_id: int | str, shard_count: int) -> int:
    """Return the shard a guild's events arrive on.

    Parameters
    ----------
    guild_id
        The guild id.
    shard_count
        The total number of shards.

    Returns
    -------
    int
        ``(guild_id >> 22) % shard_count``, Discord's sharding formula.
    """
    return (int(guild_id) >> 22) % shard_count


def is_deliberately_unparseable(event_name: str, payload: Mapping[str, Any]) -> bool:
    """Tell whether a record is one of the few deliberately malformed ones of a ``varied`` session.

    Parameters
    ----------
    event_name
        The record's event name.
    payload
        The record's payload.

    Returns
    -------
    bool
        Whether hikari 2.6 is expected to fail deserializing this record.
    """
    missing = _UNPARSEABLE_MISSING_KEY.get(event_name)
    return missing is not None and missing not in payload


def load_docs_payloads() -> dict[str, dict[str, Any]]:
    """Load the Discord API documentation example objects shipped in ``payloads/``.

    Returns
    -------
    dict[str, dict[str, typing.Any]]
        A fresh copy of every example object, keyed by file name without ``.json``
        (``adaptations.json``, the list of changes made to them, is not included).
    """
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(_PAYLOAD_DIR.glob("*.json"))
        if path.stem != "adaptations"
    }


def _bot_user() -> _Payload:
    return {
        "id": _BOT,
        "username": "PersistBot",
        "global_name": None,
        "discriminator": "4242",
        "avatar": "1f2e3d4c5b6a79881f2e3d4c5b6a7988",
        "avatar_decoration_data": None,
        "bot": True,
        "public_flags": 65536,
        "primary_guild": None,
        "clan": None,
    }


def _own_user(public: Mapping[str, Any]) -> _Payload:
    # READY/USER_UPDATE carry the private fields of the bot's own user on top of the public ones.
    return {**public, "verified": True, "mfa_enabled": False, "email": None, "flags": 65536, "premium_type": 0}


def make_ready_payload(
    *,
    shard_id: int = 0,
    shard_count: int = 1,
    guild_ids: Iterable[int | str] = (),
    session_id: str = "4d1a0bd1c0ffee5e55104d1a0bd1c0ff",
    user: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a gateway v10 ``READY`` payload for the bot.

    Parameters
    ----------
    shard_id
        The shard receiving it.
    shard_count
        The total number of shards.
    guild_ids
        The guilds of this shard, announced as unavailable as Discord does.
    session_id
        The gateway session id.
    user
        The bot's own user object; defaults to the bot user with id :data:`BOT_USER_ID`.

    Returns
    -------
    dict[str, typing.Any]
        The ``d`` object of the ``READY`` dispatch.
    """
    return {
        "v": 10,
        "user": dict(user) if user is not None else _own_user(_bot_user()),
        "user_settings": {},
        "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in guild_ids],
        "guild_join_requests": [],
        "relationships": [],
        "private_channels": [],
        "presences": [],
        "geo_ordered_rtc_regions": ["rotterdam", "frankfurt", "london", "madrid", "stockholm"],
        "session_type": "normal",
        "session_id": session_id,
        "resume_gateway_url": "wss://gateway-us-east1-c.discord.gg",
        "application": {"id": str(BOT_APPLICATION_ID), "flags": 8953856},
        "shard": [shard_id, shard_count],
        "auth": {},
        "_trace": ['["gateway-prd-us-east1-c-1x2y",{"micros":123456,"calls":[]}]'],
    }


def write_session(
    path: str | os.PathLike[str], records: Iterable[GatewayRecord], *, progress: Callable[[int], None] | None = None
) -> int:
    """Write records as JSON lines, one ``{"t": name, "s": shard, "d": payload}`` per line.

    Parameters
    ----------
    path
        The file to write; a ``.gz`` suffix writes it gzip-compressed.
    records
        The records, e.g. from :func:`generate_session`.
    progress
        Called with the number of records written so far, every 10 000 records and at the end.

    Returns
    -------
    int
        The number of records written.
    """
    path = Path(path)
    count = 0
    with gzip.open(path, "wb") if path.suffix == ".gz" else path.open("wb") as file:
        for name, shard, payload in records:
            file.write(_dumps({"t": name, "s": shard, "d": payload}))
            file.write(b"\n")
            count += 1
            if progress is not None and count % 10_000 == 0:
                progress(count)

    if progress is not None:
        progress(count)

    return count


def read_session(path: str | os.PathLike[str]) -> Iterator[GatewayRecord]:
    """Read records written by :func:`write_session`, lazily.

    Parameters
    ----------
    path
        The JSON lines file (``.gz`` is decompressed).

    Yields
    ------
    GatewayRecord
        ``(event_name, shard_id, payload)`` in file order.
    """
    path = Path(path)
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as file:
        for line in file:
            if line.strip():
                entry = _loads(line)
                yield entry["t"], int(entry["s"]), entry["d"]


def generate_session(
    *,
    seed: int = 0,
    guilds: int = 3,
    members: Sequence[int] | int = (2000, 800, 150),
    messages_per_channel: int = 20,
    churn: float = 1.0,
    shard_count: int = 1,
    varied: bool = True,
) -> Iterator[GatewayRecord]:
    """Generate a deterministic, realistic recorded gateway session.

    Besides the ``guilds`` synthetic guilds the session always contains the documentation's Example
    Guild (small, scripted), its Example Unavailable Guild (listed in ``READY``, never available) and a
    small guild the bot leaves half-way.  With two or more synthetic guilds the last one is joined
    after ``READY`` (``GUILD_CREATE`` without ``unavailable``); the first one has an outage.

    Parameters
    ----------
    seed
        Seed of the :class:`random.Random` driving every choice; same arguments, same records.
    guilds
        Number of synthetic guilds (at least 1).
    members
        Member count of each synthetic guild, bot included (cycled if shorter than ``guilds``), or one
        count for all.  Guilds above 250 members are ``large`` and get their members through
        ``GUILD_MEMBERS_CHUNK``.
    messages_per_channel
        Average number of ``MESSAGE_CREATE`` per text-capable channel and thread.
    churn
        Scale factor of the non-message churn (presences, members, voice, channels, roles...); ``0``
        keeps only the scripted events.
    shard_count
        Number of shards; guild events go to ``(guild_id >> 22) % shard_count``, DMs to shard 0 and
        every shard gets its own ``READY`` listing only its guilds.
    varied
        Whether to include the edge cases (hostile unicode, unknown types, updates of unknown
        entities, malformed payloads...).

    Yields
    ------
    GatewayRecord
        ``(event_name, shard_id, payload)`` in session order.  Payloads are fresh dicts that are never
        mutated after being yielded (nested objects may be shared between records).

    Raises
    ------
    ValueError
        If a parameter is out of range.
    """
    if guilds < 1:
        msg = "guilds must be at least 1"
        raise ValueError(msg)
    if shard_count < 1:
        msg = "shard_count must be at least 1"
        raise ValueError(msg)
    sizes = [members] * guilds if isinstance(members, int) else [members[i % len(members)] for i in range(guilds)]
    if not sizes or min(sizes) < 2:
        msg = "every guild needs at least 2 members (the bot and someone else)"
        raise ValueError(msg)
    if messages_per_channel < 0 or churn < 0:
        msg = "messages_per_channel and churn must not be negative"
        raise ValueError(msg)

    builder = _SessionBuilder(
        seed=seed,
        sizes=sizes,
        messages_per_channel=messages_per_channel,
        churn=churn,
        shard_count=shard_count,
        varied=varied,
    )
    return builder.run()


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}000+00:00"


class _Bag(Generic[_T]):
    """A set with O(1) add, discard and uniform random choice."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[_T] = ()) -> None:
        self._items: list[_T] = []
        self._index: dict[_T, int] = {}
        for item in items:
            self.add(item)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._index

    def items(self) -> list[_T]:
        return list(self._items)

    def add(self, item: _T) -> None:
        if item not in self._index:
            self._index[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: _T) -> None:
        index = self._index.pop(item, None)
        if index is None:
            return
        last = self._items.pop()
        if index < len(self._items):
            self._items[index] = last
            self._index[last] = index

    def choice(self, rng: random.Random) -> _T:
        return self._items[rng.randrange(len(self._items))]


class _Guild:
    """Mutable generator-side state of one guild; payload dicts stored here are never mutated."""

    __slots__ = (
        "base",
        "booster_role_id",
        "bot_role_id",
        "bot_threads",
        "channels",
        "chatters",
        "churn_channels",
        "churn_roles",
        "created_ms",
        "emoji_creators",
        "emojis",
        "id",
        "invites",
        "joined_at",
        "kind",
        "large",
        "member_ids",
        "members",
        "mod_ids",
        "online",
        "owner_id",
        "roles",
        "shard",
        "status",
        "sticker_creators",
        "stickers",
        "text_ids",
        "thread_ids",
        "thread_parents",
        "threads",
        "voice",
        "voice_ids",
    )

    def __init__(self, guild_id: str, shard: int, kind: str) -> None:
        self.id = guild_id
        self.shard = shard
        self.kind = kind  # "synthetic" | "docs" | "ephemeral"
        self.status = "pending"  # -> "active" -> "outage"/"left"
        self.created_ms = (int(guild_id) >> 22) + _DISCORD_EPOCH_MS
        self.base: _Payload = {}
        self.joined_at = ""
        self.large = False
        self.owner_id = ""
        self.roles: dict[str, _Payload] = {}
        self.bot_role_id = ""
        self.booster_role_id = ""
        self.mod_ids: list[str] = []
        self.churn_roles = _Bag[str]()
        self.channels: dict[str, _Payload] = {}
        self.text_ids = _Bag[str]()  # channels messages can be sent in
        self.voice_ids: list[str] = []
        self.thread_parents: list[str] = []
        self.churn_channels = _Bag[str]()  # channels created during the session, safe to delete
        self.threads: dict[str, _Payload] = {}
        self.thread_ids = _Bag[str]()  # unarchived threads messages can be sent in
        self.bot_threads: set[str] = set()
        self.emojis: dict[str, _Payload] = {}  # without "user"; see emoji_creators
        self.emoji_creators: dict[str, str] = {}
        self.stickers: dict[str, _Payload] = {}
        self.sticker_creators: dict[str, str] = {}
        self.members: dict[str, _Payload] = {}  # member objects without "user" (the user is global)
        self.member_ids = _Bag[str]()  # every member but the bot
        self.chatters = _Bag[str]()  # members who do most of the talking
        self.online: dict[str, _Payload] = {}  # presence objects (without guild_id) of online members
        self.voice: dict[str, _Payload] = {}  # voice states without guild_id/member
        self.invites: dict[str, str] = {}  # code -> channel id


class _SessionBuilder:
    """Builds the session; ``run`` yields the records."""

    __slots__ = (
        "_active_cache",
        "_churn",
        "_counter",
        "_dm_channels",
        "_docs",
        "_due",
        "_guilds",
        "_iso_cache",
        "_message_guild",
        "_messages",
        "_messages_per_channel",
        "_now",
        "_out",
        "_reactions",
        "_recent",
        "_recent_by_channel",
        "_recent_pos",
        "_removed_users",
        "_reserved_ids",
        "_rng",
        "_shard_count",
        "_shared_users",
        "_sizes",
        "_users",
        "_varied",
        "_webhooks",
    )

    def __init__(
        self,
        *,
        seed: int,
        sizes: list[int],
        messages_per_channel: int,
        churn: float,
        shard_count: int,
        varied: bool,
    ) -> None:
        self._rng = random.Random(seed)
        self._sizes = sizes
        self._messages_per_channel = messages_per_channel
        self._churn = churn
        self._shard_count = shard_count
        self._varied = varied
        self._now = _SESSION_START_MS + self._rng.randrange(86_400_000)
        self._iso_cache = (0, "")
        self._counter = 0
        self._out: list[GatewayRecord] = []
        self._docs = load_docs_payloads()
        self._reserved_ids = self._collect_docs_ids()
        self._users: dict[str, _Payload] = {_BOT: _bot_user()}
        # Docs users are registered so messages refreshed later keep carrying them.
        for user in (self._docs["user"], self._docs["message"]["author"], self._docs["channel_dm"]["recipients"][0]):
            self._users.setdefault(user["id"], user)
        self._guilds: list[_Guild] = []
        self._shared_users: list[str] = []
        self._removed_users: list[tuple[str, str]] = []  # (guild id, user id) for re-joins
        self._dm_channels: dict[str, str] = {}
        self._webhooks: dict[str, _Payload] = {}  # channel id -> webhook user
        self._messages: dict[str, _Payload] = {}  # live messages, as last sent
        self._message_guild: dict[str, _Guild | None] = {}
        self._recent: list[str] = []
        self._recent_pos = 0
        self._recent_by_channel: dict[str, list[str]] = {}
        self._reactions: dict[str, list[tuple[str, _Payload]]] = {}  # message id -> (user id, emoji)
        self._due: list[_Due] = []
        self._active_cache: tuple[list[_Guild], list[float]] | None = None

    # ------------------------------------------------------------------ basics

    def _collect_docs_ids(self) -> set[int]:
        found: set[int] = set()

        def walk(value: object) -> None:
            if isinstance(value, dict):
                for key, item in typing.cast("dict[str, object]", value).items():
                    if key.endswith("id") and isinstance(item, str) and item.isdigit():
                        found.add(int(item))
                    walk(item)
            elif isinstance(value, list):
                for item in typing.cast("list[object]", value):
                    walk(item)

        walk(self._docs)
        return found

    def _emit(self, name: str, shard: int, payload: _Payload) -> None:
        self._out.append((name, shard, payload))

    def _tick(self, low: int = 20, high: int = 1500) -> None:
        self._now += self._rng.randint(low, high)

    @property
    def _iso_now(self) -> str:
        cached_ms, cached = self._iso_cache
        if cached_ms != self._now:
            cached = _iso(self._now)
            self._iso_cache = (self._now, cached)
        return cached

    def _snowflake_at(self, ms: int) -> str:
        while True:
            self._counter += 1
            value = ((ms - _DISCORD_EPOCH_MS) << 22) | (self._counter & 0x3FFFFF)
            if value not in self._reserved_ids:
                return str(value)

    def _snowflake(self) -> str:
        return self._snowflake_at(self._now)

    def _past_ms(self, years_back_max: float, years_back_min: float = 0.0) -> int:
        low = self._now - int(years_back_max * _YEAR_MS)
        high = self._now - int(years_back_min * _YEAR_MS)
        return self._rng.randrange(max(low, _DISCORD_EPOCH_MS + 1), max(high, _DISCORD_EPOCH_MS + 2))

    def _past_snowflake(self, years_back_max: float, years_back_min: float = 0.0) -> str:
        return self._snowflake_at(self._past_ms(years_back_max, years_back_min))

    def _since(self, g: _Guild, *, until_years_ago: float = 0.0) -> str:
        """A snowflake from between the guild's creation and ``until_years_ago``."""
        high = self._now - int(until_years_ago * _YEAR_MS)
        return self._snowflake_at(self._rng.randrange(g.created_ms + 1, max(high, g.created_ms + 2)))

    def _hash(self, animated_chance: float = 0.0) -> str:
        value = f"{self._rng.getrandbits(128):032x}"
        return "a_" + value if self._rng.random() < animated_chance else value

    def _maybe(self, chance: float) -> bool:
        return self._rng.random() < chance

    def _text(self) -> str:
        rng = self._rng
        if self._varied and rng.random() < 0.03:
            return rng.choice(_HOSTILE_CONTENT) or "…"
        text = rng.choice(_SENTENCES)
        if rng.random() < 0.15:
            text += " " + rng.choice(_UNICODE_EMOJIS)
        return text

    # ------------------------------------------------------------------ users and members

    def _new_user(self, *, bot: bool = False) -> str:
        rng = self._rng
        uid = self._past_snowflake(9.0, 0.1)
        legacy = not bot and rng.random() < 0.05  # never migrated: unicode username with a discriminator
        if bot:
            username = f"{rng.choice(_WORDS)}{rng.choice(('bot', 'helper', 'mod', 'music'))}"
        elif legacy:
            username = rng.choice(_GLOBAL_NAMES)
        else:
            base = rng.choice(_NAMES)
            pattern = rng.random()
            if pattern < 0.4:
                username = f"{base}{rng.randrange(1, 9999)}"
            elif pattern < 0.7:
                username = f"{base}_{rng.choice(_WORDS)}"
            else:
                username = f"{base}.{rng.choice(_WORDS)}{rng.randrange(100)}"

        global_name: str | None
        if bot:
            global_name = None
        elif self._varied and rng.random() < 0.01:
            global_name = rng.choice(_HOSTILE_NAMES)
        elif rng.random() < 0.55:
            global_name = rng.choice(_GLOBAL_NAMES)
        else:
            global_name = None if rng.random() < 0.5 else username.capitalize()

        user: _Payload = {
            "id": uid,
            "username": username,
            "global_name": global_name,
            "discriminator": f"{rng.randrange(1, 10000):04d}" if bot or legacy else "0",
            "avatar": self._hash(0.1) if rng.random() < 0.8 else None,
            "avatar_decoration_data": None,
            "public_flags": rng.choice((0, 0, 0, 64, 128, 256, 4194304)) if not bot else 0,
        }
        if bot:
            user["bot"] = True
        if rng.random() < 0.03:
            user["avatar_decoration_data"] = {
                "asset": self._hash(0.5),
                "sku_id": self._past_snowflake(1.5),
                "expires_at": None,
            }
        if rng.random() < 0.04:
            user["primary_guild"] = {
                "identity_guild_id": self._past_snowflake(5),
                "identity_enabled": True,
                "tag": rng.choice(("DISC", "GG", "WOLF", "ZEN", "★")),
                "badge": self._hash(),
            }
        elif rng.random() < 0.3:
            # Newer clients send these keys as null; older payloads lack them altogether.
            user["primary_guild"] = None
            user["collectibles"] = None
        if self._varied and rng.random() < 0.05:
            del user["global_name"]  # absent, not null
        self._users[uid] = user
        return uid

    def _member_core(
        self, g: _Guild, uid: str, *, joined_ms: int | None = None, roles: list[str] | None = None
    ) -> _Payload:
        rng = self._rng
        varied = self._varied
        if roles is None:
            roles = self._pick_roles(g)
        age_years = (self._now - g.created_ms) / _YEAR_MS
        joined = joined_ms if joined_ms is not None else self._past_ms(min(4.0, age_years), 0.0)
        core: _Payload = {
            "roles": roles,
            "nick": rng.choice(_GLOBAL_NAMES) if rng.random() < 0.12 else None,
            "avatar": self._hash(0.2) if rng.random() < 0.04 else None,
            "banner": None,
            "joined_at": _iso(joined),
            "premium_since": None,
            "deaf": False,
            "mute": rng.random() < 0.005,
            "pending": False,
            "flags": rng.choice((0, 0, 0, 2, 10)),
            "communication_disabled_until": None,
        }
        if g.booster_role_id in roles:
            core["premium_since"] = _iso(self._past_ms(1.5))
        if rng.random() < 0.005:
            # A timed-out member (in varied sessions sometimes an already expired timeout).
            until = self._now + rng.randrange(60_000, 604_800_000)
            if varied and rng.random() < 0.5:
                until = self._now - rng.randrange(60_000, 86_400_000)
            core["communication_disabled_until"] = _iso(until)
        if varied:
            roll = rng.random()
            if roll < 0.05:
                del core["nick"]  # absent instead of null
            elif roll < 0.1:
                del core["pending"]
                del core["communication_disabled_until"]
            elif roll < 0.12:
                core["avatar_decoration_data"] = None
                core["unusual_dm_activity_until"] = None
        return core

    def _pick_roles(self, g: _Guild) -> list[str]:
        rng = self._rng
        assignable = [rid for rid, role in g.roles.items() if not role["managed"] and rid != g.id]
        roles: list[str] = []
        if not assignable:
            return roles
        if rng.random() < 0.8:
            roles.append(assignable[0])  # the "Member" role
        if rng.random() < 0.25:
            choice = rng.choice(assignable)
            if choice not in roles:
                roles.append(choice)
        if g.booster_role_id and rng.random() < 0.03:
            roles.append(g.booster_role_id)
        return roles

    def _full_member(self, g: _Guild, uid: str) -> _Payload:
        return {"user": self._users[uid], **g.members[uid]}

    def _add_member(self, g: _Guild, uid: str, core: _Payload, *, chatter_chance: float = 0.15) -> None:
        g.members[uid] = core
        if uid != _BOT:
            g.member_ids.add(uid)
            if self._rng.random() < chatter_chance:
                g.chatters.add(uid)

    def _remove_member_state(self, g: _Guild, uid: str) -> None:
        g.members.pop(uid, None)
        g.member_ids.discard(uid)
        g.chatters.discard(uid)
        g.online.pop(uid, None)
        g.voice.pop(uid, None)

    def _pick_author(self, g: _Guild) -> str:
        if len(g.chatters) and self._rng.random() < 0.85:
            return g.chatters.choice(self._rng)
        return g.member_ids.choice(self._rng)

    # ------------------------------------------------------------------ presences

    def _activity(self) -> _Payload:
        rng = self._rng
        created = self._now - rng.randrange(1000, 7_200_000)
        kind = rng.random()
        if kind < 0.3:
            emoji: _Payload | None
            if rng.random() < 0.7:
                emoji = {"name": rng.choice(_UNICODE_EMOJIS)}
            elif rng.random() < 0.5:
                emoji = {
                    "name": rng.choice(_EMOJI_NAMES),
                    "id": self._past_snowflake(3),
                    "animated": rng.random() < 0.3,
                }
            else:
                emoji = None
            activity: _Payload = {"type": 4, "name": "Custom Status", "state": rng.choice(_CUSTOM_STATUSES)}
            activity["id"] = "custom"
            if emoji is not None:
                activity["emoji"] = emoji
            activity["created_at"] = created
            return activity
        if kind < 0.6:
            activity = {
                "type": 0,
                "name": rng.choice(_GAMES),
                "id": f"{rng.getrandbits(64):x}",
                "created_at": created,
                "timestamps": {"start": created - rng.randrange(1000, 3_600_000)},
                "application_id": self._past_snowflake(6),
            }
            if rng.random() < 0.5:
                activity["details"] = rng.choice(("In a match", "Main menu", "Ranked 2v2", "Exploring"))
                activity["state"] = rng.choice(("Playing solo", "In a party", "Idle"))
                activity["assets"] = {"large_image": self._past_snowflake(6), "large_text": "Level 42"}
            if rng.random() < 0.1:
                activity["buttons"] = ["Join game", "Website"]
                activity["party"] = {"id": f"party:{rng.getrandbits(32):x}", "size": [1, 4]}
            return activity
        if kind < 0.75:
            return {
                "type": 2,
                "name": "Spotify",
                "id": "spotify:1",
                "flags": 48,
                "details": rng.choice(("Song 2", "Clair de Lune", "Blinding Lights", "Дождь", "夜に駆ける")),
                "state": rng.choice(("Blur", "Claude Debussy", "The Weeknd", "Земфира", "YOASOBI")),
                "timestamps": {"start": created, "end": created + rng.randrange(120_000, 360_000)},
                "assets": {"large_image": f"spotify:ab67616d0000b273{rng.getrandbits(96):024x}", "large_text": "Album"},
                "party": {"id": f"spotify:{rng.getrandbits(60)}"},
                "sync_id": f"{rng.getrandbits(110):022x}",
                "session_id": f"{rng.getrandbits(128):032x}",
                "created_at": created,
            }
        if kind < 0.85:
            return {
                "type": 1,
                "name": "Twitch",
                "url": "https://www.twitch.tv/" + rng.choice(_NAMES),
                "details": "chill stream, come say hi",
                "state": rng.choice(_GAMES),
                "assets": {"large_image": "twitch:" + rng.choice(_NAMES)},
                "created_at": created,
            }
        if kind < 0.93:
            return {"type": 3, "name": rng.choice(("YouTube", "Netflix", "a movie")), "created_at": created}
        return {"type": 5, "name": rng.choice(("Arena", "Tournament", "Ranked")), "created_at": created}

    def _presence(self, uid: str, status: str | None = None) -> _Payload:
        rng = self._rng
        if status is None:
            roll = rng.random()
            status = "online" if roll < 0.6 else "idle" if roll < 0.8 else "dnd"
        activities = [self._activity() for _ in range(rng.choice((0, 0, 1, 1, 1, 2)))]
        platforms = rng.choice((("desktop",), ("mobile",), ("web",), ("desktop", "mobile")))
        return {
            "user": {"id": uid},
            "status": status,
            "activities": activities,
            "client_status": dict.fromkeys(platforms, status),
        }

    # ------------------------------------------------------------------ guild construction

    def _role(self, g: _Guild, name: str, position: int, **overrides: Any) -> _Payload:
        rng = self._rng
        color = overrides.pop("color", rng.choice((0, 0, 3447003, 15844367, 10181046, 15158332, 3066993)))
        role: _Payload = {
            "id": overrides.pop("id", None) or self._since(g, until_years_ago=0.05),
            "name": name,
            "description": None,
            "permissions": overrides.pop("permissions", "0"),
            "position": position,
            "color": color,
            "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
            "hoist": overrides.pop("hoist", False),
            "managed": overrides.pop("managed", False),
            "mentionable": overrides.pop("mentionable", False),
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        role.update(overrides)
        if self._varied and rng.random() < 0.15:
            del role["colors"]  # payloads from before role gradients lack it
        return role

    def _make_roles(self, g: _Guild, size: int) -> None:
        rng = self._rng
        roles = [
            self._role(g, "@everyone", 0, id=g.id, permissions=_EVERYONE_PERMS, color=0),
            self._role(g, "Member", 1, permissions="0"),
            self._role(g, "Red", 2, color=15158332, unicode_emoji="🔴"),
            self._role(g, "Blue", 3, color=3447003, unicode_emoji="🔵"),
        ]
        if size >= 500:
            roles += [self._role(g, f"Level {level}", 4 + i, hoist=False) for i, level in enumerate((5, 10, 25, 50))]
        roles += [
            self._role(
                g, "Server Booster", len(roles), managed=True, color=16023551, tags={"premium_subscriber": None}
            ),
            self._role(g, "Moderator", len(roles) + 1, permissions=_MOD_PERMS, hoist=True, mentionable=True),
            self._role(g, "PersistBot", len(roles) + 2, managed=True, permissions="8", tags={"bot_id": _BOT}),
            self._role(g, "Admin", len(roles) + 3, permissions="8", hoist=True, color=15105570, icon=self._hash()),
        ]
        g.roles = {role["id"]: role for role in roles}
        g.booster_role_id = roles[-4]["id"]
        g.bot_role_id = roles[-2]["id"]
        if rng.random() < 0.5:
            g.roles[roles[1]["id"]] = {**roles[1], "flags": 1}  # IN_PROMPT (onboarding) role

    def _overwrite(self, target: str, kind: int, allow: int, deny: int) -> _Payload:
        return {"id": target, "type": kind, "allow": str(allow), "deny": str(deny)}

    def _channel(
        self, g: _Guild, ctype: int, name: str, parent_id: str | None, *, created_ms: int | None = None
    ) -> _Payload:
        rng = self._rng
        varied = self._varied
        channel_id = self._snowflake_at(created_ms) if created_ms is not None else self._since(g, until_years_ago=0.02)
        position = sum(1 for ch in g.channels.values() if ch["type"] == ctype)
        channel: _Payload = {
            "id": channel_id,
            "type": ctype,
            "guild_id": g.id,
            "name": name,
            "position": position,
            "flags": 0,
            "permission_overwrites": [],
            "parent_id": parent_id,
            "nsfw": False,
        }
        if ctype == 4:
            return channel
        fresh = created_ms is not None  # created just now: nothing was sent in it yet
        channel["rate_limit_per_user"] = rng.choice((0, 0, 0, 5, 30))
        if ctype in (0, 5):
            channel["topic"] = rng.choice((None, "General chat", "Be nice 💙", "Rules: no spam\nno NSFW", "…"))
            channel["last_message_id"] = self._past_snowflake(0.5) if rng.random() < 0.8 and not fresh else None
            channel["default_auto_archive_duration"] = rng.choice((60, 1440, 4320, 10080))
            if rng.random() < 0.3 and not fresh:
                channel["last_pin_timestamp"] = _iso(self._past_ms(1.0))
            if ctype == 5:
                del channel["rate_limit_per_user"]
            if varied and rng.random() < 0.2:
                del channel["default_auto_archive_duration"]  # old channels lack it
        elif ctype in (2, 13):
            channel["bitrate"] = rng.choice((64000, 96000, 128000)) if ctype == 2 else 64000
            channel["user_limit"] = rng.choice((0, 0, 5, 10, 99))
            channel["rtc_region"] = rng.choice((None, None, "rotterdam", "us-east"))
            channel["last_message_id"] = self._past_snowflake(0.5) if rng.random() < 0.5 and not fresh else None
            if ctype == 2:
                if rng.random() < 0.5:
                    channel["video_quality_mode"] = rng.choice((1, 2))
                if varied and rng.random() < 0.3:
                    del channel["rtc_region"]  # untouched old voice channels lack it
                if rng.random() < 0.2:
                    channel["status"] = rng.choice(("🎮 gaming", "study session", ""))
            else:
                channel["topic"] = None
        else:  # forum (15) and media (16)
            tags = [
                {"id": self._past_snowflake(2), "name": tag, "moderated": i == 0, "emoji_id": None, "emoji_name": emoji}
                for i, (tag, emoji) in enumerate((("solved", "✅"), ("bug", "🐛"), ("question", None), ("idea", "💡")))
            ]
            if g.emojis:
                tags.append(
                    {
                        "id": self._past_snowflake(2),
                        "name": "custom",
                        "moderated": False,
                        "emoji_id": next(iter(g.emojis)),
                        "emoji_name": None,
                    }
                )
            channel["topic"] = "Ask your questions here" if ctype == 15 else "Show off your work"
            channel["last_message_id"] = None
            channel["available_tags"] = tags
            channel["default_reaction_emoji"] = {"emoji_id": None, "emoji_name": "👍"} if rng.random() < 0.7 else None
            channel["default_sort_order"] = rng.choice((None, 0, 1))
            channel["default_thread_rate_limit_per_user"] = 0
            channel["default_auto_archive_duration"] = 4320
            channel["template"] = ""
            channel["flags"] = 16 if rng.random() < 0.5 else 0  # REQUIRE_TAG
            if ctype == 15:
                channel["default_forum_layout"] = rng.choice((0, 1, 2))
        return channel

    def _register_channel(self, g: _Guild, channel: _Payload) -> None:
        g.channels[channel["id"]] = channel
        ctype = channel["type"]
        if ctype in (0, 2, 5, 13):
            g.text_ids.add(channel["id"])
        if ctype in (2, 13):
            g.voice_ids.append(channel["id"])
        if ctype in (0, 5, 15, 16):
            g.thread_parents.append(channel["id"])

    def _make_channels(self, g: _Guild, size: int) -> None:
        rng = self._rng
        member_role = next(rid for rid, role in g.roles.items() if role["name"] == "Member")
        mod_role = next(rid for rid, role in g.roles.items() if role["name"] == "Moderator")
        info = self._channel(g, 4, "📌 Information", None)
        text = self._channel(g, 4, "Text Channels", None)
        voice = self._channel(g, 4, "Voice Channels", None)
        forums = self._channel(g, 4, "Forums", None)
        for category in (info, text, voice, forums):
            self._register_channel(g, category)

        rules = self._channel(g, 0, "rules", info["id"])
        rules["permission_overwrites"] = [self._overwrite(g.id, 0, 0, _SEND_MESSAGES)]
        news = self._channel(g, 5, "announcements", info["id"])
        news["permission_overwrites"] = [
            self._overwrite(g.id, 0, 0, _SEND_MESSAGES),
            self._overwrite(mod_role, 0, _SEND_MESSAGES, 0),
        ]
        general = self._channel(g, 0, "general", text["id"])
        off_topic = self._channel(g, 0, rng.choice(("off-topic", "random", "💬-chat")), text["id"])
        bot_commands = self._channel(g, 0, "bot-commands", text["id"])
        bot_commands["permission_overwrites"] = [
            self._overwrite(g.bot_role_id, 0, _SEND_MESSAGES | _VIEW_CHANNEL, 0),
            self._overwrite(g.id, 0, 0, _VIEW_CHANNEL),
            self._overwrite(member_role, 0, _VIEW_CHANNEL, 0),
            self._overwrite(g.owner_id or _BOT, 1, 1 << 13, 0),
        ]
        channels = [rules, news, general, off_topic, bot_commands]
        if size >= 500:
            channels += [self._channel(g, 0, name, text["id"]) for name in ("memes", "help", "dev-log")]
        lounge = self._channel(g, 2, "General", voice["id"])
        gaming = self._channel(g, 2, "🎮 Gaming", voice["id"])
        afk = self._channel(g, 2, "AFK", voice["id"])
        stage = self._channel(g, 13, "Town Hall", voice["id"])
        forum = self._channel(g, 15, "questions", forums["id"])
        media = self._channel(g, 16, "showcase", forums["id"])
        channels += [lounge, gaming, afk, stage, forum, media]
        for channel in channels:
            self._register_channel(g, channel)
        g.base["afk_channel_id"] = afk["id"]
        g.base["system_channel_id"] = general["id"]
        g.base["rules_channel_id"] = rules["id"]
        g.base["public_updates_channel_id"] = news["id"]
        if "widget_channel_id" in g.base:
            g.base["widget_channel_id"] = general["id"]

    def _thread(
        self, g: _Guild, parent_id: str, ttype: int, name: str, owner_id: str, *, created_ms: int | None = None
    ) -> _Payload:
        rng = self._rng
        created = created_ms if created_ms is not None else self._past_ms(0.1)
        thread_id = self._snowflake_at(created)
        metadata: _Payload = {
            "archived": False,
            "archive_timestamp": _iso(created),
            "auto_archive_duration": rng.choice((60, 1440, 4320, 10080)),
            "locked": False,
            "create_timestamp": _iso(created),
        }
        if ttype == 12:
            metadata["invitable"] = rng.random() < 0.5
        if self._varied and rng.random() < 0.2:
            del metadata["create_timestamp"]  # threads from before 2022-01-09 lack it
        thread: _Payload = {
            "id": thread_id,
            "guild_id": g.id,
            "parent_id": parent_id,
            "owner_id": owner_id,
            "type": ttype,
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": metadata,
        }
        parent = g.channels[parent_id]
        if parent["type"] in (15, 16):
            tags: list[_Payload] = parent["available_tags"]
            thread["applied_tags"] = [tag["id"] for tag in rng.sample(tags, rng.randrange(0, min(3, len(tags)) + 1))]
        return thread

    def _thread_member(self, thread_id: str, uid: str) -> _Payload:
        return {"id": thread_id, "user_id": uid, "join_timestamp": self._iso_now, "flags": 1}

    def _thread_payload(self, g: _Guild, thread: _Payload) -> _Payload:
        if thread["id"] in g.bot_threads:
            return {**thread, "member": self._thread_member(thread["id"], _BOT)}
        return thread

    def _register_thread(self, g: _Guild, thread: _Payload, *, bot_member: bool) -> None:
        g.threads[thread["id"]] = thread
        if not thread["thread_metadata"]["archived"]:
            g.thread_ids.add(thread["id"])
        if bot_member:
            g.bot_threads.add(thread["id"])

    def _forget_thread(self, g: _Guild, thread_id: str) -> None:
        g.threads.pop(thread_id, None)
        g.thread_ids.discard(thread_id)
        g.bot_threads.discard(thread_id)

    def _make_threads(self, g: _Guild) -> None:
        rng = self._rng
        by_type: dict[int, list[str]] = {}
        for channel_id in g.thread_parents:
            by_type.setdefault(g.channels[channel_id]["type"], []).append(channel_id)
        plans = [
            (by_type[0][min(2, len(by_type[0]) - 1)], 11, "weekend plans 🎉"),
            (by_type[0][-1], 12, "mod-discussion"),
            (by_type[5][0], 10, "Patch notes discussion"),
            (by_type[15][0], 11, "How do I reset my password?"),
            (by_type[15][0], 11, "Feature request: dark mode"),
            (by_type[16][0], 11, "My first pixel art"),
        ]
        for parent_id, ttype, name in plans:
            owner = self._pick_author(g) if len(g.member_ids) else _BOT
            thread = self._thread(g, parent_id, ttype, name, owner)
            self._register_thread(g, thread, bot_member=ttype == 12 or rng.random() < 0.5)

    def _emoji(self, g: _Guild, name: str, creator: str | None, *, emoji_id: str | None = None) -> _Payload:
        rng = self._rng
        emoji: _Payload = {
            "id": emoji_id or self._since(g),
            "name": name,
            "roles": [g.booster_role_id] if rng.random() < 0.1 else [],
            "require_colons": True,
            "managed": False,
            "animated": rng.random() < 0.3,
            "available": True,
        }
        g.emojis[emoji["id"]] = emoji
        if creator is not None:
            g.emoji_creators[emoji["id"]] = creator
        return emoji

    def _sticker(self, g: _Guild, name: str, creator: str | None, *, sticker_id: str | None = None) -> _Payload:
        rng = self._rng
        sticker: _Payload = {
            "id": sticker_id or self._since(g),
            "name": name,
            "tags": rng.choice(("wave", "👋", "cat, cute", "lol")),
            "type": 2,
            "format_type": rng.choice((1, 2, 4)),
            "description": rng.choice((None, "", "A very good sticker")),
            "asset": "",
            "available": True,
            "guild_id": g.id,
        }
        g.stickers[sticker["id"]] = sticker
        if creator is not None:
            g.sticker_creators[sticker["id"]] = creator
        return sticker

    def _emoji_list(self, g: _Guild) -> list[_Payload]:
        creators = g.emoji_creators
        return [
            {**emoji, "user": self._users[creators[eid]]} if eid in creators else emoji
            for eid, emoji in g.emojis.items()
        ]

    def _sticker_list(self, g: _Guild) -> list[_Payload]:
        creators = g.sticker_creators
        return [
            {**sticker, "user": self._users[creators[sid]]} if sid in creators else sticker
            for sid, sticker in g.stickers.items()
        ]

    def _voice_state(self, uid: str, channel_id: str, *, stage: bool = False) -> _Payload:
        rng = self._rng
        state: _Payload = {
            "user_id": uid,
            "channel_id": channel_id,
            "session_id": f"{rng.getrandbits(128):032x}",
            "deaf": False,
            "mute": False,
            "self_deaf": rng.random() < 0.1,
            "self_mute": rng.random() < 0.3,
            "self_video": rng.random() < 0.05,
            "suppress": stage,
            "request_to_speak_timestamp": None,
        }
        if rng.random() < 0.1:
            state["self_stream"] = True
        return state

    def _make_synthetic_guild(self, index: int, size: int, kind: str) -> _Guild:
        rng = self._rng
        varied = self._varied
        created = self._past_ms(8.0, 1.0)
        gid = self._snowflake_at(created)
        g = _Guild(gid, shard_for_guild(gid, self._shard_count), kind)
        name = (
            "Short-lived Test Server"
            if kind == "ephemeral"
            else rng.choice(("Pixel Collective", "Late Night Coders", "Cozy Café ☕", "Speedrun Hub", "日本語の部屋"))
            + f" #{index + 1}"
        )
        g.base = {
            "id": gid,
            "name": name,
            "icon": self._hash(0.3) if rng.random() < 0.9 else None,
            "description": rng.choice((None, "A friendly community", "Официальный сервер", "🎮 games & chill")),
            "splash": None,
            "discovery_splash": None,
            "features": sorted([*rng.sample(_FEATURES, rng.randrange(0, 6)), "COMMUNITY", "NEWS"]),
            "banner": self._hash() if rng.random() < 0.4 else None,
            "owner_id": "",
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": rng.choice((60, 300, 900, 3600)),
            "system_channel_id": None,
            "system_channel_flags": rng.choice((0, 5, 8)),
            "widget_enabled": rng.random() < 0.3,
            "widget_channel_id": None,
            "verification_level": rng.randrange(0, 5),
            "default_message_notifications": rng.choice((0, 1)),
            "explicit_content_filter": rng.randrange(0, 3),
            "mfa_level": rng.choice((0, 1)),
            "max_presences": None,
            "max_members": 500000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": rng.randrange(0, 4),
            "premium_subscription_count": rng.randrange(0, 30),
            "premium_progress_bar_enabled": rng.random() < 0.5,
            "preferred_locale": rng.choice(_LOCALES),
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "nsfw_level": 0,
            "nsfw": False,
            "hub_type": None,
            "latest_onboarding_question_id": None,
            "incidents_data": None,
            "home_header": None,
            "version": created,
        }
        if varied:
            for key in ("discovery_splash", "widget_channel_id", "max_video_channel_users", "incidents_data"):
                if rng.random() < 0.4:
                    del g.base[key]  # optional guild fields hikari reads with .get()
            if rng.random() < 0.3:
                g.base["incidents_data"] = {"invites_disabled_until": None, "dms_disabled_until": None}
        g.large = size > _LARGE_THRESHOLD
        self._make_roles(g, size)

        # Members: the bot, overlap with the previous guild (shared users), then new users.
        g.joined_at = _iso(self._past_ms(min(7.0, (self._now - created) / _YEAR_MS), 0.2))
        self._add_member(
            g,
            _BOT,
            self._member_core(g, _BOT, roles=[g.bot_role_id])
            | {
                "joined_at": g.joined_at,
                "nick": None,
            },
        )
        previous = next((other for other in reversed(self._guilds) if other.kind == "synthetic"), None)
        if kind == "ephemeral":
            previous = next((other for other in self._guilds if other.kind == "synthetic"), None)
        if previous is not None:
            overlap = min(size // 10 + 1, len(previous.member_ids), size - 2)
            for uid in rng.sample(previous.member_ids.items(), overlap):
                self._add_member(g, uid, self._member_core(g, uid))
                self._shared_users.append(uid)
        if index == 0 and kind == "synthetic":
            nelly = self._docs["user"]["id"]
            self._add_member(g, nelly, self._member_core(g, nelly))
        while len(g.members) < size:
            uid = self._new_user(bot=rng.random() < 0.03)
            self._add_member(g, uid, self._member_core(g, uid))
        owner = g.member_ids.choice(rng)
        g.owner_id = owner
        g.base["owner_id"] = owner
        mods = [g.member_ids.choice(rng) for _ in range(max(1, size // 200))]
        mod_role = next(rid for rid, role in g.roles.items() if role["name"] == "Moderator")
        for uid in dict.fromkeys([owner, *mods]):
            core = g.members[uid]
            g.members[uid] = {**core, "roles": [*core["roles"], mod_role]}
            g.mod_ids.append(uid)
            g.chatters.add(uid)

        self._make_channels(g, size)
        for i in range(rng.randrange(3, 9)):
            creator = rng.choice(g.mod_ids) if rng.random() < 0.6 else None
            self._emoji(
                g, f"{_EMOJI_NAMES[(i + index) % len(_EMOJI_NAMES)]}{'' if i < len(_EMOJI_NAMES) else i}", creator
            )
        for i in range(rng.randrange(1, 4)):
            self._sticker(g, ("wave", "hype", "sleepy")[i], g.owner_id if rng.random() < 0.5 else None)
        # Forum tags may reference a custom emoji; refresh them now that emojis exist.
        for channel_id in g.thread_parents:
            channel = g.channels[channel_id]
            if channel["type"] in (15, 16) and g.emojis:
                first = next(iter(g.emojis))
                tags = [
                    {**tag, "emoji_id": first, "emoji_name": None} if tag["name"] == "idea" else tag
                    for tag in channel["available_tags"]
                ]
                g.channels[channel_id] = {**channel, "available_tags": tags}
        self._make_threads(g)

        # Who is online and who sits in voice right now.
        for uid in g.member_ids.items():
            if rng.random() < (0.9 if self._users[uid].get("bot") else 0.3):
                g.online[uid] = self._presence(uid)
        g.online[_BOT] = self._presence(_BOT, "online") | {"activities": []}
        in_voice = min(len(g.member_ids) // 20 + 1, 12)
        voice_rooms = [cid for cid in g.voice_ids if g.channels[cid]["name"] != "AFK"]
        for uid in rng.sample(g.member_ids.items(), in_voice):
            channel_id = rng.choice(voice_rooms)
            g.voice[uid] = self._voice_state(uid, channel_id, stage=g.channels[channel_id]["type"] == 13)
        return g

    def _make_docs_guild(self) -> _Guild:
        docs = self._docs
        gid = docs["guild"]["id"]
        g = _Guild(gid, shard_for_guild(gid, self._shard_count), "docs")
        # The docs guild object itself; its empty roles/emojis are filled by composition below.
        g.base = {key: value for key, value in docs["guild"].items() if key not in ("roles", "emojis", "stickers")}
        g.joined_at = _iso(self._past_ms(3.0, 1.0))
        everyone = self._role(g, "@everyone", 0, id=gid, permissions=_EVERYONE_PERMS, color=0)
        bot_role = self._role(g, "PersistBot", 2, managed=True, permissions="8", tags={"bot_id": _BOT})
        g.roles = {everyone["id"]: everyone, docs["role"]["id"]: docs["role"], bot_role["id"]: bot_role}
        g.bot_role_id = bot_role["id"]
        for key in ("channel_category", "channel_guild_text", "channel_guild_announcement", "channel_guild_voice"):
            self._register_channel(g, docs[key])
        self._register_thread(g, docs["channel_thread"], bot_member=False)
        g.emojis[docs["emoji"]["id"]] = docs["emoji"]  # keeps its own "user" (Luigi)
        g.stickers[docs["sticker"]["id"]] = docs["sticker"]
        nelly = docs["guild_member"]["user"]["id"]
        g.members[nelly] = {key: value for key, value in docs["guild_member"].items() if key != "user"}
        g.member_ids.add(nelly)
        g.chatters.add(nelly)
        g.members[_BOT] = self._member_core(g, _BOT, roles=[bot_role["id"]]) | {"joined_at": g.joined_at, "nick": None}
        g.online[nelly] = {
            "user": {"id": nelly},
            "status": "online",
            "activities": [docs["activity"], docs["activity_rich_presence"]],
            "client_status": {"desktop": "online", "mobile": "idle"},
        }
        g.online[_BOT] = self._presence(_BOT, "online") | {"activities": []}
        g.voice[nelly] = docs["voice_state"]
        g.owner_id = docs["guild"]["owner_id"]
        return g

    def _guild_create_payload(self, g: _Guild, *, join: bool) -> _Payload:
        rng = self._rng
        if g.large:
            # Large guilds only carry the bot, voice members and a few online ones; the rest is chunked.
            included = {_BOT, *g.voice}
            for uid in g.online:
                if rng.random() < 0.05:
                    included.add(uid)
            members = [self._full_member(g, uid) for uid in g.members if uid in included]
        else:
            members = [self._full_member(g, uid) for uid in g.members]
        included_ids = {member["user"]["id"] for member in members}
        strip = g.kind != "docs"  # real GUILD_CREATE channels carry no guild_id; docs ones stay verbatim
        payload: _Payload = {
            **g.base,
            "roles": list(g.roles.values()),
            "emojis": self._emoji_list(g),
            "stickers": self._sticker_list(g),
            "channels": [
                {key: value for key, value in channel.items() if key != "guild_id"} if strip else channel
                for channel in g.channels.values()
            ],
            "threads": [
                self._thread_payload(g, thread)
                for thread in g.threads.values()
                if not thread["thread_metadata"]["archived"]
            ],
            "members": members,
            "presences": [presence for uid, presence in g.online.items() if uid in included_ids],
            "voice_states": [
                # Some carry their member too; hikari takes the member from "members" regardless.
                {**state, "member": self._full_member(g, uid)} if strip and rng.random() < 0.25 else state
                for uid, state in g.voice.items()
            ],
            "member_count": len(g.members),
            "large": g.large,
            "joined_at": g.joined_at,
            "lazy": True,
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "application_command_counts": {},
        }
        if g.kind == "docs":
            payload["incidents_data"] = self._docs["incidents_data"]
        if not join:
            payload["unavailable"] = False
        return payload

    def _emit_guild_create(self, g: _Guild, *, join: bool) -> None:
        self._emit("GUILD_CREATE", g.shard, self._guild_create_payload(g, join=join))
        self._set_status(g, "active")

    def _emit_chunks(self, g: _Guild) -> None:
        rng = self._rng
        uids = list(g.members)
        count = max(1, math.ceil(len(uids) / _CHUNK_SIZE))
        nonce = f"{g.shard}.{rng.getrandbits(160):040x}"[:28]
        for index in range(count):
            self._tick(5, 80)
            batch = uids[index * _CHUNK_SIZE : (index + 1) * _CHUNK_SIZE]
            payload: _Payload = {
                "guild_id": g.id,
                "members": [self._full_member(g, uid) for uid in batch],
                "chunk_index": index,
                "chunk_count": count,
                "nonce": nonce,
            }
            presences = [g.online[uid] for uid in batch if uid in g.online]
            if presences:
                payload["presences"] = presences
            if not self._varied or index % 2 == 0:
                payload["not_found"] = []
            self._emit("GUILD_MEMBERS_CHUNK", g.shard, payload)
        # A by-id request: some users found, some not (ids may arrive as ints for large values).
        found = [self._full_member(g, uid) for uid in rng.sample(g.member_ids.items(), min(3, len(g.member_ids)))]
        missing: list[str | int] = [self._past_snowflake(5), self._past_snowflake(5)]
        if self._varied:
            missing[1] = int(missing[1])
        self._tick(5, 80)
        self._emit(
            "GUILD_MEMBERS_CHUNK",
            g.shard,
            {
                "guild_id": g.id,
                "members": found,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": missing,
                "nonce": f"{g.shard}.by-id-{rng.getrandbits(40):010x}",
            },
        )

    # ------------------------------------------------------------------ the session

    def run(self) -> Iterator[GatewayRecord]:
        rng = self._rng
        docs = self._docs
        sizes = self._sizes
        synthetic: list[_Guild] = []
        for i, size in enumerate(sizes):
            synthetic.append(self._make_synthetic_guild(i, size, "synthetic"))
            self._guilds.append(synthetic[-1])
        ephemeral = self._make_synthetic_guild(len(sizes), max(6, min(40, sizes[0] // 10)), "ephemeral")
        self._guilds.append(ephemeral)
        docs_guild = self._make_docs_guild()
        self._guilds.append(docs_guild)
        unavailable_id = docs["unavailable_guild"]["id"]
        joined = synthetic[-1:] if len(synthetic) >= 2 else []
        at_ready = [g for g in self._guilds if g not in joined]

        # Connecting: each shard gets READY, then its GUILD_CREATE burst, then its member chunks.
        for shard in range(self._shard_count):
            self._tick(2000, 5500)
            mine = [g for g in at_ready if g.shard == shard]
            guild_ids = [g.id for g in mine]
            if shard_for_guild(unavailable_id, self._shard_count) == shard:
                guild_ids.insert(rng.randrange(len(guild_ids) + 1), unavailable_id)
            session_id = f"{rng.getrandbits(128):032x}"
            self._emit(
                "READY",
                shard,
                make_ready_payload(
                    shard_id=shard, shard_count=self._shard_count, guild_ids=guild_ids, session_id=session_id
                ),
            )
            for guild_id in guild_ids:
                self._tick(30, 400)
                if guild_id == unavailable_id:
                    # The docs unavailable guild, verbatim: an outage GUILD_CREATE hikari ignores.
                    self._emit("GUILD_CREATE", shard, docs["unavailable_guild"])
                    continue
                self._emit_guild_create(next(g for g in mine if g.id == guild_id), join=False)
            for g in mine:
                if g.large:
                    self._emit_chunks(g)
            yield from self._flush()

        self._plan(synthetic, joined, ephemeral, docs_guild)
        message_total = self._planned_messages()
        churn_total = int(self._churn * sum(60 + 0.2 * len(g.members) for g in self._guilds if g.kind != "docs"))
        total = message_total + churn_total
        messages_left = message_total
        for step in range(total):
            self._tick()
            self._run_due(step / max(total, 1))
            if messages_left and rng.random() * (total - step) < messages_left:
                messages_left -= 1
                self._random_message()
            else:
                self._random_churn()
            yield from self._flush()

        for _ in range(50):
            if not self._due:
                break
            self._tick()
            self._run_due(2.0)
            yield from self._flush()

    def _flush(self) -> Iterator[GatewayRecord]:
        out = self._out
        if out:
            self._out = []
            yield from out

    def _set_status(self, g: _Guild, status: str) -> None:
        g.status = status
        self._active_cache = None

    def _active(self) -> list[_Guild]:
        if self._active_cache is None:
            active = [g for g in self._guilds if g.status == "active" and g.kind != "docs"]
            # Bigger guilds are busier; weights are fixed between status changes (cheap, close enough).
            weights = list(itertools.accumulate(math.sqrt(len(g.members)) + 3 for g in active))
            self._active_cache = (active, weights)
        return self._active_cache[0]

    def _pick_guild(self) -> _Guild | None:
        active = self._active()
        if not active:
            return None
        assert self._active_cache is not None
        return self._rng.choices(active, cum_weights=self._active_cache[1])[0]

    def _pick_guild_with(self, has: Callable[[_Guild], bool]) -> _Guild | None:
        """A random busy guild, or if it lacks what ``has`` checks for, any active guild that has it."""
        g = self._pick_guild()
        if g is not None and has(g):
            return g
        candidates = [other for other in self._active() if has(other)]
        return self._rng.choice(candidates) if candidates else None

    def _planned_messages(self) -> int:
        channels = sum(len(g.text_ids) + len(g.thread_ids) for g in self._guilds if g.kind != "docs")
        return self._messages_per_channel * channels

    def _run_due(self, position: float) -> None:
        # self._due is sorted by position: only its due prefix is looked at; failures retry next step
        # after the prerequisite (if any) made success possible, e.g. a channel to delete.
        due = self._due
        index = 0
        while index < len(due) and due[index][0] <= position:
            _at, _label, action, prerequisite = due[index]
            if action():
                del due[index]
            else:
                if prerequisite is not None:
                    prerequisite()
                index += 1

    # ------------------------------------------------------------------ scripted milestones

    def _plan(self, synthetic: list[_Guild], joined: list[_Guild], ephemeral: _Guild, docs_guild: _Guild) -> None:
        rng = self._rng
        due: list[_Due] = []

        def at(
            position: float, label: str, action: Callable[[], bool], prerequisite: Callable[[], bool] | None = None
        ) -> None:
            due.append((position, label, action, prerequisite))

        outage = synthetic[0]
        for i, g in enumerate(joined):
            at(0.12 + 0.03 * i, "join", lambda g=g: self._join_guild(g))
        at(0.30, "outage start", lambda: self._outage_start(outage))
        at(0.42, "outage end", lambda: self._outage_end(outage))
        at(0.50, "resumed", self._resumed)
        at(0.55, "user update", self._user_update)
        at(0.70, "leave", lambda: self._leave_guild(ephemeral))
        at(0.33, "shared username", self._shared_username_change)
        self._plan_docs(at, docs_guild)

        # Every event kind at least once, at spread positions, whatever the churn scale; the second
        # element creates what the action needs when it cannot happen yet.
        message = self._message_pair
        guaranteed: list[tuple[Callable[[], bool], Callable[[], bool] | None]] = [
            (self._channel_create, None),
            (self._channel_update, None),
            (self._channel_delete, lambda: self._channel_create(ctype=0)),
            (self._thread_create, None),
            (self._thread_update, self._thread_create),
            (self._thread_delete, self._thread_create),
            (lambda: self._thread_list_sync(partial=True), None),
            (lambda: self._thread_list_sync(partial=False), None),
            (self._thread_members_remove_bot, lambda: self._thread_create(bot_member=True)),
            (self._thread_members_add, self._thread_create),
            (self._role_create, None),
            (self._role_update, None),
            (self._role_delete, self._role_create),
            (self._member_add, None),
            (self._member_update, None),
            (self._member_remove, self._member_add),
            (self._presence_update, None),
            (lambda: self._presence_update(force_offline=True), self._presence_update),
            (lambda: self._voice_update("join"), None),
            (lambda: self._voice_update("move"), lambda: self._voice_update("join")),
            (lambda: self._voice_update("leave"), lambda: self._voice_update("join")),
            (self._message_update, message),
            (lambda: self._message_update(partial=True), message),
            (lambda: self._message_update(partial=False), message),
            (self._message_delete, message),
            (self._message_delete_bulk, message),
            (self._reaction_add, message),
            (self._reaction_remove, lambda: self._reaction_add(guild_only=True)),
            (self._reaction_remove_all, lambda: self._reaction_add(guild_only=True)),
            (self._reaction_remove_emoji, lambda: self._reaction_add(guild_only=True)),
            (self._emojis_update, None),
            (self._stickers_update, None),
            (self._invite_create, None),
            (self._invite_delete, self._invite_create),
            (self._guild_update, None),
            (self._typing, None),
            (self._dm_message, None),
        ]
        guaranteed += [(lambda kind=kind: self._message_of_kind(kind), message) for kind in _MESSAGE_KINDS]
        if self._varied:
            guaranteed += [
                (self._edge_unknown_channel_type, None),
                (lambda: self._message_of_kind("unknown_type"), None),
                (self._edge_unknown_activity_type, None),
                (self._edge_update_unknown_member, None),
                (self._edge_update_unknown_message, None),
                (self._edge_delete_unknown_channel, None),
                (self._edge_delete_unknown_role, None),
                (self._edge_delete_unknown_message, None),
                (self._edge_unknown_event, None),
                (self._edge_unparseable_member_add, None),
                (self._edge_unparseable_thread_create, None),
            ]
        rng.shuffle(guaranteed)
        for i, (action, prerequisite) in enumerate(guaranteed):
            at(0.05 + 0.9 * (i + 0.5) / len(guaranteed), "guaranteed", action, prerequisite)
        due.sort(key=lambda entry: entry[0])
        self._due = due

    def _plan_docs(self, at: Callable[[float, str, Callable[[], bool]], None], g: _Guild) -> None:
        docs = self._docs
        state: dict[str, str] = {}

        def dm_docs_message() -> bool:
            # message.json as is: no guild_id, so hikari treats it as a DM message.
            self._emit("MESSAGE_CREATE", 0, docs["message"])
            self._track_message(docs["message"], None)
            return True

        def dm_docs_reaction() -> bool:
            message = docs["message"]
            self._emit(
                "MESSAGE_REACTION_ADD",
                0,
                {
                    "user_id": _BOT,
                    "channel_id": message["channel_id"],
                    "message_id": message["id"],
                    "emoji": docs["emoji_standard"],
                    "burst": False,
                    "type": 0,
                    "message_author_id": message["author"]["id"],
                },
            )
            return True

        def crossposted() -> bool:
            self._emit("MESSAGE_CREATE", 0, docs["message_crossposted"])
            self._track_message(docs["message_crossposted"], None)
            return True

        def component_message(key: str) -> bool:
            if g.status != "active":
                return False
            example = docs[key]
            payload = self._message_envelope(g, _DOCS_TEXT_CHANNEL_ID, _BOT, content="")
            payload["flags"] = example["flags"]
            payload["components"] = example["components"]
            payload["attachments"] = example.get("attachments", [])
            self._send_message(payload, g)
            return True

        def reacted_message() -> bool:
            nelly = docs["user"]["id"]
            payload = self._message_envelope(g, _DOCS_TEXT_CHANNEL_ID, nelly, content="react to this one 👇")
            payload["reactions"] = [
                self._reaction_object(docs["emoji_standard"], 3, me=False),
                self._reaction_object(docs["emoji_custom_reaction_1"], 1, me=False),
                self._reaction_object(docs["emoji_custom_reaction_2"], 2, me=True),
            ]
            self._send_message(payload, g)
            state["reacted"] = payload["id"]
            return True

        def reacted_add() -> bool:
            if "reacted" not in state:
                return False
            self._emit(
                "MESSAGE_REACTION_ADD",
                g.shard,
                {
                    "user_id": _BOT,
                    "channel_id": _DOCS_TEXT_CHANNEL_ID,
                    "message_id": state["reacted"],
                    "guild_id": g.id,
                    "member": self._full_member(g, _BOT),
                    "emoji": docs["emoji_custom_reaction_1"],
                    "message_author_id": docs["user"]["id"],
                    "burst": False,
                    "burst_colors": [],
                    "type": 0,
                },
            )
            return True

        def reacted_remove_emoji() -> bool:
            if "reacted" not in state:
                return False
            self._emit(
                "MESSAGE_REACTION_REMOVE_EMOJI",
                g.shard,
                {
                    "channel_id": _DOCS_TEXT_CHANNEL_ID,
                    "guild_id": g.id,
                    "message_id": state["reacted"],
                    "emoji": docs["emoji_custom_reaction_2"],
                },
            )
            return True

        def sticker_message() -> bool:
            payload = self._message_envelope(g, _DOCS_TEXT_CHANNEL_ID, docs["user"]["id"], content="")
            sticker = docs["sticker"]
            payload["sticker_items"] = [
                {"id": sticker["id"], "name": sticker["name"], "format_type": sticker["format_type"]}
            ]
            self._send_message(payload, g)
            return True

        def dm_from_recipient() -> bool:
            channel = docs["channel_dm"]
            recipient = channel["recipients"][0]
            self._emit(
                "TYPING_START",
                0,
                {"channel_id": channel["id"], "user_id": recipient["id"], "timestamp": self._now // 1000},
            )
            self._tick(500, 4000)
            payload = self._message_envelope(None, channel["id"], recipient["id"], content="hi bot, are you there?")
            payload["author"] = recipient
            self._send_message(payload, None)
            return True

        def invite_create() -> bool:
            invite = docs["invite"]
            self._emit("INVITE_CREATE", shard_for_guild(invite["guild"]["id"], self._shard_count), invite)
            state["invite"] = invite["code"]
            return True

        def invite_delete() -> bool:
            if "invite" not in state:
                return False
            invite = docs["invite"]
            self._emit(
                "INVITE_DELETE",
                shard_for_guild(invite["guild"]["id"], self._shard_count),
                {"channel_id": invite["channel"]["id"], "guild_id": invite["guild"]["id"], "code": invite["code"]},
            )
            return True

        def voice_move() -> bool:
            nelly = docs["user"]["id"]
            state_payload = {**docs["voice_state"], "channel_id": _DOCS_VOICE_CHANNEL_ID}
            g.voice[nelly] = state_payload
            self._emit(
                "VOICE_STATE_UPDATE",
                g.shard,
                {**state_payload, "guild_id": g.id, "member": self._full_member(g, nelly)},
            )
            return True

        def role_update() -> bool:
            role = {**docs["role"], "name": "WE DEM BOYZZ!!!!!! (renamed)"}
            g.roles[role["id"]] = role
            self._emit("GUILD_ROLE_UPDATE", g.shard, {"guild_id": g.id, "role": role})
            return True

        def channel_update() -> bool:
            channel = {**docs["channel_guild_text"], "topic": "24/7 chat about how to gank Mike #3"}
            g.channels[channel["id"]] = channel
            self._emit("CHANNEL_UPDATE", g.shard, channel)
            return True

        def member_update() -> bool:
            nelly = docs["user"]["id"]
            g.members[nelly] = {**g.members[nelly], "nick": "API SUPPORT (for real)"}
            self._emit("GUILD_MEMBER_UPDATE", g.shard, {"guild_id": g.id, **self._full_member(g, nelly)})
            return True

        def presence_update() -> bool:
            nelly = docs["user"]["id"]
            presence = {
                "user": {"id": nelly},
                "status": "dnd",
                "activities": [docs["activity_rich_presence"]],
                "client_status": {"desktop": "dnd"},
            }
            g.online[nelly] = presence
            self._emit("PRESENCE_UPDATE", g.shard, {**presence, "guild_id": g.id})
            return True

        def guild_update() -> bool:
            g.base = {**g.base, "description": "The official place to report Discord Bugs! (updated)"}
            self._emit_guild_update(g)
            return True

        def unavailable_delete() -> bool:
            guild = docs["unavailable_guild"]
            self._emit("GUILD_DELETE", shard_for_guild(guild["id"], self._shard_count), guild)
            return True

        at(0.02, "docs dm message", dm_docs_message)
        at(0.025, "docs dm reaction", dm_docs_reaction)
        at(0.04, "docs crosspost", crossposted)
        keys = sorted(key for key in docs if key.startswith("components_"))
        for i, key in enumerate(keys):
            at(0.05 + 0.2 * i / len(keys), "docs components", lambda key=key: component_message(key))
        at(0.08, "docs reacted message", reacted_message)
        at(0.11, "docs reaction add", reacted_add)
        at(0.31, "docs reaction remove emoji", reacted_remove_emoji)
        at(0.13, "docs sticker message", sticker_message)
        at(0.14, "docs dm", dm_from_recipient)
        at(0.15, "docs invite", invite_create)
        at(0.8, "docs invite delete", invite_delete)
        at(0.25, "docs voice move", voice_move)
        at(0.35, "docs role update", role_update)
        at(0.4, "docs channel update", channel_update)
        at(0.45, "docs member update", member_update)
        at(0.5, "docs presence update", presence_update)
        at(0.6, "docs guild update", guild_update)
        at(0.9, "docs unavailable guild outage", unavailable_delete)

    def _join_guild(self, g: _Guild) -> bool:
        g.joined_at = self._iso_now
        bot = g.members[_BOT]
        g.members[_BOT] = {**bot, "joined_at": g.joined_at}
        self._emit_guild_create(g, join=True)  # no "unavailable" key: a join
        if g.large:
            self._emit_chunks(g)
        return True

    def _outage_start(self, g: _Guild) -> bool:
        if g.status != "active":
            return False
        self._emit("GUILD_DELETE", g.shard, {"id": g.id, "unavailable": True})
        self._set_status(g, "outage")
        return True

    def _outage_end(self, g: _Guild) -> bool:
        if g.status != "outage":
            return False
        self._emit_guild_create(g, join=False)
        if g.large:
            self._emit_chunks(g)
        return True

    def _leave_guild(self, g: _Guild) -> bool:
        if g.status != "active":
            return False
        self._emit("GUILD_DELETE", g.shard, {"id": g.id})  # no "unavailable": the bot left
        self._set_status(g, "left")
        return True

    def _resumed(self) -> bool:
        shard = self._rng.randrange(self._shard_count)
        self._emit("RESUMED", shard, {"_trace": ['["gateway-prd-us-east1-c-1x2y",{"micros":1234}]']})
        return True

    def _user_update(self) -> bool:
        public = {**self._users[_BOT], "username": "PersistBot v2", "avatar": self._hash()}
        self._users[_BOT] = public
        self._emit("USER_UPDATE", 0, _own_user(public))
        # Discord then tells every guild about the new user through GUILD_MEMBER_UPDATE.
        for g in self._guilds:
            if g.status == "active":
                self._tick(5, 50)
                self._emit("GUILD_MEMBER_UPDATE", g.shard, {"guild_id": g.id, **self._full_member(g, _BOT)})
        return True

    def _shared_username_change(self) -> bool:
        candidates = [
            uid
            for uid in self._shared_users
            if sum(1 for g in self._guilds if g.status == "active" and uid in g.members) >= 2
        ]
        if not candidates:
            return False
        uid = self._rng.choice(candidates)
        g = next(g for g in self._active() if uid in g.members)
        old = self._users[uid]
        self._users[uid] = {**old, "username": f"{old['username']}_renamed", "global_name": "Renamed ✏️"}
        # Only one guild hears about it: the shared user object must still end up with the new name.
        self._emit("GUILD_MEMBER_UPDATE", g.shard, {"guild_id": g.id, **self._full_member(g, uid)})
        return True

    # ------------------------------------------------------------------ messages

    def _message_envelope(self, g: _Guild | None, channel_id: str, author_id: str, *, content: str) -> _Payload:
        rng = self._rng
        author = self._users.get(author_id)
        payload: _Payload = {
            "type": 0,
            "tts": False,
            "timestamp": self._iso_now,
            "pinned": False,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "id": self._snowflake(),
            "flags": 0,
            "embeds": [],
            "edited_timestamp": None,
            "content": content,
            "components": [],
            "channel_id": channel_id,
            "author": author if author is not None else {},
            "attachments": [],
        }
        if author is not None and not author.get("bot"):
            if self._varied and rng.random() < 0.1:
                payload["nonce"] = rng.getrandbits(60)  # some clients send integer nonces
            else:
                payload["nonce"] = str(self._snowflake_at(self._now - 200))
        if g is not None:
            payload["guild_id"] = g.id
            if author_id in g.members:
                payload["member"] = g.members[author_id]
        return payload

    def _track_message(self, payload: _Payload, g: _Guild | None) -> None:
        message_id: str = payload["id"]
        self._messages[message_id] = payload
        self._message_guild[message_id] = g
        recent = self._recent
        if len(recent) < _RECENT_MESSAGES:
            recent.append(message_id)
        else:
            evicted = recent[self._recent_pos]
            recent[self._recent_pos] = message_id
            self._recent_pos = (self._recent_pos + 1) % _RECENT_MESSAGES
            if evicted in self._messages:
                self._forget_message(evicted)
        per_channel = self._recent_by_channel.setdefault(payload["channel_id"], [])
        per_channel.append(message_id)
        if len(per_channel) > 60:
            del per_channel[:20]

    def _forget_message(self, message_id: str) -> None:
        payload = self._messages.pop(message_id, None)
        self._message_guild.pop(message_id, None)
        self._reactions.pop(message_id, None)
        if payload is not None:
            per_channel = self._recent_by_channel.get(payload["channel_id"])
            if per_channel and message_id in per_channel:
                per_channel.remove(message_id)

    def _send_message(self, payload: _Payload, g: _Guild | None) -> None:
        shard = g.shard if g is not None else 0
        self._emit("MESSAGE_CREATE", shard, payload)
        self._track_message(payload, g)
        if g is not None:
            channel = g.threads.get(payload["channel_id"])
            if channel is not None:
                # Threads count their messages; keep our copy in step for later THREAD_UPDATEs.
                g.threads[channel["id"]] = {
                    **channel,
                    "last_message_id": payload["id"],
                    "message_count": channel["message_count"] + 1,
                    "total_message_sent": channel["total_message_sent"] + 1,
                }

    def _mention(self, g: _Guild | None, uid: str) -> _Payload:
        user = self._users[uid]
        if g is not None and uid in g.members:
            return {**user, "member": g.members[uid]}
        return user

    def _refreshed(self, payload: _Payload) -> _Payload:
        """The message as Discord would send it now: current author, mentions and member."""
        g = self._message_guild.get(payload["id"])
        author_id: str = payload["author"].get("id", "")
        fresh = {key: value for key, value in payload.items() if key != "referenced_message"}
        if author_id in self._users and "webhook_id" not in payload:
            fresh["author"] = self._users[author_id]
        if payload["mentions"]:
            fresh["mentions"] = [
                self._mention(g, user["id"]) for user in payload["mentions"] if user["id"] in self._users
            ]
        if g is not None and "member" in payload:
            if author_id in g.members:
                fresh["member"] = g.members[author_id]
            else:
                del fresh["member"]
        return fresh

    def _reaction_object(self, emoji: _Payload, count: int, *, me: bool) -> _Payload:
        return {
            "count": count,
            "count_details": {"burst": 0, "normal": count},
            "me": me,
            "me_burst": False,
            "emoji": emoji,
            "burst_colors": [],
        }

    def _cdn(self, channel_id: str, attachment_id: str, filename: str) -> tuple[str, str]:
        rng = self._rng
        query = f"?ex={rng.getrandbits(32):08x}&is={rng.getrandbits(32):08x}&hm={rng.getrandbits(256):064x}&"
        path = f"attachments/{channel_id}/{attachment_id}/{filename}{query}"
        return f"https://cdn.discordapp.com/{path}", f"https://media.discordapp.net/{path}"

    def _attachment(self, channel_id: str, *, voice: bool = False) -> _Payload:
        rng = self._rng
        attachment_id = self._snowflake()
        if voice:
            filename, content_type = "voice-message.ogg", "audio/ogg"
        else:
            filename, content_type = rng.choice(
                (
                    ("image.png", "image/png"),
                    ("IMG_2024.jpg", "image/jpeg"),
                    ("clip.mp4", "video/mp4"),
                    ("notes.txt", "text/plain; charset=utf-8"),
                    ("report final (2).pdf", "application/pdf"),
                    ("données_été.csv", "text/csv; charset=utf-8"),
                )
            )
        url, proxy_url = self._cdn(channel_id, attachment_id, filename.replace(" ", "_"))
        attachment: _Payload = {
            "id": attachment_id,
            "filename": filename.replace(" ", "_"),
            "size": rng.randrange(200, 25_000_000),
            "url": url,
            "proxy_url": proxy_url,
            "content_type": content_type,
        }
        if content_type.startswith(("image/", "video/")):
            attachment["width"] = rng.choice((640, 1080, 1920))
            attachment["height"] = rng.choice((480, 720, 1080))
            attachment["placeholder"] = "3PcNBwBvmIiIhnh/h4d4eJh4eAAAAAA="
            attachment["placeholder_version"] = 1
            if rng.random() < 0.3:
                attachment["description"] = "a screenshot of the error"
        if voice:
            attachment["duration_secs"] = round(rng.uniform(1, 60), 2)
            attachment["waveform"] = "AAAAAAAAAAAAAAAAAAAAAAAA/w=="
        if rng.random() < 0.05:
            attachment["title"] = "original title"
        return attachment

    def _embed(self) -> _Payload:
        rng = self._rng
        icon = "https://cdn.discordapp.com/embed/avatars/0.png"
        proxy_icon = "https://images-ext-1.discordapp.net/external/abc/https/cdn.discordapp.com/embed/avatars/0.png"
        if rng.random() < 0.5:
            return {
                "type": "rich",
                "title": rng.choice(("Build passed ✅", "New release: v2.6.0", "Weekly report", "Ünïcödé tïtle")),
                "description": rng.choice(_SENTENCES),
                "url": "https://example.com/builds/42",
                "timestamp": self._iso_now,
                "color": rng.randrange(0, 0xFFFFFF),
                "footer": {"text": "CI bot", "icon_url": icon, "proxy_icon_url": proxy_icon},
                "image": {
                    "url": "https://example.com/image.png",
                    "proxy_url": "https://images-ext-1.discordapp.net/external/x/https/example.com/image.png",
                    "width": 800,
                    "height": 400,
                    "content_type": "image/png",
                    "flags": 0,
                },
                "thumbnail": {
                    "url": "https://example.com/thumb.png",
                    "proxy_url": "https://images-ext-2.discordapp.net/external/y/https/example.com/thumb.png",
                    "width": 80,
                    "height": 80,
                },
                "video": {"url": "https://example.com/video.mp4", "width": 1280, "height": 720},
                "provider": {"name": "Example", "url": "https://example.com"},
                "author": {
                    "name": "octocat",
                    "url": "https://github.com/octocat",
                    "icon_url": icon,
                    "proxy_icon_url": proxy_icon,
                },
                "fields": [
                    {"name": "Status", "value": "passed", "inline": True},
                    {"name": "Duration", "value": "3m 12s", "inline": True},
                    {"name": "Commit", "value": "`a1b2c3d` fix: the thing"},
                ],
            }
        return {
            "type": rng.choice(("link", "article", "video")),
            "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "title": "Rick Astley - Never Gonna Give You Up (Official Music Video)",
            "description": "The official video for “Never Gonna Give You Up” by Rick Astley.",
            "color": 16711680,
            "provider": {"name": "YouTube", "url": "https://www.youtube.com"},
            "author": {"name": "Rick Astley", "url": "https://www.youtube.com/@RickAstleyYT"},
            "thumbnail": {
                "url": "https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg",
                "proxy_url": "https://images-ext-1.discordapp.net/external/z/https/i.ytimg.com/vi/maxresdefault.jpg",
                "width": 1280,
                "height": 720,
                "placeholder": "3PcNBwBvmIiIhnh/h4d4eJh4eAAAAAA=",
                "placeholder_version": 1,
            },
            "video": {"url": "https://www.youtube.com/embed/dQw4w9WgXcQ", "width": 1280, "height": 720},
        }

    def _components_v1(self) -> list[_Payload]:
        rng = self._rng
        buttons = [
            {"type": 2, "id": 2, "style": 1, "label": "Accept", "custom_id": f"accept:{rng.getrandbits(32)}"},
            {"type": 2, "id": 3, "style": 4, "label": "Decline", "custom_id": "decline", "emoji": {"name": "✖️"}},
            {"type": 2, "id": 4, "style": 5, "label": "Docs", "url": "https://docs.hikari-py.dev"},
        ]
        select = {
            "type": 3,
            "id": 6,
            "custom_id": "pick_role",
            "placeholder": "Pick a role",
            "min_values": 0,
            "max_values": 2,
            "options": [
                {"label": "Red", "value": "red", "emoji": {"name": "🔴"}},
                {"label": "Blue", "value": "blue", "description": "the best", "default": True},
            ],
        }
        return [{"type": 1, "id": 1, "components": buttons}, {"type": 1, "id": 5, "components": [select]}]

    def _components_v2(self) -> list[_Payload]:
        return [
            {
                "type": 17,
                "id": 1,
                "accent_color": 5793266,
                "spoiler": False,
                "components": [
                    {"type": 10, "id": 2, "content": "## Poll closed\nThanks for voting! 🗳️"},
                    {"type": 14, "id": 3, "divider": True, "spacing": 2},
                    {
                        "type": 9,
                        "id": 4,
                        "components": [{"type": 10, "id": 5, "content": "Winner: **pizza** 🍕"}],
                        "accessory": {"type": 2, "id": 6, "style": 2, "label": "Details", "custom_id": "poll:details"},
                    },
                ],
            }
        ]

    def _message_channel(self, g: _Guild) -> str:
        if len(g.thread_ids) and self._rng.random() < 0.25:
            return g.thread_ids.choice(self._rng)
        return g.text_ids.choice(self._rng)

    def _random_message(self) -> None:
        rng = self._rng
        if rng.random() < 0.03:
            self._dm_message()
            return
        roll = rng.random() * _MESSAGE_TOTAL_WEIGHT
        kind = "plain"
        for candidate, weight in _MESSAGE_WEIGHTS:
            roll -= weight
            if roll < 0:
                kind = candidate
                break
        if not self._message_of_kind(kind):
            self._message_of_kind("plain")

    def _message_of_kind(self, kind: str) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not len(g.member_ids) or not len(g.text_ids):
            return False
        channel_id = self._message_channel(g)
        author = _BOT if kind in ("components", "components_v2") else self._pick_author(g)
        if kind == "webhook":
            channel_id = g.text_ids.choice(rng)
            if g.channels[channel_id]["type"] not in (0, 5):
                return False
        if rng.random() < 0.25 and kind not in ("webhook", "components", "components_v2"):
            self._emit(
                "TYPING_START",
                g.shard,
                {
                    "channel_id": channel_id,
                    "guild_id": g.id,
                    "user_id": author,
                    "timestamp": self._now // 1000,
                    "member": self._full_member(g, author),
                },
            )
            self._tick(300, 6000)
        payload = self._message_envelope(g, channel_id, author, content=self._text())

        if kind == "reply":
            candidates = [mid for mid in self._recent_by_channel.get(channel_id, ()) if mid in self._messages]
            if not candidates:
                return False
            target = self._messages[rng.choice(candidates)]
            payload["type"] = 19
            payload["message_reference"] = {
                "type": 0,
                "message_id": target["id"],
                "channel_id": channel_id,
                "guild_id": g.id,
            }
            payload["referenced_message"] = self._refreshed(target)
            target_author = target["author"].get("id")
            if target_author in self._users and rng.random() < 0.7:
                payload["mentions"] = [self._mention(g, target_author)]  # reply ping
        elif kind == "mention":
            mentioned = [g.member_ids.choice(rng) for _ in range(rng.randrange(1, 4))]
            mentioned = list(dict.fromkeys(mentioned))
            payload["content"] = " ".join(f"<@{uid}>" for uid in mentioned) + " " + rng.choice(_SENTENCES)
            payload["content"] += f" see <#{g.text_ids.choice(rng)}>"
            payload["mentions"] = [self._mention(g, uid) for uid in mentioned]
        elif kind == "mention_roles":
            role_id = rng.choice([rid for rid in g.roles if rid != g.id])
            payload["content"] = f"@everyone <@&{role_id}> meeting in 10 minutes!"
            payload["mention_roles"] = [role_id]
            payload["mention_everyone"] = True
        elif kind == "embed":
            payload["content"] = rng.choice(("", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "look at this"))
            payload["embeds"] = [self._embed() for _ in range(rng.choice((1, 1, 2)))]
        elif kind == "attachment":
            payload["attachments"] = [self._attachment(channel_id) for _ in range(rng.choice((1, 1, 2, 4)))]
        elif kind == "voice_message":
            payload["content"] = ""
            payload["flags"] = 8192  # IS_VOICE_MESSAGE
            payload["attachments"] = [self._attachment(channel_id, voice=True)]
        elif kind == "empty":
            payload["content"] = ""
            payload["attachments"] = [self._attachment(channel_id)]
        elif kind == "sticker":
            if not g.stickers:
                return False
            sticker = g.stickers[rng.choice(list(g.stickers))]
            payload["content"] = ""
            payload["sticker_items"] = [
                {"id": sticker["id"], "name": sticker["name"], "format_type": sticker["format_type"]}
            ]
        elif kind == "unicode":
            payload["content"] = " ".join(
                rng.choice(_GLOBAL_NAMES + _UNICODE_EMOJIS) for _ in range(rng.randrange(3, 12))
            )
            if g.emojis:
                emoji_id = rng.choice(list(g.emojis))
                emoji = g.emojis[emoji_id]
                payload["content"] += f" <{'a' if emoji['animated'] else ''}:{emoji['name']}:{emoji_id}>"
        elif kind == "hostile":
            payload["content"] = rng.choice(_HOSTILE_CONTENT if self._varied else _SENTENCES) or "''"
        elif kind == "long":
            words: list[str] = []
            length = 0
            limit = rng.choice((2000, 4000))  # 4000 for Nitro users
            while length < limit - 40:
                words.append(rng.choice(_SENTENCES).replace("\n", " "))
                length += len(words[-1]) + 1
            payload["content"] = " ".join(words)[:limit]
        elif kind == "components":
            payload["components"] = self._components_v1()
            payload["content"] = "Please choose:"
        elif kind == "components_v2":
            payload["components"] = self._components_v2()
            payload["content"] = ""
            payload["flags"] = 32768  # IS_COMPONENTS_V2
        elif kind == "webhook":
            webhook = self._webhooks.get(channel_id)
            if webhook is None:
                webhook = {
                    "id": self._past_snowflake(2),
                    "username": rng.choice(("GitHub", "RSS Feed", "Status Page")),
                    "avatar": self._hash(),
                    "discriminator": "0000",
                    "bot": True,
                    "global_name": None,
                }
                self._webhooks[channel_id] = webhook
            payload["author"] = webhook
            payload["webhook_id"] = webhook["id"]
            payload.pop("member", None)
            payload.pop("nonce", None)
            payload["embeds"] = [self._embed()]
            payload["content"] = ""
        elif kind == "unknown_type":
            # Edge case: a message type newer than hikari 2.6 (stays an int in hikari).
            payload["type"] = 999
            payload["content"] = "this message has a type hikari does not know"
        elif kind == "tts":
            payload["tts"] = True
        self._send_message(payload, g)
        if kind in ("mention", "reply") and rng.random() < 0.2:
            self._tick(100, 3000)
            self._reaction_add(payload["id"])
        return True

    def _message_pair(self) -> bool:
        """Two plain messages in one text channel (what edits, deletes and reactions need)."""
        g = self._pick_guild_with(lambda g: len(g.member_ids) > 0 and len(g.text_ids) > 0)
        if g is None:
            return False
        channel_id = g.text_ids.choice(self._rng)
        for _ in range(2):
            self._tick(500, 5000)
            self._send_message(self._message_envelope(g, channel_id, self._pick_author(g), content=self._text()), g)
        return True

    def _dm_message(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not len(g.member_ids):
            return False
        uid = g.member_ids.choice(rng)
        if self._users[uid].get("bot"):
            return False
        channel_id = self._dm_channels.get(uid)
        if channel_id is None:
            channel_id = self._past_snowflake(3)
            self._dm_channels[uid] = channel_id
        author = _BOT if rng.random() < 0.4 else uid
        payload = self._message_envelope(None, channel_id, author, content=self._text())
        if rng.random() < 0.2:
            payload["attachments"] = [self._attachment(channel_id)]
        if author != _BOT and rng.random() < 0.5:
            self._emit("TYPING_START", 0, {"channel_id": channel_id, "user_id": author, "timestamp": self._now // 1000})
            self._tick(300, 5000)
        self._send_message(payload, None)
        return True

    def _recent_message(self, *, guild_only: bool = False) -> _Payload | None:
        recent = self._recent
        for _ in range(8):
            if not recent:
                return None
            message_id = recent[self._rng.randrange(len(recent))]
            payload = self._messages.get(message_id)
            if payload is None:
                continue
            g = self._message_guild.get(message_id)
            if g is not None and g.status != "active":
                continue
            if guild_only and g is None:
                continue
            if g is not None and payload["channel_id"] not in g.channels and payload["channel_id"] not in g.threads:
                continue  # its channel is gone
            return payload
        return None

    def _message_live_in_guild(self, message_id: str) -> bool:
        g = self._message_guild.get(message_id)
        if g is None or g.status != "active":
            return False
        channel_id = self._messages[message_id]["channel_id"]
        return channel_id in g.channels or channel_id in g.threads

    def _message_update(self, partial: bool | None = None) -> bool:
        rng = self._rng
        payload = self._recent_message()
        if payload is None or "webhook_id" in payload or payload["type"] not in (0, 19, 999):
            return False
        g = self._message_guild.get(payload["id"])
        shard = g.shard if g is not None else 0
        if partial is None:
            partial = rng.random() < 0.5
        if not partial:
            updated = {
                **self._refreshed(payload),
                "content": self._text() + " (edited)",
                "edited_timestamp": self._iso_now,
            }
            if "referenced_message" in payload:
                target = self._messages.get(payload["message_reference"]["message_id"])
                updated["referenced_message"] = self._refreshed(target) if target is not None else None
            self._messages[payload["id"]] = updated
            self._emit("MESSAGE_UPDATE", shard, updated)
            return True
        patch: _Payload = {"id": payload["id"], "channel_id": payload["channel_id"]}
        if g is not None:
            patch["guild_id"] = g.id
        roll = rng.random()
        if roll < 0.4:
            patch["content"] = payload["content"] + " ✏️"
            patch["edited_timestamp"] = self._iso_now
        elif roll < 0.7:
            patch["embeds"] = [self._embed()]  # link unfurl arriving after the message
        elif roll < 0.85:
            patch["pinned"] = not payload["pinned"]
        else:
            patch["flags"] = payload["flags"] | 4  # SUPPRESS_EMBEDS
            patch["embeds"] = []
        self._messages[payload["id"]] = {**payload, **patch}
        self._emit("MESSAGE_UPDATE", shard, patch)
        return True

    def _message_delete(self) -> bool:
        payload = self._recent_message()
        if payload is None:
            return False
        g = self._message_guild.get(payload["id"])
        body: _Payload = {"id": payload["id"], "channel_id": payload["channel_id"]}
        if g is not None:
            body["guild_id"] = g.id
        self._forget_message(payload["id"])
        self._emit("MESSAGE_DELETE", g.shard if g is not None else 0, body)
        return True

    def _message_delete_bulk(self) -> bool:
        rng = self._rng
        payload = self._recent_message(guild_only=True)
        channel_id = payload["channel_id"] if payload is not None else ""
        ids = [mid for mid in self._recent_by_channel.get(channel_id, ()) if mid in self._messages]
        if len(ids) < 2:
            # Fall back to any live guild channel with a few messages in it.
            for candidate, message_ids in self._recent_by_channel.items():
                live = [mid for mid in message_ids if mid in self._messages]
                if len(live) >= 2 and self._message_live_in_guild(live[0]):
                    channel_id, ids = candidate, live
                    break
            else:
                return False
        g = self._message_guild[ids[0]]
        assert g is not None
        chosen = rng.sample(ids, rng.randrange(2, min(10, len(ids)) + 1))
        for message_id in chosen:
            self._forget_message(message_id)
        if self._varied:
            chosen.append(self._snowflake_at(self._now - 3_600_000))  # messages from before we connected
        self._emit("MESSAGE_DELETE_BULK", g.shard, {"ids": chosen, "channel_id": channel_id, "guild_id": g.id})
        return True

    # ------------------------------------------------------------------ reactions

    def _pick_reaction_emoji(self, g: _Guild | None) -> _Payload:
        rng = self._rng
        if g is not None and g.emojis and rng.random() < 0.3:
            emoji_id = rng.choice(list(g.emojis))
            emoji = g.emojis[emoji_id]
            return {"id": emoji_id, "name": emoji["name"], "animated": emoji["animated"]}
        return {"id": None, "name": rng.choice(_UNICODE_EMOJIS)}

    def _reaction_add(self, message_id: str | None = None, *, guild_only: bool = False) -> bool:
        rng = self._rng
        if message_id is not None:
            payload = self._messages.get(message_id)
        else:
            payload = self._recent_message(guild_only=guild_only)
        if payload is None:
            return False
        g = self._message_guild.get(payload["id"])
        emoji = self._pick_reaction_emoji(g)
        body: _Payload = {
            "channel_id": payload["channel_id"],
            "message_id": payload["id"],
            "emoji": emoji,
            "burst": False,
            "type": 0,
        }
        if payload["author"].get("id"):
            body["message_author_id"] = payload["author"]["id"]
        if g is not None:
            uid = g.member_ids.choice(rng) if rng.random() < 0.9 else _BOT
            body["user_id"] = uid
            body["guild_id"] = g.id
            body["member"] = self._full_member(g, uid)
            body["burst_colors"] = []
            if rng.random() < 0.05:
                body["burst"] = True  # a super reaction
                body["burst_colors"] = ["#FF0000", "#00FF00"]
                body["type"] = 1
            shard = g.shard
        else:
            uid = (
                _BOT
                if payload["author"].get("id") != _BOT
                else next(
                    (user for user, channel in self._dm_channels.items() if channel == payload["channel_id"]), _BOT
                )
            )
            body["user_id"] = uid
            shard = 0
        self._reactions.setdefault(payload["id"], []).append((uid, emoji))
        self._emit("MESSAGE_REACTION_ADD", shard, body)
        return True

    def _reaction_target(self, *, guild_only: bool = False) -> tuple[_Payload, list[tuple[str, _Payload]]] | None:
        for message_id in list(self._reactions)[-20:]:
            payload = self._messages.get(message_id)
            g = self._message_guild.get(message_id)
            if payload is None or (g is None and guild_only):
                continue
            if g is not None and not self._message_live_in_guild(message_id):
                continue
            reactions = self._reactions[message_id]
            if reactions:
                return payload, reactions
        return None

    def _reaction_remove(self) -> bool:
        target = self._reaction_target()
        if target is None:
            return False
        payload, reactions = target
        uid, emoji = reactions.pop(self._rng.randrange(len(reactions)))
        g = self._message_guild.get(payload["id"])
        body: _Payload = {
            "user_id": uid,
            "channel_id": payload["channel_id"],
            "message_id": payload["id"],
            "emoji": {key: value for key, value in emoji.items() if key != "animated"},
            "burst": False,
            "type": 0,
        }
        if g is not None:
            body["guild_id"] = g.id
        self._emit("MESSAGE_REACTION_REMOVE", g.shard if g is not None else 0, body)
        return True

    def _reaction_remove_all(self) -> bool:
        target = self._reaction_target()
        if target is None:
            return False
        payload, reactions = target
        reactions.clear()
        g = self._message_guild.get(payload["id"])
        body: _Payload = {"channel_id": payload["channel_id"], "message_id": payload["id"]}
        if g is not None:
            body["guild_id"] = g.id
        self._emit("MESSAGE_REACTION_REMOVE_ALL", g.shard if g is not None else 0, body)
        return True

    def _reaction_remove_emoji(self) -> bool:
        target = self._reaction_target(guild_only=True)
        if target is None:
            return False
        payload, reactions = target
        g = self._message_guild.get(payload["id"])
        if g is None:
            return False
        emoji = reactions[0][1]
        reactions[:] = [(uid, other) for uid, other in reactions if other != emoji]
        self._emit(
            "MESSAGE_REACTION_REMOVE_EMOJI",
            g.shard,
            {
                "channel_id": payload["channel_id"],
                "guild_id": g.id,
                "message_id": payload["id"],
                "emoji": {key: value for key, value in emoji.items() if key != "animated"},
            },
        )
        return True

    # ------------------------------------------------------------------ guild churn

    def _random_churn(self) -> None:
        rng = self._rng
        roll = rng.random() * _CHURN_TOTAL_WEIGHT
        action = _SessionBuilder._presence_update
        for weight, candidate in _CHURN_WEIGHTS:
            roll -= weight
            if roll < 0:
                action = candidate
                break
        if not action(self):
            self._presence_update()

    def _typing(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not len(g.member_ids):
            return False
        uid = self._pick_author(g)
        self._emit(
            "TYPING_START",
            g.shard,
            {
                "channel_id": self._message_channel(g),
                "guild_id": g.id,
                "user_id": uid,
                "timestamp": self._now // 1000,
                "member": self._full_member(g, uid),
            },
        )
        if rng.random() < 0.1 and self._dm_channels:
            user, channel = rng.choice(list(self._dm_channels.items()))
            self._emit("TYPING_START", 0, {"channel_id": channel, "user_id": user, "timestamp": self._now // 1000})
        return True

    def _presence_update(self, *, force_offline: bool = False) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not len(g.member_ids):
            return False
        if force_offline:
            online = [uid for uid in g.online if uid != _BOT]
            if not online:
                return False
            uid = rng.choice(online)
        else:
            uid = g.member_ids.choice(rng)
        if uid in g.online and (force_offline or rng.random() < 0.15):
            del g.online[uid]
            payload: _Payload = {
                "user": {"id": uid},
                "status": "offline",
                "activities": [],
                "client_status": {},
                "guild_id": g.id,
            }
        else:
            presence = self._presence(uid)
            g.online[uid] = presence
            payload = {**presence, "guild_id": g.id}
            if rng.random() < 0.05:
                payload["user"] = self._users[uid]  # occasionally the whole (current) user
        self._emit("PRESENCE_UPDATE", g.shard, payload)
        return True

    def _voice_update(self, mode: str | None = None) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not g.voice_ids or not len(g.member_ids):
            return False
        if mode is None:
            mode = rng.choice(("join", "join", "move", "leave", "leave", "mute"))
        in_voice = [uid for uid in g.voice if uid in g.member_ids]
        if mode == "join" or not in_voice:
            candidates = [uid for uid in g.chatters.items() if uid not in g.voice] or [g.member_ids.choice(rng)]
            uid = rng.choice(candidates)
            if uid in g.voice:
                return False
            channel_id = rng.choice(g.voice_ids)
            state = self._voice_state(uid, channel_id, stage=g.channels[channel_id]["type"] == 13)
        else:
            uid = rng.choice(in_voice)
            state = g.voice[uid]
            if mode == "move":
                others = [cid for cid in g.voice_ids if cid != state["channel_id"]]
                if not others:
                    return False
                channel_id = rng.choice(others)
                state = {**state, "channel_id": channel_id, "suppress": g.channels[channel_id]["type"] == 13}
            elif mode == "leave":
                state = {**state, "channel_id": None, "self_video": False, "suppress": False}
            else:
                state = {**state, "self_mute": not state["self_mute"]}
        if state["channel_id"] is None:
            g.voice.pop(uid, None)
        else:
            g.voice[uid] = state
        payload: _Payload = {**state, "guild_id": g.id}
        if rng.random() < 0.9:
            payload["member"] = self._full_member(g, uid)
        self._emit("VOICE_STATE_UPDATE", g.shard, payload)
        return True

    def _member_add(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        rejoin = [(gid, uid) for gid, uid in self._removed_users[-20:] if gid == g.id and uid not in g.members]
        if rejoin and rng.random() < 0.3:
            uid = rng.choice(rejoin)[1]
            flags = 1  # DID_REJOIN
        else:
            uid = self._new_user(bot=rng.random() < 0.02)
            flags = 0
        core = self._member_core(g, uid, joined_ms=self._now, roles=[])
        core = {**core, "nick": None, "premium_since": None, "flags": flags, "pending": rng.random() < 0.3}
        self._add_member(g, uid, core, chatter_chance=0.4)
        self._emit("GUILD_MEMBER_ADD", g.shard, {"guild_id": g.id, **self._full_member(g, uid)})
        if rng.random() < 0.3 and g.base.get("system_channel_id"):
            self._tick(100, 900)
            self._system_join_message(g, uid)
        return True

    def _system_join_message(self, g: _Guild, author: str) -> None:
        channel_id: str = g.base["system_channel_id"]
        if channel_id not in g.channels:
            return
        payload = self._message_envelope(g, channel_id, author, content="")
        payload["type"] = 7  # GUILD_MEMBER_JOIN
        payload.pop("nonce", None)
        self._send_message(payload, g)

    def _member_update(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not len(g.member_ids):
            return False
        uid = g.member_ids.choice(rng)
        core = dict(g.members[uid])
        roll = rng.random()
        if roll < 0.3:
            core["nick"] = None if core.get("nick") else rng.choice(_GLOBAL_NAMES)
        elif roll < 0.6:
            assignable = [
                rid for rid, role in g.roles.items() if not role["managed"] and rid != g.id and rid not in g.churn_roles
            ]
            roles = list(core["roles"])
            if assignable:
                role = rng.choice(assignable)
                if role in roles:
                    roles.remove(role)
                else:
                    roles.append(role)
            core["roles"] = roles
            core["pending"] = False
        elif roll < 0.7:
            timeout = None if core.get("communication_disabled_until") else _iso(self._now + 600_000)
            core["communication_disabled_until"] = timeout
        elif roll < 0.8:
            core["avatar"] = None if core.get("avatar") else self._hash()
        else:
            # A user-level change (new username/avatar) delivered through this guild.
            old = self._users[uid]
            self._users[uid] = {
                **old,
                "username": f"{old['username'].split('_v')[0]}_v{rng.randrange(2, 99)}",
                "avatar": self._hash(0.1),
            }
        g.members[uid] = core
        self._emit("GUILD_MEMBER_UPDATE", g.shard, {"guild_id": g.id, **self._full_member(g, uid)})
        return True

    def _member_remove(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or len(g.member_ids) < 3:
            return False
        uid = g.member_ids.choice(rng)
        if uid == g.owner_id or uid in g.voice or uid in g.mod_ids:
            return False
        user = self._users[uid]
        self._remove_member_state(g, uid)
        self._removed_users.append((g.id, uid))
        self._emit("GUILD_MEMBER_REMOVE", g.shard, {"guild_id": g.id, "user": user})
        return True

    def _channel_create(self, ctype: int | None = None) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        if ctype is None:
            ctype = rng.choice((0, 0, 0, 2, 2, 4, 5, 13, 15, 16))
        parents = [cid for cid, channel in g.channels.items() if channel["type"] == 4]
        name = rng.choice(("new-channel", "event-chat", "🎨-art", "lfg", "voice-2", "ticket-0042", "日本語"))
        channel = self._channel(g, ctype, name, None if ctype == 4 else rng.choice(parents), created_ms=self._now)
        self._register_channel(g, channel)
        if ctype != 4:
            g.churn_channels.add(channel["id"])
        self._emit("CHANNEL_CREATE", g.shard, channel)
        return True

    def _channel_update(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        channel_id = rng.choice(list(g.channels))
        channel = dict(g.channels[channel_id])
        roll = rng.random()
        if roll < 0.3:
            channel["name"] = f"{channel['name']}-{rng.randrange(2, 9)}"
        elif roll < 0.5 and "topic" in channel:
            channel["topic"] = rng.choice((None, "updated topic", "📢 read the rules", "tópico atualizado"))
        elif roll < 0.7:
            channel["permission_overwrites"] = [
                *channel["permission_overwrites"],
                self._overwrite(g.member_ids.choice(rng) if len(g.member_ids) else g.id, 1, _VIEW_CHANNEL, 0),
            ]
        elif roll < 0.85 and "rate_limit_per_user" in channel:
            channel["rate_limit_per_user"] = rng.choice((0, 10, 60, 21600))
        else:
            channel["position"] = channel["position"] + 1
        g.channels[channel_id] = channel
        self._emit("CHANNEL_UPDATE", g.shard, channel)
        return True

    def _channel_delete(self) -> bool:
        g = self._pick_guild_with(lambda g: len(g.churn_channels) > 0)
        if g is None:
            return False
        channel_id = g.churn_channels.choice(self._rng)
        if any(state["channel_id"] == channel_id for state in g.voice.values()):
            return False
        channel = g.channels.pop(channel_id)
        g.churn_channels.discard(channel_id)
        g.text_ids.discard(channel_id)
        if channel_id in g.voice_ids:
            g.voice_ids.remove(channel_id)
        if channel_id in g.thread_parents:
            g.thread_parents.remove(channel_id)
        for thread_id in [tid for tid, thread in g.threads.items() if thread["parent_id"] == channel_id]:
            self._forget_thread(g, thread_id)  # hikari drops a deleted channel's threads too
        for code in [code for code, invite_channel in g.invites.items() if invite_channel == channel_id]:
            del g.invites[code]
        self._emit("CHANNEL_DELETE", g.shard, channel)
        return True

    def _thread_create(self, *, bot_member: bool | None = None) -> bool:
        rng = self._rng
        g = self._pick_guild_with(lambda g: bool(g.thread_parents) and len(g.member_ids) > 0)
        if g is None:
            return False
        parent_id = rng.choice(g.thread_parents)
        parent_type = g.channels[parent_id]["type"]
        ttype = 10 if parent_type == 5 else rng.choice((11, 11, 12)) if parent_type == 0 else 11
        owner = self._pick_author(g)
        name = rng.choice(
            ("bug report", "LFG tonight?", "📸 photo dump", "release v1.2", "Вопрос", "off-topic tangent")
        )
        thread = self._thread(g, parent_id, ttype, name, owner, created_ms=self._now)
        newly_created = rng.random() < 0.85
        if bot_member is None:
            bot_member = ttype == 12 or rng.random() < 0.4
        self._register_thread(g, thread, bot_member=bot_member)
        payload = self._thread_payload(g, thread)
        if newly_created:
            payload = {**payload, "newly_created": True}
        self._emit("THREAD_CREATE", g.shard, payload)  # without newly_created: the bot was added to it
        if parent_type in (15, 16):
            # A forum post's starter message shares the thread's id.
            self._tick(5, 60)
            starter = self._message_envelope(g, thread["id"], owner, content=self._text())
            starter["id"] = thread["id"]
            starter["position"] = 0
            self._send_message(starter, g)
        return True

    def _thread_update(self) -> bool:
        rng = self._rng
        g = self._pick_guild_with(lambda g: bool(g.threads))
        if g is None:
            return False
        thread_id = rng.choice(list(g.threads))
        thread = g.threads[thread_id]
        metadata = dict(thread["thread_metadata"])
        roll = rng.random()
        if metadata["archived"] or roll < 0.4:
            metadata["archived"] = not metadata["archived"]
            metadata["archive_timestamp"] = self._iso_now
        elif roll < 0.6:
            metadata["locked"] = not metadata["locked"]
        updated = {**thread, "thread_metadata": metadata}
        if roll >= 0.6:
            updated["name"] = f"{thread['name']} [{rng.choice(('solved', 'wip', 'closed'))}]"
        g.threads[thread_id] = updated
        if metadata["archived"]:
            g.thread_ids.discard(thread_id)
        else:
            g.thread_ids.add(thread_id)
        self._emit("THREAD_UPDATE", g.shard, self._thread_payload(g, updated))
        return True

    def _thread_delete(self) -> bool:
        g = self._pick_guild_with(lambda g: bool(g.threads))
        if g is None:
            return False
        thread_id = self._rng.choice(list(g.threads))
        thread = g.threads[thread_id]
        self._forget_thread(g, thread_id)
        self._emit(
            "THREAD_DELETE",
            g.shard,
            {"id": thread_id, "guild_id": g.id, "parent_id": thread["parent_id"], "type": thread["type"]},
        )
        return True

    def _thread_list_sync(self, *, partial: bool | None = None) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not g.thread_parents:
            return False
        if partial is None:
            partial = rng.random() < 0.7
        channel_ids = rng.sample(g.thread_parents, min(len(g.thread_parents), rng.randrange(1, 3))) if partial else None
        synced: list[_Payload] = []
        for thread_id, thread in list(g.threads.items()):
            if channel_ids is not None and thread["parent_id"] not in channel_ids:
                continue
            if thread["thread_metadata"]["archived"]:
                self._forget_thread(g, thread_id)  # only active threads are synced; hikari drops the rest
            else:
                synced.append(thread)
        payload: _Payload = {
            "guild_id": g.id,
            "threads": synced,
            "members": [self._thread_member(thread["id"], _BOT) for thread in synced if thread["id"] in g.bot_threads],
        }
        if channel_ids is not None:
            payload["channel_ids"] = channel_ids
        self._emit("THREAD_LIST_SYNC", g.shard, payload)
        return True

    def _thread_members_remove_bot(self) -> bool:
        g = self._pick_guild_with(lambda g: bool(g.bot_threads))
        if g is None:
            return False
        thread_id = self._rng.choice(sorted(g.bot_threads))
        thread = g.threads[thread_id]
        self._forget_thread(g, thread_id)  # hikari deletes the thread when the bot is removed
        self._emit(
            "THREAD_MEMBERS_UPDATE",
            g.shard,
            {
                "id": thread_id,
                "guild_id": g.id,
                "member_count": max(0, thread["member_count"] - 1),
                "removed_member_ids": [_BOT],
            },
        )
        return True

    def _thread_members_add(self) -> bool:
        rng = self._rng
        g = self._pick_guild_with(lambda g: len(g.thread_ids) > 0 and len(g.member_ids) > 0)
        if g is None:
            return False
        thread_id = g.thread_ids.choice(rng)
        uid = g.member_ids.choice(rng)
        added: _Payload = {**self._thread_member(thread_id, uid), "member": self._full_member(g, uid), "presence": None}
        if uid in g.online:
            added["presence"] = {**g.online[uid], "guild_id": g.id}
        thread = g.threads[thread_id]
        g.threads[thread_id] = {**thread, "member_count": thread["member_count"] + 1}
        self._emit(
            "THREAD_MEMBERS_UPDATE",
            g.shard,
            {"id": thread_id, "guild_id": g.id, "member_count": thread["member_count"] + 1, "added_members": [added]},
        )
        return True

    def _role_create(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        role = self._role(
            g, rng.choice(("new role", "Event Winner", "🎨 Artist", "VIP")), len(g.roles), id=self._snowflake()
        )
        g.roles[role["id"]] = role
        g.churn_roles.add(role["id"])
        self._emit("GUILD_ROLE_CREATE", g.shard, {"guild_id": g.id, "role": role})
        return True

    def _role_update(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        role_id = rng.choice([rid for rid, role in g.roles.items() if not role["managed"]])
        role = dict(g.roles[role_id])
        roll = rng.random()
        if roll < 0.4 and role_id != g.id:
            role["name"] = f"{role['name']} ✨"
        elif roll < 0.7:
            role["color"] = rng.randrange(0, 0xFFFFFF)
            if "colors" in role:
                role["colors"] = {"primary_color": role["color"], "secondary_color": None, "tertiary_color": None}
        else:
            role["permissions"] = str(int(role["permissions"]) ^ _SEND_MESSAGES)
        g.roles[role_id] = role
        self._emit("GUILD_ROLE_UPDATE", g.shard, {"guild_id": g.id, "role": role})
        return True

    def _role_delete(self) -> bool:
        g = self._pick_guild_with(lambda g: len(g.churn_roles) > 0)
        if g is None:
            return False
        role_id = g.churn_roles.choice(self._rng)  # roles created in-session are never assigned
        g.churn_roles.discard(role_id)
        del g.roles[role_id]
        self._emit("GUILD_ROLE_DELETE", g.shard, {"guild_id": g.id, "role_id": role_id})
        return True

    def _emojis_update(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        roll = rng.random()
        if roll < 0.5 or not g.emojis:
            creator = rng.choice(g.mod_ids) if g.mod_ids else None
            self._emoji(g, rng.choice(_EMOJI_NAMES) + str(rng.randrange(10, 99)), creator, emoji_id=self._snowflake())
        elif roll < 0.8 and len(g.emojis) > 1:
            emoji_id = rng.choice(list(g.emojis))
            del g.emojis[emoji_id]
            g.emoji_creators.pop(emoji_id, None)
        else:
            emoji_id = rng.choice(list(g.emojis))
            g.emojis[emoji_id] = {**g.emojis[emoji_id], "name": g.emojis[emoji_id]["name"] + "_v2"}
        self._emit("GUILD_EMOJIS_UPDATE", g.shard, {"guild_id": g.id, "emojis": self._emoji_list(g)})
        return True

    def _stickers_update(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        if rng.random() < 0.6 or not g.stickers:
            creator = g.owner_id if rng.random() < 0.5 else None
            self._sticker(g, rng.choice(("hello", "gg", "bonk", "pog")), creator, sticker_id=self._snowflake())
        else:
            sticker_id = rng.choice(list(g.stickers))
            del g.stickers[sticker_id]
            g.sticker_creators.pop(sticker_id, None)
        self._emit("GUILD_STICKERS_UPDATE", g.shard, {"guild_id": g.id, "stickers": self._sticker_list(g)})
        return True

    def _invite_create(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None or not len(g.member_ids):
            return False
        channel_id = g.base["system_channel_id"] or g.text_ids.choice(rng)
        inviter = rng.choice(g.mod_ids) if g.mod_ids and rng.random() < 0.6 else g.member_ids.choice(rng)
        code = "".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        max_age = rng.choice((0, 1800, 3600, 86400, 604800))
        payload: _Payload = {
            "channel_id": channel_id,
            "code": code,
            "created_at": self._iso_now,
            "guild_id": g.id,
            "inviter": self._users[inviter],
            "max_age": max_age,
            "max_uses": rng.choice((0, 0, 1, 5, 10, 100)),
            "temporary": rng.random() < 0.05,
            "type": 0,
            "uses": 0,
        }
        if max_age:
            payload["expires_at"] = _iso(self._now + max_age * 1000)
        g.invites[code] = channel_id
        self._emit("INVITE_CREATE", g.shard, payload)
        return True

    def _invite_delete(self) -> bool:
        g = self._pick_guild_with(lambda g: bool(g.invites))
        if g is None:
            return False
        code = self._rng.choice(sorted(g.invites))
        channel_id = g.invites.pop(code)
        self._emit("INVITE_DELETE", g.shard, {"channel_id": channel_id, "guild_id": g.id, "code": code})
        return True

    def _emit_guild_update(self, g: _Guild) -> None:
        # GUILD_UPDATE carries the guild with its roles, emojis and stickers but no members/channels.
        payload = {
            **g.base,
            "roles": list(g.roles.values()),
            "emojis": self._emoji_list(g),
            "stickers": self._sticker_list(g),
        }
        self._emit("GUILD_UPDATE", g.shard, payload)

    def _guild_update(self) -> bool:
        rng = self._rng
        g = self._pick_guild()
        if g is None:
            return False
        roll = rng.random()
        if roll < 0.3:
            g.base = {**g.base, "name": g.base["name"] + " ✨"}
        elif roll < 0.5:
            g.base = {**g.base, "description": rng.choice((None, "New description", "Descrição nova 🇧🇷"))}
        elif roll < 0.7:
            g.base = {**g.base, "icon": self._hash(0.3)}
        elif roll < 0.85:
            g.base = {**g.base, "premium_subscription_count": rng.randrange(0, 40), "premium_tier": rng.randrange(0, 4)}
        else:
            g.base = {**g.base, "verification_level": rng.randrange(0, 5)}
        self._emit_guild_update(g)
        return True

    # ------------------------------------------------------------------ varied edge cases

    def _edge_unknown_channel_type(self) -> bool:
        g = self._pick_guild()
        if g is None:
            return False
        # Edge case: a channel type newer than hikari 2.6; hikari logs and discards it.
        channel: _Payload = {
            "id": self._snowflake(),
            "type": 99,
            "guild_id": g.id,
            "name": "mystery-channel",
            "position": 42,
            "flags": 0,
            "permission_overwrites": [],
            "parent_id": None,
        }
        self._emit("CHANNEL_CREATE", g.shard, channel)
        return True

    def _edge_unknown_activity_type(self) -> bool:
        g = self._pick_guild()
        if g is None or not len(g.member_ids):
            return False
        uid = g.member_ids.choice(self._rng)
        # Edge case: an activity type hikari 2.6 does not know (stays an int) with unknown keys.
        presence = self._presence(uid, "online")
        presence["activities"] = [
            {"type": 7, "name": "Hang Status", "state": "chilling", "created_at": self._now, "hang_status": "gaming"}
        ]
        g.online[uid] = presence
        self._emit("PRESENCE_UPDATE", g.shard, {**presence, "guild_id": g.id})
        return True

    def _edge_update_unknown_member(self) -> bool:
        g = self._pick_guild()
        if g is None:
            return False
        # Edge case: GUILD_MEMBER_UPDATE for a member the bot never saw (hikari caches it anyway).
        uid = self._new_user()
        self._add_member(g, uid, self._member_core(g, uid), chatter_chance=0.0)
        self._emit("GUILD_MEMBER_UPDATE", g.shard, {"guild_id": g.id, **self._full_member(g, uid)})
        return True

    def _edge_update_unknown_message(self) -> bool:
        g = self._pick_guild()
        if g is None:
            return False
        # Edge case: a partial MESSAGE_UPDATE for a message that was never created.
        payload = {
            "id": self._snowflake_at(self._now - 86_400_000),
            "channel_id": g.text_ids.choice(self._rng),
            "guild_id": g.id,
            "content": "edited long ago",
            "edited_timestamp": self._iso_now,
        }
        self._emit("MESSAGE_UPDATE", g.shard, payload)
        return True

    def _edge_delete_unknown_channel(self) -> bool:
        g = self._pick_guild()
        if g is None:
            return False
        # Edge case: CHANNEL_DELETE for a channel that was never created.
        channel = self._channel(g, 0, "ghost-channel", None, created_ms=self._now - 3_600_000)
        self._emit("CHANNEL_DELETE", g.shard, channel)
        return True

    def _edge_delete_unknown_role(self) -> bool:
        g = self._pick_guild()
        if g is None:
            return False
        # Edge case: GUILD_ROLE_DELETE for a role that was never created.
        self._emit("GUILD_ROLE_DELETE", g.shard, {"guild_id": g.id, "role_id": self._snowflake_at(self._now - 60_000)})
        return True

    def _edge_delete_unknown_message(self) -> bool:
        g = self._pick_guild()
        if g is None:
            return False
        # Edge case: MESSAGE_DELETE for a message sent before the bot connected.
        payload = {
            "id": self._snowflake_at(self._now - 7_200_000),
            "channel_id": g.text_ids.choice(self._rng),
            "guild_id": g.id,
        }
        self._emit("MESSAGE_DELETE", g.shard, payload)
        return True

    def _edge_unknown_event(self) -> bool:
        g = self._pick_guild()
        if g is None or not g.voice_ids:
            return False
        # Edge case: a real Discord event hikari 2.6 has no consumer for (its shard ignores it).
        self._emit(
            "VOICE_CHANNEL_STATUS_UPDATE",
            g.shard,
            {"id": g.voice_ids[0], "guild_id": g.id, "status": "🎮 ranked grind"},
        )
        return True

    def _edge_unparseable_member_add(self) -> bool:
        g = self._pick_guild()
        if g is None:
            return False
        # Deliberately malformed: GUILD_MEMBER_ADD without "user"; hikari raises KeyError.
        core = self._member_core(g, _BOT, joined_ms=self._now, roles=[])
        self._emit("GUILD_MEMBER_ADD", g.shard, {"guild_id": g.id, **core})
        return True

    def _edge_unparseable_thread_create(self) -> bool:
        g = self._pick_guild()
        if g is None or not g.thread_parents or not len(g.member_ids):
            return False
        parent_id = next((cid for cid in g.thread_parents if g.channels[cid]["type"] == 0), None)
        if parent_id is None:
            return False
        # Deliberately malformed: THREAD_CREATE without "thread_metadata"; hikari raises KeyError.
        thread = self._thread(g, parent_id, 11, "broken thread", self._pick_author(g), created_ms=self._now)
        del thread["thread_metadata"]
        self._emit("THREAD_CREATE", g.shard, {**thread, "newly_created": True})
        return True


# Message kinds and how often each is picked for a random MESSAGE_CREATE.
_MESSAGE_WEIGHTS: Final = (
    ("plain", 0.55),
    ("reply", 0.09),
    ("mention", 0.06),
    ("unicode", 0.05),
    ("embed", 0.05),
    ("attachment", 0.05),
    ("empty", 0.01),
    ("voice_message", 0.01),
    ("sticker", 0.02),
    ("components", 0.02),
    ("components_v2", 0.01),
    ("webhook", 0.02),
    ("mention_roles", 0.01),
    ("hostile", 0.02),
    ("long", 0.01),
    ("tts", 0.005),
)
_MESSAGE_KINDS: Final = tuple(kind for kind, _weight in _MESSAGE_WEIGHTS)
_MESSAGE_TOTAL_WEIGHT: Final = sum(weight for _kind, weight in _MESSAGE_WEIGHTS)

# Relative frequency of the non-message churn; presences dominate real gateway traffic.
_CHURN_WEIGHTS: Final = (
    (30.0, _SessionBuilder._presence_update),
    (12.0, _SessionBuilder._typing),
    (9.0, _SessionBuilder._reaction_add),
    (3.0, _SessionBuilder._reaction_remove),
    (0.5, _SessionBuilder._reaction_remove_all),
    (0.5, _SessionBuilder._reaction_remove_emoji),
    (7.0, _SessionBuilder._message_update),
    (4.0, _SessionBuilder._message_delete),
    (0.4, _SessionBuilder._message_delete_bulk),
    (7.0, _SessionBuilder._voice_update),
    (5.0, _SessionBuilder._member_update),
    (3.0, _SessionBuilder._member_add),
    (2.0, _SessionBuilder._member_remove),
    (1.5, _SessionBuilder._channel_update),
    (0.7, _SessionBuilder._channel_create),
    (0.4, _SessionBuilder._channel_delete),
    (1.2, _SessionBuilder._thread_create),
    (1.0, _SessionBuilder._thread_update),
    (0.4, _SessionBuilder._thread_delete),
    (0.3, _SessionBuilder._thread_list_sync),
    (0.3, _SessionBuilder._thread_members_add),
    (0.15, _SessionBuilder._thread_members_remove_bot),
    (0.6, _SessionBuilder._role_create),
    (1.0, _SessionBuilder._role_update),
    (0.4, _SessionBuilder._role_delete),
    (0.3, _SessionBuilder._emojis_update),
    (0.2, _SessionBuilder._stickers_update),
    (0.5, _SessionBuilder._invite_create),
    (0.3, _SessionBuilder._invite_delete),
    (0.3, _SessionBuilder._guild_update),
    (0.5, _SessionBuilder._dm_message),
)
_CHURN_TOTAL_WEIGHT: Final = sum(weight for weight, _action in _CHURN_WEIGHTS)
