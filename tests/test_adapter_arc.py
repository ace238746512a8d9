"""The arc adapter, driven through arc's own paths against a real bot on the local fake Discord.

Each bot is a real `hikari.GatewayBot` started with ``bot.start()`` against `FakeDiscord`
(REST and gateway on 127.0.0.1) with hikari's own cache turned off, so whatever a command reads
can only come from hikari-persist. Commands run because the fake gateway sends an
INTERACTION_CREATE that arc's `GatewayClient` handles as in production; their answers are read
from the interaction callback arc POSTs. Waiting is on real signals (listeners' futures,
requests received); timeouts are safety nets only.
"""

from __future__ import annotations

import asyncio
import typing

import arc
import hikari
import pytest

import hikaripersist as persist
import hikaripersist_arc
from hikaripersist_arc import _state
from tests.conftest import make_bot
from tests.fake_discord import FakeDiscord, display_name, interaction_payload, new_member
from tests.small_session import BASE

if typing.TYPE_CHECKING:
    import os
    import pathlib
    from collections.abc import Callable, Sequence

Payload = dict[str, typing.Any]
EventT = typing.TypeVar("EventT", bound=hikari.Event)
T = typing.TypeVar("T")

TIMEOUT: typing.Final = 10.0  # safety net only
NO_HIKARI_CACHE: typing.Final = hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE)

READY: typing.Final = [(name, payload) for name, _, payload in BASE[:2]]
GUILD: typing.Final[Payload] = BASE[1][2]
GUILD_ID: typing.Final = int(GUILD["id"])
CHANNEL_ID: typing.Final = int(next(c["id"] for c in GUILD["channels"] if c["type"] == 0))
NICKED: typing.Final[Payload] = next(m for m in GUILD["members"] if m["nick"])
INVOKER: typing.Final[Payload] = next(m for m in GUILD["members"] if not m["user"].get("bot"))


def next_event(
    bot: hikari.GatewayBot, event_type: type[EventT], predicate: Callable[[EventT], bool] = lambda _: True
) -> asyncio.Future[EventT]:
    """A future set by the next ``event_type`` (matching ``predicate``) the bot dispatches."""
    future: asyncio.Future[EventT] = asyncio.get_running_loop().create_future()

    async def listener(event: EventT) -> None:
        if not future.done() and predicate(event):
            future.set_result(event)

    bot.event_manager.subscribe(event_type, listener)
    return future


async def wait(awaitable: typing.Awaitable[T]) -> T:
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


def new_client(fake: FakeDiscord) -> tuple[hikari.GatewayBot, arc.GatewayClient]:
    bot = fake.make_bot(cache_settings=NO_HIKARI_CACHE)
    return bot, arc.GatewayClient(bot, autosync=False)


def include_whois(client: arc.GatewayClient) -> None:
    """``/whois member:<id>``: the member's display name as the cache (injected by arc) stores it."""

    @client.include
    @arc.slash_command("whois", "Show a member as stored.")
    async def whois(
        ctx: arc.GatewayContext,
        member: arc.Option[str, arc.StrParams("The member's id.")],
        cache: persist.Cache = arc.inject(),
    ) -> None:
        assert ctx.guild_id is not None
        stored = await cache.members.get(guild_id=ctx.guild_id, member_id=int(member))
        await ctx.respond(stored.display_name if stored is not None else "not stored")


async def use(fake: FakeDiscord, command: str, options: Sequence[Payload] = ()) -> str:
    """Use ``/command`` in the guild and return the content arc responded with."""
    payload = interaction_payload(
        command=command, guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=INVOKER, options=options
    )
    await fake.dispatch("INTERACTION_CREATE", payload)
    request = await fake.wait_for_request("POST", rf"/interactions/{payload['id']}/[^/]+/callback", timeout=TIMEOUT)
    return typing.cast("str", request.body["data"]["content"])


async def whois(fake: FakeDiscord, member: Payload) -> str:
    return await use(fake, "whois", [{"name": "member", "type": 3, "value": member["user"]["id"]}])


async def start_with_guild(fake: FakeDiscord, bot: hikari.GatewayBot, cache: persist.Cache | None) -> None:
    """Start the bot and return once the recorded guild is committed to ``cache``."""
    guild_received = next_event(bot, hikari.GuildAvailableEvent)
    await wait(fake.run_bot(bot))
    await wait(guild_received)
    if cache is not None:
        # The cache took the event in before this listener ran; flush() waits for its commit.
        await wait(cache.flush())


async def join(fake: FakeDiscord, member: Payload) -> None:
    await fake.dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": str(GUILD_ID)})


