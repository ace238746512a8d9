"""Deterministic generator of *adversarial* gateway traffic over a deliberately tiny id space.

:mod:`hikaripersist._internal.gateway_session` produces realistic traffic; this module produces the
opposite: three guilds, twelve users shared between them, six channels and three threads per guild and
thirty message ids, hammered for a few hundred steps by a seeded :class:`random.Random` that picks one
action per step among every kind of dispatch hikari's cache reacts to.  Because the id space is tiny,
every interaction between kinds happens often: a user renamed through one guild while a message of
another guild still holds it, a reply to a message that was deleted (or never seen), a voice state that
keeps a member alive after it left, a guild that goes down and comes back with less than it had, a
member chunk for members already cached...

Every payload has a shape hikari 2.6 accepts (copied from ``gateway_session``).  By default the stream
stays within what Discord can send (possibly racing: an edit for a message sent before the bot
connected, a re-delivered ``MESSAGE_CREATE`` after a resume, a ``GUILD_CREATE`` after an outage that
carries fewer members than before).  ``hostile=True`` adds what Discord should never send but hikari
still accepts: events for guilds the bot left or that are unavailable, a second ``INVITE_CREATE`` for a
live code, ``MESSAGE_CREATE`` reusing the id of a deleted message, updates for deleted messages.

A stream is a list of :class:`AdversarialStep` (one action and the records it produced); the first
step is ``READY`` followed by the initial ``GUILD_CREATE`` burst.  ``avoid`` switches off some of the
patterns (:data:`TRIGGERS`), to look for divergences other than the ones they are known to trigger.
"""

from __future__ import annotations

__all__ = ["TRIGGERS", "AdversarialStep", "describe", "generate_records", "generate_steps"]

import dataclasses
import random
import time
import typing
from typing import Any, Final, TypeAlias

from hikaripersist._internal.gateway_session import BOT_USER_ID, make_ready_payload

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Sequence

    from hikaripersist._internal.gateway_session import GatewayRecord

_Payload: TypeAlias = dict[str, Any]

_BOT: Final = str(BOT_USER_ID)
_EPOCH_MS: Final = 1_420_070_400_000
_START_MS: Final = 1_751_371_200_000  # 2025-07-01T12:00:00Z
_USERS: Final = 12
_GUILDS: Final = 3
_MESSAGE_IDS: Final = 30
_OLD_MESSAGE_IDS: Final = 6  # sent before the bot connected: never created in the stream
_CODES: Final = ("advA1", "advB2", "advC3", "advD4", "advE5")
_NAMES: Final = ("ana", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lu")
_GLOBAL_NAMES: Final = ("Zoë", "Łukasz", "さくら", "🦊 Fox", "Ørjan", None)
_WORDS: Final = ("hey", "lol", "gm", "ok", "ship it", "🎉", "brb", "same", "+1", "nope")
_EMOJI_NAMES: Final = ("kekw", "pog", "sadge", "catjam", "thonk")
_EVERYONE_PERMS: Final = "2248473465835073"


TRIGGERS: Final[dict[str, str]] = {
    "voice_without_member": "VOICE_STATE_UPDATE without a member object",
    "redelivery": "a MESSAGE_CREATE delivered again (the same message, refreshed)",
    "reused_message_id": "hostile: MESSAGE_CREATE reusing the id of another message (live or deleted)",
    "reused_invite_code": "hostile: INVITE_CREATE for a code that is live (in the same or another guild)",
    "stale_guild_event": "hostile: guild events for guilds the bot left, never joined or that are unavailable",
    "dead_message_event": "hostile: MESSAGE_UPDATE/DELETE for deleted or never created messages",
}
"""Patterns that ``avoid`` can switch off, with what they are."""


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}000+00:00"


@dataclasses.dataclass(frozen=True)
class AdversarialStep:
    """One action of an adversarial stream and the records it produced (possibly none)."""

    label: str
    """What the action did, e.g. ``"message_create"``."""
    records: tuple[GatewayRecord, ...]
    """The records, in order."""


class _Guild:
    """Discord's side of one guild (what a fresh ``GUILD_CREATE`` would carry)."""

    __slots__ = (
        "base",
        "bot_threads",
        "category_id",
        "channel_pool",
        "channels",
        "emoji_creators",
        "emoji_pool",
        "emojis",
        "id",
        "joined_at",
        "large",
        "members",
        "owner_id",
        "presences",
        "role_pool",
        "roles",
        "status",
        "sticker_creators",
        "sticker_pool",
        "stickers",
        "thread_pool",
        "threads",
        "voice",
    )

    def __init__(self, guild_id: str) -> None:
        self.id = guild_id
        self.status = "absent"  # "available" | "unavailable" | "left"
        self.base: _Payload = {}
        self.joined_at = ""
        self.large = False
        self.owner_id = ""
        self.roles: dict[str, _Payload] = {}
        self.role_pool: list[str] = []  # assignable role ids, existing or not
        self.category_id = ""
        self.channel_pool: list[tuple[str, int, str]] = []  # (id, type, name), existing or not
        self.channels: dict[str, _Payload] = {}
        self.thread_pool: list[str] = []
        self.threads: dict[str, _Payload] = {}
        self.bot_threads: set[str] = set()
        self.emoji_pool: list[str] = []
        self.emojis: dict[str, _Payload] = {}  # without "user"
        self.emoji_creators: dict[str, str] = {}
        self.sticker_pool: list[str] = []
        self.stickers: dict[str, _Payload] = {}
        self.sticker_creators: dict[str, str] = {}
        self.members: dict[str, _Payload] = {}  # member objects without "user"
        self.presences: dict[str, _Payload] = {}  # without guild_id
        self.voice: dict[str, _Payload] = {}  # without guild_id/member

    @property
    def joined(self) -> bool:
        return self.status in ("available", "unavailable")

    def text_ids(self) -> list[str]:
        return [cid for cid, channel in self.channels.items() if channel["type"] in (0, 5)]

    def voice_ids(self) -> list[str]:
        return [cid for cid, channel in self.channels.items() if channel["type"] == 2]

    def others(self) -> list[str]:
        return [uid for uid in self.members if uid != _BOT]


