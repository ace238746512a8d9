"""What ``client.load_extension("hikaripersist_arc")`` and ``client.unload_extension(...)`` do."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("load", "unload")

import typing

import hikaripersist as persist
from hikaripersist_arc import _setup, _state

if typing.TYPE_CHECKING:
    import arc


def load(client: arc.abc.Client[typing.Any]) -> None:
    """Create a cache from configuration and set it up on ``client``.

    The configuration is the `hikaripersist.CacheConfig` registered as the client's type
    dependency, or else the one `CacheConfig.from_env` reads from ``HIKARI_PERSIST_*``
    environment variables.

    Raises
    ------
    RuntimeError
        If the client is already set up with a cache, or it is too late (see
        [`setup`][hikaripersist_arc.setup]).
    ValueError
        If an environment variable holds a value it cannot take.
    """
    installed = _state.find(client)
    if installed is not None:
        msg = (
            f"this arc client is already set up with a cache ({installed.cache.backend.name}); "
            'load the "hikaripersist_arc" extension or call hikaripersist_arc.setup(), not both'
        )
        raise RuntimeError(msg)
    config = client.get_type_dependency(persist.CacheConfig, default=None)
    if config is None:
        config = persist.CacheConfig.from_env()
    cache = config.create_cache(client.app)
    _setup.install(client, cache, flush_before_commands=config.flush_before_commands, owned=True)


def unload(client: arc.abc.Client[typing.Any]) -> None:
    """Remove what ``load`` installed and close the cache it created (in the background)."""
    _setup.teardown(client)