# --- dependency injection -----------------------------------------------------------------------------


async def test_commands_receive_the_cache_through_arc_injection(tmp_path: pathlib.Path) -> None:
    async with FakeDiscord(ready=READY) as fake:
        bot, client = new_client(fake)
        cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db"))
        assert hikaripersist_arc.setup(client, cache) is cache
        include_whois(client)
        seen: dict[str, object] = {}

        @client.include
        @arc.slash_command("stored", "How many members are stored here.")
        async def stored(
            ctx: arc.GatewayContext,
            cache: persist.Cache | None = arc.inject(),
        ) -> None:
            if cache is None:
                await ctx.respond("no cache")
                return
            seen["helper"] = hikaripersist_arc.get_cache(ctx)
            seen["context"] = ctx.get_type_dependency(persist.Cache)
            assert ctx.guild_id is not None
            await ctx.respond(str(await cache.members.count(guild_id=ctx.guild_id)))

        async def user_hook(
            ctx: arc.GatewayContext,
            cache: persist.Cache | None = arc.inject(),
        ) -> None:
            seen["hook"] = cache

        client.add_hook(user_hook)
        await start_with_guild(fake, bot, cache)
        try:
            # Only hikari-persist holds members here: hikari's own cache is off.
            assert bot.cache.get_member(GUILD_ID, int(NICKED["user"]["id"])) is None
            assert await whois(fake, NICKED) == display_name(NICKED)
            # The optional form receives it too, and so do get_cache() and the context.
            assert await use(fake, "stored") == str(len(GUILD["members"]))
            assert seen == {"hook": cache, "helper": cache, "context": cache}
            assert hikaripersist_arc.get_cache(client) is cache

            # Once removed, optional parameters get None; the cache itself (ours) stays open.
            hikaripersist_arc.teardown(client)
            assert await use(fake, "stored") == "no cache"
            assert seen["hook"] is None
            with pytest.raises(LookupError, match="not set up"):
                hikaripersist_arc.get_cache(client)
            assert client.hooks == [user_hook]
            assert cache.is_open
        finally:
            await wait(bot.close())
        assert not cache.is_open


async def test_optional_injection_is_none_without_setup() -> None:
    client = arc.GatewayClient(make_bot(), autosync=False)

    @client.inject_dependencies
    async def read(cache: persist.Cache | None = arc.inject()) -> persist.Cache | None:
        return cache

    assert await read() is None


# --- setup rules ----------------------------------------------------------------------------------------


async def test_setup_is_idempotent_and_refuses_a_second_cache(tmp_path: pathlib.Path) -> None:
    bot = make_bot()
    client = arc.GatewayClient(bot, autosync=False)
    cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "a.db"))
    hikaripersist_arc.setup(client, cache)
    hikaripersist_arc.setup(client, cache)
    assert len(client.hooks) == 1
    assert client.get_type_dependency(persist.Cache) is cache

    other = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "b.db"))
    with pytest.raises(RuntimeError, match="already set up with another cache"):
        hikaripersist_arc.setup(client, other)
    with pytest.raises(RuntimeError, match="not both"):
        client.load_extension("hikaripersist_arc")
    assert hikaripersist_arc.get_cache(client) is cache
    assert len(client.hooks) == 1

    # A cache made for another bot, or another cache already registered by hand, is refused too.
    with pytest.raises(ValueError, match="another bot"):
        hikaripersist_arc.setup(arc.GatewayClient(make_bot(), autosync=False), cache)
    by_hand = arc.GatewayClient(bot, autosync=False).set_type_dependency(persist.Cache, other)
    with pytest.raises(RuntimeError, match="already registered"):
        hikaripersist_arc.setup(by_hand, cache)

    # After teardown, another cache is accepted.
    hikaripersist_arc.teardown(client)
    hikaripersist_arc.teardown(client)  # nothing left to remove
    assert hikaripersist_arc.setup(client, other) is other
    assert client.get_type_dependency(persist.Cache) is other
    assert len(client.hooks) == 1