class _Adversary:
    """Builds the stream; :meth:`run` returns the steps."""

    def __init__(self, seed: int, *, hostile: bool, avoid: Collection[str] = ()) -> None:
        unknown = set(avoid) - set(TRIGGERS)
        if unknown:
            msg = f"unknown triggers {sorted(unknown)}; known: {sorted(TRIGGERS)}"
            raise ValueError(msg)
        self.rng = random.Random(seed)
        self.hostile = hostile
        self.avoid = frozenset(avoid)
        self.now = _START_MS + self.rng.randrange(86_400_000)
        self.counter = 0
        self.out: list[GatewayRecord] = []
        self.bot_public: _Payload = {
            "id": _BOT,
            "username": "PersistBot",
            "global_name": None,
            "discriminator": "4242",
            "avatar": self.hash(),
            "avatar_decoration_data": None,
            "bot": True,
            "public_flags": 65536,
        }
        self.users: dict[str, _Payload] = {}
        for name in _NAMES[:_USERS]:
            uid = self.snowflake_at(self.now - self.rng.randrange(1, 2000) * 86_400_000)
            self.users[uid] = self.new_user(uid, name)
        self.user_ids = list(self.users)
        self.webhook: _Payload = {
            "id": self.snowflake(),
            "username": "Status Page",
            "avatar": self.hash(),
            "discriminator": "0000",
            "bot": True,
            "global_name": None,
        }
        self.activity_emoji_ids = [self.snowflake() for _ in range(2)]
        self.guilds = [self.make_guild(i) for i in range(_GUILDS)]
        self.message_ids = [self.snowflake_at(self.now + i * 40_000) for i in range(_MESSAGE_IDS)]
        self.old_message_ids = [self.snowflake_at(self.now - 3_600_000 * (i + 1)) for i in range(_OLD_MESSAGE_IDS)]
        self.old_messages: dict[str, _Payload] = {}
        self.messages: dict[str, _Payload] = {}  # every message created, as last sent/edited
        self.message_guild: dict[str, _Guild | None] = {}
        self.live: set[str] = set()
        self.gone: set[str] = set()  # deleted (created in the stream or from before READY)
        self.dm_channels = {uid: self.snowflake_at(self.now - 86_400_000) for uid in self.user_ids}
        self.invites: dict[str, tuple[_Guild, str]] = {}  # live code -> (guild, channel id)
        self.retired: set[str] = set()  # codes gone without INVITE_DELETE (Discord never reuses them)

    # ------------------------------------------------------------------ basics

    def emit(self, name: str, payload: _Payload) -> None:
        self.out.append((name, 0, payload))

    def snowflake_at(self, ms: int) -> str:
        self.counter += 1
        return str(((ms - _EPOCH_MS) << 22) | (self.counter & 0x3FFFFF))

    def snowflake(self) -> str:
        return self.snowflake_at(self.now)

    def hash(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def allowed(self, trigger: str) -> bool:
        """Whether a pattern may be produced (hostile ones only in hostile streams)."""
        return trigger not in self.avoid and (self.hostile or not TRIGGERS[trigger].startswith("hostile"))

    @property
    def iso_now(self) -> str:
        return _iso(self.now)

    def pick(self, items: Sequence[str]) -> str:
        return items[self.rng.randrange(len(items))]

    def sample(self, items: Sequence[str], low: int, high: int) -> list[str]:
        count = min(len(items), self.rng.randint(low, high))
        return self.rng.sample(list(items), count)

    # ------------------------------------------------------------------ users

    def new_user(self, uid: str, name: str) -> _Payload:
        rng = self.rng
        user: _Payload = {
            "id": uid,
            "username": name,
            "global_name": rng.choice(_GLOBAL_NAMES),
            "discriminator": "0",
            "avatar": self.hash() if rng.random() < 0.7 else None,
            "avatar_decoration_data": None,
            "public_flags": rng.choice((0, 0, 64, 256)),
        }
        if name == "lu":
            user["bot"] = True
            user["discriminator"] = "1234"
        if rng.random() < 0.2:
            user["primary_guild"] = None
            user["collectibles"] = None
        if rng.random() < 0.1:
            del user["global_name"]  # absent, not null
        return user

    def drift(self, uid: str, *, force: bool = False) -> None:
        """Change a user's public profile (what later payloads carrying that user show)."""
        if uid == _BOT or uid not in self.users or not (force or self.chance(0.06)):
            return
        rng = self.rng
        user = dict(self.users[uid])
        roll = rng.random()
        if roll < 0.4:
            user["username"] = f"{user['username'].split('_')[0]}_{rng.randrange(100)}"
        elif roll < 0.7:
            user["avatar"] = None if user.get("avatar") and rng.random() < 0.3 else self.hash()
        elif roll < 0.9:
            user["global_name"] = rng.choice(_GLOBAL_NAMES)
        else:
            user["avatar_decoration_data"] = (
                None
                if user.get("avatar_decoration_data")
                else {"asset": self.hash(), "sku_id": self.snowflake(), "expires_at": None}
            )
        self.users[uid] = user

    def user(self, uid: str) -> _Payload:
        if uid == _BOT:
            return dict(self.bot_public)
        self.drift(uid)
        return dict(self.users[uid])

    def own_user(self) -> _Payload:
        return {**self.bot_public, "verified": True, "mfa_enabled": False, "email": None, "flags": 65536}

    # ------------------------------------------------------------------ guild construction

    def role(self, g: _Guild, role_id: str, name: str, position: int, **overrides: Any) -> _Payload:
        color = overrides.pop("color", self.rng.choice((0, 3447003, 15158332)))
        role: _Payload = {
            "id": role_id,
            "name": name,
            "description": None,
            "permissions": overrides.pop("permissions", "0"),
            "position": position,
            "color": color,
            "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": overrides.pop("managed", False),
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        role.update(overrides)
        return role

    def channel(self, g: _Guild, channel_id: str, ctype: int, name: str) -> _Payload:
        rng = self.rng
        channel: _Payload = {
            "id": channel_id,
            "type": ctype,
            "guild_id": g.id,
            "name": name,
            "position": rng.randrange(5),
            "flags": 0,
            "permission_overwrites": [],
            "parent_id": None if ctype == 4 or g.category_id not in g.channels else g.category_id,
            "nsfw": False,
        }
        if ctype == 4:
            return channel
        channel["rate_limit_per_user"] = rng.choice((0, 0, 5))
        if ctype in (0, 5):
            channel["topic"] = rng.choice((None, "chat", "news 📢"))
            channel["last_message_id"] = None
            channel["default_auto_archive_duration"] = 1440
            if ctype == 5:
                del channel["rate_limit_per_user"]
        else:
            channel["bitrate"] = 64000
            channel["user_limit"] = rng.choice((0, 5))
            channel["rtc_region"] = None
            channel["last_message_id"] = None
        return channel

    def thread(self, g: _Guild, thread_id: str, parent_id: str, owner_id: str) -> _Payload:
        ttype = 10 if g.channels[parent_id]["type"] == 5 else self.rng.choice((11, 11, 12))
        metadata: _Payload = {
            "archived": False,
            "archive_timestamp": self.iso_now,
            "auto_archive_duration": self.rng.choice((60, 1440)),
            "locked": False,
            "create_timestamp": self.iso_now,
        }
        if ttype == 12:
            metadata["invitable"] = self.chance(0.5)
        return {
            "id": thread_id,
            "guild_id": g.id,
            "parent_id": parent_id,
            "owner_id": owner_id,
            "type": ttype,
            "name": self.rng.choice(("bugs", "lfg", "release", "Вопрос")),
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": metadata,
        }

    def thread_payload(self, g: _Guild, thread: _Payload) -> _Payload:
        if thread["id"] in g.bot_threads:
            member = {"id": thread["id"], "user_id": _BOT, "join_timestamp": self.iso_now, "flags": 1}
            return {**thread, "member": member}
        return thread

    def emoji(self, g: _Guild, emoji_id: str) -> _Payload:
        return {
            "id": emoji_id,
            "name": self.rng.choice(_EMOJI_NAMES) + str(self.rng.randrange(10)),
            "roles": [],
            "require_colons": True,
            "managed": False,
            "animated": self.chance(0.3),
            "available": True,
        }

    def sticker(self, g: _Guild, sticker_id: str) -> _Payload:
        return {
            "id": sticker_id,
            "name": self.rng.choice(("wave", "bonk", "gg")),
            "tags": "wave",
            "type": 2,
            "format_type": self.rng.choice((1, 2, 4)),
            "description": self.rng.choice((None, "", "a sticker")),
            "asset": "",
            "available": True,
            "guild_id": g.id,
        }

    def member_core(self, g: _Guild, uid: str, *, joined_ms: int | None = None) -> _Payload:
        rng = self.rng
        assignable = [rid for rid in g.role_pool if rid in g.roles]
        core: _Payload = {
            "roles": self.sample(assignable, 0, 2),
            "nick": rng.choice((None, None, "nicky", "Ñick ✨")),
            "avatar": self.hash() if rng.random() < 0.1 else None,
            "banner": None,
            "joined_at": _iso(joined_ms if joined_ms is not None else self.now - rng.randrange(1, 900) * 86_400_000),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if rng.random() < 0.1:
            del core["nick"]
        return core

    def full_member(self, g: _Guild, uid: str) -> _Payload:
        return {"user": self.user(uid), **g.members[uid]}

    def make_guild(self, index: int) -> _Guild:
        rng = self.rng
        gid = self.snowflake_at(self.now - rng.randrange(400, 3000) * 86_400_000)
        g = _Guild(gid)
        g.base = {
            "id": gid,
            "name": f"Adversarial {index}",
            "icon": self.hash(),
            "description": None,
            "splash": None,
            "discovery_splash": None,
            "features": ["COMMUNITY"],
            "banner": None,
            "owner_id": "",
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 1,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "max_presences": None,
            "max_members": 500000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "nsfw_level": 0,
            "nsfw": False,
            "hub_type": None,
            "latest_onboarding_question_id": None,
            "incidents_data": None,
            "home_header": None,
            "version": 1,
        }
        g.large = rng.random() < 0.4
        g.joined_at = _iso(self.now - rng.randrange(1, 300) * 86_400_000)
        everyone = self.role(g, gid, "@everyone", 0, permissions=_EVERYONE_PERMS, color=0)
        bot_role = self.role(g, self.snowflake(), "PersistBot", 1, managed=True, permissions="8", tags={"bot_id": _BOT})
        g.roles = {everyone["id"]: everyone, bot_role["id"]: bot_role}
        g.role_pool = [self.snowflake() for _ in range(4)]
        for i, rid in enumerate(g.role_pool[:2]):
            g.roles[rid] = self.role(g, rid, f"role-{i}", 2 + i)
        g.category_id = self.snowflake()
        g.channel_pool = [
            (g.category_id, 4, "Text"),
            (self.snowflake(), 0, "general"),
            (self.snowflake(), 0, "random"),
            (self.snowflake(), 5, "news"),
            (self.snowflake(), 2, "Lounge"),
            (self.snowflake(), 2, "Gaming"),
        ]
        for channel_id, ctype, name in g.channel_pool:
            if ctype == 4 or rng.random() < 0.85:
                g.channels[channel_id] = self.channel(g, channel_id, ctype, name)
        text = g.text_ids()
        if not text:
            channel_id, ctype, name = g.channel_pool[1]
            g.channels[channel_id] = self.channel(g, channel_id, ctype, name)
        g.base["system_channel_id"] = g.text_ids()[0]
        g.thread_pool = [self.snowflake() for _ in range(3)]
        g.emoji_pool = [self.snowflake() for _ in range(3)]
        g.sticker_pool = [self.snowflake() for _ in range(2)]
        members = self.sample(self.user_ids, 4, 8)
        g.members[_BOT] = self.member_core(g, _BOT) | {"roles": [bot_role["id"]], "nick": None}
        for uid in members:
            g.members[uid] = self.member_core(g, uid)
        g.owner_id = members[0]
        g.base["owner_id"] = g.owner_id
        for emoji_id in self.sample(g.emoji_pool, 0, 3):
            g.emojis[emoji_id] = self.emoji(g, emoji_id)
            if rng.random() < 0.7:
                g.emoji_creators[emoji_id] = self.pick(self.user_ids)
        for sticker_id in self.sample(g.sticker_pool, 0, 2):
            g.stickers[sticker_id] = self.sticker(g, sticker_id)
            if rng.random() < 0.6:
                g.sticker_creators[sticker_id] = self.pick(self.user_ids)
        for thread_id in self.sample(g.thread_pool, 0, 2):
            g.threads[thread_id] = self.thread(g, thread_id, self.pick(g.text_ids()), self.pick(members))
            if rng.random() < 0.5:
                g.bot_threads.add(thread_id)
        for uid in g.members:
            if rng.random() < 0.5:
                g.presences[uid] = self.presence(uid)
        voice = g.voice_ids()
        if voice:
            for uid in self.sample(members, 0, 2):
                g.voice[uid] = self.voice_state(uid, self.pick(voice))
        return g

    # ------------------------------------------------------------------ shared payload pieces

    def activity(self) -> _Payload:
        rng = self.rng
        created = self.now - rng.randrange(1000, 3_600_000)
        roll = rng.random()
        if roll < 0.4:
            return {"type": 0, "name": rng.choice(("Factorio", "Celeste")), "id": "g", "created_at": created}
        activity: _Payload = {
            "type": 4,
            "name": "Custom Status",
            "state": "busy",
            "id": "custom",
            "created_at": created,
        }
        if roll < 0.7:
            activity["emoji"] = {"name": "🔥"}
        else:
            # Custom emojis in activities are shared through hikari's unknown emoji records.
            activity["emoji"] = {"name": "kekw", "id": self.pick(self.activity_emoji_ids), "animated": False}
        return activity

    def presence(self, uid: str, status: str | None = None) -> _Payload:
        rng = self.rng
        status = status or rng.choice(("online", "online", "idle", "dnd"))
        return {
            "user": {"id": uid},
            "status": status,
            "activities": [self.activity() for _ in range(rng.choice((0, 1, 1, 2)))],
            "client_status": {rng.choice(("desktop", "mobile", "web")): status},
        }

    def voice_state(self, uid: str, channel_id: str | None) -> _Payload:
        rng = self.rng
        state: _Payload = {
            "user_id": uid,
            "channel_id": channel_id,
            "session_id": f"{rng.getrandbits(64):016x}",
            "deaf": False,
            "mute": rng.random() < 0.1,
            "self_deaf": rng.random() < 0.2,
            "self_mute": rng.random() < 0.3,
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
        if rng.random() < 0.1:
            state["self_stream"] = True
        return state

    def emoji_list(self, g: _Guild) -> list[_Payload]:
        return [
            {**emoji, "user": self.user(g.emoji_creators[eid])} if eid in g.emoji_creators else emoji
            for eid, emoji in g.emojis.items()
        ]

    def sticker_list(self, g: _Guild) -> list[_Payload]:
        return [
            {**sticker, "user": self.user(g.sticker_creators[sid])} if sid in g.sticker_creators else sticker
            for sid, sticker in g.stickers.items()
        ]

    def mention(self, g: _Guild | None, uid: str) -> _Payload:
        user = self.user(uid)
        if g is not None and uid in g.members and self.chance(0.8):
            return {**user, "member": g.members[uid]}
        return user

    # ------------------------------------------------------------------ guild lifecycle

    def guild_create_payload(self, g: _Guild, *, join: bool) -> _Payload:
        rng = self.rng
        if g.large:
            # Large guilds carry the bot, who is in voice and a random few; the rest comes in chunks.
            included = {_BOT, *g.voice} | set(self.sample(g.others(), 0, 3))
            members = [self.full_member(g, uid) for uid in g.members if uid in included]
        else:
            members = [self.full_member(g, uid) for uid in g.members]
        included_ids = {member["user"]["id"] for member in members}
        payload: _Payload = {
            **g.base,
            "roles": list(g.roles.values()),
            "emojis": self.emoji_list(g),
            "stickers": self.sticker_list(g),
            "channels": [{k: v for k, v in channel.items() if k != "guild_id"} for channel in g.channels.values()],
            "threads": [
                self.thread_payload(g, thread)
                for thread in g.threads.values()
                if not thread["thread_metadata"]["archived"]
            ],
            "members": members,
            "presences": [presence for uid, presence in g.presences.items() if uid in included_ids],
            "voice_states": [
                {**state, "member": self.full_member(g, uid)} if rng.random() < 0.3 else state
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
        if not join:
            payload["unavailable"] = False
        return payload

    def emit_guild_create(self, g: _Guild, *, join: bool) -> None:
        if join:
            g.joined_at = self.iso_now
            g.members[_BOT] = {**g.members[_BOT], "joined_at": g.joined_at}
        self.emit("GUILD_CREATE", self.guild_create_payload(g, join=join))
        g.status = "available"

    def offstage_churn(self, g: _Guild) -> None:
        """What changes in a guild while the bot does not see it (outage, or not a member)."""
        rng = self.rng
        for _ in range(rng.randrange(4)):
            roll = rng.random()
            others = g.others()
            if roll < 0.3 and len(others) > 2:
                uid = self.pick([u for u in others if u != g.owner_id])
                g.members.pop(uid, None)
                g.presences.pop(uid, None)
                g.voice.pop(uid, None)
            elif roll < 0.6:
                outside = [u for u in self.user_ids if u not in g.members]
                if outside:
                    uid = self.pick(outside)
                    g.members[uid] = self.member_core(g, uid, joined_ms=self.now)
            elif roll < 0.8:
                uid = self.pick(list(g.members))
                if uid in g.presences:
                    del g.presences[uid]
                else:
                    g.presences[uid] = self.presence(uid)
            else:
                self.drift(self.pick(self.user_ids), force=True)
        # Voice states of users no longer members are gone from Discord too.
        for uid in [u for u in g.voice if u not in g.members]:
            del g.voice[uid]
        g.large = rng.random() < 0.4

    def emit_chunk(self, g: _Guild) -> bool:
        rng = self.rng
        uids = self.sample(list(g.members), 1, len(g.members))
        payload: _Payload = {
            "guild_id": g.id,
            "members": [self.full_member(g, uid) for uid in uids],
            "chunk_index": 0,
            "chunk_count": 1,
            "nonce": f"0.{rng.getrandbits(64):016x}",
        }
        presences = [g.presences[uid] for uid in uids if uid in g.presences and rng.random() < 0.8]
        if presences or rng.random() < 0.3:
            payload["presences"] = presences
        if rng.random() < 0.5:
            payload["not_found"] = self.sample([u for u in self.user_ids if u not in g.members], 0, 2)
        self.emit("GUILD_MEMBERS_CHUNK", payload)
        return True

    # ------------------------------------------------------------------ guild picking

    def guilds_where(self, has: Callable[[_Guild], bool] = lambda g: True) -> list[_Guild]:
        return [g for g in self.guilds if has(g)]

    def target(self, has: Callable[[_Guild], bool] = lambda g: True) -> _Guild | None:
        """A guild for a guild event: an available one (hostile: sometimes any other)."""
        available = [g for g in self.guilds if g.status == "available" and has(g)]
        if self.allowed("stale_guild_event") and self.chance(0.12):
            stale = [g for g in self.guilds if g.status != "available" and has(g)]
            if stale:
                return self.rng.choice(stale)
        return self.rng.choice(available) if available else None

    # ------------------------------------------------------------------ actions: guilds

    def a_guild_join(self) -> bool:
        candidates = self.guilds_where(lambda g: g.status in ("absent", "left"))
        if not candidates:
            return False
        g = self.rng.choice(candidates)
        self.offstage_churn(g)
        self.emit_guild_create(g, join=True)
        if g.large and self.chance(0.8):
            self.emit_chunk(g)
        return True

    def a_guild_outage(self) -> bool:
        candidates = self.guilds_where(lambda g: g.status == "available")
        if not candidates:
            return False
        g = self.rng.choice(candidates)
        self.emit("GUILD_DELETE", {"id": g.id, "unavailable": True})
        g.status = "unavailable"
        return True

    def a_guild_return(self) -> bool:
        candidates = self.guilds_where(lambda g: g.status == "unavailable")
        if not candidates:
            return False
        g = self.rng.choice(candidates)
        self.offstage_churn(g)
        self.emit_guild_create(g, join=False)
        if g.large and self.chance(0.8):
            self.emit_chunk(g)
        return True

    def a_guild_leave(self) -> bool:
        candidates = self.guilds_where(lambda g: g.joined)
        if not candidates:
            return False
        g = self.rng.choice(candidates)
        self.emit("GUILD_DELETE", {"id": g.id})
        g.status = "left"
        for code in [code for code, (owner, _) in self.invites.items() if owner is g]:
            del self.invites[code]
            self.retired.add(code)
        return True

    def a_guild_update(self) -> bool:
        g = self.target()
        if g is None:
            return False
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            g.base = {**g.base, "name": f"Adversarial {rng.randrange(100)}"}
        elif roll < 0.7:
            g.base = {**g.base, "icon": self.hash() if rng.random() < 0.8 else None}
        else:
            g.base = {**g.base, "description": rng.choice((None, "desc", "✨")), "premium_tier": rng.randrange(4)}
        payload: _Payload = {**g.base, "roles": list(g.roles.values())}
        # GUILD_UPDATE carries roles, emojis and stickers; an empty list leaves hikari's alone.
        payload["emojis"] = self.emoji_list(g)
        payload["stickers"] = self.sticker_list(g)
        self.emit("GUILD_UPDATE", payload)
        return True

    def a_member_chunk(self) -> bool:
        g = self.target()
        return g is not None and self.emit_chunk(g)

    # ------------------------------------------------------------------ actions: members, presences, voice

    def a_member_add(self) -> bool:
        g = self.target()
        if g is None:
            return False
        outside = [u for u in self.user_ids if u not in g.members]
        if not outside:
            return False
        uid = self.pick(outside)
        g.members[uid] = self.member_core(g, uid, joined_ms=self.now) | {"roles": [], "nick": None}
        self.emit("GUILD_MEMBER_ADD", {"guild_id": g.id, **self.full_member(g, uid)})
        return True

    def a_member_update(self) -> bool:
        g = self.target(lambda g: bool(g.members))
        if g is None:
            return False
        rng = self.rng
        uid = self.pick(list(g.members))
        core = dict(g.members[uid])
        roll = rng.random()
        if roll < 0.2:
            core["nick"] = rng.choice((None, "renamed", "Ñ"))
        elif roll < 0.4:
            core["roles"] = self.sample([rid for rid in g.role_pool if rid in g.roles], 0, 3)
        elif roll < 0.5:
            core["avatar"] = None if core.get("avatar") else self.hash()
        else:
            # A user-level change (username/avatar) delivered through this guild only.
            self.drift(uid, force=True)
        g.members[uid] = core
        self.emit("GUILD_MEMBER_UPDATE", {"guild_id": g.id, **self.full_member(g, uid)})
        return True

    def a_member_remove(self) -> bool:
        g = self.target(lambda g: len(g.others()) > 1)
        if g is None:
            return False
        uid = self.pick([u for u in g.others() if u != g.owner_id])
        user = self.user(uid)
        leave_first = self.chance(0.5)
        state = g.voice.pop(uid, None)
        if state is not None and leave_first:
            self.emit("VOICE_STATE_UPDATE", {**state, "channel_id": None, "guild_id": g.id})
        g.members.pop(uid)
        g.presences.pop(uid, None)
        self.emit("GUILD_MEMBER_REMOVE", {"guild_id": g.id, "user": user})
        if state is not None and not leave_first:
            self.emit("VOICE_STATE_UPDATE", {**state, "channel_id": None, "guild_id": g.id})
        return True

    def a_presence(self) -> bool:
        g = self.target(lambda g: bool(g.members))
        if g is None:
            return False
        uid = self.pick(list(g.members))
        if uid in g.presences and self.chance(0.35):
            del g.presences[uid]
            payload: _Payload = {
                "user": {"id": uid},
                "status": "offline",
                "activities": [],
                "client_status": {},
                "guild_id": g.id,
            }
        else:
            g.presences[uid] = self.presence(uid)
            payload = {**g.presences[uid], "guild_id": g.id}
            if self.chance(0.2):
                payload["user"] = self.user(uid)  # sometimes the whole user
        self.emit("PRESENCE_UPDATE", payload)
        return True

    def a_voice(self) -> bool:
        g = self.target(lambda g: bool(g.voice_ids()) and bool(g.others()))
        if g is None:
            return False
        rng = self.rng
        voice = g.voice_ids()
        roll = rng.random()
        if roll < 0.45 or not g.voice:
            uid = self.pick(list(g.members))
            state = self.voice_state(uid, self.pick(voice))  # join (or a new session while already in)
        else:
            uid = self.pick(list(g.voice))
            state = dict(g.voice[uid])
            if roll < 0.65:
                state["channel_id"] = self.pick(voice)
            elif roll < 0.8:
                state["self_mute"] = not state["self_mute"]
            else:
                state["channel_id"] = None
        if state["channel_id"] is None:
            g.voice.pop(uid, None)
        else:
            g.voice[uid] = state
        payload: _Payload = {**state, "guild_id": g.id}
        if rng.random() < 0.75 or not self.allowed("voice_without_member"):
            payload["member"] = self.full_member(g, uid)
        self.emit("VOICE_STATE_UPDATE", payload)
        return True

    # ------------------------------------------------------------------ actions: messages

    def message_envelope(self, g: _Guild | None, channel_id: str, author: _Payload, message_id: str) -> _Payload:
        payload: _Payload = {
            "type": 0,
            "tts": False,
            "timestamp": self.iso_now,
            "pinned": False,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "id": message_id,
            "flags": 0,
            "embeds": [],
            "edited_timestamp": None,
            "content": self.rng.choice(_WORDS),
            "components": [],
            "channel_id": channel_id,
            "author": author,
            "attachments": [],
        }
        if g is not None:
            payload["guild_id"] = g.id
        return payload

    def refreshed(self, message_id: str) -> _Payload:
        """A message as Discord would send it now: current author, member and mentions."""
        payload = dict(self.messages.get(message_id) or self.old_messages[message_id])
        payload.pop("referenced_message", None)
        g = self.message_guild.get(message_id)
        author_id = payload["author"]["id"]
        if "webhook_id" not in payload:
            payload["author"] = self.user(author_id)
        payload["mentions"] = [self.mention(g, user["id"]) for user in payload["mentions"]]
        if g is not None and "member" in payload:
            if author_id in g.members:
                payload["member"] = g.members[author_id]
            else:
                del payload["member"]
        return payload

    def old_message(self, message_id: str) -> _Payload:
        """A message sent before the bot connected (never created in the stream)."""
        message = self.old_messages.get(message_id)
        if message is None:
            g = self.rng.choice(self.guilds)
            channel_id = self.pick([cid for cid, _, _ in g.channel_pool[1:4]])
            author = self.pick(self.user_ids)
            message = self.message_envelope(g, channel_id, self.user(author), message_id)
            message["timestamp"] = _iso((int(message_id) >> 22) + _EPOCH_MS)
            message["mentions"] = [self.user(uid) for uid in self.sample(self.user_ids, 0, 2)]
            if author in g.members:
                message["member"] = g.members[author]
            self.old_messages[message_id] = message
            self.message_guild[message_id] = g
        return self.refreshed(message_id)

    def pick_message_id(self) -> str:
        """A message id of the tiny space: created (live or deleted), from before READY (hostile: future)."""
        roll = self.rng.random()
        created = list(self.messages)
        if roll < 0.7 and created:
            return self.pick(created)
        if roll < 0.9 or not self.hostile:
            return self.pick(self.old_message_ids)
        return self.pick(self.message_ids)  # not created yet: only Discord could know it

    def new_message_id(self) -> str | None:
        unused = [mid for mid in self.message_ids if mid not in self.messages]
        if unused and self.chance(0.85):
            return unused[0]
        if self.allowed("reused_message_id") and self.chance(0.5) and self.messages:
            return self.pick(list(self.messages))  # even the id of a deleted message
        live = sorted(self.live)
        if live and (self.allowed("redelivery") or self.allowed("reused_message_id")):
            return self.pick(live)
        return unused[0] if unused else None

    def add_reply(self, payload: _Payload, g: _Guild | None) -> None:
        rng = self.rng
        target = self.pick_message_id()
        if int(target) >= int(payload["id"]):
            # Only older messages can be replied to (and reply chains must not loop: hikari's cache
            # would recurse forever building such messages).
            target = self.pick(self.old_message_ids)
        payload["type"] = 19
        reference: _Payload = {"type": 0, "message_id": target, "channel_id": payload["channel_id"]}
        if g is not None:
            reference["guild_id"] = g.id
        payload["message_reference"] = reference
        roll = rng.random()
        # Discord shows a deleted message as null; racing a delete it may still send the message.
        known = self.visible(target) or ((target in self.gone) and roll < 0.15)
        if known and roll < 0.75:
            referenced: _Payload = self.refreshed(target) if target in self.messages else self.old_message(target)
            if rng.random() < 0.4:
                # Discord's copy may be newer than the last edit the bot saw.
                referenced = {
                    **referenced,
                    "content": rng.choice(_WORDS) + " (edited)",
                    "edited_timestamp": self.iso_now,
                }
            if rng.random() < 0.3:
                referenced["mentions"] = [self.mention(g, uid) for uid in self.sample(self.user_ids, 1, 3)]
            payload["referenced_message"] = referenced
            if rng.random() < 0.5 and referenced["author"]["id"] in self.users:
                payload["mentions"].append(self.mention(g, referenced["author"]["id"]))
        elif roll < 0.9:
            payload["referenced_message"] = None
        # else: no "referenced_message" key at all

    def a_message_create(self) -> bool:
        rng = self.rng
        message_id = self.new_message_id()
        if message_id is None:
            return False
        if message_id in self.live and (
            self.allowed("redelivery") and not (self.allowed("reused_message_id") and self.chance(0.5))
        ):
            # A re-delivered MESSAGE_CREATE (after a resume): the same message, refreshed.
            payload = self.refreshed(message_id)
            reference = payload.get("message_reference")
            if reference is not None and rng.random() < 0.8:
                target = reference["message_id"]
                payload["referenced_message"] = self.refreshed(target) if target in self.live else None
            self.emit("MESSAGE_CREATE", payload)
            return True
        g: _Guild | None = None
        if rng.random() < 0.8:
            g = self.target(lambda g: bool(g.text_ids()))
        if g is None:
            uid = self.pick(self.user_ids)
            author = self.user(uid if rng.random() < 0.6 else _BOT)
            payload = self.message_envelope(None, self.dm_channels[uid], author, message_id)
        else:
            channel_id = self.pick(
                g.text_ids() + [t for t, th in g.threads.items() if not th["thread_metadata"]["archived"]]
            )
            roll = rng.random()
            if roll < 0.08:
                payload = self.message_envelope(g, channel_id, dict(self.webhook), message_id)
                payload["webhook_id"] = self.webhook["id"]
            else:
                uid = self.pick(list(g.members)) if roll < 0.92 else self.pick(self.user_ids)
                payload = self.message_envelope(g, channel_id, self.user(uid), message_id)
                if uid in g.members and rng.random() < 0.95:
                    payload["member"] = g.members[uid]
        payload["mentions"] = [self.mention(g, uid) for uid in self.sample(self.user_ids, 0, 3)]
        if rng.random() < 0.45:
            self.add_reply(payload, g)
        if rng.random() < 0.1:
            payload["embeds"] = [{"type": "rich", "title": "t", "description": "d"}]
        if g is not None and rng.random() < 0.1:
            payload["mention_roles"] = [rid for rid in g.roles if rid != g.id][:1]
        self.messages[message_id] = payload
        self.message_guild[message_id] = g
        self.live.add(message_id)
        self.gone.discard(message_id)
        self.emit("MESSAGE_CREATE", payload)
        return True

    def visible(self, message_id: str) -> bool:
        """Whether Discord still has the message (created in the stream or from before READY)."""
        return message_id in self.live or (message_id in self.old_message_ids and message_id not in self.gone)

    def update_target(self) -> str | None:
        for _ in range(6):
            message_id = self.pick_message_id()
            if self.visible(message_id) or self.allowed("dead_message_event"):
                return message_id
        return None

    def a_message_update(self) -> bool:
        rng = self.rng
        message_id = self.update_target()
        if message_id is None:
            return False
        is_old = message_id in self.old_message_ids
        if not is_old and message_id not in self.messages:
            # Hostile: an update for a message that was never created.
            g = self.rng.choice(self.guilds)
            patch: _Payload = {"id": message_id, "channel_id": self.pick(g.text_ids() or [g.category_id])}
            patch["guild_id"] = g.id
            patch["content"] = "ghost edit"
            self.emit("MESSAGE_UPDATE", patch)
            return True
        current = self.old_message(message_id) if is_old else self.refreshed(message_id)
        g = self.message_guild.get(message_id)
        if rng.random() < 0.25:
            updated = {**current, "content": rng.choice(_WORDS) + " ✏️", "edited_timestamp": self.iso_now}
            if rng.random() < 0.5:
                updated["mentions"] = [self.mention(g, uid) for uid in self.sample(self.user_ids, 0, 3)]
            self.emit("MESSAGE_UPDATE", updated)
            stored = updated
        else:
            patch = {"id": message_id, "channel_id": current["channel_id"]}
            if "guild_id" in current:
                patch["guild_id"] = current["guild_id"]
            for _ in range(rng.randint(1, 2)):
                roll = rng.random()
                if roll < 0.3:
                    patch["content"] = rng.choice(_WORDS) + " ✏️"
                    patch["edited_timestamp"] = self.iso_now
                elif roll < 0.45:
                    patch["embeds"] = [{"type": "rich", "title": "unfurl", "fields": []}] if rng.random() < 0.7 else []
                elif roll < 0.75:
                    patch["mentions"] = [self.mention(g, uid) for uid in self.sample(self.user_ids, 0, 3)]
                elif roll < 0.9:
                    patch["pinned"] = not current["pinned"]
                else:
                    patch["mention_roles"] = []
                    patch["mention_everyone"] = rng.random() < 0.5
            self.emit("MESSAGE_UPDATE", patch)
            stored = {**current, **patch}
        if is_old:
            self.old_messages[message_id] = stored
        else:
            self.messages[message_id] = stored
        return True

    def a_message_delete(self) -> bool:
        message_id = self.pick_message_id()
        if not self.visible(message_id) and not self.allowed("dead_message_event"):
            return False
        body: _Payload = {"id": message_id}
        payload = self.messages.get(message_id) or self.old_messages.get(message_id)
        g = self.message_guild.get(message_id)
        if payload is not None:
            body["channel_id"] = payload["channel_id"]
            if "guild_id" in payload:
                body["guild_id"] = payload["guild_id"]
        else:
            g = self.rng.choice(self.guilds)
            body["channel_id"] = self.pick(g.text_ids() or [g.category_id])
            body["guild_id"] = g.id
        self.live.discard(message_id)
        self.gone.add(message_id)
        self.emit("MESSAGE_DELETE", body)
        return True

    def a_message_bulk_delete(self) -> bool:
        guild_messages = [mid for mid in self.live if self.message_guild.get(mid) is not None]
        if not guild_messages:
            return False
        first = self.pick(sorted(guild_messages))
        g = self.message_guild[first]
        assert g is not None
        channel_id = self.messages[first]["channel_id"]
        same = sorted(mid for mid in guild_messages if self.messages[mid]["channel_id"] == channel_id)
        ids = self.sample(same, 1, 5)
        ids += self.sample([mid for mid in self.old_message_ids if mid not in self.gone], 0, 2)
        if self.allowed("dead_message_event"):
            ids += self.sample([mid for mid in self.messages if mid not in self.live], 0, 2)
        self.rng.shuffle(ids)
        self.live.difference_update(ids)
        self.gone.update(ids)
        self.emit("MESSAGE_DELETE_BULK", {"ids": ids, "channel_id": channel_id, "guild_id": g.id})
        return True

    def a_reaction(self) -> bool:
        rng = self.rng
        live = sorted(self.live)
        if not live:
            return False
        message_id = self.pick(live)
        message = self.messages[message_id]
        g = self.message_guild[message_id]
        emoji: _Payload = {"id": None, "name": rng.choice(("👍", "🔥"))}
        base: _Payload = {"channel_id": message["channel_id"], "message_id": message_id}
        if g is not None:
            base["guild_id"] = g.id
        roll = rng.random()
        uid = self.pick(list(g.members)) if g is not None and g.members else _BOT
        if roll < 0.6:
            body: _Payload = {**base, "user_id": uid, "emoji": emoji, "burst": False, "type": 0}
            body["message_author_id"] = message["author"]["id"]
            if g is not None and uid in g.members:
                body["member"] = self.full_member(g, uid)
                body["burst_colors"] = []
            self.emit("MESSAGE_REACTION_ADD", body)
        elif roll < 0.8:
            self.emit("MESSAGE_REACTION_REMOVE", {**base, "user_id": uid, "emoji": emoji, "burst": False, "type": 0})
        elif roll < 0.9:
            self.emit("MESSAGE_REACTION_REMOVE_ALL", base)
        elif g is not None:
            self.emit("MESSAGE_REACTION_REMOVE_EMOJI", {**base, "emoji": emoji})
        return True

    def a_typing(self) -> bool:
        g = self.target(lambda g: bool(g.text_ids()))
        if g is None:
            return False
        uid = self.pick(list(g.members))
        self.emit(
            "TYPING_START",
            {
                "channel_id": self.pick(g.text_ids()),
                "guild_id": g.id,
                "user_id": uid,
                "timestamp": self.now // 1000,
                "member": self.full_member(g, uid),
            },
        )
        return True

    # ------------------------------------------------------------------ actions: emojis, stickers, invites

    def a_emojis(self) -> bool:
        g = self.target()
        if g is None:
            return False
        rng = self.rng
        chosen = self.sample(g.emoji_pool, 0, 3)
        g.emojis = {eid: g.emojis.get(eid) or self.emoji(g, eid) for eid in chosen}
        for eid in chosen:
            if rng.random() < 0.3:
                g.emojis[eid] = {**g.emojis[eid], "name": rng.choice(_EMOJI_NAMES)}
            if rng.random() < 0.4:
                if rng.random() < 0.75:
                    g.emoji_creators[eid] = self.pick(self.user_ids)
                else:
                    g.emoji_creators.pop(eid, None)
        self.emit("GUILD_EMOJIS_UPDATE", {"guild_id": g.id, "emojis": self.emoji_list(g)})
        return True

    def a_stickers(self) -> bool:
        g = self.target()
        if g is None:
            return False
        rng = self.rng
        chosen = self.sample(g.sticker_pool, 0, 2)
        g.stickers = {sid: g.stickers.get(sid) or self.sticker(g, sid) for sid in chosen}
        for sid in chosen:
            if rng.random() < 0.4:
                if rng.random() < 0.75:
                    g.sticker_creators[sid] = self.pick(self.user_ids)
                else:
                    g.sticker_creators.pop(sid, None)
        self.emit("GUILD_STICKERS_UPDATE", {"guild_id": g.id, "stickers": self.sticker_list(g)})
        return True

    def a_invite_create(self) -> bool:
        g = self.target(lambda g: bool(g.text_ids()))
        if g is None:
            return False
        rng = self.rng
        free = [code for code in _CODES if code not in self.invites and code not in self.retired]
        if self.allowed("reused_invite_code") and (not free or rng.random() < 0.2):
            free = list(_CODES)  # a second INVITE_CREATE for a live code
        if not free:
            return False
        code = rng.choice(free)
        channel_id = self.pick(g.text_ids())
        payload: _Payload = {
            "channel_id": channel_id,
            "code": code,
            "created_at": self.iso_now,
            "guild_id": g.id,
            "max_age": rng.choice((0, 3600)),
            "max_uses": rng.choice((0, 5)),
            "temporary": False,
            "type": 0,
            "uses": 0,
        }
        if rng.random() < 0.85:
            payload["inviter"] = self.user(self.pick(self.user_ids))
        if rng.random() < 0.3:
            payload["target_type"] = 1
            payload["target_user"] = self.user(self.pick(self.user_ids))
        if payload["max_age"]:
            payload["expires_at"] = _iso(self.now + payload["max_age"] * 1000)
        self.invites[code] = (g, channel_id)
        self.emit("INVITE_CREATE", payload)
        return True

    def a_invite_delete(self) -> bool:
        rng = self.rng
        if self.invites and rng.random() < 0.85:
            code = rng.choice(sorted(self.invites))
            g, channel_id = self.invites.pop(code)
        else:
            g = self.target(lambda g: bool(g.text_ids()))
            if g is None:
                return False
            code, channel_id = rng.choice(_CODES), self.pick(g.text_ids())
            if code in self.invites:
                return False
        self.emit("INVITE_DELETE", {"channel_id": channel_id, "guild_id": g.id, "code": code})
        return True

    # ------------------------------------------------------------------ actions: roles, channels, threads

    def a_role_create(self) -> bool:
        g = self.target(lambda g: any(rid not in g.roles for rid in g.role_pool))
        if g is None:
            return False
        rid = self.pick([rid for rid in g.role_pool if rid not in g.roles])
        g.roles[rid] = self.role(g, rid, self.rng.choice(("VIP", "mod", "🎨")), len(g.roles))
        self.emit("GUILD_ROLE_CREATE", {"guild_id": g.id, "role": g.roles[rid]})
        return True

    def a_role_update(self) -> bool:
        g = self.target()
        if g is None:
            return False
        rid = self.pick([rid for rid, role in g.roles.items() if not role["managed"]])
        role = dict(g.roles[rid])
        if self.chance(0.5) and rid != g.id:
            role["name"] = f"{role['name'].split('+')[0]}+{self.rng.randrange(10)}"
        else:
            role["permissions"] = str(int(role["permissions"]) ^ (1 << 11))
        g.roles[rid] = role
        self.emit("GUILD_ROLE_UPDATE", {"guild_id": g.id, "role": role})
        return True

    def a_role_delete(self) -> bool:
        g = self.target(lambda g: any(rid in g.roles for rid in g.role_pool))
        if g is None:
            return False
        rid = self.pick([rid for rid in g.role_pool if rid in g.roles])
        del g.roles[rid]
        for uid, core in list(g.members.items()):
            if rid in core["roles"]:
                g.members[uid] = {**core, "roles": [r for r in core["roles"] if r != rid]}
        self.emit("GUILD_ROLE_DELETE", {"guild_id": g.id, "role_id": rid})
        return True

    def a_channel_create(self) -> bool:
        g = self.target(lambda g: any(cid not in g.channels for cid, _, _ in g.channel_pool))
        if g is None:
            return False
        channel_id, ctype, name = self.rng.choice([entry for entry in g.channel_pool if entry[0] not in g.channels])
        g.channels[channel_id] = self.channel(g, channel_id, ctype, name)
        self.emit("CHANNEL_CREATE", g.channels[channel_id])
        return True

    def a_channel_update(self) -> bool:
        g = self.target(lambda g: bool(g.channels))
        if g is None:
            return False
        rng = self.rng
        channel_id = self.pick(list(g.channels))
        channel = dict(g.channels[channel_id])
        roll = rng.random()
        if roll < 0.35:
            channel["name"] = f"{channel['name'].split('-')[0]}-{rng.randrange(10)}"
        elif roll < 0.7:
            target = self.pick([*g.members, *g.roles])
            kind = 1 if target in g.members else 0
            channel["permission_overwrites"] = [{"id": target, "type": kind, "allow": "1024", "deny": "0"}]
        else:
            channel["position"] = rng.randrange(5)
        g.channels[channel_id] = channel
        self.emit("CHANNEL_UPDATE", channel)
        return True

    def a_channel_delete(self) -> bool:
        g = self.target(lambda g: any(c["type"] != 4 for c in g.channels.values()))
        if g is None:
            return False
        channel_id = self.pick([cid for cid, c in g.channels.items() if c["type"] != 4])
        if len(g.text_ids()) == 1 and channel_id in g.text_ids():
            return False
        for uid, state in list(g.voice.items()):
            if state["channel_id"] == channel_id:
                # Discord disconnects whoever was in a deleted voice channel.
                del g.voice[uid]
                self.emit("VOICE_STATE_UPDATE", {**state, "channel_id": None, "guild_id": g.id})
        channel = g.channels.pop(channel_id)
        for thread_id in [tid for tid, t in g.threads.items() if t["parent_id"] == channel_id]:
            del g.threads[thread_id]
            g.bot_threads.discard(thread_id)
        for code in [code for code, (owner, cid) in self.invites.items() if owner is g and cid == channel_id]:
            del self.invites[code]  # gone on Discord's side; hikari keeps its copy
            self.retired.add(code)
        self.emit("CHANNEL_DELETE", channel)
        return True

    def a_thread_create(self) -> bool:
        g = self.target(lambda g: bool(g.text_ids()) and any(t not in g.threads for t in g.thread_pool))
        if g is None:
            return False
        rng = self.rng
        thread_id = self.pick([t for t in g.thread_pool if t not in g.threads])
        thread = self.thread(g, thread_id, self.pick(g.text_ids()), self.pick(list(g.members)))
        g.threads[thread_id] = thread
        if rng.random() < 0.5:
            g.bot_threads.add(thread_id)
        payload = self.thread_payload(g, thread)
        if rng.random() < 0.8:
            payload = {**payload, "newly_created": True}
        self.emit("THREAD_CREATE", payload)
        return True

    def a_thread_update(self) -> bool:
        g = self.target(lambda g: bool(g.threads))
        if g is None:
            return False
        rng = self.rng
        thread_id = self.pick(list(g.threads))
        thread = g.threads[thread_id]
        metadata = dict(thread["thread_metadata"])
        roll = rng.random()
        if roll < 0.4:
            metadata["archived"] = not metadata["archived"]
            metadata["archive_timestamp"] = self.iso_now
        elif roll < 0.6:
            metadata["locked"] = not metadata["locked"]
        updated = {**thread, "thread_metadata": metadata}
        if roll >= 0.6:
            updated["name"] = f"{thread['name'].split(' ')[0]} {rng.randrange(10)}"
            updated["message_count"] = thread["message_count"] + 1
        g.threads[thread_id] = updated
        self.emit("THREAD_UPDATE", self.thread_payload(g, updated))
        return True

    def a_thread_delete(self) -> bool:
        g = self.target(lambda g: bool(g.threads))
        if g is None:
            return False
        thread_id = self.pick(list(g.threads))
        thread = g.threads.pop(thread_id)
        g.bot_threads.discard(thread_id)
        self.emit(
            "THREAD_DELETE",
            {"id": thread_id, "guild_id": g.id, "parent_id": thread["parent_id"], "type": thread["type"]},
        )
        return True

    def a_thread_list_sync(self) -> bool:
        g = self.target(lambda g: bool(g.text_ids()))
        if g is None:
            return False
        rng = self.rng
        channel_ids = self.sample(g.text_ids(), 1, 2) if rng.random() < 0.6 else None
        synced = [
            t
            for t in g.threads.values()
            if not t["thread_metadata"]["archived"] and (channel_ids is None or t["parent_id"] in channel_ids)
        ]
        payload: _Payload = {
            "guild_id": g.id,
            "threads": synced,
            "members": [
                {"id": t["id"], "user_id": _BOT, "join_timestamp": self.iso_now, "flags": 1}
                for t in synced
                if t["id"] in g.bot_threads
            ],
        }
        if channel_ids is not None:
            payload["channel_ids"] = channel_ids
        self.emit("THREAD_LIST_SYNC", payload)
        return True

    def a_thread_members(self) -> bool:
        g = self.target(lambda g: bool(g.threads))
        if g is None:
            return False
        rng = self.rng
        thread_id = self.pick(list(g.threads))
        thread = g.threads[thread_id]
        if thread_id in g.bot_threads and rng.random() < 0.6:
            g.bot_threads.discard(thread_id)
            removed = [_BOT, *self.sample(g.others(), 0, 1)]
            self.emit(
                "THREAD_MEMBERS_UPDATE",
                {"id": thread_id, "guild_id": g.id, "member_count": 1, "removed_member_ids": removed},
            )
            return True
        uid = self.pick(g.others() or [_BOT])
        added: _Payload = {
            "id": thread_id,
            "user_id": uid,
            "join_timestamp": self.iso_now,
            "flags": 1,
            "member": self.full_member(g, uid),
            "presence": None,
        }
        if uid in g.presences:
            added["presence"] = {**g.presences[uid], "guild_id": g.id}
        self.emit(
            "THREAD_MEMBERS_UPDATE",
            {"id": thread_id, "guild_id": g.id, "member_count": thread["member_count"] + 1, "added_members": [added]},
        )
        return True

    # ------------------------------------------------------------------ actions: the bot, the session

    def a_user_update(self) -> bool:
        self.bot_public = {
            **self.bot_public,
            "username": f"PersistBot{self.rng.randrange(100)}",
            "avatar": self.hash() if self.chance(0.8) else None,
        }
        self.emit("USER_UPDATE", self.own_user())
        for g in self.guilds:
            if g.status == "available" and self.chance(0.7):
                self.emit("GUILD_MEMBER_UPDATE", {"guild_id": g.id, **self.full_member(g, _BOT)})
        return True

    def emit_ready(self) -> None:
        joined = [g for g in self.guilds if g.joined]
        session_id = f"{self.rng.getrandbits(128):032x}"
        self.emit(
            "READY", make_ready_payload(guild_ids=[g.id for g in joined], session_id=session_id, user=self.own_user())
        )
        for g in joined:
            if g.status == "unavailable" and self.chance(0.5):
                self.emit("GUILD_CREATE", {"id": g.id, "unavailable": True})  # still down: hikari ignores it
                continue
            if g.status == "unavailable":
                self.offstage_churn(g)
            self.emit_guild_create(g, join=False)
            if g.large and self.chance(0.8):
                self.emit_chunk(g)

    def a_ready(self) -> bool:
        self.emit_ready()
        return True

    def a_resumed(self) -> bool:
        self.emit("RESUMED", {"_trace": ["adversarial"]})
        return True

    # ------------------------------------------------------------------ the stream

    def run(self, steps: int) -> list[AdversarialStep]:
        rng = self.rng
        out: list[AdversarialStep] = []
        for i, g in enumerate(self.guilds):
            if i < 2 or rng.random() < 0.3:
                g.status = "unavailable"  # listed in READY, GUILD_CREATE follows
        self.emit_ready()
        out.append(AdversarialStep("ready", tuple(self.out)))
        self.out = []
        actions = [(name, weight, getattr(self, f"a_{name}")) for name, weight in _ACTIONS]
        names = [name for name, _, _ in actions]
        weights = [weight for _, weight, _ in actions]
        for _ in range(steps):
            self.now += rng.randrange(500, 60_000)
            label = "nothing"
            for _attempt in range(10):
                index = rng.choices(range(len(names)), weights=weights)[0]
                if actions[index][2]():
                    label = names[index]
                    break
            out.append(AdversarialStep(label, tuple(self.out)))
            self.out = []
        return out


_ACTIONS: Final[tuple[tuple[str, float], ...]] = (
    ("message_create", 14.0),
    ("message_update", 7.0),
    ("message_delete", 5.0),
    ("message_bulk_delete", 1.5),
    ("reaction", 1.5),
    ("typing", 0.5),
    ("member_add", 4.0),
    ("member_update", 5.0),
    ("member_remove", 4.0),
    ("member_chunk", 2.0),
    ("presence", 4.0),
    ("voice", 5.0),
    ("guild_update", 1.5),
    ("guild_outage", 1.0),
    ("guild_return", 2.0),
    ("guild_leave", 0.8),
    ("guild_join", 1.5),
    ("emojis", 2.0),
    ("stickers", 2.0),
    ("invite_create", 2.5),
    ("invite_delete", 2.0),
    ("role_create", 1.0),
    ("role_update", 1.5),
    ("role_delete", 1.0),
    ("channel_create", 1.0),
    ("channel_update", 1.5),
    ("channel_delete", 1.0),
    ("thread_create", 1.5),
    ("thread_update", 1.5),
    ("thread_delete", 1.0),
    ("thread_list_sync", 1.0),
    ("thread_members", 1.0),
    ("user_update", 0.5),
    ("ready", 0.4),
    ("resumed", 0.2),
)


def generate_steps(
    seed: int, steps: int = 400, *, hostile: bool = False, avoid: Collection[str] = ()
) -> list[AdversarialStep]:
    """Generate an adversarial stream, one :class:`AdversarialStep` per action.

    Parameters
    ----------
    seed
        Seed of the :class:`random.Random` driving every choice; same arguments, same stream.
    steps
        Number of actions after the initial ``READY`` step.
    hostile
        Whether to also produce what Discord should never send but hikari accepts (see the module
        docstring).
    avoid
        Names of :data:`TRIGGERS` not to produce.

    Returns
    -------
    list[AdversarialStep]
        ``steps + 1`` steps; the first is ``READY`` and the initial ``GUILD_CREATE`` burst.
    """
    return _Adversary(seed, hostile=hostile, avoid=avoid).run(steps)


def generate_records(
    seed: int, steps: int = 400, *, hostile: bool = False, avoid: Collection[str] = ()
) -> list[GatewayRecord]:
    """The records of :func:`generate_steps`, flattened.

    Parameters
    ----------
    seed
        See :func:`generate_steps`.
    steps
        See :func:`generate_steps`.
    hostile
        See :func:`generate_steps`.
    avoid
        See :func:`generate_steps`.

    Returns
    -------
    list[GatewayRecord]
        ``(event_name, shard_id, payload)`` records, ``READY`` first.
    """
    steps_ = generate_steps(seed, steps, hostile=hostile, avoid=avoid)
    return [record for step in steps_ for record in step.records]


def _ids(values: Iterable[Any]) -> str:
    return ",".join(str(v)[-4:] for v in values)


def _item_id(key: str, item: object) -> object:
    if not isinstance(item, dict):
        return item  # e.g. a member's role ids
    item = typing.cast("dict[str, Any]", item)
    user = item.get("user")
    if key in ("members", "presences") and isinstance(user, dict):
        return typing.cast("dict[str, Any]", user)["id"]
    return item.get("user_id", item.get("id"))


def describe(record: GatewayRecord) -> str:
    """One line telling what a record does, ids shortened to their last four digits.

    Parameters
    ----------
    record
        The record.

    Returns
    -------
    str
        E.g. ``MESSAGE_CREATE id=…1234 guild=…5678 author=…9012 mentions=[…] reply=…3456(present)``.
    """
    name, _shard, d = record
    parts = [name]

    def add(label: str, value: object) -> None:
        if value is not None and value != "":
            parts.append(f"{label}={value}")

    add("guild", str(d.get("guild_id") or "")[-4:] or None)
    add("id", str(d.get("id") or "")[-4:] or None)
    user = d.get("user")
    if isinstance(user, dict):
        user = typing.cast("dict[str, Any]", user)
        add("user", f"{str(user['id'])[-4:]}:{user.get('username', '')}")
    add("user_id", str(d.get("user_id") or "")[-4:] or None)
    author = d.get("author")
    if isinstance(author, dict):
        author = typing.cast("dict[str, Any]", author)
        add("author", f"{str(author['id'])[-4:]}:{author.get('username', '')}")
    if "member" in d:
        add("member", "yes" if d["member"] else "null")
    if d.get("mentions"):
        add("mentions", f"[{_ids(u['id'] for u in d['mentions'])}]")
    if "referenced_message" in d:
        ref = d["referenced_message"]
        add("referenced", str(ref["id"])[-4:] if ref else "null")
    if d.get("message_reference"):
        add("reply_to", str(d["message_reference"].get("message_id"))[-4:])
    add("channel", str(d.get("channel_id") or "")[-4:] or None)
    if "ids" in d:
        add("ids", f"[{_ids(d['ids'])}]")
    add("code", d.get("code"))
    if "unavailable" in d:
        add("unavailable", d["unavailable"])
    for key in ("members", "presences", "voice_states", "threads", "emojis", "stickers", "roles", "channels"):
        items = d.get(key)
        if isinstance(items, list):
            items = typing.cast("list[object]", items)
            add(key, f"[{_ids(_item_id(key, item) for item in items)}]")
    for key in ("inviter", "target_user"):
        if isinstance(d.get(key), dict):
            add(key, str(d[key]["id"])[-4:])
    if "role" in d:
        add("role", str(d["role"]["id"])[-4:])
    add("role_id", str(d.get("role_id") or "")[-4:] or None)
    add("status", d.get("status"))
    add("removed", d.get("removed_member_ids") and _ids(d["removed_member_ids"]))
    return " ".join(parts)
