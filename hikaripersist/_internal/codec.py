"""Safe, compact, value-directed JSON codec for hikari entities.

Any hikari entity (attrs classes such as `hikari.Member` or `hikari.Message`, slotted classes such
as `hikari.Embed` or `hikari.files.URL`) is turned into a JSON-serialisable tree and back into an
object of the same class whose fields are deeply equal to the original's.

Format
------
JSON scalars pass through: ``str``, ``float``, ``bool`` and ``None``.  A bare JSON integer is a
`hikari.Snowflake` (the most common value by far); every other value is a JSON object:

=================================  ==========================================================
``{"!": "guilds.Member", ...}``    instance of a hikari class: tag (module without ``hikari.``
                                   plus qualname) and the field values by attrs field name
                                   (slot name for non-attrs classes); ``app`` is not stored
``{"channels.ChannelType": 0}``    hikari `int`/`str` subclass (enum, flag, `hikari.Color`,
                                   `hikari.UnicodeEmoji`...), rebuilt with ``cls(value)``
``{"#": 5}``                       exact `int` (positions, counts...)
``{"dt": 1499794027299000}``       UTC `datetime.datetime`, microseconds since the epoch
``{"dtz": "2020-01-01T00:00:00"}`` any other `datetime.datetime` (naive or another offset)
``{"td": 300000000}``              `datetime.timedelta` in microseconds
``{"t": [...]}``                   `tuple` (a bare JSON array is a `list`)
``{"s": [...]}`` / ``{"fs": [..]}`` `set` / `frozenset`
``{"d": {"k": ...}}``              `dict` whose keys are all exact `str`
``{"m": [[k, v], ...]}``           any other `dict` (snowflake or enum keys)
``{"u": 0}``                       `hikari.UNDEFINED`
``{"app": 0}``                     the application (any `hikari.traits.RESTAware`)
``{"b": "base64"}`` / ``{"p": ""}`` `bytes` / `pathlib.Path` (inside `hikari.files` resources)
=================================  ==========================================================

Other mappings (read-only views) are stored as dicts; non-finite floats are not supported (JSON has
none).  Decoding only ever instantiates the types above and classes defined in ``hikari.*`` modules,
looked up in a registry built from hikari's already-imported modules, never from a module path
found in the data.  Malformed data and unknown tags raise `ValueError`.
"""

from __future__ import annotations

__all__ = ("decode", "dumps", "encode", "loads")

import base64
import binascii
import datetime
import keyword
import pathlib
import sys
import types
import typing
from collections.abc import Mapping
from operator import attrgetter, itemgetter

import attrs
from hikari import snowflakes, traits, undefined
from hikari.internal import enums as hikari_enums

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Collection

    _Encoder: typing.TypeAlias = Callable[[typing.Any], typing.Any]
    _Decoder: typing.TypeAlias = Callable[[typing.Any, typing.Any], typing.Any]

_CLASS_KEY = "!"
_INT = "#"
_DATETIME = "dt"
_DATETIME_ISO = "dtz"
_TIMEDELTA = "td"
_TUPLE = "t"
_SET = "s"
_FROZENSET = "fs"
_STR_DICT = "d"
_MAP = "m"
_UNDEFINED = "u"
_APP = "app"
_BYTES = "b"
_PATH = "p"

_APP_FIELD = "app"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_UTC = datetime.timezone.utc
_timedelta = datetime.timedelta
_Snowflake = snowflakes.Snowflake
_NoneType = type(None)
# hikari's enum and flag metaclasses (private, and hidden from type checkers behind stdlib enum).
_ENUM_METAS: tuple[type[typing.Any], ...] = (type(hikari_enums.Enum), type(hikari_enums.Flag))
# Module prefixes whose non-attrs classes are machinery (clients, caches, iterators), not data.
_MACHINERY_MODULES = ("hikari.impl.", "hikari.api.", "hikari.internal.", "hikari.iterators")
_FACTORY = typing.cast("type[typing.Any]", attrs.Factory)  # a class, though typed as a function
# `type` with a declared result, so that values typed Any give a known type to pyright.
_type: Callable[[typing.Any], type[typing.Any]] = type
# Stored as is: JSON scalars, and Snowflake as a bare int (bare ints decode as Snowflake).
_PASSTHROUGH: frozenset[type[typing.Any]] = frozenset({str, _NoneType, bool, float, _Snowflake})


class _Missing:
    __slots__ = ()


_MISSING = _Missing()