async def test_setup_while_the_bot_runs_opens_the_cache_or_says_it_is_too_late(tmp_path: pathlib.Path) -> None:
    async with FakeDiscord(ready=READY) as fake:
        bot, client = new_client(fake)
        include_whois(client)
        await start_with_guild(fake, bot, None)
        try:
            cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "late.db"))
            # Outside the bot's event loop nothing can open it: a clear error, and nothing installed.
            with pytest.raises(RuntimeError, match="too late"):
                await asyncio.to_thread(hikaripersist_arc.setup, client, cache)
            assert client.hooks == []
            assert client.get_type_dependency(persist.Cache, default=None) is None

            # In the bot's event loop, setup opens it; commands wait until it is open.
            hikaripersist_arc.setup(client, cache, flush_before_commands=True)
            assert not cache.is_open
            newcomer = new_member(1_390_000_000_000_000_111, "late")
            await join(fake, newcomer)
            assert await whois(fake, newcomer) == display_name(newcomer)
            assert cache.is_open
            # It missed what came before it (the guild's initial state); that is documented.
            assert await whois(fake, NICKED) == "not stored"
        finally:
            await wait(bot.close())
        assert not cache.is_open


# --- the extension --------------------------------------------------------------------------------------


async def test_extension_builds_the_cache_from_a_registered_config_and_unloads_it(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "extension.db"
    async with FakeDiscord(ready=READY) as fake:
        bot, client = new_client(fake)
        include_whois(client)
        config = persist.CacheConfig(f"sqlite:///{db}", flush_before_commands=True)
        client.set_type_dependency(persist.CacheConfig, config)
        client.load_extension("hikaripersist_arc")
        cache = hikaripersist_arc.get_cache(client)
        assert isinstance(cache.backend, persist.SQLiteBackend)
        assert cache.backend.path == str(db)
        assert cache.bot is bot

        await start_with_guild(fake, bot, cache)
        try:
            # The config's flush_before_commands: a member who joined just before is seen.
            first = new_member(1_390_000_000_000_000_201, "first")
            await join(fake, first)
            assert await whois(fake, first) == display_name(first)

            client.unload_extension("hikaripersist_arc")
            with pytest.raises(LookupError):
                hikaripersist_arc.get_cache(client)
            assert client.hooks == []
            await wait(hikaripersist_arc.wait_closed())
            assert not cache.is_open

            # Detached from the bot: later events no longer reach it.
            second = new_member(1_390_000_000_000_000_202, "second")
            received = next_event(bot, hikari.MemberCreateEvent)
            await join(fake, second)
            await wait(received)
            # Had the cache still listened, its listener (subscribed first) would have queued it by now.
            assert cache.pending == 0

            # Loaded again while the bot runs (a reload): a new cache opens on the same store.
            client.load_extension("hikaripersist_arc")
            again = hikaripersist_arc.get_cache(client)
            assert again is not cache
            assert await whois(fake, first) == display_name(first)
            assert await whois(fake, second) == "not stored"
        finally:
            await wait(bot.close())
        assert not again.is_open


async def test_extension_reads_the_environment(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("HIKARI_PERSIST_URL", f"sqlite:///{db}")
    monkeypatch.setenv("HIKARI_PERSIST_DISABLE", "presences")
    monkeypatch.setenv("HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS", "yes")
    bot = make_bot()
    client = arc.GatewayClient(bot, autosync=False)
    client.load_extension("hikaripersist_arc")
    cache = hikaripersist_arc.get_cache(client)
    assert isinstance(cache.backend, persist.SQLiteBackend)
    assert cache.backend.path == str(db)
    assert cache.rule is not None
    assert not cache.rule.presence.enabled
    installation = _state.find(client)
    assert installation is not None
    assert installation.flush_before_commands

    # Never started, never opened: unloading detaches it, so it will not open with the bot either.
    client.unload_extension("hikaripersist_arc")
    assert client.get_type_dependency(persist.Cache, default=None) is None
    assert cache._on_starting not in bot.event_manager.get_listeners(hikari.StartingEvent)
    await wait(hikaripersist_arc.wait_closed())
    assert not cache.is_open


# --- listeners and hooks --------------------------------------------------------------------------------


async def test_confirmed_listeners_run_after_the_write_with_arc_injection(tmp_path: pathlib.Path) -> None:
    async with FakeDiscord(ready=READY) as fake:
        bot, client = new_client(fake)
        cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path / "cache.db"))
        hikaripersist_arc.setup(client, cache)
        loop = asyncio.get_running_loop()
        from_client: asyncio.Future[tuple[persist.Cache, hikari.Member | None]] = loop.create_future()
        from_plugin: asyncio.Future[tuple[persist.Cache | None, hikari.Member | None]] = loop.create_future()

        @client.listen()
        @client.inject_dependencies
        async def on_join(
            event: persist.Confirmed[hikari.MemberCreateEvent],
            cache: persist.Cache = arc.inject(),
        ) -> None:
            member = await cache.members.get(guild_id=event.event.guild_id, member_id=event.event.user_id)
            from_client.set_result((cache, member))

        plugin = arc.GatewayPlugin("joins")

        @plugin.listen()
        @plugin.inject_dependencies
        async def on_join_in_plugin(
            event: persist.Confirmed[hikari.MemberCreateEvent],
            cache: persist.Cache | None = arc.inject(),
        ) -> None:
            assert cache is not None
            member = await cache.members.get(guild_id=event.event.guild_id, member_id=event.event.user_id)
            from_plugin.set_result((cache, member))

        client.add_plugin(plugin)
        await start_with_guild(fake, bot, cache)
        try:
            newcomer = new_member(1_390_000_000_000_000_301, "newcomer")
            await join(fake, newcomer)
            for future in (from_client, from_plugin):
                injected, member = await wait(future)
                assert injected is cache
                # Queried inside the listener: the write was already committed.
                assert member is not None
                assert member.display_name == display_name(newcomer)
        finally:
            await wait(bot.close())


