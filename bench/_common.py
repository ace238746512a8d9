"""What the benchmark scripts share: the event-loop ticker."""

from __future__ import annotations

__all__ = ("Ticker",)

import asyncio
import contextlib
import time


class Ticker:
    """A task that asks to wake every millisecond and records how late each wake-up was (seconds).

    What delays it is whatever held the event loop: a stall of the loop shows as one long delay.
    """

    __slots__ = ("_last", "_task", "delays")

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._last = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._last = time.perf_counter()
        self._task = asyncio.create_task(self._run())

    def reset(self) -> None:
        """Forget the delays so far; the next one is measured from now."""
        self.delays.clear()
        self._last = time.perf_counter()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.delays.append(now - self._last - 0.001)
            self._last = now
