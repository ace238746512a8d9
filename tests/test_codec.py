"""Round trips of real hikari entities through `hikaripersist._internal.codec`."""

from __future__ import annotations

import datetime
import json
import pathlib
import sys
import types
import typing

import attrs
import hikari
import pytest
from hikari.impl import entity_factory

from hikaripersist._internal import codec
from tests.deepeq import assert_deep_equal, deep_diff

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

JSONObject = dict[str, typing.Any]

PAYLOADS = pathlib.Path(codec.__file__).parent / "payloads"
GUILD_ID = hikari.Snowflake(197038439483310086)
BOT_USER_ID = hikari.Snowflake(1234567890123456789)
TEXT_CHANNEL_ID = "41771983423143937"
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.x.y"


def load(name: str) -> JSONObject:
    return typing.cast("JSONObject", json.loads((PAYLOADS / name).read_text("utf-8")))


@pytest.fixture(scope="module")
def bot() -> hikari.GatewayBot:
    return hikari.GatewayBot(TOKEN, banner=None)


@pytest.fixture(scope="module")
def factory(bot: hikari.GatewayBot) -> entity_factory.EntityFactoryImpl:
    return entity_factory.EntityFactoryImpl(bot)


def round_trip(obj: object, app: hikari.GatewayBot | None) -> typing.Any:
    """Through bytes, as the cache stores it."""
    return codec.loads(codec.dumps(obj), app)


