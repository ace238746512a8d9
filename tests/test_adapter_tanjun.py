"""hikaripersist_tanjun with the real parts: a real GatewayBot started against the fake Discord, a real
tanjun client dispatching real interactions and messages, real SQLite files.

hikari's own cache is off (``CacheComponents.NONE``) wherever data is read, so whatever a command,
converter or check finds came from the persistent cache.
"""

# tanjun annotates its chaining methods (client.load_modules, add_component...) as returning
# typing.Self, imported from `typing`, which pyright cannot resolve when checking for Python 3.10.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import typing

import alluka
import hikari
import pytest
import tanjun
from tanjun.dependencies import async_cache

import hikaripersist as persist
import hikaripersist_tanjun
from hikaripersist._internal import offline
from tests.fake_discord import FakeDiscord, display_name, interaction_payload
from tests.small_session import BASE

if typing.TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence

Payload = dict[str, typing.Any]

# --- data: READY and the first guild of the small recorded session (20 members) --------------------

READY: typing.Final[Payload] = next(p for name, _, p in BASE if name == "READY")
GUILD: typing.Final[Payload] = next(p for name, _, p in BASE if name == "GUILD_CREATE")
GUILD_ID: typing.Final = int(GUILD["id"])
ME: typing.Final = int(READY["user"]["id"])
OTHER_GUILD_ID: typing.Final = next(int(g["id"]) for g in READY["guilds"] if int(g["id"]) != GUILD_ID)
MISSING: typing.Final = 1_000_000_000_000_000_001  # an id nothing in the session has

AUTHOR: typing.Final[Payload] = next(m for m in GUILD["members"] if len(m["roles"]) >= 2 and not m["user"].get("bot"))
AUTHOR_ID: typing.Final = int(AUTHOR["user"]["id"])
GENERAL: typing.Final[Payload] = next(c for c in GUILD["channels"] if c["name"] == "general")
GENERAL_ID: typing.Final = int(GENERAL["id"])
ROLES: typing.Final[dict[int, Payload]] = {int(r["id"]): r for r in GUILD["roles"]}
MODERATOR: typing.Final[Payload] = next(r for r in GUILD["roles"] if r["name"] == "Moderator")
THREAD: typing.Final[Payload] = GUILD["threads"][0]
EMOJI: typing.Final[Payload] = GUILD["emojis"][0]
STICKER: typing.Final[Payload] = GUILD["stickers"][0]
VOICE: typing.Final[Payload] = GUILD["voice_states"][0]
PRESENCE: typing.Final[Payload] = next(p for p in GUILD["presences"] if int(p["user"]["id"]) != ME)
MESSAGE: typing.Final[Payload] = next(
    p for name, _, p in BASE if name == "MESSAGE_CREATE" and p.get("guild_id") == GUILD["id"] and "member" in p
)
INVITE: typing.Final[Payload] = {
    "channel_id": GENERAL["id"],
    "code": "persistTanjun",
    "created_at": "2025-06-01T17:01:25.117000+00:00",
    "guild_id": GUILD["id"],
    "inviter": AUTHOR["user"],
    "max_age": 0,
    "max_uses": 0,
    "temporary": False,
    "type": 0,
    "uses": 0,
}
NO_HIKARI_CACHE: typing.Final = hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)
_IDS = itertools.count(1_395_000_000_000_000_000)


def initial(*extra: tuple[str, Payload]) -> list[tuple[str, Payload]]:
    """What the fake gateway sends after IDENTIFY: READY, the guild, then ``extra``."""
    return [("READY", copy.deepcopy(READY)), ("GUILD_CREATE", copy.deepcopy(GUILD)), *extra]


def newcomer() -> Payload:
    """A GUILD_MEMBER_ADD payload for a user nothing has seen yet."""
    user_id = str(next(_IDS))
    return {
        "guild_id": GUILD["id"],
        "user": {"id": user_id, "username": f"newcomer{user_id[-4:]}", "discriminator": "0", "avatar": None},
        "roles": [MODERATOR["id"]],
        "nick": None,
        "joined_at": "2025-06-02T10:00:00.000000+00:00",
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
    }