class _ClassSpec:
    """What the codec knows about one hikari class, built once per class."""

    __slots__ = ("app_names", "defaults", "field_set", "getter", "names", "tag")

    def __init__(self, cls: type[typing.Any], tag: str) -> None:
        self.tag = tag
        # (name, default value, factory taking the new instance or None) for fields missing in data.
        defaults: list[tuple[str, typing.Any, Callable[[typing.Any], typing.Any] | None]] = []
        names: list[str] = []
        app_names: list[str] = []
        if attrs.has(cls):
            for field in attrs.fields(cls):
                if field.name == _APP_FIELD:
                    app_names.append(field.name)
                    continue
                names.append(field.name)
                defaults.append((field.name, *_default_of(field.default)))
        else:
            for name in _slot_names(cls):
                names.append(name)
                defaults.append((name, None, None))
        self.names: tuple[str, ...] = tuple(names)
        self.field_set: frozenset[str] = frozenset(names)
        self.app_names: tuple[str, ...] = tuple(app_names)
        self.defaults: tuple[tuple[str, typing.Any, Callable[[typing.Any], typing.Any] | None], ...] = tuple(defaults)
        self.getter: Callable[[typing.Any], tuple[typing.Any, ...]] = _tuple_getter(self.names)


def _default_of(default: typing.Any) -> tuple[typing.Any, Callable[[typing.Any], typing.Any] | None]:
    if default is attrs.NOTHING:
        return None, None
    if isinstance(default, _FACTORY):
        factory: Callable[..., typing.Any] = default.factory
        if default.takes_self:
            return None, factory
        return None, lambda _: factory()
    return default, None


def _tuple_getter(names: tuple[str, ...]) -> Callable[[typing.Any], tuple[typing.Any, ...]]:
    # attrgetter fetches every field in one C call, but returns a bare value for a single name.
    if not names:
        return lambda _: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return typing.cast("Callable[[typing.Any], tuple[typing.Any, ...]]", attrgetter(*names))


def _slot_names(cls: type[typing.Any]) -> list[str]:
    names: list[str] = []
    for base in reversed(cls.__mro__):
        slots: typing.Any = base.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            name = typing.cast("str", slot)
            if name in ("__weakref__", "__dict__"):
                continue
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{base.__name__.lstrip('_')}{name}"  # name mangling of private slots
            if name not in names:
                names.append(name)
    return names


################
# Class registry
################

_CLASSES: dict[str, type[typing.Any]] = {}
_scanned_modules = 0


def _tag_of(cls: type[typing.Any]) -> str | None:
    module: typing.Any = getattr(cls, "__module__", None)
    qualname: typing.Any = getattr(cls, "__qualname__", None)
    if not isinstance(module, str) or not module.startswith("hikari.") or not isinstance(qualname, str):
        return None
    if "<locals>" in qualname:
        return None
    return f"{module[7:]}.{qualname}"


def _register_class(cls: type[typing.Any], depth: int = 0) -> None:
    tag = _tag_of(cls)
    if tag is None or _CLASSES.setdefault(tag, cls) is not cls or depth > 4:
        return
    for value in list(vars(cls).values()):
        if isinstance(value, type) and value.__qualname__.startswith(cls.__qualname__ + "."):
            _register_class(value, depth + 1)


def _scan_hikari_modules() -> None:
    """Index every class of the already-imported ``hikari.*`` modules by tag."""
    global _scanned_modules
    modules = [
        m for name, m in list(sys.modules.items()) if name.startswith("hikari.") and isinstance(m, types.ModuleType)
    ]
    if len(modules) == _scanned_modules:
        return
    _scanned_modules = len(modules)
    for module in modules:
        for value in list(vars(module).values()):
            if isinstance(value, type):
                _register_class(typing.cast("type[typing.Any]", value))


def _lookup_class(tag: str) -> type[typing.Any] | None:
    cls = _CLASSES.get(tag)
    if cls is None:
        _scan_hikari_modules()
        cls = _CLASSES.get(tag)
    return cls


def _is_app_class(cls: type[typing.Any]) -> bool:
    return traits.RESTAware in cls.__mro__


def _is_scalar_class(cls: type[typing.Any]) -> bool:
    return isinstance(cls, _ENUM_METAS) or (issubclass(cls, (int, str)) and not issubclass(cls, bool))


