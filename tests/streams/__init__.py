"""Generators of gateway record streams used by the fidelity tests."""

from __future__ import annotations
