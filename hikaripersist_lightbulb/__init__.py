"""hikari-persist integration for lightbulb (installs the cache into a lightbulb client).

The adapter is being built (see the project's framework-adapter issue); today this package only
reserves the import name so that `pip install "hikari-persist[lightbulb]"` works.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ()

import typing
