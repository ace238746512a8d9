"""Deep, field-by-field equality for hikari entities.

hikari's ``==`` compares ids only, so round-trip tests compare classes and every attrs field or
slot recursively instead.
"""

from __future__ import annotations

__all__ = ("assert_deep_equal", "deep_diff")

import datetime
import math
import typing
from collections.abc import Mapping

import attrs

# The `app` back-reference is the application itself, not part of an entity's value.
_SKIPPED_FIELDS = frozenset({"app"})
_MISSING = object()


def _fields_of(cls: type[typing.Any]) -> list[str]:
    if attrs.has(cls):
        return [field.name for field in attrs.fields(cls) if field.name not in _SKIPPED_FIELDS]
    names: list[str] = []
    for base in reversed(cls.__mro__):
        slots: typing.Any = base.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            name = typing.cast("str", slot)
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{base.__name__.lstrip('_')}{name}"
            if name not in ("__weakref__", "__dict__") and name not in names and name not in _SKIPPED_FIELDS:
                names.append(name)
    return names


def _is_sequence(value: object) -> bool:
    return isinstance(value, (list, tuple))


def _is_set(value: object) -> bool:
    return isinstance(value, (set, frozenset))


def _kind_matches(a: object, b: object) -> bool:
    if type(a) is type(b):
        return True
    # hikari's cache stores tuples and views where the deserializer makes lists and dicts.
    return (
        (_is_sequence(a) and _is_sequence(b))
        or (_is_set(a) and _is_set(b))
        or (isinstance(a, Mapping) and isinstance(b, Mapping))
    )


def _type_name(value: object) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _diff(a: object, b: object, path: str, out: list[str], active: set[tuple[int, int]]) -> None:
    if a is b:
        return
    if not _kind_matches(a, b):
        out.append(f"{path}: type {_type_name(a)} != {_type_name(b)} ({a!r:.80} != {b!r:.80})")
        return

    key = (id(a), id(b))
    if key in active:  # a cycle: this pair is already being compared further up
        return
    active.add(key)
    try:
        _diff_same_kind(a, b, path, out, active)
    finally:
        active.discard(key)


def _diff_same_kind(a: object, b: object, path: str, out: list[str], active: set[tuple[int, int]]) -> None:
    cls = type(a)
    if isinstance(a, Mapping):
        map_a = typing.cast("Mapping[typing.Any, typing.Any]", a)
        map_b = typing.cast("Mapping[typing.Any, typing.Any]", b)
        keys_b = {k: k for k in map_b}
        for k in map_a:
            if k not in keys_b:
                out.append(f"{path}[{k!r}]: missing on the right")
                continue
            key_b = keys_b[k]
            if type(k) is not type(key_b):  # e.g. a Snowflake key against a plain int key
                out.append(f"{path}[{k!r}]: key type {_type_name(k)} != {_type_name(key_b)}")
            _diff(map_a[k], map_b[key_b], f"{path}[{k!r}]", out, active)
        out.extend(f"{path}[{k!r}]: missing on the left" for k in map_b if k not in map_a)
    elif _is_sequence(a):
        seq_a = typing.cast("typing.Sequence[typing.Any]", a)
        seq_b = typing.cast("typing.Sequence[typing.Any]", b)
        if len(seq_a) != len(seq_b):
            out.append(f"{path}: length {len(seq_a)} != {len(seq_b)}")
        for index, (item_a, item_b) in enumerate(zip(seq_a, seq_b, strict=False)):
            _diff(item_a, item_b, f"{path}[{index}]", out, active)
    elif _is_set(a):
        set_a = typing.cast("typing.AbstractSet[typing.Any]", a)
        set_b = typing.cast("typing.AbstractSet[typing.Any]", b)
        # Pair each item with its type, so that Snowflake(1) and 1 differ.
        typed_a: set[tuple[str, typing.Any]] = {(_type_name(item), item) for item in set_a}
        typed_b: set[tuple[str, typing.Any]] = {(_type_name(item), item) for item in set_b}
        if typed_a != typed_b:
            only_a = sorted(repr(item) for _, item in typed_a - typed_b)
            only_b = sorted(repr(item) for _, item in typed_b - typed_a)
            out.append(f"{path}: only on the left {only_a}, only on the right {only_b}")
    elif isinstance(a, datetime.datetime):
        other = typing.cast("datetime.datetime", b)
        if a != other or a.utcoffset() != other.utcoffset():
            out.append(f"{path}: {a.isoformat()} != {other.isoformat()}")
    elif isinstance(a, float):
        other_float = typing.cast("float", b)
        if a != other_float and not (math.isnan(a) and math.isnan(other_float)):
            out.append(f"{path}: {a!r} != {other_float!r}")
    elif isinstance(a, (str, int, bytes, datetime.date, datetime.timedelta)) or a is None:
        # Enums, flags, Snowflake, Color... are int/str subclasses: the type check above covers them.
        if a != b:
            out.append(f"{path}: {a!r:.200} != {b!r:.200}")
    elif attrs.has(cls) or (cls.__module__.startswith("hikari") and "__slots__" in cls.__dict__):
        for name in _fields_of(cls):
            value_a = getattr(a, name, _MISSING)
            value_b = getattr(b, name, _MISSING)
            if value_a is _MISSING or value_b is _MISSING:
                if value_a is not value_b:
                    side = "left" if value_a is _MISSING else "right"
                    out.append(f"{path}.{name}: unset on the {side}")
                continue
            _diff(value_a, value_b, f"{path}.{name}", out, active)
    elif hasattr(a, "__dict__"):
        _diff(vars(a), vars(b), f"{path}.__dict__", out, active)
    elif a != b:
        out.append(f"{path}: {a!r:.200} != {b!r:.200}")


def deep_diff(a: object, b: object, *, path: str = "") -> list[str]:
    """List the differences between two values, compared field by field.

    Classes must match exactly, except that lists and tuples, sets and frozensets, and any two
    mappings compare by content.  attrs instances are compared on every field but ``app``,
    other hikari classes on their slots.

    Parameters
    ----------
    a
        The left value.
    b
        The right value.
    path
        A label for the root, prefixed to every reported path.

    Returns
    -------
    list[str]
        Human-readable differences; empty when the values are deeply equal.
    """
    out: list[str] = []
    _diff(a, b, path or "<root>", out, set())
    return out


def assert_deep_equal(a: object, b: object, *, path: str = "") -> None:
    """Assert that `deep_diff` finds no difference between `a` and `b`.

    Parameters
    ----------
    a
        The left value.
    b
        The right value.
    path
        A label for the root, used in the failure message.

    Raises
    ------
    AssertionError
        Listing every difference found.
    """
    differences = deep_diff(a, b, path=path)
    if differences:
        shown = "\n  ".join(differences[:50])
        more = f"\n  ... and {len(differences) - 50} more" if len(differences) > 50 else ""
        msg = f"values differ in {len(differences)} place(s):\n  {shown}{more}"
        raise AssertionError(msg)
