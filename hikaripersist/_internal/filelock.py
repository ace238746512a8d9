"""One process per file: an advisory lock on a ``.lock`` file beside it, held while a store is open."""

from __future__ import annotations

__all__: typing.Sequence[str] = ("hold", "release")

import contextlib
import importlib
import os
import typing

from hikaripersist.backend import BackendError

if typing.TYPE_CHECKING:
    import pathlib


def hold(path: pathlib.Path, what: str, busy: str) -> int:
    """Lock ``path``'s lock file (created if missing) for this process; its descriptor, to [`release`][].

    Parameters
    ----------
    path
        The file the lock stands for (the lock file is ``path`` + ``.lock``).
    what
        The file as errors name it.
    busy
        What to tell the user when another process holds the lock.

    Raises
    ------
    hikaripersist.BackendError
        If the lock file cannot be made, or another process holds the lock.
    """
    try:
        path.absolute().parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        msg = f"cannot write {what}: {exc} (its lock file {path.name}.lock goes beside it: the folder must be writable)"
        raise BackendError(msg) from exc
    try:
        fcntl = importlib.import_module("fcntl")
    except ImportError:  # Windows: no advisory locks; one process per file is up to the user
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        msg = f"{what} is in use by another process; {busy}"
        raise BackendError(msg) from exc
    return fd


def release(fd: int | None) -> None:
    """Release a lock taken by [`hold`][] (closing its descriptor releases it)."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