class RecordingBackend(persist.SQLiteBackend):
    """A real SQLite backend that writes its opening and closing into the fake Discord's timeline.

    With a ``gate``, opening waits until the gate is set.
    """

    def __init__(
        self, path: pathlib.Path, timeline: list[str], *, gate: asyncio.Event | None = None, **kwargs: typing.Any
    ) -> None:
        super().__init__(path, **kwargs)
        self.timeline = timeline
        self.gate = gate

    async def open(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        await super().open()
        self.timeline.append("cache opened")

    async def close(self) -> None:
        was_open = self.is_open
        await super().close()
        if was_open:
            self.timeline.append("cache closed")


class Bot(typing.NamedTuple):
    fake: FakeDiscord
    bot: hikari.GatewayBot
    cache: persist.Cache
    client: tanjun.Client


@contextlib.asynccontextmanager
async def bot_with_cache(
    tmp_path: pathlib.Path,
    *extra: tuple[str, Payload],
    components: Sequence[tanjun.Component] = (),
    setup: bool = True,
    flush_interval: float = 0.05,
    gate: asyncio.Event | None = None,
) -> AsyncGenerator[Bot, None]:
    """A bot (hikari's cache off), its cache and a tanjun client; the bot is not started.

    With ``setup``, the cache is set up with ``flush_before_commands``: commands then see what the
    gateway sent before them (the GUILD_CREATE right after READY included), deterministically.
    """
    async with FakeDiscord(ready=initial(*extra)) as fake:
        bot = fake.make_bot(cache_settings=NO_HIKARI_CACHE)
        backend = RecordingBackend(tmp_path / "cache.db", fake.timeline, gate=gate, flush_interval=flush_interval)
        cache = persist.Cache(bot, backend)
        client = tanjun.Client.from_gateway_bot(bot, declare_global_commands=False)
        if setup:
            # Before the components: tanjun checks its converters' async caches when they are added.
            hikaripersist_tanjun.setup(client, cache, flush_before_commands=True)
        for component in components:
            client.add_component(component)
        try:
            yield Bot(fake, bot, cache, client)
        finally:
            if bot.is_alive:
                await bot.close()


async def slash(
    fake: FakeDiscord,
    command: str,
    *options: Payload,
    resolved: Payload | None = None,
) -> str:
    """Use ``/command`` in the guild's #general as AUTHOR and return the response's content."""
    payload = interaction_payload(
        command=command,
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        member=AUTHOR,
        options=options,
        resolved=resolved,
    )
    await fake.dispatch("INTERACTION_CREATE", payload)
    request = await fake.wait_for_request("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
    return typing.cast("str", request.body["data"]["content"])


def string_option(name: str, value: object) -> Payload:
    return {"name": name, "type": 3, "value": str(value)}


def rest_reads(fake: FakeDiscord) -> list[str]:
    """The REST reads the bot made, apart from the gateway URL hikari fetches to start."""
    return [f"{r.method} {r.path}" for r in fake.requests if r.method == "GET" and r.path != "/gateway/bot"]


# --- dependency injection through tanjun's interaction path ---------------------------------------


async def test_slash_command_receives_the_cache_by_injection(tmp_path: pathlib.Path) -> None:
    """A slash command dispatched by tanjun from a real INTERACTION_CREATE gets the cache through
    alluka in all three spellings, and reads the member and roles from it (hikari's cache is off)."""
    component = tanjun.Component()

    @component.with_command
    @tanjun.with_user_slash_option("member", "Who to look up.")
    @tanjun.as_slash_command("whois", "Show a stored member.")
    async def whois(
        ctx: tanjun.abc.SlashContext,
        member: hikari.User,
        cache: alluka.Injected[persist.Cache],
        maybe: alluka.Injected[persist.Cache | None],
        default_form: persist.Cache = alluka.inject(type=persist.Cache),
    ) -> None:
        assert ctx.guild_id is not None
        stored = await cache.members.get(guild_id=ctx.guild_id, member_id=member.id)
        assert stored is not None
        roles = [role.name async for role in cache.roles.of_member(stored) if role.id != ctx.guild_id]
        same = cache is maybe is default_form is hikaripersist_tanjun.get_cache(ctx)
        await ctx.respond(f"{stored.display_name}: {', '.join(roles)} (same cache: {same})")

    async with bot_with_cache(tmp_path, components=[component]) as run:
        await asyncio.wait_for(run.fake.run_bot(run.bot), 10)
        user = AUTHOR["user"]
        resolved_member = {k: v for k, v in AUTHOR.items() if k != "user"} | {"permissions": "2251799813685247"}
        resolved = {"users": {user["id"]: user}, "members": {user["id"]: resolved_member}}
        content = await slash(run.fake, "whois", {"name": "member", "type": 6, "value": user["id"]}, resolved=resolved)

    roles = sorted((ROLES[int(r)] for r in AUTHOR["roles"]), key=lambda r: (r["position"], int(r["id"])))
    assert content == f"{display_name(AUTHOR)}: {', '.join(r['name'] for r in roles)} (same cache: True)"
    assert run.bot.cache.get_member(GUILD_ID, AUTHOR_ID) is None  # not from hikari's cache


async def test_optional_injection_gets_none_without_a_cache() -> None:
    """``alluka.Injected[persist.Cache | None]`` is None on a client without a cache and the cache
    once set up; get_cache says what to do when there is none."""
    bot = offline.make_offline_bot()
    client = tanjun.Client.from_gateway_bot(bot)

    async def callback(cache: alluka.Injected[persist.Cache | None]) -> persist.Cache | None:
        return cache

    assert await client.injector.call_with_async_di(callback) is None
    with pytest.raises(LookupError, match=r"hikaripersist_tanjun.setup\(client, cache\)"):
        hikaripersist_tanjun.get_cache(client)
    cache = hikaripersist_tanjun.setup(client, persist.Cache(bot, persist.SQLiteBackend(":memory:")))
    assert await client.injector.call_with_async_di(callback) is cache
    assert hikaripersist_tanjun.get_cache(client) is cache


# --- setup: idempotence, conflicts, teardown, too late ---------------------------------------------


async def test_setup_is_idempotent_refuses_another_cache_and_tears_down(tmp_path: pathlib.Path) -> None:
    """The same cache twice installs nothing twice; another cache, another bot's cache or a non-cache
    is refused clearly; teardown restores the client's own hooks and registrations."""
    bot = offline.make_offline_bot()
    client = tanjun.Client.from_gateway_bot(bot)
    user_hooks = tanjun.AnyHooks()
    client.set_hooks(user_hooks)
    starting = len(client.get_client_callbacks(tanjun.ClientCallbackNames.STARTING))
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "a.db"))

    hikaripersist_tanjun.setup(client, cache)
    hooks = client.hooks
    assert isinstance(hooks, hikaripersist_tanjun.CacheHooks)
    assert hooks.inner is user_hooks
    assert hikaripersist_tanjun.setup(client, cache, flush_before_commands=True) is cache
    assert client.hooks is hooks
    assert hooks.inner is user_hooks  # not wrapped twice
    assert len(client.get_client_callbacks(tanjun.ClientCallbackNames.STARTING)) == starting + 1
    assert isinstance(client.get_type_dependency(async_cache.SfCache[hikari.Role]), hikaripersist_tanjun.RoleCache)

    other = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "b.db"))
    with pytest.raises(RuntimeError, match="already set up with another cache"):
        hikaripersist_tanjun.setup(client, other)
    other_bot_cache = persist.Cache(offline.make_offline_bot(), persist.SQLiteBackend(tmp_path / "c.db"))
    with pytest.raises(ValueError, match="another bot"):
        hikaripersist_tanjun.setup(tanjun.Client.from_gateway_bot(bot), other_bot_cache)
    with pytest.raises(TypeError, match=r"takes a hikaripersist.Cache"):
        hikaripersist_tanjun.setup(client, typing.cast("persist.Cache", object()))

    hikaripersist_tanjun.teardown(client)
    assert client.hooks is user_hooks
    assert client.get_type_dependency(persist.Cache, default=None) is None
    assert client.get_type_dependency(async_cache.SfCache[hikari.Role], default=None) is None
    assert len(client.get_client_callbacks(tanjun.ClientCallbackNames.STARTING)) == starting
    hikaripersist_tanjun.setup(client, other)  # now allowed
    assert hikaripersist_tanjun.get_cache(client) is other


