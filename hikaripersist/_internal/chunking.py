"""Member chunk requests paced by the cache's writer (``Cache(chunk_members=True)``).

hikari's ``auto_chunk_members`` asks Discord for the members of every large guild as soon as the
guild arrives, and once Discord sends, a shard cannot be slowed: a bot joining thousands of large
guilds receives every guild's members at once and holds them in the writer's queue. The chunker
asks instead: one guild per shard at a time, the next once the previous guild's last chunk arrived
and the writer's queue has room again, so memory holds at most one guild's members per shard
above the queue's budget.
"""

from __future__ import annotations

__all__ = ["MemberChunker"]

import asyncio
import contextlib
import itertools
import logging
import typing
from typing import Final

import hikari

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hikari.api import shard as shard_api

    from hikaripersist.rules import Rule

_LOGGER: Final = logging.getLogger("hikaripersist")

PROGRESS_TIMEOUT: Final = 30.0
"""Seconds without a chunk of the guild asked for after which the chunker gives up on it (the request
or its chunks were lost, e.g. with the connection) and asks for the next guild."""

_NONCES: Final = itertools.count(1)


class _ShardQueue:
    """The guilds waiting to be chunked on one shard, and the request in flight."""

    __slots__ = ("chunk_count", "chunks_seen", "guild_id", "guilds", "nonce", "progress", "shard", "task")

    def __init__(self, shard: shard_api.GatewayShard) -> None:
        self.shard = shard
        # Ordered set: guilds are asked for in the order they arrived.
        self.guilds: dict[int, None] = {}
        self.task: asyncio.Task[None] | None = None
        self.guild_id: int | None = None
        self.nonce: str | None = None
        self.chunks_seen = 0
        self.chunk_count = 1
        self.progress = asyncio.Event()

    def finish(self) -> None:
        """End the request in flight (its last chunk arrived, the guild left or the session ended)."""
        self.guild_id = None
        self.nonce = None
        self.progress.set()


