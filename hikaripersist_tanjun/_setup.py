"""Installing a cache into a tanjun client, removing it, and finding it again."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("Installation", "find", "get_cache", "install", "setup", "teardown")

import asyncio
import contextlib
import logging
import typing

import tanjun

import hikaripersist as persist
from hikaripersist_tanjun import _async_cache, _state
from hikaripersist_tanjun._hooks import CacheHooks

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    import alluka

_LOGGER = logging.getLogger("hikaripersist.tanjun")
_NOT_SET_UP: typing.Final[str] = (
    "hikari-persist is not set up on this tanjun client: call hikaripersist_tanjun.setup(client, cache) "
    'or client.load_modules("hikaripersist_tanjun") first'
)


class _ClientEdits(typing.Protocol):
    """The ``tanjun.Client`` methods used to install and remove a cache.

    tanjun annotates their return as ``typing.Self``, imported from `typing`, which pyright cannot
    resolve when checking for Python 3.10; their result is never used here.
    """

    def set_type_dependency(self, type_: typing.Any, value: typing.Any, /) -> object: ...

    def remove_type_dependency(self, type_: typing.Any, /) -> object: ...

    def set_hooks(self, hooks: tanjun.abc.AnyHooks | None, /) -> object: ...

    def add_client_callback(self, name: str, /, *callbacks: Callable[..., typing.Any]) -> object: ...

    def remove_client_callback(self, name: str, callback: Callable[..., typing.Any], /) -> object: ...


def _edits(client: tanjun.Client) -> _ClientEdits:
    return typing.cast("_ClientEdits", client)


class Installation:
    """One client's hikari-persist setup, kept in the client's injector under this type."""

    __slots__: typing.Sequence[str] = (
        "cache",
        "client",
        "flush_before_commands",
        "hooks",
        "owned",
        "state",
        "type_keys",
    )

    def __init__(
        self, client: tanjun.Client, cache: persist.Cache, *, flush_before_commands: bool, owned: bool
    ) -> None:
        # The client whose hooks to wrap again if they are replaced (None once torn down).
        self.client: tanjun.Client | None = client
        self.cache = cache
        self.state = _state.state_of(cache)
        self.flush_before_commands = flush_before_commands
        # Whether the loader created the cache (the unloader then detaches and closes it).
        self.owned = owned
        self.hooks = CacheHooks(self.before_command)
        # The type dependencies this setup registered, and only those are removed by teardown.
        self.type_keys: list[tuple[typing.Any, object]] = []

    async def before_command(self, ctx: tanjun.abc.Context) -> None:
        """Wait for a cache opening in the background, then flush the command's guild if asked."""
        try:
            await self.state.wait_open()
        except persist.BackendError as exc:
            _LOGGER.warning("running %s without the cache: %s", _command_name(ctx), exc)
            return
        cache = self.cache
        if not self.flush_before_commands or not cache.is_open:
            # A closed cache answers queries with a clear error; flushing it would only fail here.
            return
        try:
            if ctx.guild_id is not None:
                await cache.flush(guild=ctx.guild_id)
            else:
                await cache.flush()
        except persist.BackendError as exc:
            _LOGGER.warning("could not flush %s before %s: %s", cache.backend.name, _command_name(ctx), exc)

    async def on_client_starting(self) -> None:
        """tanjun ``STARTING`` client callback: the cache is open before tanjun's client is.

        tanjun subscribes its command and listener dispatch, then runs its ``STARTED``
        callbacks, only once every ``STARTING`` callback returned. The cache's own
        `hikari.StartingEvent` listener opens it at the same time; concurrent opens open once.
        Hooks set with ``client.set_hooks`` after `setup` are wrapped here, so they do not drop
        the wait.

        Raises
        ------
        hikaripersist.CacheStartupError
            If the cache cannot be opened: tanjun's client does not open without it (and
            ``bot.start()`` stops, as the cache's own listener makes it).
        """
        client = self.client
        if client is not None and client.hooks is not self.hooks:
            self.hooks.inner = client.hooks
            _edits(client).set_hooks(self.hooks)
        cache = self.cache
        if cache.is_open or cache.is_detached:
            return
        try:
            await cache.open()
        except Exception as exc:
            # A BaseException: tanjun's client callback wrapper logs and swallows Exceptions.
            msg = f"hikari-persist could not open {cache.backend.name}: {exc}"
            raise persist.CacheStartupError(msg) from exc


