"""The small recorded session that the writer and bad-input tests build on."""

from __future__ import annotations

__all__ = ("BASE", "DISCORD_EPOCH_MS", "LATER_MS", "Payload", "Record")

import typing

from hikaripersist._internal import gateway_session as gs

Payload = dict[str, typing.Any]
Record = tuple[str, int, Payload]

# One synthetic guild of 20 members, the docs guild, a guild left half-way...
BASE: typing.Final[tuple[Record, ...]] = tuple(
    gs.generate_session(seed=1, guilds=1, members=(20,), messages_per_channel=1, churn=0, varied=False)
)
DISCORD_EPOCH_MS: typing.Final = 1_420_070_400_000
LATER_MS: typing.Final = 1_760_000_000_000  # after everything in BASE
