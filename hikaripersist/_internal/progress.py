"""A dependency-free progress bar for long operations on a terminal."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("Progress",)

import sys
import time
import typing

if typing.TYPE_CHECKING:
    import types


class Progress:
    """Draws ``label [#####.....] done/total rate`` on stderr, at most ten times a second.

    When stderr is not a terminal it prints one line per 10% instead, so logs stay readable.
    """

    __slots__: typing.Sequence[str] = (
        "_done",
        "_label",
        "_last_draw",
        "_last_pct",
        "_started",
        "_stream",
        "_total",
        "_tty",
    )

    def __init__(self, label: str, total: int | None, *, stream: typing.TextIO | None = None) -> None:
        self._label = label
        self._total = total
        self._done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.perf_counter()
        self._last_draw = 0.0
        self._last_pct = -1

    def __call__(self, done: int) -> None:
        """Report that ``done`` units are finished."""
        self._done = done
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw(final=False)
        elif self._total:
            pct = done * 10 // self._total
            if pct > self._last_pct:
                self._last_pct = pct
                self._draw(final=False)

    def advance(self, n: int = 1) -> None:
        """Report ``n`` more finished units."""
        self(self._done + n)

    def _draw(self, *, final: bool) -> None:
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        rate = self._done / elapsed
        if self._total:
            frac = min(self._done / self._total, 1.0)
            bar = "#" * int(frac * 30) + "." * (30 - int(frac * 30))
            text = f"{self._label} [{bar}] {self._done:,}/{self._total:,} {rate:,.0f}/s"
        else:
            text = f"{self._label} {self._done:,} {rate:,.0f}/s"
        if final:
            text += f" in {elapsed:.1f}s"
        end = "\n" if final or not self._tty else ""
        self._stream.write(("\r" if self._tty else "") + text + end)
        self._stream.flush()

    def close(self) -> None:
        """Draw the final state."""
        self._draw(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.close()
