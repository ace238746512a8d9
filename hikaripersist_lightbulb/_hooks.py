"""The execution hook that lets commands read what their guild produced just before them."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("add_flush_hook", "flush_hook", "remove_hook")

import dataclasses
import typing

import lightbulb

from hikaripersist_lightbulb import _state
from hikaripersist_lightbulb._errors import SetupError


# Both parameters have INJECTED defaults so that the hook also works with lightbulb's
# HOOK_INJECT_ALL_PARAMS feature, which calls hooks without arguments and injects them all.
async def _flush_before_command(
    pipeline: lightbulb.ExecutionPipeline = lightbulb.di.INJECTED,
    ctx: lightbulb.Context = lightbulb.di.INJECTED,
) -> None:
    cache = _state.installed_cache(ctx.client)
    if cache is None:
        msg = (
            "hikaripersist_lightbulb.flush_hook runs on a client without a cache: call "
            'hikaripersist_lightbulb.setup(client, cache) or load the "hikaripersist_lightbulb" extension'
        )
        raise SetupError(msg)
    # In a DM (no guild), everything received so far is waited for.
    await cache.flush(guild=ctx.guild_id)


flush_hook: typing.Final[lightbulb.ExecutionHook] = lightbulb.hook(
    lightbulb.ExecutionSteps.MAX_CONCURRENCY, skip_when_failed=True, name="hikaripersist_flush"
)(_flush_before_command)
"""An execution hook that waits, before a command runs, until its guild's events are stored.

It awaits ``cache.flush(guild=ctx.guild_id)`` on the client's cache: everything the gateway
delivered for the command's guild before the interaction (a member who just joined, a role just
changed) is committed, so the command reads it. Events of other guilds are not waited for. In
DMs everything received so far is waited for.

[`setup`][hikaripersist_lightbulb.setup] adds it to the client with
``flush_before_commands=True`` (the extension does when its configuration's
``flush_before_commands`` is set); it can also be passed when creating the client:
``lightbulb.client_from_app(bot, hooks=[hikaripersist_lightbulb.flush_hook])``.

It runs at ``ExecutionSteps.MAX_CONCURRENCY``, the first step of lightbulb's default order, and
lightbulb runs a client's hooks before the command's own for the same step: it runs before any
check, cooldown or command hook. Without a cache installed on the client it fails the command
with a [`SetupError`][hikaripersist_lightbulb.SetupError].
"""


def _is_flush_hook(hook: lightbulb.ExecutionHook) -> bool:
    return hook.func is flush_hook.func


def add_flush_hook(client: lightbulb.Client) -> lightbulb.ExecutionHook | None:
    """Add the flush hook in front of ``client.hooks`` unless it is there already.

    The hook runs at the first step of the client's execution order (``flush_hook`` itself with
    lightbulb's default order, a copy for another first step); lightbulb builds each
    command's pipeline from ``client.hooks`` when the command runs, so this takes effect at once.

    Returns
    -------
    lightbulb.ExecutionHook | None
        The hook added, or ``None`` if the client already had it.

    Raises
    ------
    SetupError
        If the client's execution order runs ``INVOKE`` before any other step.
    """
    if any(_is_flush_hook(hook) for hook in client.hooks):
        return None
    first = next(iter(client.execution_step_order))
    if first == lightbulb.ExecutionSteps.INVOKE:
        msg = (
            "flush_before_commands needs an execution step before INVOKE, but this client's "
            "execution_step_order starts with INVOKE"
        )
        raise SetupError(msg)
    hook = flush_hook if first == flush_hook.step else dataclasses.replace(flush_hook, step=first)
    # First in the list: lightbulb runs a step's hooks in order, client hooks before command hooks.
    client.hooks = (hook, *client.hooks)
    return hook


def remove_hook(client: lightbulb.Client, hook: lightbulb.ExecutionHook) -> None:
    """Remove ``hook`` (added by [`add_flush_hook`][]) from ``client.hooks``."""
    client.hooks = tuple(existing for existing in client.hooks if existing is not hook)
