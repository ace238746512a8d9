"""The batching settings every backend of hikari-persist takes, checked and exposed one way."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("Batching",)

import typing


class Batching:
    """Mixin giving a backend its [`Backend`][hikaripersist.backend.Backend] batching properties.

    Put it before ``Backend`` in the bases and call [`_init_batching`][] from ``__init__``; the
    subclass declares the ``_batch_size`` and ``_flush_interval`` slots.
    """

    __slots__: typing.Sequence[str] = ()

    _batch_size: int
    _flush_interval: float

    def _init_batching(self, batch_size: int, flush_interval: float) -> None:
        if batch_size < 1:
            msg = "batch_size must be at least 1"
            raise ValueError(msg)
        if flush_interval < 0:
            msg = "flush_interval cannot be negative"
            raise ValueError(msg)
        self._batch_size = batch_size
        self._flush_interval = flush_interval

    @property
    def batch_size(self) -> int:
        """Largest number of events the writer puts in one transaction."""
        return self._batch_size

    @property
    def flush_interval(self) -> float:
        """Seconds the writer waits to fill a batch before writing what it has."""
        return self._flush_interval
