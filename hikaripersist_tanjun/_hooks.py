"""The client-level hooks `setup` installs: the user's hooks, wrapped, behind a wait for the cache."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("CacheHooks",)

import copy
import typing

import tanjun

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from collections.abc import Set as AbstractSet

    from typing_extensions import Self


class CacheHooks(tanjun.hooks.Hooks[tanjun.abc.Context]):
    """Client hooks that wait for the cache before every command, then run the hooks they wrap.

    tanjun holds one set of client-level hooks (``client.set_hooks``), which replaces the
    previous one. [`setup`][hikaripersist_tanjun.setup] therefore wraps the hooks the client had
    (tanjun's default parser-error hook, or the user's) in this object instead of overwriting
    them: they keep running, and hooks added to this object later run too.

    Before each command, and before tanjun converts its arguments (``tanjun.to_member``...),
    this waits until a cache set up while the bot was already running is open and, with
    ``flush_before_commands``, until what the command's guild produced so far is committed.

    Parameters
    ----------
    before
        Awaited with the context before every command.
    inner
        The hooks the client had, run after ``before``.
    """

    __slots__: typing.Sequence[str] = ("_before", "_enabled", "_inner")

    def __init__(
        self, before: Callable[[tanjun.abc.Context], Awaitable[None]], inner: tanjun.abc.AnyHooks | None = None
    ) -> None:
        super().__init__()
        self._before = before
        self._inner = inner
        self._enabled = True

    def __deepcopy__(self, memo: dict[int, typing.Any]) -> Self:
        # tanjun copies hooks with copy.deepcopy; the callback (bound to the cache) is shared, not copied.
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        for cls in type(self).__mro__:
            for name in typing.cast("typing.Sequence[str]", getattr(cls, "__slots__", ())):
                if name not in {"__weakref__", "__dict__"} and hasattr(self, name):
                    value = getattr(self, name)
                    setattr(copied, name, value if name == "_before" else copy.deepcopy(value, memo))
        return copied

    @property
    def inner(self) -> tanjun.abc.AnyHooks | None:
        """The hooks this object wraps (those the client had when it was set up)."""
        return self._inner

    @inner.setter
    def inner(self, hooks: tanjun.abc.AnyHooks | None) -> None:
        self._inner = hooks

    @property
    def enabled(self) -> bool:
        """Whether the wait for the cache runs (a removed setup leaves only the wrapped hooks)."""
        return self._enabled

    def disable(self) -> None:
        """Stop waiting for the cache; the wrapped hooks and this object's own callbacks still run."""
        self._enabled = False

    async def trigger_pre_execution(
        self,
        ctx: tanjun.abc.Context,
        /,
        *,
        hooks: AbstractSet[tanjun.abc.Hooks[tanjun.abc.Context]] | None = None,
    ) -> None:
        # <<inherited docstring from tanjun.abc.Hooks>>.
        if self._enabled:
            await self._before(ctx)
        if self._inner is not None:
            await self._inner.trigger_pre_execution(ctx)
        await super().trigger_pre_execution(ctx, hooks=hooks)

    async def trigger_post_execution(
        self,
        ctx: tanjun.abc.Context,
        /,
        *,
        hooks: AbstractSet[tanjun.abc.Hooks[tanjun.abc.Context]] | None = None,
    ) -> None:
        # <<inherited docstring from tanjun.abc.Hooks>>.
        if self._inner is not None:
            await self._inner.trigger_post_execution(ctx)
        await super().trigger_post_execution(ctx, hooks=hooks)

    async def trigger_success(
        self,
        ctx: tanjun.abc.Context,
        /,
        *,
        hooks: AbstractSet[tanjun.abc.Hooks[tanjun.abc.Context]] | None = None,
    ) -> None:
        # <<inherited docstring from tanjun.abc.Hooks>>.
        if self._inner is not None:
            await self._inner.trigger_success(ctx)
        await super().trigger_success(ctx, hooks=hooks)

    async def trigger_error(
        self,
        ctx: tanjun.abc.Context,
        exception: Exception,
        /,
        *,
        hooks: AbstractSet[tanjun.abc.Hooks[tanjun.abc.Context]] | None = None,
    ) -> int:
        # <<inherited docstring from tanjun.abc.Hooks>>.
        level = await super().trigger_error(ctx, exception, hooks=hooks)
        if self._inner is not None:
            level += await self._inner.trigger_error(ctx, exception)
        return level
