"""hikari's own cache as the reference (shipped in `hikaripersist.testing`; re-exported for the tests)."""

from __future__ import annotations

__all__ = ("KINDS", "compare_with_hikari", "hikari_counts", "hikari_entities")

from hikaripersist.testing._reference import KINDS, compare_with_hikari, hikari_counts, hikari_entities