async def test_setup_keeps_async_caches_registered_by_the_user() -> None:
    """An async cache interface the client already has (e.g. hikari-sake's) is neither replaced
    nor removed by teardown."""
    bot = offline.make_offline_bot()
    client = tanjun.Client.from_gateway_bot(bot)
    theirs = hikaripersist_tanjun.UserCache(persist.Cache(bot, persist.SQLiteBackend(":memory:")))
    client.set_type_dependency(async_cache.SfCache[hikari.User], theirs)
    hikaripersist_tanjun.setup(client, persist.Cache(bot, persist.SQLiteBackend(":memory:")))
    assert client.get_type_dependency(async_cache.SfCache[hikari.User]) is theirs
    hikaripersist_tanjun.teardown(client)
    assert client.get_type_dependency(async_cache.SfCache[hikari.User]) is theirs


async def test_setup_too_late(tmp_path: pathlib.Path) -> None:
    """Once the bot runs, setup outside its event loop is refused (the cache could never open);
    from the event loop it opens the cache in the background and commands wait for it."""
    component = tanjun.Component()

    @component.with_command
    @tanjun.as_slash_command("state", "Is the cache open?")
    async def state(ctx: tanjun.abc.SlashContext, cache: alluka.Injected[persist.Cache]) -> None:
        await ctx.respond(f"open: {cache.is_open}, guilds: {await cache.guilds.count()}")

    async with bot_with_cache(tmp_path, components=[component], setup=False) as run:
        await asyncio.wait_for(run.fake.run_bot(run.bot), 10)
        late = persist.Cache(run.bot, persist.SQLiteBackend(tmp_path / "late.db"))
        with pytest.raises(RuntimeError, match="too late"):
            await asyncio.to_thread(hikaripersist_tanjun.setup, run.client, late)
        assert run.client.get_type_dependency(persist.Cache, default=None) is None

        hikaripersist_tanjun.setup(run.client, late)
        # The late cache saw no GUILD_CREATE: it is open and empty.
        assert await slash(run.fake, "state") == "open: True, guilds: 0"
    assert not late.is_open  # closed with the bot


