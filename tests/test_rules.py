"""Tests for ``hikaripersist.rules`` against real hikari entities.

Entities are deserialised by hikari's own entity factory from the Discord documentation payloads
in ``hikaripersist/_internal/payloads``, with ids overridden where a test needs specific ones.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import pathlib
import typing

import hikari
import pytest

from hikaripersist.rules import (
    ChannelRule,
    EmojiRule,
    GuildRule,
    InviteRule,
    KindRule,
    MemberRule,
    MessageRule,
    PresenceRule,
    RoleRule,
    Rule,
    RuleKind,
    StickerRule,
    ThreadRule,
    UserRule,
    VoiceStateRule,
)

PAYLOADS = pathlib.Path(__file__).parent.parent / "hikaripersist" / "_internal" / "payloads"

GUILD = 197038439483310086  # the docs guild every payload lives in
OTHER_GUILD = 111
TEXT_CHANNEL = 41771983423143937
THREAD = 41771983423143939
USER = 80351110224678912
ROLE = 41771983423143936
EMOJI = 41771983429993937
STICKER = 749054660769218631
MESSAGE_CHANNEL = 290926798999357250
MESSAGE_AUTHOR = 53908099506183680
VOICE_CHANNEL = 157733188964188161


def payload(name: str, **overrides: object) -> dict[str, typing.Any]:
    data: dict[str, typing.Any] = json.loads((PAYLOADS / name).read_text())
    data.update({key: str(value) if isinstance(value, int) else value for key, value in overrides.items()})
    return data


@functools.cache
def factory() -> hikari.api.EntityFactory:
    bot = hikari.GatewayBot("MTIzNDU2Nzg5MDEyMzQ1Njc4.x.y", banner=None)
    return bot.entity_factory


def guild(**ids: int) -> hikari.RESTGuild:
    return factory().deserialize_rest_guild(payload("guild.json", **ids))


def text_channel(*, id: int = TEXT_CHANNEL, guild_id: int = GUILD) -> hikari.GuildTextChannel:
    channel = factory().deserialize_channel(payload("channel_guild_text.json", id=id, guild_id=guild_id))
    assert isinstance(channel, hikari.GuildTextChannel)
    return channel


def dm_channel() -> hikari.DMChannel:
    channel = factory().deserialize_channel(payload("channel_dm.json"))
    assert isinstance(channel, hikari.DMChannel)
    return channel


def thread(*, id: int = THREAD, parent_id: int = TEXT_CHANNEL, guild_id: int = GUILD) -> hikari.GuildThreadChannel:
    channel = factory().deserialize_channel(
        payload("channel_thread.json", id=id, parent_id=parent_id, guild_id=guild_id)
    )
    assert isinstance(channel, hikari.GuildThreadChannel)
    return channel


def role(*, id: int = ROLE, guild_id: int = GUILD) -> hikari.Role:
    return factory().deserialize_role(payload("role.json", id=id), guild_id=hikari.Snowflake(guild_id))


def user(*, id: int = USER) -> hikari.User:
    return factory().deserialize_user(payload("user.json", id=id))


def member(*, user_id: int = USER, guild_id: int = GUILD) -> hikari.Member:
    data = payload("guild_member.json")
    data["user"]["id"] = str(user_id)
    return factory().deserialize_member(data, guild_id=hikari.Snowflake(guild_id))


def emoji(*, id: int = EMOJI, guild_id: int = GUILD) -> hikari.KnownCustomEmoji:
    return factory().deserialize_known_custom_emoji(payload("emoji.json", id=id), guild_id=hikari.Snowflake(guild_id))


def sticker(*, id: int = STICKER, guild_id: int = GUILD) -> hikari.GuildSticker:
    return factory().deserialize_guild_sticker(payload("sticker.json", id=id, guild_id=guild_id))


def presence(*, user_id: int = USER, guild_id: int = GUILD) -> hikari.MemberPresence:
    data = {
        "user": {"id": str(user_id)},
        "guild_id": str(guild_id),
        "status": "online",
        "activities": [payload("activity.json")],
        "client_status": {"desktop": "online"},
    }
    return factory().deserialize_member_presence(data)


def voice_state(
    *, user_id: int = USER, guild_id: int = GUILD, channel_id: int | None = VOICE_CHANNEL
) -> hikari.VoiceState:
    data = payload("voice_state.json", user_id=user_id, channel_id=channel_id)
    data["member"] = payload("guild_member.json")
    data["member"]["user"]["id"] = str(user_id)
    return factory().deserialize_voice_state(data, guild_id=hikari.Snowflake(guild_id))


def message(
    *, channel_id: int = MESSAGE_CHANNEL, guild_id: int | None = None, author_id: int = MESSAGE_AUTHOR
) -> hikari.Message:
    data = payload("message.json", channel_id=channel_id)
    data["author"]["id"] = str(author_id)
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return factory().deserialize_message(data)


def invite(*, guild_id: int = GUILD, channel_id: int = TEXT_CHANNEL) -> hikari.InviteWithMetadata:
    data = payload("invite.json")
    data["guild"]["id"] = str(guild_id)
    data["channel"]["id"] = str(channel_id)
    return factory().deserialize_invite_with_metadata(data)


# -- the original API -----------------------------------------------------------------------------


class TestOriginalApi:
    def test_rule_keyword_arguments(self) -> None:
        rule = Rule(channel=ChannelRule(), guild=GuildRule(), member=MemberRule(), role=RoleRule())
        assert isinstance(rule.channel, ChannelRule)
        assert isinstance(rule.guild, GuildRule)
        assert isinstance(rule.member, MemberRule)
        assert isinstance(rule.role, RoleRule)

    def test_defaults_allow_everything(self) -> None:
        assert ChannelRule().can_cache(text_channel())
        assert GuildRule().can_cache(guild())
        assert MemberRule().can_cache(member())
        assert RoleRule().can_cache(role())

    def test_channel_rule_lists(self) -> None:
        channel = text_channel()
        assert not ChannelRule(channel_denylist=[TEXT_CHANNEL]).can_cache(channel)
        assert ChannelRule(channel_denylist=[1]).can_cache(channel)
        assert ChannelRule(channel_allowlist=[TEXT_CHANNEL]).can_cache(channel)
        assert not ChannelRule(channel_allowlist=[1]).can_cache(channel)
        assert not ChannelRule(guild_denylist=[GUILD]).can_cache(channel)
        assert ChannelRule(guild_allowlist=[GUILD]).can_cache(channel)
        assert not ChannelRule(guild_allowlist=[OTHER_GUILD]).can_cache(channel)

    def test_guild_rule_lists(self) -> None:
        docs_guild = guild()
        assert not GuildRule(guild_denylist=[GUILD]).can_cache(docs_guild)
        assert GuildRule(guild_allowlist=[GUILD]).can_cache(docs_guild)
        assert not GuildRule(guild_allowlist=[OTHER_GUILD]).can_cache(docs_guild)
        assert GuildRule(guild_allowlist=[]).can_cache(docs_guild)  # empty allow list: no restriction

    def test_member_rule_lists(self) -> None:
        nelly = member()
        assert not MemberRule(user_denylist=[USER]).can_cache(nelly)
        assert MemberRule(user_allowlist=[USER]).can_cache(nelly)
        assert not MemberRule(user_allowlist=[1]).can_cache(nelly)
        assert not MemberRule(guild_denylist=[GUILD]).can_cache(nelly)
        assert not MemberRule(guild_allowlist=[OTHER_GUILD], user_allowlist=[USER]).can_cache(nelly)

    def test_role_rule_lists(self) -> None:
        docs_role = role()
        assert not RoleRule(role_denylist=[ROLE]).can_cache(docs_role)
        assert RoleRule(role_allowlist=[ROLE]).can_cache(docs_role)
        assert not RoleRule(role_allowlist=[1]).can_cache(docs_role)
        assert not RoleRule(guild_denylist=[GUILD], role_allowlist=[ROLE]).can_cache(docs_role)

    @pytest.mark.parametrize(
        "rule",
        [
            ChannelRule(channel_denylist=[TEXT_CHANNEL], channel_allowlist=[TEXT_CHANNEL]),
            ChannelRule(guild_denylist=[GUILD], guild_allowlist=[GUILD]),
        ],
    )
    def test_deny_beats_allow(self, rule: ChannelRule) -> None:
        assert not rule.can_cache(text_channel())

    def test_predicate_blocks_even_when_allowlisted(self) -> None:
        rule = ChannelRule(channel_allowlist=[TEXT_CHANNEL], predicate=lambda channel: False)
        assert not rule.can_cache(text_channel())

    def test_predicate_runs_first(self) -> None:
        seen: list[hikari.Snowflake] = []

        def record(channel: hikari.PartialChannel) -> bool:
            seen.append(channel.id)
            return True

        assert not ChannelRule(channel_denylist=[TEXT_CHANNEL], predicate=record).can_cache(text_channel())
        assert seen == [TEXT_CHANNEL]

    def test_predicate_sees_the_entity(self) -> None:
        rule = RoleRule(predicate=lambda r: r.name.startswith("WE DEM"))
        assert rule.can_cache(role())
        assert not RoleRule(predicate=lambda r: r.is_hoisted is False).can_cache(role())

    def test_list_entry_forms(self) -> None:
        docs_guild = guild()
        assert not ChannelRule(guild_denylist=[docs_guild]).can_cache(text_channel())  # object with .id
        assert not ChannelRule(guild_denylist=[hikari.Snowflake(GUILD)]).can_cache(text_channel())
        assert not ChannelRule(guild_denylist=(g for g in [GUILD])).can_cache(text_channel())  # any iterable
        rule = MemberRule(user_allowlist=[user()])
        assert rule.allowlist("user") == frozenset({USER})
        assert all(type(entry) is int for entry in rule.allowlist("user"))

    @pytest.mark.parametrize("bad", ["123", b"123", 42, [1.5], ["1"], [True], [None]])
    def test_invalid_lists(self, bad: typing.Any) -> None:
        with pytest.raises(TypeError):
            GuildRule(guild_denylist=bad)

    def test_rule_rejects_wrong_sub_rule_types(self) -> None:
        with pytest.raises(TypeError, match="channel"):
            Rule(channel=GuildRule())  # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError, match="message"):
            Rule(message=ChannelRule())  # pyright: ignore[reportArgumentType]


# -- the extended kinds ---------------------------------------------------------------------------


class TestKindRules:
    def test_all_kind_rules_share_the_base(self) -> None:
        classes = [
            ChannelRule,
            EmojiRule,
            GuildRule,
            InviteRule,
            MemberRule,
            MessageRule,
            PresenceRule,
            RoleRule,
            StickerRule,
            ThreadRule,
            UserRule,
            VoiceStateRule,
        ]
        assert all(issubclass(cls, KindRule) for cls in classes)
        assert sorted(cls.kind for cls in classes) == sorted(typing.get_args(RuleKind))
        assert all(not hasattr(cls(), "__dict__") for cls in classes)

    def test_thread_rule(self) -> None:
        docs_thread = thread()
        assert ThreadRule().can_cache(docs_thread)
        assert not ThreadRule(thread_denylist=[THREAD]).can_cache(docs_thread)
        assert not ThreadRule(parent_denylist=[TEXT_CHANNEL]).can_cache(docs_thread)
        assert ThreadRule(parent_allowlist=[TEXT_CHANNEL]).can_cache(docs_thread)
        assert not ThreadRule(parent_allowlist=[1]).can_cache(docs_thread)
        assert not ThreadRule(guild_allowlist=[OTHER_GUILD]).can_cache(docs_thread)
        assert ThreadRule().dimensions == ("thread", "parent", "guild")

    def test_user_rule(self) -> None:
        nelly = user()
        assert UserRule().can_cache(nelly)
        assert not UserRule(user_denylist=[USER]).can_cache(nelly)
        assert not UserRule(user_allowlist=[1]).can_cache(nelly)
        assert UserRule(predicate=lambda u: u.username == "Nelly").can_cache(nelly)

    def test_emoji_rule(self) -> None:
        docs_emoji = emoji()
        assert EmojiRule().can_cache(docs_emoji)
        assert not EmojiRule(emoji_denylist=[EMOJI]).can_cache(docs_emoji)
        assert not EmojiRule(guild_denylist=[GUILD]).can_cache(docs_emoji)
        assert EmojiRule(emoji_allowlist=[EMOJI], guild_allowlist=[GUILD]).can_cache(docs_emoji)

    def test_sticker_rule(self) -> None:
        docs_sticker = sticker()
        assert StickerRule().can_cache(docs_sticker)
        assert not StickerRule(sticker_denylist=[STICKER]).can_cache(docs_sticker)
        assert not StickerRule(guild_allowlist=[OTHER_GUILD]).can_cache(docs_sticker)

    def test_presence_rule(self) -> None:
        docs_presence = presence()
        assert PresenceRule().can_cache(docs_presence)
        assert not PresenceRule(user_denylist=[USER]).can_cache(docs_presence)
        assert not PresenceRule(guild_denylist=[GUILD]).can_cache(docs_presence)
        assert PresenceRule(user_allowlist=[USER]).can_cache(docs_presence)

    def test_voice_state_rule(self) -> None:
        state = voice_state()
        assert VoiceStateRule().can_cache(state)
        assert not VoiceStateRule(user_denylist=[USER]).can_cache(state)
        assert not VoiceStateRule(guild_denylist=[GUILD]).can_cache(state)
        assert not VoiceStateRule(channel_denylist=[VOICE_CHANNEL]).can_cache(state)
        assert VoiceStateRule(channel_allowlist=[VOICE_CHANNEL]).can_cache(state)

    def test_voice_state_without_channel(self) -> None:
        left = voice_state(channel_id=None)
        assert left.channel_id is None
        assert VoiceStateRule(channel_denylist=[VOICE_CHANNEL]).can_cache(left)
        assert not VoiceStateRule(channel_allowlist=[VOICE_CHANNEL]).can_cache(left)  # "only these"

    def test_message_rule(self) -> None:
        dm = message()
        assert dm.guild_id is None
        assert MessageRule().can_cache(dm)
        assert not MessageRule(channel_denylist=[MESSAGE_CHANNEL]).can_cache(dm)
        assert not MessageRule(author_denylist=[MESSAGE_AUTHOR]).can_cache(dm)
        assert MessageRule(author_allowlist=[MESSAGE_AUTHOR]).can_cache(dm)
        assert MessageRule(guild_denylist=[GUILD]).can_cache(dm)  # no guild: deny lists cannot match
        assert not MessageRule(guild_allowlist=[GUILD]).can_cache(dm)  # ... and it is not among "only these"

        in_guild = message(guild_id=GUILD, channel_id=TEXT_CHANNEL)
        assert MessageRule(guild_allowlist=[GUILD]).can_cache(in_guild)
        assert not MessageRule(guild_denylist=[GUILD]).can_cache(in_guild)

    def test_message_retention(self) -> None:
        rule = MessageRule(max_per_channel=100, max_age=datetime.timedelta(days=3))
        assert rule.max_per_channel == 100
        assert rule.max_age == datetime.timedelta(days=3)
        assert MessageRule().max_per_channel is None
        assert MessageRule().max_age is None
        assert rule.can_cache(message())  # retention is for the writer, not can_cache

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"max_per_channel": 0}, ValueError),
            ({"max_per_channel": -5}, ValueError),
            ({"max_per_channel": 1.5}, TypeError),
            ({"max_per_channel": True}, TypeError),
            ({"max_age": datetime.timedelta(0)}, ValueError),
            ({"max_age": 60}, TypeError),
        ],
    )
    def test_message_retention_validation(self, kwargs: dict[str, typing.Any], error: type[Exception]) -> None:
        with pytest.raises(error):
            MessageRule(**kwargs)

    def test_invite_rule(self) -> None:
        docs_invite = invite()
        assert InviteRule().can_cache(docs_invite)
        assert not InviteRule(guild_denylist=[GUILD]).can_cache(docs_invite)
        assert not InviteRule(channel_denylist=[TEXT_CHANNEL]).can_cache(docs_invite)
        assert InviteRule(channel_allowlist=[TEXT_CHANNEL]).can_cache(docs_invite)

    def test_dm_channel(self) -> None:
        dm = dm_channel()
        assert ChannelRule().can_cache(dm)
        assert ChannelRule(guild_denylist=[GUILD]).can_cache(dm)
        assert not ChannelRule(guild_allowlist=[GUILD]).can_cache(dm)

    def test_disabled_kind(self) -> None:
        assert not ChannelRule(enabled=False).can_cache(text_channel())
        assert not ChannelRule(enabled=False, channel_allowlist=[TEXT_CHANNEL]).can_cache(text_channel())
        assert not ChannelRule(enabled=False).enabled
        assert ChannelRule().enabled

    def test_accessors(self) -> None:
        rule = ChannelRule(channel_allowlist=[1, 2], guild_denylist=[3])
        assert rule.dimensions == ("channel", "guild")
        assert rule.allowlist("channel") == frozenset({1, 2})
        assert rule.denylist("channel") == frozenset()
        assert rule.denylist("guild") == frozenset({3})
        assert rule.predicate is None
        with pytest.raises(ValueError, match="no 'user' id lists"):
            rule.allowlist("user")

    def test_allows_ids(self) -> None:
        rule = MemberRule(user_denylist=[42], guild_allowlist=[GUILD])
        assert rule.allows_ids(user=1, guild=GUILD)
        assert not rule.allows_ids(user=42)
        assert not rule.allows_ids(guild=OTHER_GUILD)
        assert not rule.allows_ids(guild=None)
        assert rule.allows_ids(user=None)
        assert rule.allows_ids()
        with pytest.raises(ValueError, match="channel"):
            rule.allows_ids(channel=1)

    def test_repr(self) -> None:
        assert repr(GuildRule()) == "GuildRule()"
        text = repr(MessageRule(enabled=False, channel_denylist=[2, 1], max_per_channel=5))
        assert text == "MessageRule(enabled=False, channel_denylist=[1, 2], max_per_channel=5)"
        assert repr(Rule()) == "Rule()"
        assert repr(Rule(user=UserRule(user_denylist=[1]))) == "Rule(user=UserRule(user_denylist=[1]))"


# -- predicates that misbehave --------------------------------------------------------------------


class TestPredicateErrors:
    def test_raising_predicate_blocks_and_logs_once(self, caplog: pytest.LogCaptureFixture) -> None:
        def broken(channel: hikari.PartialChannel) -> bool:
            raise RuntimeError("boom")

        rule = ChannelRule(predicate=broken)
        with caplog.at_level(logging.DEBUG, logger="hikaripersist.rules"):
            assert not rule.can_cache(text_channel())
            assert not rule.can_cache(text_channel())
            assert not Rule(channel=rule).allows("channel", text_channel())

        errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert errors[0].name == "hikaripersist.rules"
        assert errors[0].exc_info is not None
        assert isinstance(errors[0].exc_info[1], RuntimeError)
        assert sum(record.levelno == logging.DEBUG for record in caplog.records) == 2

    def test_errors_are_logged_once_per_rule(self, caplog: pytest.LogCaptureFixture) -> None:
        def broken(channel: hikari.PartialChannel) -> bool:
            raise KeyError(channel.id)

        with caplog.at_level(logging.ERROR, logger="hikaripersist.rules"):
            ChannelRule(predicate=broken).can_cache(text_channel())
            ChannelRule(predicate=broken).can_cache(text_channel())
        assert len(caplog.records) == 2

    def test_coroutine_function_predicate_rejected(self) -> None:
        async def is_text(channel: hikari.PartialChannel) -> bool:
            return True

        with pytest.raises(TypeError, match="synchronous"):
            ChannelRule(predicate=is_text)  # pyright: ignore[reportArgumentType]

    def test_non_callable_predicate_rejected(self) -> None:
        with pytest.raises(TypeError, match="callable"):
            ChannelRule(predicate=True)  # pyright: ignore[reportArgumentType]

    def test_awaitable_result_blocks_without_warning(self, caplog: pytest.LogCaptureFixture) -> None:
        class AsyncCheck:
            async def __call__(self, channel: hikari.PartialChannel) -> bool:
                return True

        rule = ChannelRule(predicate=AsyncCheck())  # pyright: ignore[reportArgumentType]
        with caplog.at_level(logging.ERROR, logger="hikaripersist.rules"):
            assert not rule.can_cache(text_channel())  # the coroutine is closed, not left un-awaited
        assert len(caplog.records) == 1

    def test_truthy_results(self) -> None:
        assert RoleRule(predicate=lambda r: r.name).can_cache(role())  # pyright: ignore[reportArgumentType]
        assert not RoleRule(predicate=lambda r: r.unicode_emoji).can_cache(role())  # pyright: ignore[reportArgumentType]


# -- Rule: kinds, cascade ---------------------------------------------------------------------


def guild_scoped_entities() -> list[tuple[RuleKind, object]]:
    return [
        ("channel", text_channel()),
        ("thread", thread()),
        ("role", role()),
        ("member", member()),
        ("emoji", emoji()),
        ("sticker", sticker()),
        ("presence", presence()),
        ("voice_state", voice_state()),
        ("message", message(guild_id=GUILD, channel_id=TEXT_CHANNEL)),
        ("invite", invite()),
    ]


class TestRule:
    def test_default_allows_everything(self) -> None:
        entities: list[tuple[RuleKind, object]] = [*guild_scoped_entities(), ("guild", guild()), ("user", user())]
        for rule in (Rule(), Rule.default()):
            for kind, entity in entities:
                assert rule.allows(kind, entity), kind
                assert rule.is_enabled(kind)
            assert rule.allows("message", message())
            assert rule.allows("channel", dm_channel())
            assert rule.allows_guild_id(GUILD)

    def test_kind_rules_are_exposed(self) -> None:
        message_rule = MessageRule(max_per_channel=10)
        rule = Rule(message=message_rule)
        assert rule.message is message_rule
        assert rule.kind_rule("message") is message_rule
        for kind in typing.get_args(RuleKind):
            sub = rule.kind_rule(kind)
            assert sub.kind == kind
            assert getattr(rule, kind) is sub

    def test_kind_rule_applies(self) -> None:
        rule = Rule(
            thread=ThreadRule(parent_denylist=[TEXT_CHANNEL]),
            user=UserRule(user_denylist=[USER]),
            emoji=EmojiRule(emoji_denylist=[EMOJI]),
            sticker=StickerRule(sticker_denylist=[STICKER]),
            presence=PresenceRule(user_denylist=[USER]),
            voice_state=VoiceStateRule(channel_denylist=[VOICE_CHANNEL]),
            message=MessageRule(author_denylist=[MESSAGE_AUTHOR]),
            invite=InviteRule(channel_denylist=[TEXT_CHANNEL]),
        )
        assert not rule.allows("thread", thread())
        assert not rule.allows("user", user())
        assert not rule.allows("emoji", emoji())
        assert not rule.allows("sticker", sticker())
        assert not rule.allows("presence", presence())
        assert not rule.allows("voice_state", voice_state())
        assert not rule.allows("message", message())
        assert not rule.allows("invite", invite())
        assert rule.allows("channel", text_channel())
        assert rule.allows("member", member())  # the user deny list of UserRule is not MemberRule's

    def test_guild_denylist_cascades(self) -> None:
        rule = Rule(guild=GuildRule(guild_denylist=[GUILD]))
        assert not rule.allows("guild", guild())
        assert not rule.allows_guild_id(GUILD)
        assert rule.allows_guild_id(OTHER_GUILD)
        for kind, entity in guild_scoped_entities():
            assert not rule.allows(kind, entity), kind
        # Not guild-scoped: unaffected.
        assert rule.allows("user", user())
        assert rule.allows("message", message())
        assert rule.allows("channel", dm_channel())
        # Entities of other guilds: unaffected.
        assert rule.allows("channel", text_channel(guild_id=OTHER_GUILD))
        assert rule.allows("member", member(guild_id=OTHER_GUILD))

    def test_guild_allowlist_cascades(self) -> None:
        rule = Rule(guild=GuildRule(guild_allowlist=[OTHER_GUILD]))
        for kind, entity in guild_scoped_entities():
            assert not rule.allows(kind, entity), kind
        assert rule.allows("role", role(guild_id=OTHER_GUILD))
        assert rule.allows("user", user())

    def test_guild_predicate_and_enabled_do_not_cascade(self) -> None:
        rule = Rule(guild=GuildRule(predicate=lambda g: False))
        assert not rule.allows("guild", guild())
        assert rule.allows("channel", text_channel())

        rule = Rule(guild=GuildRule(enabled=False))
        assert not rule.allows("guild", guild())
        assert not rule.is_enabled("guild")
        assert rule.allows("channel", text_channel())
        assert rule.allows_guild_id(GUILD)

    def test_cascade_runs_before_kind_predicate(self) -> None:
        calls: list[object] = []

        def record(r: hikari.Role) -> bool:
            calls.append(r)
            return True

        rule = Rule(guild=GuildRule(guild_denylist=[GUILD]), role=RoleRule(predicate=record))
        assert not rule.allows("role", role())
        assert calls == []

    def test_disabled_kinds(self) -> None:
        rule = Rule(presence=PresenceRule(enabled=False), message=MessageRule(enabled=False))
        assert not rule.is_enabled("presence")
        assert not rule.allows("presence", presence())
        assert not rule.allows("message", message())
        assert rule.is_enabled("member")
        assert rule.allows("member", member())

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValueError, match="unknown kind"):
            Rule().allows("webhook", object())  # pyright: ignore[reportArgumentType]
        with pytest.raises(ValueError, match="unknown kind"):
            Rule().is_enabled("webhook")  # pyright: ignore[reportArgumentType]

    def test_rule_has_slots(self) -> None:
        assert not hasattr(Rule(), "__dict__")
