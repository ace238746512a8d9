"""What ``client.load_modules("hikaripersist_tanjun")`` and ``client.unload_modules(...)`` do."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("load", "unload")

import typing

import hikari
import tanjun

import hikaripersist as persist
from hikaripersist_tanjun import _setup, _state


@tanjun.as_loader
def load(client: tanjun.Client) -> None:
    """tanjun loader: create a cache from configuration and set it up on ``client``.

    Run by ``client.load_modules("hikaripersist_tanjun")``; calling ``load(client)`` directly
    does the same. The cache is, in this order of preference:

    1. the `hikaripersist.Cache` registered as the client's type dependency
       (``client.set_type_dependency(persist.Cache, cache)``), used as it is;
    2. one created from the `hikaripersist.CacheConfig` registered as the client's type dependency
       (``client.set_type_dependency(persist.CacheConfig, config)``);
    3. one created from ``CacheConfig.from_env()``: ``HIKARI_PERSIST_URL``,
       ``HIKARI_PERSIST_DISABLE``, ``HIKARI_PERSIST_MAX_PENDING`` and
       ``HIKARI_PERSIST_FLUSH_BEFORE_COMMANDS``.

    It is then set up as [`setup`][hikaripersist_tanjun.setup] does, with the configuration's
    ``flush_before_commands``. The bot is the one the client was built from
    (``tanjun.Client.from_gateway_bot(bot)``).

    Parameters
    ----------
    client
        The tanjun client.

    Raises
    ------
    RuntimeError
        If the client is already set up with a cache, if the client was not built from a hikari
        bot, or if it is too late (see [`setup`][hikaripersist_tanjun.setup]). tanjun reports
        these as ``tanjun.FailedModuleLoad`` with this error as its cause.
    ValueError
        If an environment variable holds a value it cannot take.
    """
    installed = _setup.find(client)
    if installed is not None:
        msg = (
            f"this tanjun client is already set up with a cache ({installed.cache.backend.name}); "
            'load the "hikaripersist_tanjun" module or call hikaripersist_tanjun.setup(), not both'
        )
        raise RuntimeError(msg)
    config = client.get_type_dependency(persist.CacheConfig, default=None)
    cache = client.get_type_dependency(persist.Cache, default=None)
    if cache is not None:
        flush = config.flush_before_commands if config is not None else None
        _setup.install(client, cache, flush_before_commands=flush, owned=False)
        return
    if config is None:
        config = persist.CacheConfig.from_env()
    cache = config.create_cache(_bot_of(client))
    try:
        _setup.install(client, cache, flush_before_commands=config.flush_before_commands, owned=True)
    except BaseException:
        # The new cache subscribed to the bot's events: leave nothing behind.
        _state.state_of(cache).detach()
        raise


@tanjun.as_unloader
def unload(client: tanjun.Client) -> None:
    """tanjun unloader: remove what [`load`][hikaripersist_tanjun.load] installed.

    Run by ``client.unload_modules("hikaripersist_tanjun")`` (and ``reload_modules``). It calls
    [`teardown`][hikaripersist_tanjun.teardown]: a cache the loader created is detached from the
    bot and closed in the background (await [`wait_closed`][hikaripersist_tanjun.wait_closed]);
    a cache registered by the user stays open.

    Parameters
    ----------
    client
        The tanjun client.
    """
    _setup.teardown(client)


def _bot_of(client: tanjun.Client) -> hikari.EventManagerAware:
    # tanjun.Client.from_gateway_bot registers the bot under each hikari trait it implements.
    bot = client.get_type_dependency(hikari.EventManagerAware, default=None)
    if bot is None and isinstance(client.shards, hikari.EventManagerAware):
        bot = client.shards
    if bot is None or not isinstance(bot, hikari.RESTAware):
        msg = (
            "hikaripersist_tanjun's loader needs a tanjun client built from a hikari bot "
            "(tanjun.Client.from_gateway_bot(bot)); otherwise create persist.Cache(bot, ...) "
            "and call hikaripersist_tanjun.setup(client, cache)"
        )
        raise RuntimeError(msg)
    return bot
