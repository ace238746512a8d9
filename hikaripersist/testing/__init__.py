"""Tools for testing bots and backends against hikari's own cache.

- [`BackendConformance`][hikaripersist.testing.conformance.BackendConformance]: the conformance
  suite a [`Backend`][hikaripersist.backend.Backend] must pass (needs ``pytest`` and
  ``pytest-asyncio``: ``pip install "hikari-persist[testing]"``).
- [`compare_with_hikari`][hikaripersist.testing.compare_with_hikari]: assert that a cache holds,
  field by field, what `bot.cache` holds after the same events.
- [`deep_diff`][hikaripersist.testing.deep_diff] / [`assert_deep_equal`][hikaripersist.testing.assert_deep_equal]:
  field-by-field comparison of hikari entities (hikari's ``==`` compares ids only).
- [`make_offline_bot`][hikaripersist.testing.make_offline_bot], [`start_offline`][hikaripersist.testing.start_offline],
  [`replay`][hikaripersist.testing.replay], [`stop_offline`][hikaripersist.testing.stop_offline]: a real
  `hikari.GatewayBot` driven without a network.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "BackendConformance",
    "BackendFactory",
    "assert_deep_equal",
    "compare_with_hikari",
    "deep_diff",
    "hikari_counts",
    "hikari_entities",
    "make_offline_bot",
    "replay",
    "start_offline",
    "stop_offline",
)

import typing

from hikaripersist._internal.offline import make_offline_bot, replay, start_offline, stop_offline
from hikaripersist.testing._deepeq import assert_deep_equal, deep_diff
from hikaripersist.testing._reference import compare_with_hikari, hikari_counts, hikari_entities

if typing.TYPE_CHECKING:
    from hikaripersist.testing.conformance import BackendConformance, BackendFactory


def __getattr__(name: str) -> typing.Any:
    # The conformance suite imports pytest: only when asked for.
    if name in {"BackendConformance", "BackendFactory"}:
        try:
            from hikaripersist.testing import conformance
        except ImportError as exc:  # pragma: no cover - depends on the environment
            msg = (
                f'the conformance suite needs pytest and pytest-asyncio: pip install "hikari-persist[testing]" ({exc})'
            )
            raise ImportError(msg) from exc
        return getattr(conformance, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
