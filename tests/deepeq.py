"""Deep equality for hikari entities (shipped in `hikaripersist.testing`; re-exported for the tests)."""

from __future__ import annotations

__all__ = ("assert_deep_equal", "deep_diff")

from hikaripersist.testing._deepeq import assert_deep_equal, deep_diff
