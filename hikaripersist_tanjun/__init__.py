"""hikari-persist integration for tanjun (installs the cache into a tanjun client).

The adapter is being built (see the project's framework-adapter issue); today this package only
reserves the import name so that `pip install "hikari-persist[tanjun]"` works.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ()

import typing
