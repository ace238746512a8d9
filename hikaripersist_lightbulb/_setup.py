"""Installing a cache into a lightbulb client: its DI registry, its hooks, and the reverse."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("install", "register_dependency", "setup", "uninstall")

import typing

import lightbulb

import hikaripersist as persist
from hikaripersist_lightbulb import _hooks, _state
from hikaripersist_lightbulb._errors import SetupError

_TOO_LATE: typing.Final[str] = (
    "hikari-persist cannot be set up on this lightbulb client any more: lightbulb's dependency "
    "injection has started (a command, listener, hook or task ran, or client.di.enter_context() was "
    "entered), and lightbulb accepts no new dependencies until client.stop(). Call "
    "hikaripersist_lightbulb.setup(client, cache) right after lightbulb.client_from_app(...), "
    'or load the "hikaripersist_lightbulb" extension before the client starts (for example in a '
    "hikari.StartingEvent listener, before client.start())."
)


def setup(client: lightbulb.Client, cache: persist.Cache, *, flush_before_commands: bool = False) -> persist.Cache:
    """Install ``cache`` into a lightbulb client.

    Afterwards commands, hooks, error handlers, tasks and loader listeners receive the cache by
    dependency injection (``cache: persist.Cache = lightbulb.di.INJECTED``, or
    ``cache: persist.Cache | None = lightbulb.di.INJECTED`` where a client may have none), and
    [`get_cache`][hikaripersist_lightbulb.get_cache] returns it.

    The cache keeps its own lifetime: it opens on `hikari.StartingEvent` (before any shard
    connects) and drains and closes on `hikari.StoppedEvent` (after every shard closed), whatever
    ``client.start()`` and ``client.stop()`` do; ``client.stop()`` closing lightbulb's DI
    container does not close it.

    Parameters
    ----------
    client
        The lightbulb client, from ``lightbulb.client_from_app(bot)``.
    cache
        A cache created for the same bot (``persist.Cache(bot, ...)``).
    flush_before_commands
        Whether to add [`flush_hook`][hikaripersist_lightbulb.flush_hook] to the client, so that
        each command waits until what its guild produced before it is committed.

    Returns
    -------
    hikaripersist.Cache
        ``cache``, for chaining.

    Raises
    ------
    SetupError
        If the client already has another cache, if ``cache`` belongs to another bot, or if it is
        too late: lightbulb freezes its DI registry as soon as a DI context is entered (the first
        command, loader listener, hook or task run, or ``client.di.enter_context()``), so call
        ``setup`` right after creating the client.

    Notes
    -----
    Calling it again with the same cache does nothing (except adding the hook if
    ``flush_before_commands`` is now set).

    Examples
    --------
    ```py
    bot = hikari.GatewayBot(TOKEN)
    client = lightbulb.client_from_app(bot)
    bot.subscribe(hikari.StartingEvent, client.start)
    hikaripersist_lightbulb.setup(client, persist.Cache(bot, persist.SQLiteBackend("cache.db")))
    ```
    """
    install(client, cache, flush_before_commands=flush_before_commands, owner=None)
    return cache


def register_dependency(client: lightbulb.Client) -> None:
    """Register ``persist.Cache`` in the client's default DI registry (once per client).

    What is registered is a factory returning the cache installed at the time, so that a cache
    installed again later (an extension reload while the registry is frozen) needs no new
    registration.

    Raises
    ------
    SetupError
        If the registry is frozen and the factory not registered yet.
    """
    record = _state.installation(client)
    if record.factory is not None:
        return

    def installed_cache() -> persist.Cache:
        cache = _state.installed_cache(client)
        if cache is None:
            msg = (
                'the "hikaripersist_lightbulb" extension was unloaded: no hikari-persist cache is '
                "installed on this lightbulb client"
            )
            raise SetupError(msg)
        return cache

    try:
        client.di.registry_for(lightbulb.di.Contexts.DEFAULT).register_factory(persist.Cache, installed_cache)
    except lightbulb.di.DependencyInjectionException as exc:
        # linkd's RegistryFrozenException, raised once a container exists for the registry.
        raise SetupError(_TOO_LATE) from exc
    record.factory = installed_cache


def _forget_resolved(client: lightbulb.Client) -> None:
    """Make the live DI container resolve ``persist.Cache`` anew (it keeps what it resolved)."""
    record = _state.find(client)
    container = client.di.default_container
    if record is not None and record.factory is not None and container is not None:
        # Containers accept replacements at any time; this one also drops the resolved instance.
        container.add_factory(persist.Cache, record.factory)


def install(
    client: lightbulb.Client, cache: persist.Cache, *, flush_before_commands: bool, owner: object | None
) -> None:
    """Install ``cache`` on ``client`` (see [`setup`][hikaripersist_lightbulb.setup]).

    Parameters
    ----------
    owner
        The loadable that created the cache (it closes the cache when unloaded), or ``None``.
    """
    if typing.cast("object", cache.bot) is not client.app:
        msg = (
            "this cache was created for another bot than the lightbulb client's: create it with "
            "persist.Cache(bot, ...) for the bot given to lightbulb.client_from_app(bot)"
        )
        raise SetupError(msg)
    installed = _state.installed_cache(client)
    if installed is not None and installed is not cache:
        msg = (
            f"this lightbulb client already has a hikari-persist cache ({installed.backend.name}); "
            "a client takes one cache: call hikaripersist_lightbulb.setup() once, or load the "
            '"hikaripersist_lightbulb" extension instead of calling setup()'
        )
        raise SetupError(msg)
    # What can fail comes first, so that a failure leaves nothing half installed.
    register_dependency(client)
    record = _state.installation(client)
    if flush_before_commands:
        hook = _hooks.add_flush_hook(client)
        if hook is not None:
            record.hook = hook
    if installed is None:
        record.cache = cache
        record.owner = owner
        _forget_resolved(client)


def uninstall(client: lightbulb.Client) -> persist.Cache | None:
    """Remove the cache installed on ``client`` and the hook the adapter added; return the cache.

    The DI registration stays (lightbulb's registries cannot remove one): injecting
    ``persist.Cache`` then fails with a [`SetupError`][hikaripersist_lightbulb.SetupError] until a
    cache is installed again.
    """
    record = _state.find(client)
    if record is None or record.cache is None:
        return None
    cache = record.cache
    record.cache = None
    record.owner = None
    if record.hook is not None:
        _hooks.remove_hook(client, record.hook)
        record.hook = None
    _forget_resolved(client)
    return cache