def app_fields(obj: object, seen: set[int] | None = None) -> Iterator[object]:
    """Yield the value of every ``app`` field in `obj`, recursively."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (list, tuple, set, frozenset)):
        for item in typing.cast("typing.Iterable[object]", obj):
            yield from app_fields(item, seen)
    elif isinstance(obj, dict):
        for item in typing.cast("dict[object, object]", obj).values():
            yield from app_fields(item, seen)
    elif attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            value: object = getattr(obj, field.name)
            if field.name == "app":
                yield value
            else:
                yield from app_fields(value, seen)


############
# Payloads #
############


def user_payload(user_id: int, name: str) -> JSONObject:
    return {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None, "global_name": name.title()}


def overwrites() -> list[JSONObject]:
    return [
        {"id": str(GUILD_ID), "type": 0, "allow": "0", "deny": "2048"},
        {"id": "80351110224678912", "type": 1, "allow": "3072", "deny": "0"},
    ]


def forum_payload(channel_type: int, channel_id: str) -> JSONObject:
    return {
        "id": channel_id,
        "guild_id": str(GUILD_ID),
        "type": channel_type,
        "name": "help-forum",
        "position": 7,
        "parent_id": "399942396007890945",
        "permission_overwrites": overwrites(),
        "nsfw": False,
        "topic": "Ask here",
        "last_message_id": "1000000000000000001",
        "rate_limit_per_user": 5,
        "default_thread_rate_limit_per_user": 10,
        "default_auto_archive_duration": 4320,
        "flags": 16,
        "available_tags": [
            {"id": "1100000000000000001", "name": "bug", "moderated": False, "emoji_id": None, "emoji_name": "🐛"},
            {"id": "1100000000000000002", "name": "custom", "moderated": True, "emoji_id": "41771983429993937"},
            {"id": "1100000000000000003", "name": "plain", "moderated": False, "emoji_id": None, "emoji_name": None},
        ],
        "default_reaction_emoji": {"emoji_id": None, "emoji_name": "👍"},
        "default_sort_order": 1,
        "default_forum_layout": 2,
    }


def thread_payload(thread_type: int, thread_id: str, **extra: typing.Any) -> JSONObject:
    payload = load("channel_thread.json")
    payload.update(id=thread_id, type=thread_type, name=f"thread-{thread_type}", **extra)
    return payload


def guild_payload() -> JSONObject:
    guild = load("guild.json")
    everyone = {**load("role.json"), "id": str(GUILD_ID), "name": "@everyone", "position": 0, "icon": None}
    managed = {
        **load("role.json"),
        "id": "1200000000000000001",
        "name": "the bot",
        "managed": True,
        "tags": {"bot_id": str(BOT_USER_ID), "premium_subscriber": None},
    }
    voice_state = {**load("voice_state.json"), "guild_id": str(GUILD_ID)}
    stage = {
        **load("channel_guild_voice.json"),
        "id": "155101607195836417",
        "type": 13,
        "rtc_region": "rotterdam",
        "permission_overwrites": overwrites(),
    }
    presence = {
        "user": {"id": load("user.json")["id"]},
        "status": "idle",
        "activities": [
            load("activity.json"),
            {**load("activity_rich_presence.json"), "flags": 3, "buttons": ["Join", "Watch"], "instance": True},
            {
                "name": "Custom Status",
                "type": 4,
                "state": "busy",
                "created_at": 1733011200000,
                "emoji": {"name": "🔥"},
                "timestamps": {"start": 1733011200123, "end": 1733011299999},
            },
        ],
        "client_status": {"desktop": "idle", "mobile": "dnd"},
    }
    guild.update(
        roles=[everyone, load("role.json"), managed],
        emojis=[load("emoji.json")],
        stickers=[load("sticker.json")],
        members=[load("guild_member.json")],
        channels=[
            {**load("channel_guild_text.json"), "permission_overwrites": overwrites()},
            load("channel_guild_announcement.json"),
            load("channel_guild_voice.json"),
            load("channel_category.json"),
            stage,
            forum_payload(15, "1000000000000000015"),
            forum_payload(16, "1000000000000000016"),
        ],
        threads=[
            {**load("channel_thread.json"), "applied_tags": ["1100000000000000001"], "flags": 2},
            thread_payload(10, "41771983423143940", parent_id="41771983423143938"),
            thread_payload(
                12,
                "41771983423143941",
                member={
                    "id": "41771983423143941",
                    "user_id": str(BOT_USER_ID),
                    "join_timestamp": "2021-04-12T23:40:39+00:00",
                    "flags": 1,
                },
            ),
        ],
        voice_states=[voice_state],
        presences=[presence],
        incidents_data=load("incidents_data.json"),
        joined_at="2021-04-12T23:40:39.855793+00:00",
        large=False,
        member_count=1234,
    )
    return guild


def component_message_payload(name: str, index: int) -> JSONObject:
    """A message the bot sent in the docs text channel carrying one components example."""
    return {
        "id": str(1300000000000000000 + index),
        "channel_id": TEXT_CHANNEL_ID,
        "guild_id": str(GUILD_ID),
        "author": {**user_payload(BOT_USER_ID, "bot"), "bot": True},
        "content": "",
        "timestamp": "2025-04-18T12:00:00.000000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "application_id": str(BOT_USER_ID),
        **load(name),
    }


def rich_message_payload() -> JSONObject:
    """A guild message using (almost) every optional part of a message."""
    referenced = {**load("message.json"), "id": "334385199974967040", "guild_id": str(GUILD_ID)}
    author = load("user.json")
    image = {
        "url": "https://example.com/i.png",
        "proxy_url": "https://proxy.example.com/i.png",
        "height": 10,
        "width": 20,
    }
    return {
        **load("message.json"),
        "guild_id": str(GUILD_ID),
        "channel_id": TEXT_CHANNEL_ID,
        "author": author,
        "member": {k: v for k, v in load("guild_member.json").items() if k != "user"},
        "content": "hello <@80351110224678912>",
        "edited_timestamp": "2017-07-11T17:28:07.000001+00:00",
        "tts": True,
        "mention_everyone": True,
        "mentions": [author, user_payload(82198898841029460, "test")],
        "mention_roles": ["41771983423143936"],
        "mention_channels": load("message_crossposted.json")["mention_channels"],
        "pinned": True,
        "type": 19,
        "flags": 2 | 4 | (1 << 40),  # an unknown flag bit must survive too
        "nonce": "nonce-1",
        "webhook_id": "1400000000000000001",
        "application_id": "1400000000000000002",
        "message_reference": load("message_crossposted.json")["message_reference"],
        "referenced_message": referenced,
        "reactions": [
            *load("message.json")["reactions"],
            {
                "count": 3,
                "count_details": {"burst": 1, "normal": 2},
                "me": True,
                "me_burst": True,
                "emoji": load("emoji_custom_reaction_1.json"),
                "burst_colors": ["#ff0000", "#00ff00"],
            },
            {"count": 1, "me": False, "emoji": load("emoji_custom_reaction_2.json")},
        ],
        "attachments": [
            {
                "id": "1366000000000000003",
                "filename": "voice.ogg",
                "title": "Voice message",
                "description": "a description",
                "content_type": "audio/ogg",
                "size": 4096,
                "url": "https://cdn.discordapp.com/attachments/1/2/voice.ogg",
                "proxy_url": "https://media.discordapp.net/attachments/1/2/voice.ogg",
                "height": None,
                "width": None,
                "ephemeral": True,
                "duration_secs": 1.5,
                "waveform": "AAAA",
            }
        ],
        "embeds": [
            {
                "title": "title",
                "description": "description",
                "url": "https://example.com",
                "color": 0x123456,
                "timestamp": "2024-01-01T00:00:00.123456+00:00",
                "image": image,
                "thumbnail": image,
                "video": {
                    "url": "https://example.com/v.mp4",
                    "proxy_url": "https://proxy.example.com/v.mp4",
                    "height": 1,
                    "width": 2,
                },
                "provider": {"name": "provider", "url": "https://provider.example.com"},
                "author": {
                    "name": "author",
                    "url": "https://author.example.com",
                    "icon_url": "https://author.example.com/icon.png",
                    "proxy_icon_url": "https://proxy.example.com/icon.png",
                },
                "footer": {"text": "footer", "icon_url": "https://footer.example.com/icon.png"},
                "fields": [{"name": "a", "value": "b", "inline": True}, {"name": "c", "value": "d"}],
            },
            {"description": "bare embed"},
        ],
        "poll": {
            "question": {"text": "Which?"},
            "answers": [
                {"answer_id": 1, "poll_media": {"text": "this", "emoji": {"id": None, "name": "🔥"}}},
                {"answer_id": 2, "poll_media": {"text": "that", "emoji": load("emoji_custom_reaction_1.json")}},
            ],
            "expiry": "2025-01-01T00:00:00+00:00",
            "allow_multiselect": True,
            "layout_type": 1,
            "results": {"is_finalized": False, "answer_counts": [{"id": 1, "count": 5, "me_voted": True}]},
        },
        "activity": {"type": 1, "party_id": "party"},
        "application": {
            "id": "1400000000000000002",
            "name": "app",
            "description": "",
            "icon": None,
            "cover_image": "c",
        },
        "sticker_items": [{"id": "749054660769218631", "name": "Wave", "format_type": 1}],
        "thread": load("channel_thread.json"),
        "interaction_metadata": {
            "id": "1400000000000000003",
            "type": 2,
            "user": user_payload(82198898841029460, "test"),
            "authorizing_integration_owners": {"0": str(GUILD_ID), "1": "82198898841029460"},
            "original_response_message_id": "1400000000000000004",
            "target_user": user_payload(80351110224678912, "nelly"),
        },
        "message_snapshots": [
            {
                "message": {
                    **load("message.json"),
                    "mention_roles": ["41771983423143936"],
                    "embeds": [{"title": "snap"}],
                }
            },
        ],
        "components": load("components_14_container.json")["components"],
    }


def guild_definition(factory: entity_factory.EntityFactoryImpl) -> typing.Any:
    return factory.deserialize_gateway_guild(guild_payload(), user_id=BOT_USER_ID)


def own_user_payload() -> JSONObject:
    return {**load("user.json"), "mfa_enabled": True, "locale": "en-US"}


def only(mapping: typing.Mapping[typing.Any, typing.Any]) -> typing.Any:
    (value,) = mapping.values()
    return value


def by_type(mapping: typing.Mapping[typing.Any, typing.Any], cls: type[typing.Any]) -> typing.Any:
    (value,) = (value for value in mapping.values() if type(value) is cls)
    return value


Builder = typing.Callable[[entity_factory.EntityFactoryImpl], object]

BUILDERS: dict[str, Builder] = {
    "gateway_guild": lambda f: guild_definition(f).guild(),
    "role": lambda f: guild_definition(f).roles()[hikari.Snowflake(41771983423143936)],
    "managed_role": lambda f: guild_definition(f).roles()[hikari.Snowflake(1200000000000000001)],
    "known_custom_emoji": lambda f: only(guild_definition(f).emojis()),
    "guild_sticker": lambda f: only(guild_definition(f).stickers()),
    "member": lambda f: only(guild_definition(f).members()),
    "presence": lambda f: only(guild_definition(f).presences()),
    "voice_state": lambda f: only(guild_definition(f).voice_states()),
    "text_channel": lambda f: by_type(guild_definition(f).channels(), hikari.GuildTextChannel),
    "news_channel": lambda f: by_type(guild_definition(f).channels(), hikari.GuildNewsChannel),
    "voice_channel": lambda f: by_type(guild_definition(f).channels(), hikari.GuildVoiceChannel),
    "stage_channel": lambda f: by_type(guild_definition(f).channels(), hikari.GuildStageChannel),
    "category": lambda f: by_type(guild_definition(f).channels(), hikari.GuildCategory),
    "forum_channel": lambda f: by_type(guild_definition(f).channels(), hikari.GuildForumChannel),
    "media_channel": lambda f: by_type(guild_definition(f).channels(), hikari.GuildMediaChannel),
    "public_thread": lambda f: by_type(guild_definition(f).threads(), hikari.GuildPublicThread),
    "news_thread": lambda f: by_type(guild_definition(f).threads(), hikari.GuildNewsThread),
    "private_thread": lambda f: by_type(guild_definition(f).threads(), hikari.GuildPrivateThread),
    "dm_channel": lambda f: f.deserialize_dm(load("channel_dm.json")),
    "group_dm_channel": lambda f: f.deserialize_group_dm(
        {**load("channel_group_dm.json"), "nicks": [{"id": "82198898841029460", "nick": "tester"}]}
    ),
    "message": lambda f: f.deserialize_message(load("message.json")),
    "message_crossposted": lambda f: f.deserialize_message(load("message_crossposted.json")),
    "message_rich": lambda f: f.deserialize_message(rich_message_payload()),
    "partial_message": lambda f: f.deserialize_partial_message({"id": "1", "channel_id": "2", "content": "edited"}),
    "invite_with_metadata": lambda f: f.deserialize_invite_with_metadata(load("invite.json")),
    "own_user": lambda f: f.deserialize_my_user(own_user_payload()),
    "user": lambda f: f.deserialize_user(load("user.json")),
    "unicode_emoji": lambda f: f.deserialize_emoji(load("emoji_standard.json")),
    "custom_emoji": lambda f: f.deserialize_emoji(load("emoji_custom_reaction_1.json")),
    "deleted_custom_emoji": lambda f: f.deserialize_emoji(load("emoji_custom_reaction_2.json")),
    "sticker_pack": lambda f: f.deserialize_sticker_pack(load("sticker_pack.json")),
    **{
        f"message_{path.stem}": (
            lambda f, name=path.name, index=index: f.deserialize_message(component_message_payload(name, index))
        )
        for index, path in enumerate(sorted(PAYLOADS.glob("components_*.json")))
    },
}


##############
# Round trip #
##############


@pytest.mark.parametrize("label", sorted(BUILDERS))
def test_round_trip_is_deeply_equal(
    label: str, bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl
) -> None:
    original = BUILDERS[label](factory)

    decoded = round_trip(original, bot)

    assert type(decoded) is type(original)
    assert_deep_equal(original, decoded, path=label)
    # Every app back-reference, however deep, is the app given to loads.
    assert all(app is bot for app in app_fields(decoded))
    # And the tree is plain JSON: stdlib json can read what orjson wrote.
    assert_deep_equal(original, codec.decode(json.loads(codec.dumps(original)), bot), path=label)


def test_component_examples_are_all_covered() -> None:
    assert len([label for label in BUILDERS if label.startswith("message_components_")]) == 14


def test_round_trip_without_serialising(bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl) -> None:
    message = factory.deserialize_message(rich_message_payload())

    assert_deep_equal(message, codec.decode(codec.encode(message), bot))


def test_app_is_restored_and_usable(bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl) -> None:
    definition = guild_definition(factory)
    member = round_trip(only(definition.members()), bot)
    channel = round_trip(by_type(definition.channels(), hikari.GuildTextChannel), bot)
    message = round_trip(factory.deserialize_message(rich_message_payload()), bot)

    assert member.app is bot
    assert member.mention == "<@80351110224678912>"
    assert channel.app is bot
    assert channel.mention == "<#41771983423143937>"
    assert message.app is bot
    assert message.author.app is bot
    assert message.message_reference.app is bot
    assert message.make_link(GUILD_ID).endswith("/197038439483310086/41771983423143937/334385199974967042")


def test_app_is_not_stored_and_can_be_swapped(factory: entity_factory.EntityFactoryImpl) -> None:
    channel = factory.deserialize_dm(load("channel_dm.json"))
    other = hikari.GatewayBot(TOKEN, banner=None)

    raw = codec.dumps(channel)

    assert b'"app"' not in raw
    assert codec.loads(raw, other).app is other
    assert codec.loads(raw, None).app is None


def test_app_held_outside_an_app_field_is_a_reference(bot: hikari.GatewayBot) -> None:
    encoded = codec.encode({"held": bot})

    assert encoded == {"d": {"held": {"app": 0}}}
    assert codec.decode(encoded, bot) == {"held": bot}


##################
# Value fidelity #
##################


def test_snowflakes_ints_and_enums_keep_their_types(
    bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl
) -> None:
    definition = guild_definition(factory)
    member = round_trip(only(definition.members()), bot)
    guild = round_trip(definition.guild(), bot)
    forum = round_trip(by_type(definition.channels(), hikari.GuildForumChannel), bot)
    role = round_trip(definition.roles()[hikari.Snowflake(41771983423143936)], bot)
    own_user = round_trip(factory.deserialize_my_user(own_user_payload()), bot)

    assert type(member.id) is hikari.Snowflake
    assert all(type(role_id) is hikari.Snowflake for role_id in member.role_ids)
    assert type(member.guild_flags) is hikari.GuildMemberFlags
    assert type(member.user.accent_color) is hikari.Color
    assert type(guild.member_count) is int
    assert type(guild.premium_subscription_count) is int
    assert guild.verification_level is hikari.GuildVerificationLevel.HIGH
    assert guild.preferred_locale is hikari.Locale.EN_US
    assert hikari.GuildFeature.COMMUNITY in guild.features
    assert guild.afk_timeout == datetime.timedelta(seconds=300)
    assert guild.joined_at == datetime.datetime(2021, 4, 12, 23, 40, 39, 855793, tzinfo=datetime.timezone.utc)
    assert guild.joined_at.tzinfo is datetime.timezone.utc
    assert type(forum.position) is int
    assert forum.type is hikari.ChannelType.GUILD_FORUM
    assert all(type(key) is hikari.Snowflake for key in forum.permission_overwrites)
    assert type(forum.available_tags[0]._emoji) is hikari.UnicodeEmoji  # private field behind an alias
    assert forum.available_tags[0].unicode_emoji == "🐛"
    assert type(forum.available_tags[1]._emoji) is hikari.Snowflake
    assert type(forum.default_reaction_emoji_name) is hikari.UnicodeEmoji
    assert type(role.permissions) is hikari.Permissions
    assert role.permissions == hikari.Permissions(66321471)
    assert type(role.position) is int
    assert own_user.locale is hikari.Locale.EN_US


def test_unknown_enum_values_stay_plain(bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl) -> None:
    payload = {**load("message.json"), "type": 9999}
    guild = {**guild_payload(), "features": ["COMMUNITY", "A_FEATURE_FROM_THE_FUTURE"], "verification_level": 77}
    message = factory.deserialize_message(payload)
    gateway_guild = factory.deserialize_gateway_guild(guild, user_id=BOT_USER_ID).guild()
    assert type(message.type) is int  # what hikari itself does with an unknown value

    decoded_message = round_trip(message, bot)
    decoded_guild = round_trip(gateway_guild, bot)

    assert type(decoded_message.type) is int
    assert decoded_message.type == 9999
    assert type(decoded_guild.verification_level) is int
    assert decoded_guild.verification_level == 77
    assert [type(feature) for feature in decoded_guild.features] == [hikari.GuildFeature, str]
    assert_deep_equal(gateway_guild, decoded_guild)


def test_unknown_flag_bits_survive(bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl) -> None:
    message = round_trip(factory.deserialize_message(rich_message_payload()), bot)

    assert type(message.flags) is hikari.MessageFlag
    assert int(message.flags) == 2 | 4 | (1 << 40)
    assert hikari.MessageFlag.SUPPRESS_EMBEDS in message.flags


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -5,
        2**63 - 1,
        1.5,
        -0.0,
        "",
        'text with "quotes" and ünïcode 🔥',
        hikari.Snowflake(0),
        hikari.Snowflake(2**63 - 1),
        [1, [2, (3, 4)], {"k": "v"}],
        (hikari.Snowflake(1), 2, "three"),
        (),
        [],
        {},
        {"!": "guilds.Member", "#": 5, "nested": {"u": 1}},  # str keys that look like tags
        {hikari.Snowflake(1): "a", hikari.Snowflake(2): ["b"]},
        {1: "exact int key", "mixed": True},
        {hikari.ChannelType.GUILD_TEXT: "enum key"},
        {"a", "b"},
        frozenset({hikari.Snowflake(5), 6}),
        set[str](),
        datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc),
        datetime.datetime(1900, 1, 1, tzinfo=datetime.timezone.utc),
        datetime.datetime(2448, 11, 18, 5, 51, 6, 1, tzinfo=datetime.timezone.utc),
        datetime.datetime(2024, 1, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
        datetime.datetime(2024, 1, 1, 12, 0, 0, 5),  # naive
        datetime.timedelta(days=-3, seconds=5, microseconds=7),
        datetime.timedelta(0),
        datetime.timedelta(days=999_999, microseconds=999_999),
        hikari.UNDEFINED,
        hikari.Color(0xABCDEF),
        hikari.UnicodeEmoji("🔥"),
        hikari.Locale.JA,
        hikari.Permissions.ADMINISTRATOR | hikari.Permissions.SEND_MESSAGES,
        hikari.Status.DO_NOT_DISTURB,
        b"\x00\xffbytes",
        pathlib.Path("some/dir/file.png"),
        hikari.files.URL("https://example.com/a.png"),
        hikari.files.URL("https://example.com/a.png", "b.png"),
    ],
    ids=repr,
)
def test_supported_values_round_trip_with_their_types(value: object, bot: hikari.GatewayBot) -> None:
    decoded = round_trip(value, bot)

    assert type(decoded) is type(value) or (isinstance(value, pathlib.Path) and isinstance(decoded, pathlib.Path))
    assert deep_diff(value, decoded) == []
    if type(value) in (list, dict):
        # deep_diff tolerates list/tuple swaps; the codec must not make any.
        assert repr(decoded) == repr(value)


def test_other_mappings_are_stored_as_dicts(bot: hikari.GatewayBot) -> None:
    view = types.MappingProxyType({hikari.Snowflake(1): "a"})

    decoded: object = round_trip(view, bot)

    assert_deep_equal(view, decoded)
    assert type(decoded) is dict


def test_encoded_member_format(factory: entity_factory.EntityFactoryImpl) -> None:
    member = only(guild_definition(factory).members())

    encoded = codec.encode(member)

    assert encoded["!"] == "guilds.Member"
    assert encoded["guild_id"] == GUILD_ID
    assert encoded["role_ids"] == [GUILD_ID]
    assert encoded["joined_at"] == {"dt": 1430029616936000}
    assert encoded["is_pending"] == {"u": 0}
    assert encoded["guild_flags"] == {"guilds.GuildMemberFlags": 0}
    assert encoded["user"]["!"] == "users.UserImpl"
    assert encoded["user"]["accent_color"] == {"colors.Color": 0xFF0000}
    assert "app" not in encoded["user"]
    assert json.loads(codec.dumps(member)) == encoded


def test_cache_built_entities_keep_tuples(bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl) -> None:
    definition = guild_definition(factory)
    member = only(definition.members())
    cache = hikari.impl.CacheImpl(bot, hikari.impl.CacheSettings())
    cache.set_member(member)
    cached = cache.get_member(GUILD_ID, member.id)
    assert cached is not None
    assert type(cached.role_ids) is tuple

    decoded = round_trip(cached, bot)

    assert type(decoded.role_ids) is tuple
    assert_deep_equal(cached, decoded)
    assert_deep_equal(member, decoded)  # list and tuple compare equal


#######################
# Referenced entities #
#######################


def test_exclude_and_overrides_reattach_referenced_entities(
    bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl
) -> None:
    member = only(guild_definition(factory).members())

    raw = codec.dumps(member, exclude=("user",))
    without_user = codec.loads(raw, bot)
    with_user = codec.loads(raw, bot, overrides={"user": member.user})

    assert b"Nelly" not in raw
    assert without_user.user is None
    assert with_user.user is member.user
    assert_deep_equal(member, with_user)


def test_exclude_and_overrides_reject_unknown_fields(
    bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl
) -> None:
    member = only(guild_definition(factory).members())
    raw = codec.dumps(member, exclude=("user",))

    with pytest.raises(ValueError, match="no field"):
        codec.encode(member, exclude=("usr",))
    with pytest.raises(ValueError, match="no field"):
        codec.loads(raw, bot, overrides={"usr": member.user})
    with pytest.raises(ValueError, match="not a hikari entity"):
        codec.decode([1, 2], bot, overrides={"user": member.user})


#####################
# Schema evolution #
#####################


def test_missing_fields_get_defaults_and_unknown_fields_are_ignored(
    bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl
) -> None:
    member = only(guild_definition(factory).members())
    encoded = codec.encode(member)
    del encoded["nickname"]  # as if stored by a hikari without this field
    encoded["field_from_another_version"] = {"dt": 0}

    decoded = codec.decode(encoded, bot)

    assert decoded.nickname is None
    assert not hasattr(decoded, "field_from_another_version")
    assert deep_diff(member, decoded) == [
        "<root>.nickname: type builtins.str != builtins.NoneType ('NOT API SUPPORT' != None)"
    ]


def test_missing_fields_with_attrs_defaults_get_those_defaults(bot: hikari.GatewayBot) -> None:
    overwrite = codec.decode({"!": "channels.PermissionOverwrite", "id": 5}, bot)
    tag = codec.decode({"!": "channels.ForumTag", "name": "tag"}, bot)
    records = [
        codec.decode({"!": "applications.ApplicationRoleConnectionMetadataRecord", "key": "k"}, bot) for _ in range(2)
    ]

    assert type(overwrite) is hikari.PermissionOverwrite
    assert overwrite.allow is hikari.Permissions.NONE  # plain default
    assert overwrite.type is None  # no default at all
    assert tag.id == hikari.Snowflake.min()  # factory default
    assert tag._emoji is None  # private field behind an alias, default None
    assert records[0].name_localizations == {}
    assert records[0].name_localizations is not records[1].name_localizations  # a fresh factory value each time


##########
# Safety #
##########


@pytest.mark.parametrize(
    "data",
    [
        {"!": "guilds.NoSuchClass"},
        {"!": "os.system", "command": "echo pwned"},
        {"!": "builtins.eval", "source": "1 + 1"},
        {"builtins.eval": "__import__('os').system('echo pwned')"},
        {"os.system": "echo pwned"},
        {"!": "tabnanny.check", "file": "/"},
        {"tabnanny.check": "/"},
        {"!": "impl.gateway_bot.GatewayBot"},  # a hikari class, but an application, not data
        {"!": "impl.entity_factory.EntityFactoryImpl"},  # hikari machinery
        {"!": "errors.NotFoundError"},
        {"!": "guilds.Member.__init__"},
        {"!": "channels.ChannelType", "value": 0},  # an enum is a value tag, not an instance
        {"guilds.Member": {}},  # and an instance class is not a value tag
        {"!": ["guilds.Member"]},
        {"!": 5},
        {"__class__": "x"},
        [{"!": "snowflakes.Unique"}],  # abstract
    ],
    ids=repr,
)
def test_unknown_or_disallowed_tags_are_refused(data: object, bot: hikari.GatewayBot) -> None:
    imported_before = set(sys.modules)

    with pytest.raises(ValueError, match="tag"):
        codec.decode(data, bot)
    with pytest.raises(ValueError, match="tag"):
        codec.loads(json.dumps(data), bot)

    assert set(sys.modules) == imported_before  # nothing was imported on the data's say-so


@pytest.mark.parametrize(
    "data",
    [
        {"a": 1, "b": 2},
        {},
        {"#": "5"},
        {"dt": "2020-01-01"},
        {"dtz": 5},
        {"td": 1.5},
        {"t": {"a": 1}},
        {"s": [[1]]},  # unhashable set member
        {"m": [[1]]},
        {"m": [[[1], 2]]},  # unhashable key
        {"d": [1]},
        {"b": "not base64!"},
        {"channels.ChannelType": "0"},
        {"colors.Color": -1},  # hikari's own validation
        {"!": "guilds.Member", "user": {"!": "users.UserImpl", "id": "not a snowflake"}, "joined_at": {"dt": None}},
    ],
    ids=repr,
)
def test_malformed_data_raises_value_error(data: object, bot: hikari.GatewayBot) -> None:
    with pytest.raises(ValueError, match=r"malformed|expects|must be"):
        codec.decode(data, bot)


def test_stdlib_json_fallback_round_trips(
    monkeypatch: pytest.MonkeyPatch, bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl
) -> None:
    monkeypatch.setitem(sys.modules, "orjson", None)  # makes `import orjson` fail
    dumps, loads = codec._json_backend()
    message = factory.deserialize_message(rich_message_payload())

    raw = dumps(codec.encode(message))

    assert dumps is not codec._dumps
    assert_deep_equal(message, codec.decode(loads(raw), bot))
    assert_deep_equal(message, codec.loads(raw, bot))  # and orjson reads what json wrote


def test_invalid_json_raises_value_error(bot: hikari.GatewayBot) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the JSON parser's own message
        codec.loads(b"{not json", bot)


def test_unsupported_values_are_refused_on_encode(factory: entity_factory.EntityFactoryImpl) -> None:
    class NotHikari:
        __slots__ = ()

    with pytest.raises(TypeError, match="cannot encode"):
        codec.encode(NotHikari())
    with pytest.raises(TypeError, match="cannot encode"):
        codec.encode({"factory": factory})
    with pytest.raises(TypeError, match="cannot encode"):
        codec.encode(lambda: None)


#####################
# The deep helper #
#####################


def test_deep_diff_finds_a_nested_difference(bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl) -> None:
    member = only(guild_definition(factory).members())
    changed = round_trip(member, bot)
    primary_guild = changed.user.primary_guild
    object.__setattr__(primary_guild, "tag", "EVIL")
    assert changed == member  # hikari's == only looks at ids

    assert deep_diff(member, changed) == ["<root>.user.primary_guild.tag: 'DISC' != 'EVIL'"]
    with pytest.raises(AssertionError, match=r"primary_guild\.tag"):
        assert_deep_equal(member, changed)


def test_deep_diff_looks_into_slotted_classes(
    bot: hikari.GatewayBot, factory: entity_factory.EntityFactoryImpl
) -> None:
    message = factory.deserialize_message(rich_message_payload())
    changed = round_trip(message, bot)
    changed.embeds[0].title = "changed"
    object.__setattr__(changed.embeds[0].image.resource, "_url", "https://example.com/other.png")

    assert deep_diff(message, changed) == [
        "<root>.embeds[0]._image.resource._url: 'https://example.com/i.png' != 'https://example.com/other.png'",
        "<root>.embeds[0]._title: 'title' != 'changed'",
    ]


def test_deep_diff_reports_type_and_shape_differences() -> None:
    assert deep_diff([hikari.Snowflake(1)], [1]) == [
        "<root>[0]: type hikari.snowflakes.Snowflake != builtins.int (1 != 1)"
    ]
    assert deep_diff({hikari.Snowflake(1): 1}, {1: 1}) == [
        "<root>[1]: key type hikari.snowflakes.Snowflake != builtins.int"
    ]
    assert deep_diff({"a": 1}, {"b": 1}) == ["<root>['a']: missing on the right", "<root>['b']: missing on the left"]
    assert deep_diff([1, 2], (1, 2)) == []
    assert deep_diff([1, 2], [1]) == ["<root>: length 2 != 1"]
    assert deep_diff({hikari.Snowflake(1)}, {1}) != []
    assert deep_diff(hikari.ChannelType.GUILD_TEXT, 0) != []
    assert deep_diff(float("nan"), float("nan")) == []
    utc = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    assert deep_diff(utc, utc.astimezone(datetime.timezone(datetime.timedelta(hours=1)))) != []


def test_deep_diff_survives_cycles() -> None:
    left: list[object] = [1]
    left.append(left)
    right: list[object] = [1]
    right.append(right)

    assert deep_diff(left, right) == []
