"""A cache that only reads: for processes without a gateway (a dashboard, a REST-only bot, a worker)."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("ReadOnlyCache",)

import asyncio
import typing

from hikaripersist.cache import CacheStats
from hikaripersist.view import CacheView

if typing.TYPE_CHECKING:
    import types

    import hikari

    from hikaripersist.backend import Backend


class ReadOnlyCache(CacheView):
    """The query API over a store that other processes write: no listener, no writer.

    The store is written by the bot's own [`Cache`][hikaripersist.cache.Cache] (in this process or
    any other, e.g. every shard process of a large bot); a `ReadOnlyCache` answers the same queries
    from it, with the same native hikari objects, and never writes: it neither creates, migrates nor
    changes the store.

    Parameters
    ----------
    backend
        The store, e.g. ``persist.SQLiteBackend("cache.db")`` on the bot's file.
    app
        Bound to the entities read (``entity.app``), so their REST helpers work, e.g. a
        `hikari.RESTBot`; ``None`` gives plain data. ``get(..., fetch_if_missing=True)`` needs one,
        and returns what it fetched without storing it.

    Raises
    ------
    hikaripersist.BackendError
        From [`open`][hikaripersist.readonly.ReadOnlyCache.open] when the store cannot be opened,
        does not exist yet, or holds an older schema that its writer has not migrated yet.

    Examples
    --------
    ```py
    async with persist.ReadOnlyCache(persist.SQLiteBackend("/srv/bot/cache.db")) as cache:
        print(await cache.members.count(guild_id=guild_id))
    ```
    """

    __slots__: typing.Sequence[str] = ("_app", "_open_lock")

    def __init__(self, backend: Backend, *, app: hikari.RESTAware | None = None) -> None:
        super().__init__(backend, app, None)
        self._app = app
        self._open_lock = asyncio.Lock()

    @property
    def app(self) -> hikari.RESTAware | None:
        """What entities read are bound to."""
        return self._app

    @property
    def is_open(self) -> bool:
        """Whether the store is open for reading."""
        return self._backend.is_open

    async def open(self) -> None:
        """Open the store for reading (idempotent)."""
        async with self._open_lock:
            if not self._backend.is_open:
                await self._backend.open_read_only()

    async def close(self) -> None:
        """Close the store (idempotent)."""
        if self._backend.is_open:
            await self._backend.close()

    async def __aenter__(self) -> ReadOnlyCache:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        await self.close()

    async def stats(self) -> CacheStats:
        """Report what is stored (the writer counters are zero: this cache has no writer).

        Returns
        -------
        CacheStats
            Entities per kind, the store's size and its schema version.
        """
        size = getattr(self._backend, "database_size", None)
        return CacheStats(
            rows=await self._row_counts(),
            database_size=int(await size()) if size is not None else None,
            queue_depth=0,
            batches_written=0,
            events_written=0,
            rows_written=0,
            events_failed=0,
            last_flush_latency=0.0,
            schema_version=await self._backend.schema_version(),
        )