def _is_instance_class(cls: type[typing.Any]) -> bool:
    """Whether `cls` is a data class the codec stores field by field."""
    if _is_app_class(cls) or issubclass(cls, BaseException) or _is_scalar_class(cls):
        return False
    if getattr(cls, "__abstractmethods__", None) or cls.__new__ is not object.__new__:
        return False
    if attrs.has(cls):
        return True
    # A plain slotted class (Embed, URL...) whose whole state is its slots; skip clients and caches.
    return not cls.__module__.startswith(_MACHINERY_MODULES) and all(
        "__slots__" in base.__dict__ for base in cls.__mro__ if base is not object
    )


_SPECS: dict[type[typing.Any], _ClassSpec] = {}


def _spec_for(cls: type[typing.Any]) -> _ClassSpec:
    spec = _SPECS.get(cls)
    if spec is None:
        tag = _tag_of(cls)
        if tag is None or _lookup_class(tag) is not cls or not _is_instance_class(cls):
            msg = f"cannot encode {cls.__module__}.{cls.__qualname__}: not a hikari data class"
            raise TypeError(msg)
        spec = _SPECS[cls] = _ClassSpec(cls, tag)
    return spec


##########
# Encoding
##########

_ENCODERS: dict[type[typing.Any], _Encoder] = {}


def _encode(value: typing.Any) -> typing.Any:
    tp = _type(value)
    if tp in _PASSTHROUGH:
        return value
    encoder = _ENCODERS.get(tp)
    if encoder is None:
        encoder = _make_encoder(value)
    return encoder(value)


def _encode_list(value: list[typing.Any]) -> list[typing.Any]:
    passthrough = _PASSTHROUGH
    return [item if type(item) in passthrough else _encode(item) for item in value]


def _encode_dict(value: dict[typing.Any, typing.Any]) -> dict[str, typing.Any]:
    passthrough = _PASSTHROUGH
    if all(type(key) is str for key in value):
        return {_STR_DICT: {key: item if type(item) in passthrough else _encode(item) for key, item in value.items()}}
    return {_MAP: [[_encode(key), _encode(item)] for key, item in value.items()]}


