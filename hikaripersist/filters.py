"""Comparison operators for ``where()``: ranges, membership, null checks and text matching.

Pass them as the value of a field:

```py
await cache.members.where(guild_id=guild_id, joined_at=persist.after(last_week)).count()
cache.channels.where(name=persist.startswith("ticket-"))
cache.roles.where(id=persist.one_of(*member.role_ids))
```

Every operator runs in the database with bound parameters: on an index when the field has its own
column (`Query.indexed_fields`), otherwise through SQLite's JSON functions on the stored entity.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "Filter",
    "after",
    "at_least",
    "at_most",
    "before",
    "between",
    "contains",
    "is_null",
    "not_equal",
    "not_null",
    "one_of",
    "startswith",
)

import abc
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

_Convert = typing.Callable[[object], object]

# What SQLite binds as an INTEGER; every Discord id and count fits.
_INT64: typing.Final = range(-(2**63), 2**63)


def _bind(convert: _Convert, value: object) -> object:
    """``convert(value)``, refused now with a clear error if the database could not take it."""
    converted = convert(value)
    if isinstance(converted, int) and not isinstance(converted, bool) and converted not in _INT64:
        msg = f"{value!r} does not fit in a 64-bit integer (no stored value is that large)"
        raise ValueError(msg)
    if isinstance(converted, str):
        _encodable(converted)
    return converted


def _encodable(text: str) -> str:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        # A lone surrogate: no stored text holds one, and SQLite cannot take it.
        msg = f"{text!r} is not valid Unicode ({exc.reason} at {exc.start})"
        raise ValueError(msg) from None
    return text


class Filter(abc.ABC):
    """A condition on one field; build them with the functions of this module."""

    __slots__: typing.Sequence[str] = ()

    @abc.abstractmethod
    def column_sql(self, column: str, convert: _Convert) -> tuple[str, list[object]]:
        """SQL for this condition on a column, with its parameters."""

    @abc.abstractmethod
    def json_sql(self, data: str, path: str, convert: _Convert) -> tuple[str, list[object]]:
        """SQL for this condition on the JSON value at ``path`` of the ``data`` column."""


def _json_any(data: str, path: str, condition: str, params: Sequence[object]) -> tuple[str, list[object]]:
    # json_each yields a scalar itself, the inner value of a tagged value (enum, time...), or each
    # element of a list; UNDEFINED (stored as {"u": 0}) never matches.
    return (
        f"EXISTS (SELECT 1 FROM json_each({data}, ?) WHERE key IS NOT 'u' AND {condition})",
        [path, *params],
    )


class _Compare(Filter):
    __slots__: typing.Sequence[str] = ("_op", "_value")

    def __init__(self, op: str, value: object) -> None:
        if value is None:
            msg = "compare with None through is_null() / not_null()"
            raise ValueError(msg)
        self._op = op
        self._value = value

    def column_sql(self, column: str, convert: _Convert) -> tuple[str, list[object]]:
        return f"{column} {self._op} ?", [_bind(convert, self._value)]

    def json_sql(self, data: str, path: str, convert: _Convert) -> tuple[str, list[object]]:
        if self._op == "!=":
            sql, params = _json_any(data, path, "value = ?", [_bind(convert, self._value)])
            return f"NOT {sql}", params
        return _json_any(data, path, f"value {self._op} ?", [_bind(convert, self._value)])

    def __repr__(self) -> str:
        return f"<{self._op} {self._value!r}>"


class _Between(Filter):
    __slots__: typing.Sequence[str] = ("_high", "_low")

    def __init__(self, low: object, high: object) -> None:
        self._low = low
        self._high = high

    def column_sql(self, column: str, convert: _Convert) -> tuple[str, list[object]]:
        return f"{column} BETWEEN ? AND ?", [_bind(convert, self._low), _bind(convert, self._high)]

    def json_sql(self, data: str, path: str, convert: _Convert) -> tuple[str, list[object]]:
        return _json_any(data, path, "value BETWEEN ? AND ?", [_bind(convert, self._low), _bind(convert, self._high)])


class _OneOf(Filter):
    __slots__: typing.Sequence[str] = ("_values",)

    def __init__(self, values: Sequence[object]) -> None:
        if any(v is None for v in values):
            msg = "one_of() takes values; use is_null() for None"
            raise ValueError(msg)
        self._values = tuple(values)

    def column_sql(self, column: str, convert: _Convert) -> tuple[str, list[object]]:
        if not self._values:
            return "0", []
        marks = ", ".join("?" * len(self._values))
        return f"{column} IN ({marks})", [_bind(convert, v) for v in self._values]

    def json_sql(self, data: str, path: str, convert: _Convert) -> tuple[str, list[object]]:
        if not self._values:
            return "0", []
        marks = ", ".join("?" * len(self._values))
        return _json_any(data, path, f"value IN ({marks})", [_bind(convert, v) for v in self._values])


class _Null(Filter):
    __slots__: typing.Sequence[str] = ("_is_null",)

    def __init__(self, *, is_null: bool) -> None:
        self._is_null = is_null

    def column_sql(self, column: str, convert: _Convert) -> tuple[str, list[object]]:
        return f"{column} IS {'' if self._is_null else 'NOT '}NULL", []

    def json_sql(self, data: str, path: str, convert: _Convert) -> tuple[str, list[object]]:
        return f"json_type({data}, ?) {'=' if self._is_null else '!='} 'null'", [path]


def _text(text: object) -> str:
    if not isinstance(text, str):
        msg = f"text matching takes a str, not {type(text).__name__}"
        raise TypeError(msg)
    return _encodable(text)


class _Prefix(Filter):
    __slots__: typing.Sequence[str] = ("_high", "_low")

    def __init__(self, text: str) -> None:
        # A range on the text itself: case-sensitive like str.startswith, and able to use an index.
        self._low = _text(text)
        self._high = self._low + "\U0010ffff"

    def column_sql(self, column: str, convert: _Convert) -> tuple[str, list[object]]:
        return f"({column} >= ? AND {column} < ?)", [self._low, self._high]

    def json_sql(self, data: str, path: str, convert: _Convert) -> tuple[str, list[object]]:
        return _json_any(data, path, "value >= ? AND value < ?", [self._low, self._high])


class _Contains(Filter):
    __slots__: typing.Sequence[str] = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = _text(text)

    def column_sql(self, column: str, convert: _Convert) -> tuple[str, list[object]]:
        return f"instr({column}, ?) > 0", [self._text]

    def json_sql(self, data: str, path: str, convert: _Convert) -> tuple[str, list[object]]:
        return _json_any(data, path, "instr(value, ?) > 0", [self._text])


def after(value: object) -> Filter:
    """Greater than ``value`` (later times, higher numbers)."""
    return _Compare(">", value)


def before(value: object) -> Filter:
    """Less than ``value`` (earlier times, lower numbers)."""
    return _Compare("<", value)


def at_least(value: object) -> Filter:
    """Greater than or equal to ``value``."""
    return _Compare(">=", value)


def at_most(value: object) -> Filter:
    """Less than or equal to ``value``."""
    return _Compare("<=", value)


def not_equal(value: object) -> Filter:
    """Different from ``value`` (for a list field: does not contain it)."""
    return _Compare("!=", value)


def between(low: object, high: object) -> Filter:
    """Between ``low`` and ``high``, both included."""
    return _Between(low, high)


def one_of(*values: object) -> Filter:
    """Equal to one of ``values`` (for a list field: contains one of them)."""
    return _OneOf(values)


def is_null() -> Filter:
    """The field is ``None``."""
    return _Null(is_null=True)


def not_null() -> Filter:
    """The field is not ``None``."""
    return _Null(is_null=False)


def startswith(text: str) -> Filter:
    """Text starting with ``text`` (case-sensitive, like `str.startswith`)."""
    return _Prefix(text)


def contains(text: str) -> Filter:
    """Text containing ``text`` (case-sensitive, like ``text in value``)."""
    return _Contains(text)
