"""Which cache each lightbulb client has, and how commands find it."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("Installation", "find", "get_cache", "installation", "installed_cache")

import typing

import lightbulb

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    import hikaripersist as persist

# Lightbulb's clients have __slots__ and no __weakref__, so nothing can be attached to them: the
# installations are kept here, keyed by the client itself (clients hash by identity). This lives
# in a submodule because lightbulb's unload_extensions() drops the package module from
# sys.modules; submodules, and so this state, survive an unload and reload of the extension.
_installations: dict[lightbulb.Client, Installation] = {}


class Installation:
    """What hikari-persist installed on one lightbulb client."""

    __slots__: typing.Sequence[str] = ("cache", "factory", "hook", "owner")

    def __init__(self) -> None:
        self.cache: persist.Cache | None = None
        # The factory registered for `persist.Cache` in the client's DI registry (None until then).
        self.factory: Callable[[], persist.Cache] | None = None
        # The flush hook added to `client.hooks` by the adapter (None if none was added).
        self.hook: lightbulb.ExecutionHook | None = None
        # The loadable whose load() created the cache (None when setup() installed it).
        self.owner: object | None = None


def installation(client: lightbulb.Client) -> Installation:
    """The installation record of ``client``, created on first use."""
    found = _installations.get(client)
    if found is None:
        found = _installations[client] = Installation()
    return found


def find(client: lightbulb.Client) -> Installation | None:
    """The installation record of ``client``, if there is one."""
    return _installations.get(client)


def installed_cache(client: lightbulb.Client) -> persist.Cache | None:
    """The cache installed on ``client``, if any."""
    found = _installations.get(client)
    return found.cache if found is not None else None


def get_cache(
    target: lightbulb.Client | lightbulb.Context | lightbulb.AutocompleteContext[typing.Any], /
) -> persist.Cache:
    """Return the cache installed on a lightbulb client.

    Lightbulb's contexts have fixed attributes, so the cache is not an attribute of the context:
    this helper finds it from the context's client. In commands, hooks and listeners, dependency
    injection (``cache: persist.Cache = lightbulb.di.INJECTED``) gives the same object.

    Parameters
    ----------
    target
        The client, or a command or autocomplete context (its ``client`` is used).

    Returns
    -------
    hikaripersist.Cache
        The cache given to [`setup`][hikaripersist_lightbulb.setup] or created by the extension.

    Raises
    ------
    LookupError
        If no cache is installed on the client.

    Examples
    --------
    ```py
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        cache = hikaripersist_lightbulb.get_cache(ctx)
    ```
    """
    client = target if isinstance(target, lightbulb.Client) else target.client
    cache = installed_cache(client)
    if cache is None:
        msg = (
            "no hikari-persist cache is installed on this lightbulb client: call "
            'hikaripersist_lightbulb.setup(client, cache) or load the "hikaripersist_lightbulb" extension'
        )
        raise LookupError(msg)
    return cache