# --- tanjun's loader -----------------------------------------------------------------------------------


async def test_load_modules_from_a_registered_config_reload_and_unload(tmp_path: pathlib.Path) -> None:
    """The loader builds the cache from the registered CacheConfig (its flush setting included);
    reloading while the bot runs closes the old cache and opens the new one in the background;
    the unloader removes everything and closes the cache it created."""
    component = tanjun.Component()

    @component.with_command
    @tanjun.as_slash_command("count", "Members stored here.")
    async def count(ctx: tanjun.abc.SlashContext, cache: alluka.Injected[persist.Cache]) -> None:
        await ctx.respond(f"{await cache.members.count(guild_id=ctx.guild_id)} (open: {cache.is_open})")

    db = tmp_path / "configured.db"
    async with bot_with_cache(tmp_path, components=[component], setup=False) as run:
        config = persist.CacheConfig(f"sqlite:///{db}", flush_before_commands=True)
        run.client.set_type_dependency(persist.CacheConfig, config)
        original_hooks = run.client.hooks
        run.client.load_modules("hikaripersist_tanjun")
        first = hikaripersist_tanjun.get_cache(run.client)
        assert isinstance(first.backend, persist.SQLiteBackend)
        assert first.backend.path == str(db)
        roles = run.client.get_type_dependency(async_cache.SfCache[hikari.Role])
        assert isinstance(roles, hikaripersist_tanjun.RoleCache)
        assert roles.cache is first

        await asyncio.wait_for(run.fake.run_bot(run.bot), 10)
        # flush_before_commands from the config: the GUILD_CREATE is committed before the command.
        assert await slash(run.fake, "count") == f"{len(GUILD['members'])} (open: True)"

        run.client.reload_modules("hikaripersist_tanjun")
        second = hikaripersist_tanjun.get_cache(run.client)
        assert second is not first
        await asyncio.wait_for(hikaripersist_tanjun.wait_closed(), 10)
        assert not first.is_open
        # The new cache (same file, opened in the background) answers with what the first stored.
        assert await slash(run.fake, "count") == f"{len(GUILD['members'])} (open: True)"

        run.client.unload_modules("hikaripersist_tanjun")
        with pytest.raises(LookupError):
            hikaripersist_tanjun.get_cache(run.client)
        assert run.client.get_type_dependency(async_cache.SfCache[hikari.Role], default=None) is None
        assert run.client.hooks is original_hooks
        await asyncio.wait_for(hikaripersist_tanjun.wait_closed(), 10)
        assert not second.is_open
        assert run.client.get_type_dependency(persist.CacheConfig) is config  # the user's, kept


