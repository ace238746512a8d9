"""Queued events beyond the writer's memory budget wait in a file instead of in memory.

hikari hands gateway events over synchronously: a shard cannot be slowed, so a flood the writer
cannot keep up with (member chunks, messages) would otherwise queue hikari objects without bound.
Past the budget, the cache encodes each event with the codec, appends it to an unlinked temporary
file and queues a small `Spilled` placeholder in its place; the writer reads it back, in queue
order, when its turn comes. The file is emptied whenever no placeholder is left.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("SpillFile", "Spilled")

import logging
import os
import tempfile
import threading
import typing

import attrs

from hikaripersist._internal import codec

if typing.TYPE_CHECKING:
    import hikari

_LOGGER = logging.getLogger("hikaripersist")
_SHARD: typing.Final = ("shard",)


class Spilled:
    """Where one queued event waits in the spill file."""

    __slots__: typing.Sequence[str] = ("offset", "shard", "size")

    def __init__(self, offset: int, size: int, shard: typing.Any) -> None:
        self.offset = offset
        self.size = size
        # The shard object itself (a live connection, not data): put back on the event when read.
        self.shard = shard


class SpillFile:
    """An append-only file of encoded events, read back in the order they were written.

    Parameters
    ----------
    directory
        Where the (unlinked, so never left behind) file is created; the system's temporary folder
        when ``None``.
    """

    __slots__: typing.Sequence[str] = (
        "_directory",
        "_end",
        "_failed",
        "_file",
        "_held",
        "_lock",
        "_shard_field",
        "spilled",
    )

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self._directory = directory
        self._file: typing.BinaryIO | None = None
        self._end = 0
        self._held = 0
        # Whether the file could not be created or written: events then stay in memory.
        self._failed = False
        # event type -> whether `shard` is one of its fields (encoded apart).
        self._shard_field: dict[type[typing.Any], bool] = {}
        # Events are written on the event loop's thread and read back on a worker thread.
        self._lock = threading.Lock()
        self.spilled = 0
        """Events written to the file since it was created."""

    @property
    def held(self) -> int:
        """Events in the file not read back yet."""
        return self._held

    @property
    def size(self) -> int:
        """Bytes the file holds (0 once every event was read back)."""
        return self._end

    def put(self, event: hikari.Event) -> Spilled | None:
        """Write ``event`` to the file; ``None`` if it cannot be (it then stays in memory)."""
        if self._failed:
            return None
        cls = type(event)
        has_shard = self._shard_field.get(cls)
        if has_shard is None:
            has_shard = self._shard_field[cls] = attrs.has(cls) and "shard" in attrs.fields_dict(cls)
        try:
            raw = codec.dumps(event, exclude=_SHARD if has_shard else ())
        except (TypeError, ValueError):
            return None  # a value the codec cannot store: the event waits in memory
        with self._lock:
            try:
                if self._file is None:
                    self._file = typing.cast(
                        "typing.BinaryIO",
                        tempfile.TemporaryFile(prefix="hikaripersist-spill-", dir=self._directory),  # noqa: SIM115
                    )
                self._file.write(raw)
            except OSError as exc:
                self._failed = True
                _LOGGER.warning(
                    "cannot write queued events to a spill file in %s (%s): they wait in memory",
                    self._directory or tempfile.gettempdir(),
                    exc,
                )
                return None
            spilled = Spilled(self._end, len(raw), getattr(event, "shard", None) if has_shard else None)
            self._end += len(raw)
            self._held += 1
            self.spilled += 1
        return spilled

    def take(self, spilled: Spilled, app: hikari.RESTAware) -> hikari.Event:
        """Read back the event ``spilled`` stands for, bound to ``app`` (from any thread).

        Raises
        ------
        OSError
            If the file cannot be read.
        ValueError
            If what was read is not the event written.
        """
        with self._lock:
            try:
                assert self._file is not None
                self._file.flush()  # written through Python's buffer: make it visible to pread
                raw = os.pread(self._file.fileno(), spilled.size, spilled.offset)
            finally:
                self._release()
        if len(raw) != spilled.size:
            msg = f"spill file truncated: {len(raw)} of {spilled.size} bytes at {spilled.offset}"
            raise ValueError(msg)
        overrides = {"shard": spilled.shard} if spilled.shard is not None else None
        return typing.cast("hikari.Event", codec.loads(raw, app, overrides=overrides))

    def _release(self) -> None:
        self._held -= 1
        if self._held == 0 and self._file is not None and self._end:
            # Nothing left to read: start the file over (a long flood would otherwise fill the disk).
            try:
                self._file.seek(0)
                self._file.truncate()
            except OSError:
                self._close_file()
            self._end = 0

    def _close_file(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                _LOGGER.debug("closing the spill file failed", exc_info=True)

    def close(self) -> None:
        """Remove the file (every event in it is lost: call once nothing is held)."""
        with self._lock:
            self._close_file()
            self._end = self._held = 0
