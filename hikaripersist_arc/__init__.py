"""hikari-persist integration for arc (installs the cache into a arc client).

The adapter is being built (see the project's framework-adapter issue); today this package only
reserves the import name so that `pip install "hikari-persist[arc]"` works.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ()

import typing
