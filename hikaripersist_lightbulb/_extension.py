"""The loadable extension: ``await client.load_extensions("hikaripersist_lightbulb")``."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("CacheLoadable", "loader")

import contextlib
import logging
import typing

import hikari
import lightbulb
import linkd

import hikaripersist as persist
from hikaripersist_lightbulb import _setup, _state

_LOGGER = logging.getLogger("hikaripersist.lightbulb")


class CacheLoadable(lightbulb.Loadable):
    """A lightbulb loadable that creates a cache from configuration and installs it on the client.

    The module-level [`loader`][hikaripersist_lightbulb.loader] holds one, so
    ``await client.load_extensions("hikaripersist_lightbulb")`` installs a cache; add one to your
    own `lightbulb.Loader` to pass the configuration directly instead.

    Parameters
    ----------
    config
        How to build the cache. When ``None``, the `hikaripersist.CacheConfig` registered in the
        client's default DI registry is used
        (``client.di.registry_for(lightbulb.di.Contexts.DEFAULT).register_value(persist.CacheConfig, ...)``
        before loading), or else the one
        [`CacheConfig.from_env`][hikaripersist.config.CacheConfig.from_env] reads from the
        ``HIKARI_PERSIST_*`` environment variables.

    Notes
    -----
    Loading creates the cache for ``client.app`` and installs it as
    [`setup`][hikaripersist_lightbulb.setup] does, with the configuration's
    ``flush_before_commands``. If the bot is already starting or running (the usual case: lightbulb
    bots load extensions in a `hikari.StartingEvent` listener, after the cache's own chance to open
    on that event), loading also opens the cache, so that it is open before any shard connects.
    Otherwise it opens with the bot. It drains and closes on `hikari.StoppedEvent` either way.

    A client that already has a cache (from ``setup``) keeps it: loading does nothing then.

    Unloading (``await client.unload_extensions("hikaripersist_lightbulb")``) removes the cache it
    created from the client, stops it from receiving events, and closes it once everything
    queued is written. Reloading while the bot runs installs a fresh cache on the same store.
    Lightbulb's registries cannot forget a dependency, so after an unload, injecting
    ``persist.Cache`` fails with an error saying the extension was unloaded, and so does
    ``persist.Cache | None`` (linkd gives ``None`` only for unregistered types); declare
    ``lightbulb.di.Try[persist.Cache] | None`` where ``None`` is wanted then.

    Anything that keeps the cache from working when loading (invalid configuration, a store that
    cannot be opened, a client whose DI registry is frozen) raises
    [`hikaripersist.CacheStartupError`][hikaripersist.backend.CacheStartupError]. Like
    ``SystemExit`` it passes through lightbulb's extension loader, which would otherwise log the
    error and carry on without the cache, and through hikari's listeners: loaded in a
    ``StartingEvent`` listener, it stops ``bot.start()`` before any shard connects.
    """

    __slots__: typing.Sequence[str] = ("_config",)

    def __init__(self, config: persist.CacheConfig | None = None) -> None:
        self._config = config

    async def load(self, client: lightbulb.Client) -> None:
        """Create the cache, install it on ``client`` and, if the bot is running, open it.

        Parameters
        ----------
        client
            The client the extension is loaded into.

        Raises
        ------
        hikaripersist.CacheStartupError
            If the cache cannot be created, installed or opened.
        """
        if _state.installed_cache(client) is not None:
            # Installed by setup() or another loadable: lightbulb wants load() idempotent.
            return
        try:
            _setup.register_dependency(client)
            config = self._config
            if config is None:
                config = await _registered_config(client)
            if config is None:
                config = persist.CacheConfig.from_env()
            app = client.app
            if not isinstance(app, hikari.EventManagerAware):
                msg = "the lightbulb client's app receives no gateway events (a REST-only bot has nothing to cache)"
                raise TypeError(msg)
            cache = config.create_cache(app)
        except Exception as exc:
            msg = f"hikari-persist could not be set up on the lightbulb client: {exc}"
            raise persist.CacheStartupError(msg) from exc
        try:
            _setup.install(client, cache, flush_before_commands=config.flush_before_commands, owner=self)
        except Exception as exc:
            cache.detach()
            msg = f"hikari-persist could not be set up on the lightbulb client: {exc}"
            raise persist.CacheStartupError(msg) from exc
        if not getattr(client.app, "is_alive", False):
            return  # The cache opens on the bot's StartingEvent.
        try:
            await cache.open()
        except Exception as exc:
            _setup.uninstall(client)
            cache.detach()
            with contextlib.suppress(Exception):
                await cache.close()
            _LOGGER.critical("cannot open %s, the bot will not start: %s", cache.backend.name, exc)
            msg = f"hikari-persist could not open {cache.backend.name}: {exc}"
            raise persist.CacheStartupError(msg) from exc

    async def unload(self, client: lightbulb.Client) -> None:
        """Remove the cache this loadable created from ``client`` and close it.

        A cache installed by [`setup`][hikaripersist_lightbulb.setup] is left alone.

        Parameters
        ----------
        client
            The client the extension is unloaded from.
        """
        record = _state.find(client)
        if record is None or record.cache is None or record.owner is not self:
            return
        cache = _setup.uninstall(client)
        if cache is None:
            return
        cache.detach()
        await cache.close()


async def _registered_config(client: lightbulb.Client) -> persist.CacheConfig | None:
    """The `CacheConfig` registered in the client's default DI registry, if any."""
    registry = client.di.registry_for(lightbulb.di.Contexts.DEFAULT)
    if persist.CacheConfig not in registry:
        return None
    live = client.di.default_container
    if live is not None:
        return await live.get(persist.CacheConfig)
    # Entering lightbulb's DEFAULT context would create its container for good and freeze the
    # registry for the user's later registrations: a throwaway container reads it instead.
    async with linkd.Container(registry) as container:
        return await container.get(persist.CacheConfig)


loader: typing.Final[lightbulb.Loader] = lightbulb.Loader()
"""The extension's loader, found by ``await client.load_extensions("hikaripersist_lightbulb")``.

It holds one [`CacheLoadable`][hikaripersist_lightbulb.CacheLoadable] without configuration: the
cache is built from the `hikaripersist.CacheConfig` registered in the client's default DI
registry, or else from the ``HIKARI_PERSIST_*`` environment variables.
"""
loader.add(CacheLoadable())