@pytest.mark.parametrize("flush_before_commands", [True, False])
async def test_the_hook_is_what_lets_a_command_see_a_member_who_just_joined(
    tmp_path: pathlib.Path, flush_before_commands: bool
) -> None:
    async with FakeDiscord(ready=READY) as fake:
        bot, client = new_client(fake)
        # The writer waits 30 s for a batch to fill: without a flush, nothing is written in time.
        backend = persist.SQLiteBackend(tmp_path / "cache.db", flush_interval=30)
        cache = persist.Cache(bot, backend)
        hikaripersist_arc.setup(client, cache, flush_before_commands=flush_before_commands)
        include_whois(client)
        await start_with_guild(fake, bot, cache)
        try:
            newcomer = new_member(1_390_000_000_000_000_401, "newcomer")
            await join(fake, newcomer)  # right before the command's INTERACTION_CREATE
            expected = display_name(newcomer) if flush_before_commands else "not stored"
            assert await whois(fake, newcomer) == expected
        finally:
            await wait(bot.close())
        assert not cache.is_open


# --- lifetime -------------------------------------------------------------------------------------------


async def test_the_cache_opens_before_the_shards_and_arc_and_closes_after_them(tmp_path: pathlib.Path) -> None:
    async with FakeDiscord(ready=READY) as fake:
        bot, client = new_client(fake)
        cache = persist.Cache(bot, RecordingBackend(tmp_path / "cache.db", fake.timeline))
        hikaripersist_arc.setup(client, cache)
        seen: dict[str, object] = {}

        async def on_startup(_: arc.GatewayClient) -> None:
            fake.timeline.append("arc startup hook")
            seen["open at startup"] = cache.is_open

        async def on_shutdown(_: arc.GatewayClient) -> None:
            fake.timeline.append("arc shutdown hook")
            # Shutdown hooks run while events still arrive: the cache is still there for them.
            seen["guilds at shutdown"] = await cache.guilds.count()

        client.add_startup_hook(on_startup)
        client.add_shutdown_hook(on_shutdown)
        await start_with_guild(fake, bot, cache)  # bot.start() waits for arc's startup (on StartedEvent)
        await wait(bot.close())

    steps = ("cache opened", "cache closed", "arc startup hook", "arc shutdown hook")
    timeline = [entry for entry in fake.timeline if entry in steps or entry.startswith("shard 0")]
    assert timeline == [
        "cache opened",
        "shard 0 identified",
        "arc startup hook",
        "arc shutdown hook",
        "shard 0 disconnected",
        "cache closed",
    ]
    assert seen == {"open at startup": True, "guilds at shutdown": 1}


async def test_a_backend_that_cannot_open_stops_the_bot_before_any_shard(tmp_path: pathlib.Path) -> None:
    async with FakeDiscord(ready=READY) as fake:
        bot, client = new_client(fake)
        # A directory where the database file should be.
        cache = persist.Cache(bot, persist.SQLiteBackend(tmp_path))
        hikaripersist_arc.setup(client, cache)
        startup_hooks: list[str] = []

        async def on_startup(_: arc.GatewayClient) -> None:
            startup_hooks.append("ran")

        client.add_startup_hook(on_startup)
        with pytest.raises(persist.CacheStartupError, match="could not open") as info:
            await wait(fake.run_bot(bot))
        assert isinstance(info.value.__cause__, persist.BackendError)
        assert "shard 0 identified" not in fake.timeline
        assert not any(request.path == "/gateway/bot" for request in fake.requests)
        assert startup_hooks == []
        assert not client.is_started
        assert not cache.is_open
        await wait(bot.close())
