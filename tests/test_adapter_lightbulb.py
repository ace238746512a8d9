"""The lightbulb 3 adapter, driven through lightbulb's own paths against a real bot on the local fake Discord.

Each bot is a real `hikari.GatewayBot` started with ``bot.start()`` against `FakeDiscord` (REST
and gateway on 127.0.0.1) with hikari's own cache turned off, so whatever a command reads can only
come from hikari-persist. Commands run because the fake gateway sends an INTERACTION_CREATE that
lightbulb's `GatewayEnabledClient` handles as in production (command sync on ``client.start()``,
execution pipeline, hooks, dependency injection); their answers are read from the interaction
callback lightbulb POSTs. Waiting is on real signals (listeners' futures, requests received);
timeouts are safety nets only.
"""

from __future__ import annotations

import asyncio
import copy
import sys
import typing

import hikari
import lightbulb
import linkd
import pytest

import hikaripersist as persist
import hikaripersist_lightbulb
from tests.conftest import make_bot
from tests.fake_discord import FakeDiscord, display_name, interaction_payload, new_member
from tests.small_session import BASE

if typing.TYPE_CHECKING:
    import os
    import pathlib
    from collections.abc import AsyncIterator, Awaitable, Sequence

Payload = dict[str, typing.Any]
T = typing.TypeVar("T")

TIMEOUT: typing.Final = 10.0  # safety net only
NO_HIKARI_CACHE: typing.Final = hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)
EXTENSION: typing.Final = "hikaripersist_lightbulb"

GUILD: typing.Final[Payload] = BASE[1][2]
GUILD_ID: typing.Final = int(GUILD["id"])
CHANNEL_ID: typing.Final = int(next(c["id"] for c in GUILD["channels"] if c["type"] == 0))
INVOKER: typing.Final[Payload] = next(m for m in GUILD["members"] if not m["user"].get("bot"))
DEFAULT: typing.Final = lightbulb.di.Contexts.DEFAULT


async def wait(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, TIMEOUT)


class RecordingBackend(persist.SQLiteBackend):
    """A real SQLite backend that records when it opens and closes on the fake's timeline."""

    def __init__(self, path: str | os.PathLike[str], timeline: list[str], *, flush_interval: float = 0.05) -> None:
        super().__init__(path, flush_interval=flush_interval)
        self.timeline = timeline

    async def open(self) -> None:
        await super().open()
        self.timeline.append("cache opened")

    async def close(self) -> None:
        was_open = self.is_open
        await super().close()
        if was_open:
            self.timeline.append("cache closed")


class FailingBackend(persist.SQLiteBackend):
    """A backend whose store cannot be opened."""

    async def open(self) -> None:
        msg = "the disk is on fire"
        raise OSError(msg)


# --- the fake Discord, the bot and the client ---------------------------------------------------------


_bots: dict[FakeDiscord, list[hikari.GatewayBot]] = {}


def new_bot(fake: FakeDiscord) -> hikari.GatewayBot:
    """A real bot on the fake, without hikari's own cache (closed by the ``fake`` fixture if left running)."""
    bot = fake.make_bot(cache_settings=NO_HIKARI_CACHE)
    _bots.setdefault(fake, []).append(bot)
    return bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    ready = [(name, copy.deepcopy(payload)) for name, _, payload in BASE[:2]]
    async with FakeDiscord(ready=ready) as fake:
        try:
            yield fake
        finally:
            # A test that failed half-way leaves its bot running: close it before the fake goes away.
            for bot in _bots.pop(fake, ()):
                if bot.is_alive:
                    await asyncio.wait_for(bot.close(), TIMEOUT)


def new_client(
    fake: FakeDiscord, features: Sequence[lightbulb.features.Feature] = ()
) -> tuple[hikari.GatewayBot, lightbulb.GatewayEnabledClient]:
    """A bot without hikari's cache and a lightbulb client started and stopped as lightbulb documents."""
    bot = new_bot(fake)
    client = lightbulb.client_from_app(bot, features=features)
    bot.subscribe(hikari.StartingEvent, client.start)
    bot.subscribe(hikari.StoppingEvent, client.stop)
    return bot, client