def find(client: tanjun.abc.Client) -> Installation | None:
    """The installation on ``client``, if `setup` ran for it."""
    return client.get_type_dependency(Installation, default=None)


def setup(
    client: tanjun.Client,
    cache: persist.Cache,
    /,
    *,
    flush_before_commands: bool | None = None,
    async_caches: bool = True,
) -> persist.Cache:
    """Install ``cache`` into a tanjun client.

    After this:

    * commands, hooks, checks and listeners receive the cache by declaring
      ``cache: alluka.Injected[persist.Cache]`` or ``cache: persist.Cache = alluka.inject(type=persist.Cache)``
      (``alluka.Injected[persist.Cache | None]`` gets ``None`` on a client without a cache);
      [`get_cache`][hikaripersist_tanjun.get_cache] returns it from a context or the client;
    * tanjun's async cache interfaces are answered by the persistent cache (see
      [`GuildCache`][hikaripersist_tanjun.GuildCache] and the other adapters), so tanjun's
      converters (``tanjun.to_member``, ``to_role``, ``to_channel``...), permission checks and
      cooldown buckets read from it before falling back to REST;
    * a client-level pre-execution hook runs before every command (see ``flush_before_commands``).
      It wraps the hooks the client already had (``client.set_hooks``) instead of replacing them.

    The cache keeps its own lifetime, bound to the bot rather than to tanjun: it opens on
    `hikari.StartingEvent`, before any shard connects, and drains and closes on
    `hikari.StoppedEvent`, after the shards closed. tanjun's client (event-managed, the default of
    ``tanjun.Client.from_gateway_bot``) opens on the same `hikari.StartingEvent`; a ``STARTING``
    client callback added here opens the cache too (concurrent opens open once) and returns once
    it is open, so tanjun's ``STARTED`` callbacks, commands and listeners find it open (other
    ``STARTING`` callbacks run alongside it and may not), and its ``CLOSING``/``CLOSED``
    callbacks (on `hikari.StoppingEvent`) still do. A backend that cannot open stops
    ``bot.start()`` with [`CacheStartupError`][hikaripersist.backend.CacheStartupError].

    Parameters
    ----------
    client
        The tanjun client (the standard implementation, ``tanjun.Client``).
    cache
        The cache, created for the client's bot (``persist.Cache(bot, ...)``).
    flush_before_commands
        Whether the hook waits, before each command (and before tanjun converts its
        arguments), until what the command's guild produced so far is committed
        (``cache.flush(guild=ctx.guild_id)``; everything received so far for commands used
        outside guilds), so the command reads the guild's latest state, e.g. a member who joined
        a moment before using it. ``None`` keeps the current setting (off for a first call).
    async_caches
        Whether to register the async cache adapters. An interface already registered on the
        client (another implementation, e.g. hikari-sake's) is left as it is.

    Returns
    -------
    hikaripersist.Cache
        ``cache``, for chaining.

    Raises
    ------
    TypeError
        If ``cache`` is not a `hikaripersist.Cache`.
    ValueError
        If ``cache`` was created for another bot than the one whose events the client receives.
    RuntimeError
        If the client is already set up with a different cache (or a different `Cache` is
        registered as its type dependency), or if the bot is already running and this is called
        outside the bot's event loop, where the cache cannot be opened: it is too late for the
        cache to open with the bot, so call ``setup`` before ``bot.run()`` / ``bot.start()``, or
        from the bot's event loop, where it opens the cache itself.

    Notes
    -----
    Calling ``setup`` again with the same cache installs nothing twice; it only applies a
    ``flush_before_commands`` that is not ``None``.

    Call ``setup`` before adding components: tanjun checks a command's converters when the
    command is added to the client, and warns that those relying on a cache (``to_presence``,
    ``to_voice_state``, ``to_invite_with_metadata``) will fail when neither hikari's cache nor an
    async cache serves them yet. (Once set up, they are served either way.)

    Called while the bot is already running (from its event loop), ``setup`` opens the cache in
    the background and the hook makes commands wait for it. Such a cache has not seen the gateway
    events that came before (the guilds' initial state): it fills as events arrive.

    Examples
    --------
    ```py
    import alluka
    import hikari
    import hikaripersist as persist
    import hikaripersist_tanjun
    import tanjun

    bot = hikari.GatewayBot("TOKEN")
    client = tanjun.Client.from_gateway_bot(bot, declare_global_commands=True)
    hikaripersist_tanjun.setup(client, persist.Cache(bot, persist.SQLiteBackend("cache.db")))


    @tanjun.as_slash_command("members", "How many members are stored for this guild.")
    async def members(ctx: tanjun.abc.SlashContext, cache: alluka.Injected[persist.Cache]) -> None:
        assert ctx.guild_id is not None
        await ctx.respond(str(await cache.members.count(guild_id=ctx.guild_id)))
    ```
    """
    return install(client, cache, flush_before_commands=flush_before_commands, async_caches=async_caches, owned=False)