def _encode_datetime(value: datetime.datetime) -> dict[str, typing.Any]:
    if value.tzinfo is _UTC:
        delta = value - _EPOCH
        return {_DATETIME: (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds}
    return {_DATETIME_ISO: value.isoformat()}


def _encode_timedelta(value: datetime.timedelta) -> dict[str, int]:
    return {_TIMEDELTA: (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds}


_ENCODERS.update(
    {
        int: lambda value: {_INT: value},
        list: _encode_list,
        tuple: lambda value: {_TUPLE: _encode_list(value)},
        set: lambda value: {_SET: _encode_list(list(value))},
        frozenset: lambda value: {_FROZENSET: _encode_list(list(value))},
        dict: _encode_dict,
        datetime.datetime: _encode_datetime,
        datetime.timedelta: _encode_timedelta,
        undefined.UndefinedType: lambda _: {_UNDEFINED: 0},
        bytes: lambda value: {_BYTES: base64.b64encode(value).decode("ascii")},
    }
)


def _encode_app(_: typing.Any) -> dict[str, int]:
    return {_APP: 0}


def _instance_encoder(spec: _ClassSpec, names: tuple[str, ...] | None = None) -> _Encoder:
    """The encoder of ``spec``'s class storing ``names`` (default: every field)."""
    tag = spec.tag
    names = spec.names if names is None else names
    missing = _MISSING

    def encode_instance(obj: typing.Any) -> dict[str, typing.Any]:
        # Any object, even one with unset slots: only the fields that are set are stored.
        out: dict[str, typing.Any] = {_CLASS_KEY: tag}
        for name in names:
            value = getattr(obj, name, missing)
            if value is not missing:
                out[name] = _encode(value)
        return out

    return _compile_encoder(tag, names, encode_instance)


def _compile_encoder(tag: str, names: tuple[str, ...], fallback: _Encoder) -> _Encoder:
    """Generate an encoder for objects of class ``tag`` storing the fields ``names``.

    One C call fetches every field, a passthrough value (a string, a snowflake...) is tested for and
    kept as is, anything else goes to `_encode`, and the result is one dict display, in the order of
    ``names``: several times less work than a loop over the fields. An object with an unset slot
    goes to ``fallback``. The generated text holds only field names of the class.
    """
    namespace: dict[str, typing.Any] = {
        "getter": _tuple_getter(names),
        "PT": _PASSTHROUGH,
        "enc": _encode,
        "fallback": fallback,
    }
    values = [f"v{i}" for i in range(len(names))]
    lines = ["def encode_fast(obj, /):"]
    if names:
        lines += [
            "    try:",
            f"        ({', '.join(values)},) = getter(obj)",
            "    except AttributeError:",
            "        return fallback(obj)",
        ]
    for value in values:
        lines += [f"    if type({value}) not in PT:", f"        {value} = enc({value})"]
    items = [f"{_CLASS_KEY!r}: {tag!r}", *(f"{name!r}: {value}" for name, value in zip(names, values, strict=True))]
    lines.append(f"    return {{{', '.join(items)}}}")
    exec(compile("\n".join(lines), f"<hikaripersist encoder of {tag}>", "exec"), namespace)
    return typing.cast("_Encoder", namespace["encode_fast"])


def _make_encoder(value: typing.Any) -> _Encoder:
    """Build and cache the encoder for ``type(value)`` on first sight."""
    tp = _type(value)
    encoder: _Encoder
    tag = _tag_of(tp)
    # Only classes the decoder can find again under the same tag.
    known = tag is not None and _lookup_class(tag) is tp
    if _is_app_class(tp):
        encoder = _encode_app
    elif known and _is_scalar_class(tp):
        encoder = _scalar_encoder(typing.cast("str", tag), tp)
    elif known and _is_instance_class(tp):
        encoder = _instance_encoder(_spec_for(tp))
    elif isinstance(value, pathlib.PurePath):
        encoder = _encode_path
    elif isinstance(value, traits.RESTAware):
        encoder = _encode_app  # an application that only implements the protocol
    elif isinstance(value, Mapping):
        # Read-only views (such as hikari's cache mapping views) are stored as plain dicts.
        encoder = _encode_mapping
    else:
        msg = f"cannot encode value of type {tp.__module__}.{tp.__qualname__}"
        raise TypeError(msg)
    _ENCODERS[tp] = encoder
    return encoder


def _scalar_encoder(tag: str, tp: type[typing.Any]) -> _Encoder:
    if isinstance(tp, _ENUM_METAS):
        return lambda value: {tag: value._value_}
    if issubclass(tp, int):
        return lambda value: {tag: int.__int__(value)}
    return lambda value: {tag: str.__str__(value)}


def _encode_path(value: pathlib.PurePath) -> dict[str, str]:
    return {_PATH: str(value)}


def _encode_mapping(value: Mapping[typing.Any, typing.Any]) -> dict[str, typing.Any]:
    return _encode_dict(dict(value))


def encode(obj: object, *, exclude: Collection[str] = ()) -> typing.Any:
    """Encode a hikari entity (or any supported value) into a JSON-serialisable tree.

    Parameters
    ----------
    obj
        The value to encode, usually a hikari entity such as `hikari.Member`.
    exclude
        Names of top-level fields of `obj` to leave out, for referenced entities stored
        separately (such as ``("user",)`` for a member); re-attach them with
        ``decode(..., overrides=...)``.

    Returns
    -------
    typing.Any
        A tree of dicts, lists, strings, numbers, booleans and ``None``.

    Raises
    ------
    TypeError
        If `obj` contains a value the codec cannot represent.
    ValueError
        If `exclude` names a field `obj` does not have.
    """
    if not exclude:
        return _encode(obj)
    key = (_type(obj), exclude if isinstance(exclude, tuple) else tuple(sorted(exclude)))
    encoder = _EXCLUDING.get(key)
    if encoder is None:
        spec = _spec_for(key[0])
        unknown = set(exclude).difference(spec.field_set)
        if unknown:
            msg = f"{spec.tag} has no field(s) {sorted(unknown)}"
            raise ValueError(msg)
        encoder = _EXCLUDING[key] = _instance_encoder(spec, tuple(n for n in spec.names if n not in exclude))
    return encoder(obj)


# (class, excluded fields) -> encoder of the other fields.
_EXCLUDING: dict[tuple[type[typing.Any], tuple[str, ...]], _Encoder] = {}


##########
# Decoding
##########


def _malformed(what: str, value: typing.Any) -> ValueError:
    return ValueError(f"malformed encoded data: {what}: {value!r:.200}")


def _decode(value: typing.Any, app: typing.Any) -> typing.Any:
    tp = _type(value)
    if tp is int:
        return _Snowflake(value)
    if tp is dict:
        return _decode_object(value, app)
    if tp is list:
        return _decode_list(value, app)
    if tp is str or value is None or tp is bool or tp is float or tp is _Snowflake:
        return value  # (a Snowflake is only met when decoding an in-memory tree from `encode`)
    raise _malformed("not a JSON value", value)


def _decode_list(value: list[typing.Any], app: typing.Any) -> list[typing.Any]:
    # Lists are mostly snowflakes (role ids) or strings: no call for those.
    out: list[typing.Any] = []
    append = out.append
    for item in value:
        tp = _type(item)
        if tp is int:
            append(_Snowflake(item))
        elif tp is str or item is None or tp is bool or tp is float:
            append(item)
        else:
            append(_decode(item, app))
    return out


def _decode_object(data: dict[str, typing.Any], app: typing.Any) -> typing.Any:
    if len(data) == 1:
        ((key, value),) = data.items()
        if key != _CLASS_KEY:
            decoder = _VALUE_DECODERS.get(key)
            if decoder is None:
                decoder = _make_value_decoder(key)
            return decoder(value, app)
    tag = data.get(_CLASS_KEY)
    if tag is None:
        raise _malformed("object without a tag", data)
    if _type(tag) is not str:
        raise _unknown_tag(tag)
    decoder = _INSTANCE_DECODERS.get(tag)
    if decoder is None:
        decoder = _make_instance_decoder(tag)
    return decoder(data, app)


def _expected(tag: str, tp: type[typing.Any], value: typing.Any) -> ValueError:
    return _malformed(f"{tag!r} expects {tp.__name__}", value)


def _decode_int(value: typing.Any, _: typing.Any) -> int:
    if _type(value) is not int:
        raise _expected(_INT, int, value)
    return typing.cast("int", value)


def _decode_datetime(value: typing.Any, _: typing.Any) -> datetime.datetime:
    if _type(value) is not int:
        raise _expected(_DATETIME, int, value)
    seconds, microseconds = divmod(value, 1_000_000)
    return _EPOCH + _timedelta(0, seconds, microseconds)


def _decode_datetime_iso(value: typing.Any, _: typing.Any) -> datetime.datetime:
    if _type(value) is not str:
        raise _expected(_DATETIME_ISO, str, value)
    return datetime.datetime.fromisoformat(value)


def _decode_timedelta(value: typing.Any, _: typing.Any) -> datetime.timedelta:
    if _type(value) is not int:
        raise _expected(_TIMEDELTA, int, value)
    seconds, microseconds = divmod(value, 1_000_000)
    return _timedelta(0, seconds, microseconds)


def _decode_tuple(value: typing.Any, app: typing.Any) -> tuple[typing.Any, ...]:
    if _type(value) is not list:
        raise _expected(_TUPLE, list, value)
    return tuple([_decode(item, app) for item in value])


def _decode_set(value: typing.Any, app: typing.Any) -> set[typing.Any]:
    if _type(value) is not list:
        raise _expected(_SET, list, value)
    return {_decode(item, app) for item in value}


def _decode_frozenset(value: typing.Any, app: typing.Any) -> frozenset[typing.Any]:
    if _type(value) is not list:
        raise _expected(_FROZENSET, list, value)
    return frozenset([_decode(item, app) for item in value])


def _decode_str_dict(value: typing.Any, app: typing.Any) -> dict[str, typing.Any]:
    if _type(value) is not dict:
        raise _expected(_STR_DICT, dict, value)
    return {key: _decode(item, app) for key, item in value.items()}


def _decode_map(value: typing.Any, app: typing.Any) -> dict[typing.Any, typing.Any]:
    if _type(value) is not list:
        raise _expected(_MAP, list, value)
    out: dict[typing.Any, typing.Any] = {}
    for pair in typing.cast("list[typing.Any]", value):
        if type(pair) is not list or len(typing.cast("list[typing.Any]", pair)) != 2:
            raise _malformed("map entry is not a [key, value] pair", pair)
        out[_decode(pair[0], app)] = _decode(pair[1], app)
    return out


def _decode_bytes(value: typing.Any, _: typing.Any) -> bytes:
    if _type(value) is not str:
        raise _expected(_BYTES, str, value)
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise _malformed(str(exc), value) from None


def _decode_path(value: typing.Any, _: typing.Any) -> pathlib.Path:
    if _type(value) is not str:
        raise _expected(_PATH, str, value)
    return pathlib.Path(value)


_VALUE_DECODERS: dict[str, _Decoder] = {
    _INT: _decode_int,
    _DATETIME: _decode_datetime,
    _DATETIME_ISO: _decode_datetime_iso,
    _TIMEDELTA: _decode_timedelta,
    _TUPLE: _decode_tuple,
    _SET: _decode_set,
    _FROZENSET: _decode_frozenset,
    _STR_DICT: _decode_str_dict,
    _MAP: _decode_map,
    _UNDEFINED: lambda _, __: undefined.UNDEFINED,
    _APP: lambda _, app: app,
    _BYTES: _decode_bytes,
    _PATH: _decode_path,
}
# The codec's own value tags (scalar classes' tags join `_VALUE_DECODERS` when first met).
_BUILTIN_TAGS: frozenset[str] = frozenset(_VALUE_DECODERS)
_INSTANCE_DECODERS: dict[str, _Decoder] = {}


def _unknown_tag(tag: typing.Any) -> ValueError:
    return ValueError(f"unknown or disallowed class tag {tag!r:.200}")


def _scalar_members(cls: type[typing.Any]) -> tuple[dict[typing.Any, typing.Any], dict[typing.Any, typing.Any]]:
    """The maps hikari's enums and flags keep: value -> member, and value -> combination of flags seen.

    A dict lookup instead of a metaclass call (for a combination, one that raises and catches a
    `KeyError` first); a value in neither map still goes through ``cls(value)``.
    """
    members: dict[typing.Any, typing.Any] = getattr(cls, "_value_to_member_map_", None) or {}
    combined: dict[typing.Any, typing.Any] = getattr(cls, "_temp_members_", None) or {}
    return members, combined


def _make_value_decoder(tag: str) -> _Decoder:
    cls = _lookup_class(tag)
    if cls is None or not _is_scalar_class(cls):
        raise _unknown_tag(tag)
    raw_type = int if issubclass(cls, int) else str
    members, combined = _scalar_members(cls)

    def decode_scalar(value: typing.Any, _: typing.Any) -> typing.Any:
        if _type(value) is not raw_type:
            raise _expected(tag, raw_type, value)
        member = members.get(value)
        if member is None:  # (not `or`: a member may be falsy, such as a flag's NONE)
            member = combined.get(value)
        return cls(value) if member is None else member

    _VALUE_DECODERS[tag] = decode_scalar
    return decode_scalar


def _make_instance_decoder(tag: str) -> _Decoder:
    cls = _lookup_class(tag)
    if cls is None or not _is_instance_class(cls):
        raise _unknown_tag(tag)
    spec = _SPECS.get(cls) or _SPECS.setdefault(cls, _ClassSpec(cls, tag))
    generic = _generic_instance_decoder(cls, spec)
    names = spec.names
    layouts: dict[frozenset[str], _Decoder] = {}

    def other_layout(data: dict[str, typing.Any], app: typing.Any) -> typing.Any:
        absent = frozenset([name for name in names if name not in data])
        if len(data) != len(names) - len(absent) + 1:  # keys this class lacks: only the generic path drops them
            return generic(data, app)
        decoder = layouts.get(absent)
        if decoder is None:
            if len(layouts) >= _LAYOUTS_PER_CLASS:
                return generic(data, app)
            decoder = layouts[absent] = _compile_layout(cls, spec, data, generic)
        return decoder(data, app)

    def first_use(data: dict[str, typing.Any], app: typing.Any) -> typing.Any:
        # The first layout met (usually the only one: what this version encodes) gets the direct
        # entry; any other goes through `other_layout`.
        absent = frozenset([name for name in names if name not in data])
        if len(data) != len(names) - len(absent) + 1:
            return generic(data, app)
        decoder = _INSTANCE_DECODERS[tag] = _compile_layout(cls, spec, data, other_layout)
        return decoder(data, app)

    _INSTANCE_DECODERS[tag] = first_use
    return first_use


# Layouts (sets of absent fields) compiled per class; further ones take the generic path.
_LAYOUTS_PER_CLASS: typing.Final[int] = 8


def _generic_instance_decoder(cls: type[typing.Any], spec: _ClassSpec) -> _Decoder:
    """Decode any set of stored fields: unknown ones are dropped, missing ones get their default."""
    new = typing.cast("Callable[[type[typing.Any]], typing.Any]", cls.__new__)
    setattr_ = setattr if cls.__setattr__ is object.__setattr__ else object.__setattr__
    field_set = spec.field_set
    app_names = spec.app_names
    defaults = spec.defaults

    def decode_instance(data: dict[str, typing.Any], app: typing.Any) -> typing.Any:
        obj = new(cls)
        for name, value in data.items():
            if name in field_set:  # stored fields this hikari version lacks are dropped
                setattr_(obj, name, _decode(value, app))
        # Fields added by a newer hikari (or excluded on encode): attrs default, else None.
        for name, default, factory in defaults:
            if name not in data:
                setattr_(obj, name, default if factory is None else factory(obj))
        for name in app_names:
            setattr_(obj, name, app)
        return obj

    return decode_instance


def _compile_layout(
    cls: type[typing.Any], spec: _ClassSpec, sample: dict[str, typing.Any], fallback: _Decoder
) -> _Decoder:
    """Generate a decoder for the objects of ``cls`` stored with the same fields as ``sample``.

    Straight-line code (a local per field, value tags inlined, attributes stored by name) is several
    times faster than a loop over the fields with ``setattr``; each field first tests for the type
    its value has in ``sample`` (the same field mostly holds the same type). The generated text holds
    only field names of ``cls`` (never anything from the data); data of any other layout goes to
    ``fallback``.
    """
    absent = frozenset([name for name in spec.names if name not in sample])
    frozen = cls.__setattr__ is not object.__setattr__
    present = [name for name in spec.names if name not in absent]
    namespace: dict[str, typing.Any] = {
        "new": cls.__new__,
        "cls": cls,
        "S": _Snowflake,
        "dobj": _decode_object,
        "dlist": _decode_list,
        "dec": _decode,
        "fallback": fallback,
        "osa": object.__setattr__,
    }

    def store(name: str, value: str) -> str:
        if frozen or not name.isidentifier() or keyword.iskeyword(name):
            return f"    osa(o, {name!r}, {value})"
        return f"    o.{name} = {value}"

    lines = [
        "def decode_layout(data, app, /):",
        f"    if len(data) != {len(present) + 1}:",
        "        return fallback(data, app)",
    ]
    if len(present) > 1:
        # One C call fetches every value (and raises KeyError for a missing one).
        namespace["values_of"] = itemgetter(*present)
        lines += [
            "    try:",
            f"        {', '.join(f'v{i}' for i in range(len(present)))} = values_of(data)",
            "    except KeyError:",
            "        return fallback(data, app)",
        ]
    elif present:
        lines += [
            "    try:",
            f"        v0 = data[{present[0]!r}]",
            "    except KeyError:",
            "        return fallback(data, app)",
        ]
    lines.append("    o = new(cls)")
    for i, name in enumerate(present):
        lines += _field_lines(f"v{i}", sample[name], namespace)
        lines.append(store(name, f"v{i}"))
    # Fields added by a newer hikari (or excluded on encode): attrs default, else None.
    for i, (name, default, factory) in enumerate(spec.defaults):
        if name in absent:
            namespace[f"default{i}"] = default
            namespace[f"factory{i}"] = factory
            lines.append(store(name, f"default{i}" if factory is None else f"factory{i}(o)"))
    lines.extend(store(name, "app") for name in spec.app_names)
    lines.append("    return o")
    exec(compile("\n".join(lines), f"<hikaripersist decoder of {spec.tag}>", "exec"), namespace)
    return typing.cast("_Decoder", namespace["decode_layout"])


def _field_lines(v: str, sample: typing.Any, namespace: dict[str, typing.Any]) -> list[str]:
    """Code decoding the local ``v`` in place: inline for a value like ``sample``, else with `_decode`."""
    sample_type = _type(sample)
    if sample is None:
        return [f"    if {v} is not None:", f"        {v} = dec({v}, app)"]
    if sample_type in (str, bool, float):  # (passed through by `_decode` too)
        return [f"    if type({v}) is not {sample_type.__name__}:", f"        {v} = dec({v}, app)"]
    if sample_type is int:
        return [f"    {v} = S({v}) if type({v}) is int else dec({v}, app)"]
    if sample_type is list:
        return [f"    {v} = dlist({v}, app) if type({v}) is list else dec({v}, app)"]
    if sample_type is dict and len(sample) == 1:
        # A tagged value (a time, an enum or flag): its tag tested first, its decoding inlined.
        ((tag, _),) = typing.cast("dict[str, typing.Any]", sample).items()
        scalar = _lookup_class(tag) if tag not in _BUILTIN_TAGS else None
        test = f"    if type({v}) is dict and len({v}) == 1 and type(r := {v}.get({tag!r}, M)) is"
        if tag == _DATETIME:
            namespace.update(EPOCH=_EPOCH, TD=_timedelta, M=_MISSING)
            return [
                f"{test} int:",
                f"        {v} = EPOCH + TD(0, 0, r)",  # (timedelta splits the microseconds itself)
                "    else:",
                f"        {v} = dec({v}, app)",
            ]
        if scalar is not None and _is_scalar_class(scalar):
            raw_type = int if issubclass(scalar, int) else str
            members, combined = _scalar_members(scalar)
            namespace.update({f"C_{v}": scalar, f"MM_{v}": members, f"MC_{v}": combined, "M": _MISSING})
            return [
                f"{test} {raw_type.__name__}:",
                f"        m_ = MM_{v}.get(r)",
                "        if m_ is None:",
                f"            m_ = MC_{v}.get(r)",
                f"        {v} = C_{v}(r) if m_ is None else m_",
                "    else:",
                f"        {v} = dec({v}, app)",
            ]
    if sample_type is dict:
        return [f"    {v} = dobj({v}, app) if type({v}) is dict else dec({v}, app)"]
    return [f"    {v} = dec({v}, app)"]


# What decoding malformed data may raise besides ValueError (reported as ValueError).
_DATA_ERRORS: tuple[type[Exception], ...] = (TypeError, KeyError, AttributeError, OverflowError, RecursionError)


def decode(
    data: typing.Any, app: traits.RESTAware | None, *, overrides: Mapping[str, typing.Any] | None = None
) -> typing.Any:
    """Rebuild the value `data` was encoded from.

    Parameters
    ----------
    data
        A tree produced by `encode` (or parsed from `dumps` output).
    app
        The application to set on every ``app`` field (and every stored app reference).
    overrides
        Top-level fields to set on the decoded entity, typically the referenced entities that
        were left out with ``encode(..., exclude=...)``.

    Returns
    -------
    typing.Any
        The decoded value; hikari entities are of their original class.

    Raises
    ------
    ValueError
        If `data` is malformed, names a class that is not an allowed hikari class, or
        `overrides` names a field the decoded entity does not have.
    """
    try:
        result = _decode(data, app)
    except ValueError:
        raise
    except _DATA_ERRORS as exc:
        msg = f"malformed encoded data: {exc}"
        raise ValueError(msg) from exc
    if overrides:
        spec = _SPECS.get(_type(result))
        if spec is None:
            msg = "overrides given but the decoded value is not a hikari entity"
            raise ValueError(msg)
        for name, value in overrides.items():
            if name not in spec.field_set:
                msg = f"{spec.tag} has no field {name!r}"
                raise ValueError(msg)
            object.__setattr__(result, name, value)
    return result


###############
# Serialisation
###############


def _json_backend() -> tuple[Callable[[typing.Any], bytes], Callable[[bytes | str], typing.Any]]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; keep a working fallback
        import json

        def json_dumps(value: typing.Any) -> bytes:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

        return json_dumps, json.loads
    return orjson.dumps, orjson.loads


_dumps, _loads = _json_backend()


def dumps(obj: object, *, exclude: Collection[str] = ()) -> bytes:
    """Encode `obj` and serialise it to compact JSON.

    Parameters
    ----------
    obj
        The value to encode.
    exclude
        Top-level fields to leave out, as for `encode`.

    Returns
    -------
    bytes
        UTF-8 JSON.
    """
    return _dumps(encode(obj, exclude=exclude))


def loads(
    raw: bytes | str, app: traits.RESTAware | None, *, overrides: Mapping[str, typing.Any] | None = None
) -> typing.Any:
    """Parse JSON produced by `dumps` and decode it.

    Parameters
    ----------
    raw
        The JSON document.
    app
        The application to set on the decoded entities.
    overrides
        Top-level fields to set, as for `decode`.

    Returns
    -------
    typing.Any
        The decoded value.

    Raises
    ------
    ValueError
        If `raw` is not valid JSON or not valid encoded data.
    """
    if overrides:
        return decode(_loads(raw), app, overrides=overrides)
    data = _loads(raw)
    try:  # `decode` without overrides, inlined: readers call this once per stored entity
        if _type(data) is dict:
            # An entity whose class was met before: straight to its decoder.
            tag = data.get(_CLASS_KEY)
            decoder = _INSTANCE_DECODERS.get(tag) if _type(tag) is str else None
            if decoder is not None:
                return decoder(data, app)
        return _decode(data, app)
    except ValueError:
        raise
    except _DATA_ERRORS as exc:
        msg = f"malformed encoded data: {exc}"
        raise ValueError(msg) from exc