def next_event(bot: hikari.GatewayBot, event_type: type[T]) -> asyncio.Future[T]:
    """A future set by the next ``event_type`` the bot dispatches."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    async def listener(event: T) -> None:
        if not future.done():
            future.set_result(event)

    bot.event_manager.subscribe(typing.cast("type[hikari.Event]", event_type), listener)
    return future


async def start_with_guild(fake: FakeDiscord, bot: hikari.GatewayBot, cache: persist.Cache | None = None) -> None:
    """Start the bot; return once the recorded guild was received (and committed to ``cache``)."""
    guild_received = next_event(bot, hikari.GuildAvailableEvent)
    await wait(fake.run_bot(bot))
    await wait(guild_received)
    if cache is not None:
        # The cache took the event in before this listener ran; flush() waits for its commit.
        await wait(cache.flush())


def whois_command() -> type[lightbulb.SlashCommand]:
    """``/whois``: the invoking member as the cache (injected by lightbulb) stores them."""

    class Whois(lightbulb.SlashCommand, name="whois", description="Show yourself as stored."):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context, cache: persist.Cache = lightbulb.di.INJECTED) -> None:
            assert ctx.guild_id is not None
            stored = await cache.members.get(guild_id=ctx.guild_id, member_id=ctx.user.id)
            count = await cache.members.count(guild_id=ctx.guild_id)
            await ctx.respond(f"{stored.display_name if stored is not None else 'not stored'} ({count})")

    return Whois


async def use(fake: FakeDiscord, command: str, member: Payload = INVOKER) -> str:
    """Use ``/command`` in the guild as ``member`` and return the content lightbulb responded with."""
    payload = interaction_payload(command=command, guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=member)
    await fake.dispatch("INTERACTION_CREATE", payload)
    request = await fake.wait_for_request("POST", rf"/interactions/{payload['id']}/[^/]+/callback", timeout=TIMEOUT)
    return typing.cast("str", request.body["data"]["content"])


async def join(fake: FakeDiscord, member: Payload) -> None:
    await fake.dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": str(GUILD_ID)})


@pytest.fixture
def restore_extension_module() -> typing.Iterator[None]:
    """Lightbulb's unload_extensions() deletes the extension from sys.modules; put it back afterwards."""
    yield
    sys.modules[EXTENSION] = hikaripersist_lightbulb


# --- dependency injection -----------------------------------------------------------------------------


async def test_commands_receive_the_cache_through_lightbulb_injection(
    fake: FakeDiscord, tmp_path: pathlib.Path
) -> None:
    bot, client = new_client(fake)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db"))
    hikaripersist_lightbulb.setup(client, cache)
    client.register(whois_command())
    seen: dict[str, object] = {}

    @client.register
    class Stored(lightbulb.SlashCommand, name="stored", description="How many members are stored here."):
        @lightbulb.invoke
        async def invoke(
            self,
            ctx: lightbulb.Context,
            maybe: persist.Cache | None = lightbulb.di.INJECTED,
            cache: persist.Cache = lightbulb.di.INJECTED,
        ) -> None:
            seen["optional"] = maybe
            seen["helper"] = hikaripersist_lightbulb.get_cache(ctx)
            assert ctx.guild_id is not None
            await ctx.respond(str(await cache.members.count(guild_id=ctx.guild_id)))

    @lightbulb.hook(lightbulb.ExecutionSteps.CHECKS)
    async def user_hook(_: lightbulb.ExecutionPipeline, __: lightbulb.Context, cache: persist.Cache) -> None:
        seen["hook"] = cache

    client.hooks = (*client.hooks, user_hook)
    await start_with_guild(fake, bot, cache)
    try:
        # Only hikari-persist holds members: hikari's own cache is off.
        assert bot.cache.get_member(GUILD_ID, int(INVOKER["user"]["id"])) is None
        # The interaction's member says "Impostor"; the command answers with the stored member.
        assert await use(fake, "whois", {**INVOKER, "nick": "Impostor"}) == f"{display_name(INVOKER)} (20)"
        assert await use(fake, "stored") == "20"
        assert seen == {"optional": cache, "helper": cache, "hook": cache}
        assert hikaripersist_lightbulb.get_cache(client) is cache
    finally:
        await wait(bot.close())


async def test_optional_injection_gives_none_without_a_cache() -> None:
    client = lightbulb.client_from_app(make_bot())
    seen: list[persist.Cache | None] = []

    @lightbulb.di.with_di
    async def probe(cache: persist.Cache | None = lightbulb.di.INJECTED) -> None:
        seen.append(cache)

    async with client.di.enter_context(DEFAULT):
        await probe()
    assert seen == [None]
    with pytest.raises(LookupError, match="no hikari-persist cache is installed"):
        hikaripersist_lightbulb.get_cache(client)
    await client.di.close()


# --- setup ------------------------------------------------------------------------------------------------