class MemberChunker:
    """Requests the members of large guilds one guild per shard at a time, paced by the cache's queue.

    Parameters
    ----------
    manager
        The bot's event manager.
    wait_for_room
        Returns once the writer's queue is under its budgets (``Cache.wait_for_room``).
    rule
        The cache's rule: guilds whose members it would not store are not asked for.
    name
        What to call the store in log messages.
    """

    __slots__ = ("_manager", "_name", "_queues", "_requests", "_rule", "_wait_for_room", "_warned")

    def __init__(
        self,
        manager: hikari.api.EventManager,
        wait_for_room: Callable[[], Awaitable[None]],
        rule: Rule | None,
        name: str,
    ) -> None:
        self._manager = manager
        self._wait_for_room = wait_for_room
        self._rule = rule
        self._name = name
        self._queues: dict[int, _ShardQueue] = {}
        self._requests = 0
        self._warned = False
        for event_type, callback in self._listeners():
            manager.subscribe(event_type, callback)

    def _listeners(self) -> list[tuple[type[hikari.Event], typing.Any]]:
        return [
            (hikari.GuildAvailableEvent, self._on_guild),
            (hikari.GuildJoinEvent, self._on_guild),
            (hikari.GuildLeaveEvent, self._on_leave),
            (hikari.MemberChunkEvent, self._on_chunk),
            (hikari.ShardReadyEvent, self._on_ready),
        ]

    @property
    def requests(self) -> int:
        """Member requests sent so far."""
        return self._requests

    @property
    def waiting(self) -> int:
        """Guilds queued or being received."""
        return sum(len(q.guilds) + (q.guild_id is not None) for q in self._queues.values())

    def detach(self) -> None:
        """Stop listening and asking (idempotent)."""
        for event_type, callback in self._listeners():
            with contextlib.suppress(ValueError, LookupError):
                self._manager.unsubscribe(event_type, callback)
        self.close()

    def close(self) -> None:
        """Forget every queued guild and stop asking (until the next guild arrives)."""
        for queue in self._queues.values():
            if queue.task is not None:
                queue.task.cancel()
            queue.guilds.clear()
            queue.finish()
        self._queues.clear()

    # --- listeners ------------------------------------------------------------------------------

    async def _on_guild(self, event: hikari.GuildAvailableEvent | hikari.GuildJoinEvent) -> None:
        if event.chunk_nonce is not None:
            # hikari asked already (auto_chunk_members=True): asking again would double the flood.
            if not self._warned:
                self._warned = True
                _LOGGER.warning(
                    "chunk_members=True but the bot requests guild members itself: build it with "
                    "hikari.GatewayBot(..., auto_chunk_members=False) so that %s paces member chunks",
                    self._name,
                )
            return
        guild = event.guild
        if not self._wants(event.shard, guild):
            return
        queue = self._queues.get(event.shard.id)
        if queue is None:
            queue = self._queues[event.shard.id] = _ShardQueue(event.shard)
        queue.shard = event.shard
        if queue.guild_id == guild.id:
            return
        queue.guilds[int(guild.id)] = None
        if queue.task is None or queue.task.done():
            queue.task = asyncio.create_task(
                self._run(queue), name=f"hikaripersist member chunks (shard {queue.shard.id})"
            )

    async def _on_leave(self, event: hikari.GuildLeaveEvent) -> None:
        queue = self._queues.get(event.shard.id)
        if queue is None:
            return
        queue.guilds.pop(int(event.guild_id), None)
        if queue.guild_id == event.guild_id:
            queue.finish()

    async def _on_chunk(self, event: hikari.MemberChunkEvent) -> None:
        queue = self._queues.get(event.shard.id)
        if queue is None or queue.nonce is None or event.nonce != queue.nonce:
            return
        queue.chunks_seen += 1
        queue.chunk_count = event.chunk_count
        if queue.chunks_seen >= event.chunk_count:
            queue.finish()
        else:
            queue.progress.set()

    async def _on_ready(self, event: hikari.ShardReadyEvent) -> None:
        # A new session: the guilds come again as GUILD_CREATE, and a request of the old one is lost.
        queue = self._queues.get(event.shard.id)
        if queue is not None:
            queue.guilds.clear()
            queue.finish()

    # --- requests ---------------------------------------------------------------------------------

    def _wants(self, shard: shard_api.GatewayShard, guild: hikari.GatewayGuild) -> bool:
        intents = shard.intents
        if not intents & hikari.Intents.GUILD_MEMBERS:
            return False
        # Without the presences intent Discord leaves members out of GUILD_CREATE even in small guilds.
        if not guild.is_large and intents & hikari.Intents.GUILD_PRESENCES:
            return False
        rule = self._rule
        return rule is None or (rule.is_enabled("member") and rule.allows_guild_id(guild.id))

    async def _run(self, queue: _ShardQueue) -> None:
        while queue.guilds:
            try:
                await self._wait_for_room()
            except Exception:  # the cache closed with its queue over budget: asking more would only pile up
                _LOGGER.debug("member chunking stops: %s cannot take more", self._name, exc_info=True)
                return
            if not queue.guilds:
                return
            guild_id = next(iter(queue.guilds))
            del queue.guilds[guild_id]
            nonce = f"persist.{queue.shard.id}.{next(_NONCES)}"
            queue.guild_id, queue.nonce = guild_id, nonce
            queue.chunks_seen, queue.chunk_count = 0, 1
            queue.progress.clear()
            intents = queue.shard.intents
            try:
                await queue.shard.request_guild_members(
                    guild_id, include_presences=bool(intents & hikari.Intents.GUILD_PRESENCES), nonce=nonce
                )
            except Exception as exc:  # e.g. the shard is not connected: its next session asks again
                _LOGGER.warning("cannot request the members of guild %s on shard %s: %s", guild_id, queue.shard.id, exc)
                queue.finish()
                continue
            self._requests += 1
            await self._receive(queue, nonce)

    async def _receive(self, queue: _ShardQueue, nonce: str) -> None:
        """Wait until the request ``nonce`` is done, or makes no progress for :data:`PROGRESS_TIMEOUT`."""
        while queue.nonce == nonce:
            queue.progress.clear()
            try:
                await asyncio.wait_for(queue.progress.wait(), PROGRESS_TIMEOUT)
            except asyncio.TimeoutError:
                _LOGGER.warning(
                    "guild %s sent %s of %s member chunks and then nothing for %.0fs; asking for the next guild",
                    queue.guild_id,
                    queue.chunks_seen,
                    queue.chunk_count if queue.chunks_seen else "?",
                    PROGRESS_TIMEOUT,
                )
                queue.finish()