async def test_load_modules_from_the_environment_or_a_registered_cache(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a registered config the loader reads HIKARI_PERSIST_*; a registered Cache is used as
    is and kept by the unloader; loading twice fails clearly; an unloaded cache no longer follows
    the bot (it does not open when the bot starts)."""
    monkeypatch.setenv("HIKARI_PERSIST_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS", "yes")
    bot = offline.make_offline_bot()
    client = tanjun.Client.from_gateway_bot(bot)
    client.load_modules("hikaripersist_tanjun")
    cache = hikaripersist_tanjun.get_cache(client)
    assert isinstance(cache.backend, persist.SQLiteBackend)
    assert cache.backend.path == str(tmp_path / "env.db")
    with pytest.raises(RuntimeError, match="already set up"):
        hikaripersist_tanjun.load(client)  # the loader itself, called a second time
    client.unload_modules("hikaripersist_tanjun")
    with pytest.raises(LookupError):
        hikaripersist_tanjun.get_cache(client)

    mine = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "mine.db"))
    hikaripersist_tanjun.setup(client, mine)
    with pytest.raises(tanjun.FailedModuleLoad) as failed:
        client.load_modules("hikaripersist_tanjun")
    assert "not both" in str(failed.value.__cause__)
    hikaripersist_tanjun.teardown(client)

    client.set_type_dependency(persist.Cache, mine)
    client.load_modules("hikaripersist_tanjun")
    assert isinstance(
        client.get_type_dependency(async_cache.SfGuildBound[hikari.Member]), hikaripersist_tanjun.MemberCache
    )
    client.unload_modules("hikaripersist_tanjun")
    assert client.get_type_dependency(persist.Cache) is mine  # registered by the user: kept
    assert client.get_type_dependency(async_cache.SfGuildBound[hikari.Member], default=None) is None

    await offline.start_offline(bot)
    try:
        assert mine.is_open
        assert not cache.is_open  # detached by the unloader
    finally:
        await offline.stop_offline(bot)


# --- listeners, hooks ----------------------------------------------------------------------------------


async def test_confirmed_listeners_run_after_the_commit(tmp_path: pathlib.Path) -> None:
    """``persist.Confirmed[E]`` listeners added with ``component.with_listener()`` and
    ``client.add_listener`` get the cache injected and find the new member stored, while a plain
    listener of the same event does not (the writer would wait 30 s for more events)."""
    component = tanjun.Component()
    loop = asyncio.get_running_loop()
    plain: asyncio.Future[bool] = loop.create_future()
    confirmed: asyncio.Future[str | None] = loop.create_future()
    added: asyncio.Future[bool] = loop.create_future()

    @component.with_listener()
    async def on_join(event: hikari.MemberCreateEvent, cache: alluka.Injected[persist.Cache]) -> None:
        stored = await cache.members.get(guild_id=event.guild_id, member_id=event.user_id)
        plain.set_result(stored is not None)
        await cache.flush(guild=event.guild_id)  # only this makes the writer commit now

    @component.with_listener()
    async def on_join_confirmed(
        event: persist.Confirmed[hikari.MemberCreateEvent], cache: alluka.Injected[persist.Cache]
    ) -> None:
        stored = await cache.members.get(guild_id=event.guild_id, member_id=event.user_id)
        confirmed.set_result(stored.username if stored is not None else None)

    async def counted(
        event: persist.Confirmed[hikari.MemberCreateEvent],
        cache: persist.Cache = alluka.inject(type=persist.Cache),
    ) -> None:
        added.set_result(await cache.members.exists(guild_id=event.guild_id, user_id=event.user_id))

    async with bot_with_cache(tmp_path, components=[component], flush_interval=30) as run:
        run.client.add_listener(persist.Confirmed[hikari.MemberCreateEvent], counted)
        await asyncio.wait_for(run.fake.run_bot(run.bot), 10)
        member = newcomer()
        await run.fake.dispatch("GUILD_MEMBER_ADD", member)
        assert await asyncio.wait_for(plain, 10) is False
        assert await asyncio.wait_for(confirmed, 10) == member["user"]["username"]
        assert await asyncio.wait_for(added, 10) is True


async def test_flush_before_commands_makes_a_command_see_a_member_who_just_joined(tmp_path: pathlib.Path) -> None:
    """With a writer that waits 30 s to fill a batch, a command used right after GUILD_MEMBER_ADD
    does not find the member, unless the hook flushes the guild first. The user's own client
    hooks keep running, wrapped rather than replaced."""
    component = tanjun.Component()
    user_hook_calls: list[str] = []

    @component.with_command
    @tanjun.with_str_slash_option("user", "A user id.")
    @tanjun.as_slash_command("seen", "Is this member stored?")
    async def seen(ctx: tanjun.abc.SlashContext, user: str, cache: alluka.Injected[persist.Cache]) -> None:
        assert ctx.guild_id is not None
        member = await cache.members.get(guild_id=ctx.guild_id, member_id=int(user))
        await ctx.respond(member.username if member is not None else "not stored")

    async def user_hook(ctx: tanjun.abc.Context) -> None:
        user_hook_calls.append(ctx.triggering_name)

    async with bot_with_cache(tmp_path, components=[component], setup=False, flush_interval=30) as run:
        user_hooks = tanjun.AnyHooks()
        user_hooks.add_pre_execution(user_hook)
        run.client.set_hooks(user_hooks)
        hikaripersist_tanjun.setup(run.client, run.cache)  # flush_before_commands off
        await asyncio.wait_for(run.fake.run_bot(run.bot), 10)

        first = newcomer()
        await run.fake.dispatch("GUILD_MEMBER_ADD", first)
        assert await slash(run.fake, "seen", string_option("user", first["user"]["id"])) == "not stored"

        hikaripersist_tanjun.setup(run.client, run.cache, flush_before_commands=True)
        second = newcomer()
        await run.fake.dispatch("GUILD_MEMBER_ADD", second)
        assert await slash(run.fake, "seen", string_option("user", second["user"]["id"])) == second["user"]["username"]
    assert user_hook_calls == ["seen", "seen"]


# --- tanjun's converters and checks read the persistent cache -----------------------------------------


async def test_tanjun_converters_and_checks_read_the_persistent_cache(tmp_path: pathlib.Path) -> None:
    """tanjun's standard converters resolve ids through the async cache adapters, and the
    own-permission check finds the bot's user, member, guild, roles and channel there: with hikari's
    cache off, nothing is fetched over REST."""
    component = tanjun.Component()

    @component.with_command
    @tanjun.with_str_slash_option("role", "Role.", converters=tanjun.to_role)
    @tanjun.with_str_slash_option("channel", "Channel.", converters=tanjun.to_channel)
    @tanjun.with_str_slash_option("thread", "Thread.", converters=tanjun.to_channel)
    @tanjun.with_str_slash_option("member", "Member.", converters=tanjun.to_member)
    @tanjun.with_str_slash_option("user", "User.", converters=tanjun.to_user)
    @tanjun.with_str_slash_option("guild", "Guild.", converters=tanjun.to_guild)
    @tanjun.with_str_slash_option("emoji", "Emoji.", converters=tanjun.to_emoji)
    @tanjun.with_str_slash_option("message", "Message.", converters=tanjun.to_message)
    @tanjun.with_str_slash_option("voice", "Voice state.", converters=tanjun.to_voice_state)
    @tanjun.with_str_slash_option("presence", "Presence.", converters=tanjun.to_presence)
    @tanjun.with_str_slash_option("invite", "Invite.", converters=tanjun.to_invite_with_metadata)
    @tanjun.as_slash_command("lookup", "Resolve everything.")
    async def lookup(
        ctx: tanjun.abc.SlashContext,
        role: hikari.Role,
        channel: hikari.GuildChannel,
        thread: hikari.GuildThreadChannel,
        member: hikari.Member,
        user: hikari.User,
        guild: hikari.Guild,
        emoji: hikari.KnownCustomEmoji,
        message: hikari.Message,
        voice: hikari.VoiceState,
        presence: hikari.MemberPresence,
        invite: hikari.InviteWithMetadata,
    ) -> None:
        found = [role.name, channel.name, thread.name, member.display_name, user.username, guild.name, emoji.name]
        found += [str(message.id), str(voice.channel_id), str(presence.visible_status), invite.code]
        await ctx.respond(" | ".join(str(f) for f in found))

    @component.with_command
    @tanjun.with_own_permission_check(hikari.Permissions.SEND_MESSAGES)
    @tanjun.with_argument("role", converters=tanjun.to_role)
    @tanjun.as_message_command("role")
    async def role_command(ctx: tanjun.abc.MessageContext, role: hikari.Role) -> None:
        await ctx.respond(f"role {role.name}")

    extra = [("MESSAGE_CREATE", copy.deepcopy(MESSAGE)), ("INVITE_CREATE", copy.deepcopy(INVITE))]
    async with bot_with_cache(tmp_path, *extra, components=[component]) as run:
        run.client.add_prefix("!")
        await asyncio.wait_for(run.fake.run_bot(run.bot), 10)
        options = [
            string_option("role", f"<@&{MODERATOR['id']}>"),
            string_option("channel", GENERAL_ID),
            string_option("thread", THREAD["id"]),
            string_option("member", f"<@{AUTHOR_ID}>"),
            string_option("user", AUTHOR_ID),
            string_option("guild", GUILD_ID),
            string_option("emoji", f"<:{EMOJI['name']}:{EMOJI['id']}>"),
            string_option("message", MESSAGE["id"]),
            string_option("voice", VOICE["user_id"]),
            string_option("presence", PRESENCE["user"]["id"]),
            string_option("invite", INVITE["code"]),
        ]
        content = await slash(run.fake, "lookup", *options)

        message = copy.deepcopy(MESSAGE)
        message.update(id=str(next(_IDS)), channel_id=GENERAL["id"], content=f"!role {MODERATOR['id']}")
        message.update(author=AUTHOR["user"], member={k: v for k, v in AUTHOR.items() if k != "user"})
        await run.fake.dispatch("MESSAGE_CREATE", message)
        reply = await run.fake.wait_for_request("POST", rf"/channels/{GENERAL_ID}/messages")

    expected = [MODERATOR["name"], GENERAL["name"], THREAD["name"], display_name(AUTHOR), AUTHOR["user"]["username"]]
    expected += [GUILD["name"], EMOJI["name"], MESSAGE["id"], VOICE["channel_id"], PRESENCE["status"], INVITE["code"]]
    assert content == " | ".join(expected)
    assert typing.cast("Payload", reply.body)["content"] == f"role {MODERATOR['name']}"
    assert rest_reads(run.fake) == []


# --- the adapters' contract ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def replayed_client(
    tmp_path: pathlib.Path, *, rule: persist.Rule | None = None
) -> AsyncGenerator[tuple[tanjun.Client, persist.Cache], None]:
    """A set-up client whose cache holds the session's READY, guild, a message and an invite."""
    bot = offline.make_offline_bot(cache_settings=NO_HIKARI_CACHE)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "replayed.db"), rule=rule)
    client = tanjun.Client.from_gateway_bot(bot)
    hikaripersist_tanjun.setup(client, cache)
    await offline.start_offline(bot)
    try:
        records = [
            (name, 0, payload) for name, payload in initial(("MESSAGE_CREATE", MESSAGE), ("INVITE_CREATE", INVITE))
        ]
        await offline.replay(bot, copy.deepcopy(records))
        await cache.flush()
        yield client, cache
    finally:
        await offline.stop_offline(bot)