async def test_setup_is_idempotent_and_refuses_a_second_cache(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    client = lightbulb.client_from_app(bot)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "a.db"))
    hikaripersist_lightbulb.setup(client, cache)
    hikaripersist_lightbulb.setup(client, cache)
    # Asking for the hook later adds it, once.
    hikaripersist_lightbulb.setup(client, cache, flush_before_commands=True)
    hikaripersist_lightbulb.setup(client, cache, flush_before_commands=True)
    assert list(client.hooks) == [hikaripersist_lightbulb.flush_hook]

    other = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "b.db"))
    with pytest.raises(hikaripersist_lightbulb.SetupError, match="already has a hikari-persist cache"):
        hikaripersist_lightbulb.setup(client, other)
    foreign = persist.Cache(make_bot(), persist.SQLiteBackend(tmp_path / "c.db"))
    with pytest.raises(hikaripersist_lightbulb.SetupError, match="another bot"):
        hikaripersist_lightbulb.setup(lightbulb.client_from_app(bot), foreign)
    assert hikaripersist_lightbulb.get_cache(client) is cache

    async with client.di.enter_context(DEFAULT) as container:
        assert await container.get(persist.Cache) is cache
    await client.di.close()


async def test_setup_after_lightbulb_froze_its_registry_says_what_to_do(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    client = lightbulb.client_from_app(bot)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db"))
    # The first command, listener, hook or task lightbulb runs enters its DEFAULT context like this.
    async with client.di.enter_context(DEFAULT):
        pass
    with pytest.raises(hikaripersist_lightbulb.SetupError, match=r"right after lightbulb\.client_from_app") as info:
        hikaripersist_lightbulb.setup(client, cache, flush_before_commands=True)
    assert isinstance(info.value.__cause__, linkd.RegistryFrozenException)
    # Nothing was half installed.
    assert list(client.hooks) == []
    with pytest.raises(LookupError):
        hikaripersist_lightbulb.get_cache(client)
    # client.stop() closes the container; lightbulb then accepts registrations again.
    await client.di.close()
    hikaripersist_lightbulb.setup(client, cache)
    assert hikaripersist_lightbulb.get_cache(client) is cache


async def test_the_flush_hook_runs_first_in_a_custom_execution_order(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    order = (lightbulb.ExecutionSteps.CHECKS, lightbulb.ExecutionSteps.INVOKE)
    client = lightbulb.client_from_app(bot, execution_step_order=order)
    hikaripersist_lightbulb.setup(
        client, persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db")), flush_before_commands=True
    )
    [hook] = client.hooks
    assert hook.step == lightbulb.ExecutionSteps.CHECKS
    assert hook.func is hikaripersist_lightbulb.flush_hook.func

    invoke_first = lightbulb.client_from_app(bot, execution_step_order=(lightbulb.ExecutionSteps.INVOKE,))
    with pytest.raises(hikaripersist_lightbulb.SetupError, match="starts with INVOKE"):
        hikaripersist_lightbulb.setup(
            invoke_first,
            persist.Cache(bot, persist.SQLiteBackend(tmp_path / "other.db")),
            flush_before_commands=True,
        )


# --- the flush hook ---------------------------------------------------------------------------------------


# HOOK_INJECT_ALL_PARAMS: lightbulb calls hooks without arguments and injects them all.
@pytest.mark.parametrize("features", [(), (lightbulb.features.HOOK_INJECT_ALL_PARAMS,)], ids=["default", "inject-all"])
async def test_flush_hook_lets_a_command_see_the_member_who_just_joined(
    fake: FakeDiscord, tmp_path: pathlib.Path, features: Sequence[lightbulb.features.Feature]
) -> None:
    bot, client = new_client(fake, features)
    # A 30 s batching window: nothing short of a flush commits a lone event while the test runs.
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db", flush_interval=30))
    hikaripersist_lightbulb.setup(client, cache)
    client.register(whois_command())
    await start_with_guild(fake, bot, cache)
    try:
        # Without the hook, the member who joined right before the command is still queued.
        early = new_member(1_380_000_000_000_000_001, "early")
        await join(fake, early)
        assert await use(fake, "whois", early) == "not stored (20)"

        hikaripersist_lightbulb.setup(client, cache, flush_before_commands=True)
        late = new_member(1_380_000_000_000_000_002, "late")
        await join(fake, late)
        assert await use(fake, "whois", late) == f"{display_name(late)} (22)"
    finally:
        await wait(bot.close())


# --- confirmed listeners ----------------------------------------------------------------------------------


async def test_loader_listener_of_confirmed_event_runs_after_the_commit(
    fake: FakeDiscord, tmp_path: pathlib.Path
) -> None:
    bot, client = new_client(fake)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db"))
    hikaripersist_lightbulb.setup(client, cache)
    loader = lightbulb.Loader()
    seen: asyncio.Future[tuple[str | None, int, bool]] = asyncio.get_running_loop().create_future()

    @loader.listener(persist.Confirmed[hikari.MemberCreateEvent])
    async def on_join(
        event: persist.Confirmed[hikari.MemberCreateEvent], cache: persist.Cache = lightbulb.di.INJECTED
    ) -> None:
        # Queried inside the listener: the write of the event is already committed.
        stored = await cache.members.get(guild_id=event.guild_id, member_id=event.user_id)
        count = await cache.members.count(guild_id=event.guild_id)
        seen.set_result((stored.display_name if stored else None, count, event.cache is cache))

    await loader.add_to_client(client)
    await start_with_guild(fake, bot, cache)
    try:
        newcomer = new_member(1_380_000_000_000_000_003, "newcomer")
        await join(fake, newcomer)
        assert await wait(seen) == (display_name(newcomer), 21, True)
    finally:
        await wait(bot.close())


# --- lifetime ---------------------------------------------------------------------------------------------


async def test_cache_opens_before_shards_and_closes_after_them_and_after_lightbulb_stops(
    fake: FakeDiscord, tmp_path: pathlib.Path
) -> None:
    bot = new_bot(fake)
    client = lightbulb.client_from_app(bot)
    cache = persist.Cache(bot, RecordingBackend(tmp_path / "cache.db", fake.timeline))
    hikaripersist_lightbulb.setup(client, cache)
    client.register(whois_command())
    open_when_lightbulb_stopped: list[bool] = []

    async def start_client(_: hikari.StartingEvent) -> None:
        await client.start()
        fake.timeline.append("lightbulb started")

    async def stop_client(_: hikari.StoppingEvent) -> None:
        # client.stop() closes lightbulb's DI container (running its teardowns): not the cache.
        await client.stop()
        open_when_lightbulb_stopped.append(cache.is_open)
        fake.timeline.append("lightbulb stopped")

    bot.subscribe(hikari.StartingEvent, start_client)
    bot.subscribe(hikari.StoppingEvent, stop_client)
    await start_with_guild(fake, bot, cache)
    shards = list(bot.shards.values())
    # A command ran, so lightbulb's DI container exists and client.stop() has one to close.
    assert await use(fake, "whois") == f"{display_name(INVOKER)} (20)"
    assert client.di.default_container is not None
    await wait(bot.close())

    events = [e for e in fake.timeline if e.startswith(("cache", "shard", "lightbulb"))]
    assert events == [
        *sorted(["cache opened", "lightbulb started"], key=events.index),  # concurrent StartingEvent listeners
        "shard 0 identified",
        "lightbulb stopped",
        "shard 0 disconnected",
        "cache closed",
    ]
    assert open_when_lightbulb_stopped == [True]
    assert not any(shard.is_alive for shard in shards)
    assert not cache.is_open


async def test_a_backend_that_cannot_open_stops_the_bot(fake: FakeDiscord, tmp_path: pathlib.Path) -> None:
    bot = new_bot(fake)
    client = lightbulb.client_from_app(bot)
    cache = persist.Cache(bot, FailingBackend(tmp_path / "cache.db"))
    hikaripersist_lightbulb.setup(client, cache)
    with pytest.raises(persist.CacheStartupError, match="the disk is on fire"):
        await wait(fake.run_bot(bot))
    assert "shard 0 identified" not in fake.timeline
    assert "GET /gateway/bot" not in fake.timeline
    await wait(bot.close())


# --- the extension ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("restore_extension_module")
async def test_extension_builds_the_cache_from_a_registered_config(fake: FakeDiscord, tmp_path: pathlib.Path) -> None:
    bot, client = new_client(fake)
    config = persist.CacheConfig(f"sqlite:///{tmp_path / 'cache.db'}", flush_before_commands=True)
    client.di.registry_for(DEFAULT).register_value(persist.CacheConfig, config)
    client.register(whois_command())
    # Loaded before the bot starts: the cache opens with the bot, on its StartingEvent.
    await client.load_extensions(EXTENSION)
    cache = hikaripersist_lightbulb.get_cache(client)
    assert isinstance(cache.backend, persist.SQLiteBackend)
    assert cache.backend.path == str(tmp_path / "cache.db")
    assert not cache.is_open
    assert list(client.hooks) == [hikaripersist_lightbulb.flush_hook]
    # The registry is still open to the user's registrations (reading the config froze nothing).
    client.di.registry_for(DEFAULT).register_value(int, 42)

    await start_with_guild(fake, bot, cache)
    try:
        assert cache.is_open
        # flush_before_commands from the config: the member who joined right before is seen.
        newcomer = new_member(1_380_000_000_000_000_004, "newcomer")
        await join(fake, newcomer)
        assert await use(fake, "whois", newcomer) == f"{display_name(newcomer)} (21)"

        await client.unload_extensions(EXTENSION)
        assert not cache.is_open
        assert cache.is_detached
        assert list(client.hooks) == []
        with pytest.raises(LookupError):
            hikaripersist_lightbulb.get_cache(client)
        container = client.di.default_container
        assert container is not None
        with pytest.raises(lightbulb.di.DependencyNotSatisfiableException):
            await container.get(persist.Cache)
        # The unloaded cache receives nothing any more.
        joined = next_event(bot, hikari.MemberCreateEvent)
        await join(fake, new_member(1_380_000_000_000_000_005, "unseen"))
        await wait(joined)
        assert cache.pending == 0
    finally:
        await wait(bot.close())


@pytest.mark.usefixtures("restore_extension_module")
async def test_extension_from_env_loaded_in_a_starting_listener(
    fake: FakeDiscord, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIKARI_PERSIST_URL", f"sqlite:///{tmp_path / 'env.db'}")
    for name in ("DISABLE", "MAX_PENDING", "FLUSH_BEFORE_COMMANDS"):
        monkeypatch.delenv(f"HIKARI_PERSIST_{name}", raising=False)
    bot = new_bot(fake)
    client = lightbulb.client_from_app(bot)
    client.register(whois_command())
    open_after_loading: list[bool] = []

    @bot.listen(hikari.StartingEvent)
    async def on_starting(_: hikari.StartingEvent) -> None:
        # As lightbulb bots do: extensions, then the client, once the bot starts.
        await client.load_extensions(EXTENSION)
        open_after_loading.append(hikaripersist_lightbulb.get_cache(client).is_open)
        await client.start()

    bot.subscribe(hikari.StoppingEvent, client.stop)
    await start_with_guild(fake, bot)
    try:
        # The cache's own StartingEvent chance was gone; the loader opened it before shards connected.
        assert open_after_loading == [True]
        first = hikaripersist_lightbulb.get_cache(client)
        assert isinstance(first.backend, persist.SQLiteBackend)
        assert first.backend.path == str(tmp_path / "env.db")
        await wait(first.flush())
        assert list(client.hooks) == []
        assert await use(fake, "whois") == f"{display_name(INVOKER)} (20)"

        # Reloading while running (lightbulb's DI registry is frozen by now) installs a fresh cache
        # on the same store: it is opened at once, and commands are given the new one.
        await client.reload_extensions(EXTENSION)
        second = hikaripersist_lightbulb.get_cache(client)
        assert second is not first
        assert not first.is_open
        assert second.is_open
        assert await use(fake, "whois") == f"{display_name(INVOKER)} (20)"
    finally:
        await wait(bot.close())
    assert not second.is_open


@pytest.mark.usefixtures("restore_extension_module")
async def test_extension_whose_store_cannot_open_stops_the_bot(
    fake: FakeDiscord, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HIKARI_PERSIST_URL", f"sqlite:///{blocker / 'cache.db'}")
    bot = new_bot(fake)
    client = lightbulb.client_from_app(bot)

    @bot.listen(hikari.StartingEvent)
    async def on_starting(_: hikari.StartingEvent) -> None:
        await client.load_extensions(EXTENSION)

    with pytest.raises(persist.CacheStartupError, match="could not open SQLite database") as info:
        await wait(fake.run_bot(bot))
    assert isinstance(info.value.__cause__, persist.BackendError)
    assert "shard 0 identified" not in fake.timeline
    with pytest.raises(LookupError):
        hikaripersist_lightbulb.get_cache(client)
    await wait(bot.close())


async def test_extension_leaves_a_cache_installed_by_setup_alone(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    client = lightbulb.client_from_app(bot)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db"))
    hikaripersist_lightbulb.setup(client, cache)
    loadable = hikaripersist_lightbulb.CacheLoadable(persist.CacheConfig(f"sqlite:///{tmp_path / 'other.db'}"))
    await loadable.load(client)
    assert hikaripersist_lightbulb.get_cache(client) is cache
    await loadable.unload(client)
    assert hikaripersist_lightbulb.get_cache(client) is cache
