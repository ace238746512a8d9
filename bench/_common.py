"""What the benchmark scripts share: repeated timings and the event-loop ticker."""

from __future__ import annotations

__all__ = ("Sample", "Ticker", "timed", "timed_sync")

import asyncio
import contextlib
import dataclasses
import statistics
import time
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


@dataclasses.dataclass(frozen=True)
class Sample:
    """Repeated timings of one measurement that handles ``items`` things per run."""

    items: int
    times: list[float]

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def rate(self) -> float:
        """Items per second in the best run."""
        return self.items / self.best if self.best > 0 else float("inf")

    def as_json(self) -> dict[str, typing.Any]:
        return {
            "items": self.items,
            "best_s": self.best,
            "median_s": self.median,
            "per_s": self.rate,
            "runs_s": self.times,
        }


async def timed(run: Callable[[], Awaitable[int]], repeat: int) -> Sample:
    """Time ``run`` (which returns how many items it handled) ``repeat`` times."""
    times: list[float] = []
    items = 0
    for _ in range(repeat):
        started = time.perf_counter()
        items = await run()
        times.append(time.perf_counter() - started)
    return Sample(items, times)


def timed_sync(run: Callable[[], int], repeat: int) -> Sample:
    """[`timed`][] for a synchronous ``run``."""
    times: list[float] = []
    items = 0
    for _ in range(repeat):
        started = time.perf_counter()
        items = run()
        times.append(time.perf_counter() - started)
    return Sample(items, times)


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
