"""Installing a cache into an arc client, removing it, and finding it again."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("get_cache", "install", "setup", "teardown")

import asyncio
import typing

import arc

import hikaripersist as persist
from hikaripersist_arc import _state
from hikaripersist_arc._hooks import CommandHook

_NOT_SET_UP: typing.Final[str] = (
    "hikari-persist is not set up on this arc client: call hikaripersist_arc.setup(client, cache) "
    'or client.load_extension("hikaripersist_arc") first'
)


def setup(
    client: arc.abc.Client[typing.Any], cache: persist.Cache, *, flush_before_commands: bool | None = None
) -> persist.Cache:
    """Install ``cache`` into an arc client.

    After this, commands, hooks, error handlers and autocomplete callbacks receive the cache by
    declaring ``cache: persist.Cache = arc.inject()`` (or ``cache: persist.Cache | None =
    arc.inject()``, which gets ``None`` on a client without a cache); listeners get it through
    ``@client.inject_dependencies``. A client-level hook is added in front of the client's hooks
    (arc runs client hooks before plugin and command hooks), so it runs first before every
    command (see ``flush_before_commands``).

    The cache keeps its own lifetime, bound to the bot rather than to arc: it opens on
    `hikari.StartingEvent`, before any shard connects (and before arc's startup hooks, which run
    once the shards are ready), and it drains and closes on `hikari.StoppedEvent`, after the
    shards closed (arc's shutdown hooks run earlier, on `hikari.StoppingEvent`, and can still use
    it). A backend that cannot open stops ``bot.start()`` with
    [`CacheStartupError`][hikaripersist.backend.CacheStartupError].

    Parameters
    ----------
    client
        The arc client (a gateway client: the cache needs the bot's events).
    cache
        The cache, created for the client's bot (``persist.Cache(client.app, ...)``).
    flush_before_commands
        Whether the hook waits, before each command, until what the command's guild produced so
        far is committed (``cache.flush(guild=ctx.guild_id)``; everything received so far for
        commands used outside guilds), so the command reads the guild's latest state, e.g. a
        member who joined a moment before using it. ``None`` keeps the current setting (off for a
        first call).

    Returns
    -------
    hikaripersist.Cache
        ``cache``, for chaining.

    Raises
    ------
    ValueError
        If ``cache`` was created for another bot than ``client.app``.
    RuntimeError
        If the client is already set up with a different cache (or a different `Cache` is
        registered as its type dependency), or if the bot is already running and this is called
        outside the bot's event loop, where the cache cannot be opened: it is too late for the
        cache to open with the bot, so call ``setup`` before ``bot.run()`` / ``bot.start()``, or
        from the bot's event loop (e.g. in an arc startup hook), where it opens the cache itself.

    Notes
    -----
    Calling ``setup`` again with the same cache installs nothing twice; it only applies a
    ``flush_before_commands`` that is not ``None``.

    Called while the bot is already running (from its event loop), ``setup`` opens the cache in
    the background and commands wait for it to be open. Such a cache has not seen the gateway
    events that came before (the guilds' initial state): it fills as events arrive.

    Examples
    --------
    ```py
    import arc
    import hikari
    import hikaripersist as persist
    import hikaripersist_arc

    bot = hikari.GatewayBot("TOKEN")
    client = arc.GatewayClient(bot)
    hikaripersist_arc.setup(client, persist.Cache(bot, persist.SQLiteBackend("cache.db")))


    @client.include
    @arc.slash_command("members", "How many members are stored for this guild.")
    async def members(ctx: arc.GatewayContext, cache: persist.Cache = arc.inject()) -> None:
        assert ctx.guild_id is not None
        await ctx.respond(str(await cache.members.count(guild_id=ctx.guild_id)))
    ```
    """
    return install(client, cache, flush_before_commands=flush_before_commands, owned=False)


def install(
    client: arc.abc.Client[typing.Any], cache: persist.Cache, *, flush_before_commands: bool | None, owned: bool
) -> persist.Cache:
    """`setup`, telling whether the extension created the cache (its unloader then closes it)."""
    if not isinstance(cache, persist.Cache):  # pyright: ignore[reportUnnecessaryIsInstance] - users pass anything
        msg = f"hikaripersist_arc.setup() takes a hikaripersist.Cache, got {type(cache).__name__}"
        raise TypeError(msg)
    installed = _state.find(client)
    if installed is not None:
        if installed.cache is not cache:
            msg = (
                f"this arc client is already set up with another cache ({installed.cache.backend.name}); "
                "a client holds one cache: remove the first with hikaripersist_arc.teardown(client)"
            )
            raise RuntimeError(msg)
        if flush_before_commands is not None:
            installed.flush_before_commands = flush_before_commands
        return cache
    if cache.bot is not client.app:
        msg = (
            "this cache was created for another bot than the arc client's; "
            "create it with persist.Cache(client.app, ...)"
        )
        raise ValueError(msg)
    registered = client.get_type_dependency(persist.Cache, default=None)
    if registered is not None and registered is not cache:
        msg = (
            "another hikaripersist.Cache is already registered as this client's type dependency "
            f"({registered.backend.name}); a client holds one cache"
        )
        raise RuntimeError(msg)
    installation = _state.Installation(cache, flush_before_commands=bool(flush_before_commands), owned=owned)
    if _bot_is_running(client) and not cache.is_open:
        # The bot's StartingEvent is past: nothing will open this cache but us.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            msg = (
                "too late: the bot is already running, so the cache can no longer open with it, and "
                "hikaripersist_arc.setup() was called outside the bot's event loop, where it cannot open it; "
                "call setup() before bot.run()/bot.start(), or from the bot's event loop "
                "(e.g. in an arc startup hook)"
            )
            raise RuntimeError(msg) from None
        installation.open_soon()
    installation.hook = CommandHook(installation)
    client.set_type_dependency(persist.Cache, cache)
    client.set_type_dependency(_state.Installation, installation)
    # First of the client's hooks, so that the others (checks reading the cache) see the flushed state too.
    client.hooks.insert(0, installation.hook)
    return cache


def teardown(client: arc.abc.Client[typing.Any]) -> None:
    """Undo [`setup`][hikaripersist_arc.setup] (or what the extension's loader installed).

    Commands no longer receive the cache (``persist.Cache | None`` parameters get ``None``) and
    the hook is removed. A cache passed to ``setup`` stays attached to its bot and open: it is
    yours. A cache the extension created from configuration is detached from the bot and closed
    in the background, after writing what it had queued; await
    [`wait_closed`][hikaripersist_arc.wait_closed] to wait for it. The extension's unloader
    calls this.

    Does nothing if the client is not set up.

    Parameters
    ----------
    client
        The arc client.

    Raises
    ------
    RuntimeError
        If the cache the extension created is open but this is called outside any running event
        loop, where it cannot be closed (nothing is removed then).
    """
    installation = _state.find(client)
    if installation is None:
        return
    cache = installation.cache
    must_close = installation.owned and (cache.is_open or cache.backend.is_open or installation.opening is not None)
    if must_close:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            msg = (
                "the cache hikaripersist_arc created is open and cannot be closed outside its event loop; "
                "unload the extension from the bot's event loop, or stop the bot first"
            )
            raise RuntimeError(msg) from None
    if installation.hook is not None and installation.hook in client.hooks:
        client.hooks.remove(installation.hook)
    _remove_type_dependency(client, _state.Installation)
    if client.get_type_dependency(persist.Cache, default=None) is cache:
        _remove_type_dependency(client, persist.Cache)
    if installation.owned:
        _state.detach(cache)
        if must_close:
            _state.close_soon(cache, after=installation.opening)


def get_cache(
    source: arc.abc.Client[typing.Any] | arc.Context[typing.Any] | arc.PluginBase[typing.Any],
) -> persist.Cache:
    """Return the cache set up on an arc client, typed.

    Parameters
    ----------
    source
        The client, a command context (``ctx``; its injection context is used, so a cache
        overridden for the command by an injection hook is found) or a plugin included in a
        client.

    Returns
    -------
    hikaripersist.Cache
        The cache.

    Raises
    ------
    LookupError
        If no cache is set up on the client.

    Examples
    --------
    ```py
    @client.add_post_hook
    async def log_usage(ctx: arc.GatewayContext) -> None:
        cache = hikaripersist_arc.get_cache(ctx)
        print(ctx.command.name, await cache.members.count(guild_id=ctx.guild_id))
    ```
    """
    owner = source.client if isinstance(source, arc.PluginBase) else source
    cache = owner.get_type_dependency(persist.Cache, default=None)
    if cache is None:
        raise LookupError(_NOT_SET_UP)
    return cache


def _bot_is_running(client: arc.abc.Client[typing.Any]) -> bool:
    return bool(getattr(client.app, "is_alive", False))


def _remove_type_dependency(client: arc.abc.Client[typing.Any], type_: type[typing.Any]) -> None:
    # arc has no remove_type_dependency of its own; alluka's returns a Self pyright cannot resolve.
    client.injector.remove_type_dependency(type_)  # pyright: ignore[reportUnknownMemberType]