def install(
    client: tanjun.Client,
    cache: persist.Cache,
    *,
    flush_before_commands: bool | None,
    async_caches: bool = True,
    owned: bool,
) -> persist.Cache:
    """`setup`, telling whether the loader created the cache (its unloader then closes it)."""
    if not isinstance(cache, persist.Cache):  # pyright: ignore[reportUnnecessaryIsInstance] - users pass anything
        msg = f"hikaripersist_tanjun.setup() takes a hikaripersist.Cache, got {type(cache).__name__}"
        raise TypeError(msg)
    installed = find(client)
    if installed is not None:
        if installed.cache is not cache:
            msg = (
                f"this tanjun client is already set up with another cache ({installed.cache.backend.name}); "
                "a client holds one cache: remove the first with hikaripersist_tanjun.teardown(client)"
            )
            raise RuntimeError(msg)
        if flush_before_commands is not None:
            installed.flush_before_commands = flush_before_commands
        return cache
    if client.events is not None and client.events is not cache.bot.event_manager:
        msg = (
            "this cache was created for another bot than the one whose events the tanjun client receives; "
            "create it with persist.Cache(bot, ...) for the client's bot"
        )
        raise ValueError(msg)
    registered = client.get_type_dependency(persist.Cache, default=None)
    if registered is not None and registered is not cache:
        msg = (
            "another hikaripersist.Cache is already registered as this client's type dependency "
            f"({registered.backend.name}); a client holds one cache"
        )
        raise RuntimeError(msg)
    installation = Installation(client, cache, flush_before_commands=bool(flush_before_commands), owned=owned)
    state = installation.state
    opening = state.opening
    if _bot_is_running(cache) and not cache.is_open and (opening is None or opening.done()):
        # The bot's StartingEvent is past: nothing will open this cache but us.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            msg = (
                "too late: the bot is already running, so the cache can no longer open with it, and "
                "hikaripersist_tanjun.setup() was called outside the bot's event loop, where it cannot open it; "
                "call setup() before bot.run()/bot.start(), or from the bot's event loop"
            )
            raise RuntimeError(msg) from None
        state.open_soon()

    registrations: list[tuple[typing.Any, object]] = [(Installation, installation), (persist.Cache, cache)]
    if type(cache) is not persist.Cache:
        registrations.append((type(cache), cache))
    if async_caches:
        registrations.extend(_async_cache.adapters_for(cache))
    for key, value in registrations:
        if client.get_type_dependency(key, default=None) is None:
            _edits(client).set_type_dependency(key, value)
            installation.type_keys.append((key, value))
        elif key not in (persist.Cache, type(cache)):
            _LOGGER.info("keeping the %s already registered on the tanjun client", key)

    installation.hooks.inner = client.hooks
    _edits(client).set_hooks(installation.hooks)
    _edits(client).add_client_callback(tanjun.ClientCallbackNames.STARTING, installation.on_client_starting)
    return cache


