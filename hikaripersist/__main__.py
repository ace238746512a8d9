"""``python -m hikaripersist``: see ``python -m hikaripersist --help``."""

from __future__ import annotations

import sys

from hikaripersist._internal.cli import main

if __name__ == "__main__":
    sys.exit(main())