async def expect_miss(lookup: Callable[[], typing.Awaitable[object]], *, known_absent: bool) -> None:
    with pytest.raises(async_cache.CacheMissError) as raised:
        await lookup()
    assert isinstance(raised.value, async_cache.EntryNotFound) is known_absent, raised.value


async def test_async_cache_adapters_follow_tanjuns_contract(tmp_path: pathlib.Path) -> None:
    """Every registered adapter: a hit returns the hikari object; a miss raises CacheMissError,
    EntryNotFound only for guild-bound kinds a guild delivers in full; ``default`` is returned
    instead of raising; iterators count in the database (``len()``) without being consumed."""
    async with replayed_client(tmp_path) as (client, cache):
        get = client.get_type_dependency

        guilds = get(async_cache.SfCache[hikari.Guild])
        assert isinstance(guilds, hikaripersist_tanjun.GuildCache)
        assert (await guilds.get(GUILD_ID)).name == GUILD["name"]
        await expect_miss(lambda: guilds.get(MISSING), known_absent=False)
        assert await guilds.get(MISSING, default=None) is None
        assert await guilds.iter_all().len() == 1

        # Kinds a GUILD_CREATE delivers in full: a miss in a guild of this session does not exist.
        complete: list[tuple[typing.Any, typing.Any, int, int]] = [
            (
                hikari.PermissibleGuildChannel,
                hikaripersist_tanjun.GuildChannelCache,
                GENERAL_ID,
                len(GUILD["channels"]),
            ),
            (hikari.Role, hikaripersist_tanjun.RoleCache, int(MODERATOR["id"]), len(GUILD["roles"])),
            (hikari.KnownCustomEmoji, hikaripersist_tanjun.EmojiCache, int(EMOJI["id"]), len(GUILD["emojis"])),
            (hikari.GuildSticker, hikaripersist_tanjun.StickerCache, int(STICKER["id"]), len(GUILD["stickers"])),
            (hikari.GuildThreadChannel, hikaripersist_tanjun.ThreadCache, int(THREAD["id"]), len(GUILD["threads"])),
        ]
        for value_type, adapter_type, hit, total in complete:
            adapter: typing.Any = get(async_cache.SfCache[value_type])
            assert isinstance(adapter, adapter_type)
            assert get(async_cache.SfGuildBound[value_type]) is adapter
            assert (await adapter.get(hit)).id == hit
            assert (await adapter.get_from_guild(GUILD_ID, hit)).id == hit
            await expect_miss(lambda a=adapter: a.get(MISSING), known_absent=False)  # no guild: unknown
            threads = adapter_type is hikaripersist_tanjun.ThreadCache  # archived threads are not delivered
            await expect_miss(lambda a=adapter: a.get_from_guild(GUILD_ID, MISSING), known_absent=not threads)
            await expect_miss(lambda a=adapter, h=hit: a.get_from_guild(OTHER_GUILD_ID, h), known_absent=False)
            assert await adapter.get_from_guild(GUILD_ID, MISSING, default="none") == "none"
            in_guild = adapter.iter_for_guild(GUILD_ID)
            assert await in_guild.len() == total
            assert len([entity async for entity in in_guild]) == total  # len() did not consume it
            assert await adapter.iter_all().len() == total

        roles = [role.position async for role in get(async_cache.SfGuildBound[hikari.Role]).iter_for_guild(GUILD_ID)]
        assert roles == sorted(roles)

        users = get(async_cache.SfCache[hikari.User])
        assert (await users.get(AUTHOR_ID)).username == AUTHOR["user"]["username"]
        await expect_miss(lambda: users.get(MISSING), known_absent=False)

        members = get(async_cache.SfGuildBound[hikari.Member])
        assert (await members.get_from_guild(GUILD_ID, AUTHOR_ID)).display_name == display_name(AUTHOR)
        await expect_miss(lambda: members.get_from_guild(GUILD_ID, MISSING), known_absent=False)  # not chunked
        assert await members.iter_for_guild(GUILD_ID).len() == len(GUILD["members"])

        presences = get(async_cache.SfGuildBound[hikari.MemberPresence])
        presence = await presences.get_from_guild(GUILD_ID, int(PRESENCE["user"]["id"]))
        assert presence.visible_status == PRESENCE["status"]
        await expect_miss(lambda: presences.get_from_guild(GUILD_ID, MISSING), known_absent=False)
        assert await presences.iter_for_guild(GUILD_ID).len() == len(GUILD["presences"])

        voice = get(async_cache.SfGuildBound[hikari.VoiceState])
        assert (await voice.get_from_guild(GUILD_ID, int(VOICE["user_id"]))).channel_id == int(VOICE["channel_id"])
        await expect_miss(lambda: voice.get_from_guild(GUILD_ID, MISSING), known_absent=True)
        assert [state.user_id async for state in voice.iter_for_guild(GUILD_ID)] == [int(VOICE["user_id"])]

        messages = get(async_cache.SfCache[hikari.Message])
        assert isinstance(messages, hikaripersist_tanjun.MessageCache)
        assert get(async_cache.SfChannelBound[hikari.Message]) is messages
        channel_id = int(MESSAGE["channel_id"])
        assert (await messages.get(int(MESSAGE["id"]))).content == MESSAGE["content"]
        assert (await messages.get_from_channel(channel_id, int(MESSAGE["id"]))).id == int(MESSAGE["id"])
        await expect_miss(lambda: messages.get_from_channel(GENERAL_ID, int(MESSAGE["id"])), known_absent=False)
        assert await messages.iter_for_channel(channel_id).len() == 1

        invites = get(async_cache.AsyncCache[str, hikari.InviteWithMetadata])
        assert (await invites.get(INVITE["code"])).channel_id == GENERAL_ID
        await expect_miss(lambda: invites.get("nope"), known_absent=False)
        assert await invites.iter_all().len() == 1

        me = get(async_cache.SingleStoreCache[hikari.OwnUser])
        assert (await me.get()).id == ME

    # Closed: tanjun must fall back to REST, so a miss (not an error) or the default.
    await expect_miss(lambda: guilds.get(GUILD_ID), known_absent=False)
    assert await guilds.get(GUILD_ID, default=None) is None
    assert not cache.is_open


