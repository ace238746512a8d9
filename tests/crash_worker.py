"""A bot process for the crash tests: replays a recorded stream into a store and reports confirmations.

``python -m tests.crash_worker URL STREAM BATCH_SIZE`` loads the stream (a JSON list of ``[name, shard, payload]``
records written by the test), imports hikari and hikari-persist once, then follows orders from
standard input, one a line:

- ``run``: fork a bot process: a real offline `hikari.GatewayBot` (hikari's cache off) with a real
  `Cache` on ``URL`` (an SQLite store writes batches of ``BATCH_SIZE`` events) replays the whole
  stream from its start (a restarted bot is fed its session again) and exits; this process then
  prints ``exit CODE`` once the bot process is gone, killed or not.

The bot process prints, one line each, flushed as it goes:

- ``started PID`` first (the test kills that pid with ``SIGKILL``);
- ``m MESSAGE_ID`` and ``j GUILD_ID USER_ID`` from its confirm listeners of message creates and
  member joins, i.e. only once the event's writes are committed and its confirmation dispatched;
- ``done`` when the whole stream is durable, ``stopped`` once the bot stopped (the cache closed).

Forking from this warmed-up process spares each restart the imports (about a second), so a test
can kill and restart the bot dozens of times; each bot still is a process of its own.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
import traceback
import typing

import hikari
import orjson

import hikaripersist as persist
from hikaripersist._internal import offline

if typing.TYPE_CHECKING:
    from hikaripersist._internal.gateway_session import GatewayRecord


def _say(line: str) -> None:
    # One write per line: the test reads whole lines, also of a process killed mid-stream.
    os.write(1, (line + "\n").encode())


def _backend(url: str, batch_size: int) -> persist.Backend:
    # Small batches: many transactions, so that kills land inside some of them.
    if url.startswith("sqlite:///"):
        return persist.SQLiteBackend(url.removeprefix("sqlite:///"), batch_size=batch_size)
    return persist.backend_from_url(url)


async def run_bot(url: str, records: list[GatewayRecord], batch_size: int) -> None:
    """Replay ``records`` into a fresh bot and cache on ``url``, reporting confirmations."""
    bot = offline.make_offline_bot(cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.NONE))
    cache = persist.Cache(bot, _backend(url, batch_size))

    @cache.listen(confirm=True)
    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:  # pyright: ignore[reportUnusedFunction]
        _say(f"m {event.message.id}")

    @cache.listen(confirm=True)
    async def on_join(event: hikari.MemberCreateEvent) -> None:  # pyright: ignore[reportUnusedFunction]
        _say(f"j {event.guild_id} {event.user_id}")

    await offline.start_offline(bot)
    await offline.replay(bot, records)
    await cache.flush()
    _say("done")
    await offline.stop_offline(bot)
    _say("stopped")


def _child(url: str, records: list[GatewayRecord], batch_size: int) -> typing.NoReturn:
    code = 0
    try:
        _say(f"started {os.getpid()}")
        asyncio.run(run_bot(url, records, batch_size))
    except BaseException:  # report anything: the test shows it
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def main() -> None:
    url, stream, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    records = [typing.cast("GatewayRecord", tuple(r)) for r in orjson.loads(pathlib.Path(stream).read_bytes())]
    for line in sys.stdin:
        if line.strip() != "run":
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(url, records, batch_size)
        _, status = os.waitpid(pid, 0)
        _say(f"exit {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    main()