def teardown(client: tanjun.Client) -> None:
    """Undo [`setup`][hikaripersist_tanjun.setup] (or what the module's loader installed).

    The cache is no longer injected (``persist.Cache | None`` parameters get ``None``), the async
    cache adapters registered by `setup` are removed (tanjun's converters use REST again), the
    client's hooks go back to the ones it had, and the ``STARTING`` callback is removed. A cache
    passed to `setup` stays attached to its bot and open: it is yours. A cache the loader created
    from configuration is detached from the bot and closed in the background, after writing what
    it had queued; await [`wait_closed`][hikaripersist_tanjun.wait_closed] to wait for it. The
    module's unloader calls this.

    Does nothing if the client is not set up.

    Parameters
    ----------
    client
        The tanjun client.

    Raises
    ------
    RuntimeError
        If the cache the loader created is open but this is called outside any running event
        loop, where it cannot be closed (nothing is removed then).
    """
    installation = find(client)
    if installation is None:
        return
    cache = installation.cache
    state = installation.state
    opening = state.opening
    must_close = installation.owned and (
        cache.is_open or cache.backend.is_open or (opening is not None and not opening.done())
    )
    if must_close:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            msg = (
                "the cache hikaripersist_tanjun created is open and cannot be closed outside its event loop; "
                "unload the module from the bot's event loop, or stop the bot first"
            )
            raise RuntimeError(msg) from None

    hooks = installation.hooks
    if client.hooks is hooks:
        _edits(client).set_hooks(hooks.inner)
    else:
        # Wrapped by hooks set later: it stays in their chain, as a plain pass-through.
        hooks.disable()
    with contextlib.suppress(KeyError, ValueError):
        _edits(client).remove_client_callback(tanjun.ClientCallbackNames.STARTING, installation.on_client_starting)
    installation.client = None
    for key, value in installation.type_keys:
        if client.get_type_dependency(key, default=None) is value:
            _edits(client).remove_type_dependency(key)
    if installation.owned:
        state.detach()
        if must_close:
            _state.close_soon(cache, after=opening)


def get_cache(source: alluka.abc.Context | tanjun.abc.Client, /) -> persist.Cache:
    """Return the cache set up on a tanjun client, typed.

    Parameters
    ----------
    source
        A context (command, autocomplete or any alluka context: a cache overridden for it is
        found) or the client.

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
    @tanjun.as_slash_command("stored", "How many members are stored here.")
    async def stored(ctx: tanjun.abc.SlashContext) -> None:
        cache = hikaripersist_tanjun.get_cache(ctx)
        await ctx.respond(str(await cache.members.count(guild_id=ctx.guild_id)))
    ```
    """
    cache = source.get_type_dependency(persist.Cache, default=None)
    if cache is None:
        raise LookupError(_NOT_SET_UP)
    return cache


def _bot_is_running(cache: persist.Cache) -> bool:
    return getattr(cache.bot, "is_alive", False) is True


def _command_name(ctx: tanjun.abc.Context) -> str:
    # tanjun's Context.command is generic over a context type pyright leaves unknown here.
    command: object = getattr(ctx, "command", None)
    name = getattr(command, "name", None)
    return f"command {name!r}" if name else "a command"