async def test_a_rule_that_skips_entities_makes_misses_unknown(tmp_path: pathlib.Path) -> None:
    """When the rule does not store every role of the guild, a missing role may exist: the miss is a
    CacheMissError (tanjun asks REST), not EntryNotFound."""
    rule = persist.Rule(role=persist.RoleRule(predicate=lambda role: role.name != "Admin"))
    async with replayed_client(tmp_path, rule=rule) as (client, _):
        roles = client.get_type_dependency(async_cache.SfGuildBound[hikari.Role])
        admin = next(int(r["id"]) for r in GUILD["roles"] if r["name"] == "Admin")
        await expect_miss(lambda: roles.get_from_guild(GUILD_ID, admin), known_absent=False)
        assert (await roles.get_from_guild(GUILD_ID, int(MODERATOR["id"]))).name == "Moderator"


# --- lifetime ------------------------------------------------------------------------------------------


async def test_cache_lifetime_brackets_the_shards_and_tanjuns_callbacks(tmp_path: pathlib.Path) -> None:
    """The cache opens before the shard identifies and before tanjun's STARTED callbacks (even when
    opening only starts once tanjun's STARTING callbacks run), stays open through tanjun's CLOSING
    and CLOSED callbacks, and closes after the shard disconnected."""
    # Opening waits for a STARTING callback: tanjun's client is opening by then, so its STARTED
    # callbacks would run before the cache is open if the adapter's STARTING callback did not wait.
    gate = asyncio.Event()
    async with bot_with_cache(tmp_path, gate=gate) as run:
        timeline = run.fake.timeline
        started = asyncio.Event()

        def recorder(name: str) -> Callable[[], Coroutine[typing.Any, typing.Any, None]]:
            async def record() -> None:
                timeline.append(f"tanjun {name} (cache open: {run.cache.is_open})")
                if name == "starting":
                    gate.set()
                elif name == "started":
                    started.set()

            return record

        for name in ("starting", "started", "closing", "closed"):
            run.client.add_client_callback(name, recorder(name))
        await asyncio.wait_for(run.fake.run_bot(run.bot), 10)
        await asyncio.wait_for(started.wait(), 10)
        await run.bot.close()

    def at(entry: str) -> int:
        return timeline.index(entry)

    assert at("tanjun starting (cache open: False)") < at("cache opened")
    assert at("cache opened") < at("tanjun started (cache open: True)")
    assert at("cache opened") < at("shard 0 identified")
    assert at("tanjun closing (cache open: True)") < at("shard 0 disconnected")
    assert at("tanjun closed (cache open: True)") < at("cache closed")
    assert at("shard 0 disconnected") < at("cache closed")
    assert not run.cache.is_open


async def test_a_backend_that_cannot_open_stops_the_bot(tmp_path: pathlib.Path) -> None:
    """A store that cannot be opened (its folder would have to be created inside a file) stops
    ``bot.start()`` with CacheStartupError naming it: no gateway URL fetched, no shard identified."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    async with FakeDiscord(ready=initial()) as fake:
        bot = fake.make_bot(cache_settings=NO_HIKARI_CACHE)
        cache = persist.Cache(bot, persist.SQLiteBackend(blocker / "sub" / "cache.db"))
        client = tanjun.Client.from_gateway_bot(bot, declare_global_commands=False)
        hikaripersist_tanjun.setup(client, cache)
        try:
            with pytest.raises(persist.CacheStartupError, match="could not open SQLite database") as info:
                await asyncio.wait_for(fake.run_bot(bot), 10)
        finally:
            await bot.close()
        assert str(blocker) in str(info.value)
        assert isinstance(info.value.__cause__, persist.BackendError)
        assert "GET /gateway/bot" not in fake.timeline
        assert "shard 0 identified" not in fake.timeline
        assert not cache.is_open
