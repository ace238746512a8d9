"""The SQL dialects of the SQL backends: the store's SQL is written once (SQLite's) and translated.

The engine, the readers and the queries write SQLite SQL. PostgreSQL runs the same statements
through [`to_postgresql`][], which rewrites the few constructs that differ (once per statement
text, cached):

* ``?`` and ``:name`` placeholders become ``$n`` (named ones keep one number per name);
* ``INSERT OR REPLACE INTO t (...)`` becomes an ``INSERT ... ON CONFLICT (primary key) DO UPDATE``
  of every listed column (all our replaces list every column, so the row ends up the same);
* ``a IS NOT b`` (SQLite's null-safe comparison) becomes ``IS DISTINCT FROM``;
* the change-tracking statements' SQLite-only details (``main.`` prefixes, integer flags, the
  change log's text key column).

SQLite's JSON functions used by the filters (``json_each(data, '$.field')``, ``json_type``) and
``instr`` exist in every PostgreSQL store as SQL functions over ``jsonb`` with SQLite's semantics
([`postgresql_functions`][]), so the filters need no translation. Tables are created from
[`hikaripersist._internal.schema`][] with PostgreSQL types ([`postgresql_schema`][]): ``BIGINT`` for
SQLite's 64-bit integers, ``TEXT COLLATE "C"`` (SQLite compares text by code point), ``JSONB`` for
the entities.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = (
    "TOUCHED_TABLE",
    "TRACK_SETTING",
    "TrackedSpec",
    "Translation",
    "postgresql_functions",
    "postgresql_schema",
    "postgresql_tracking",
    "quote_identifier",
    "to_postgresql",
)

import functools
import re
import typing

from hikaripersist._internal import schema


class TrackedSpec(typing.Protocol):
    """How the engine stores one tracked kind (see ``engine.TRACKED``)."""

    @property
    def table(self) -> str: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def visible(self) -> str: ...
    @property
    def watched(self) -> str: ...
    @property
    def guild(self) -> str | None: ...
    @property
    def channel(self) -> str | None: ...


class Translation(typing.NamedTuple):
    """A statement translated for PostgreSQL."""

    sql: str
    names: tuple[str, ...] | None
    """For ``:name`` placeholders: the parameter names in ``$n`` order; ``None`` for ``?`` ones."""
    returns_rows: bool
    """Whether the statement is a query (its rows are fetched) rather than a change."""


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _primary_keys() -> dict[str, tuple[str, ...]]:
    keys: dict[str, tuple[str, ...]] = {}
    for table, columns in schema.TABLES.items():
        found = re.search(r"PRIMARY KEY \(([^)]*)\)", columns)
        if found:
            keys[table] = tuple(c.strip() for c in found.group(1).split(","))
        else:
            keys[table] = tuple(c.strip().split()[0] for c in columns.split(",") if "PRIMARY KEY" in c)
    return keys


_PRIMARY_KEYS: typing.Final[dict[str, tuple[str, ...]]] = _primary_keys()
_LITERAL: typing.Final = re.compile(r"('(?:[^']|'')*')")
_REPLACE: typing.Final = re.compile(r"^\s*INSERT OR REPLACE INTO (\w+) \(([^)]*)\)")
_IS_NOT: typing.Final = re.compile(r"\bIS NOT (?!NULL\b)")
_MAIN: typing.Final = re.compile(r"\bmain\.")
_FLAG_IMAGE: typing.Final = re.compile(r"THEN 0 ELSE \(([^()]*)\) END")
_TOUCHED_KEY: typing.Final = re.compile(r"\br\.(\w+) = t\.k1\b")
_PLACEHOLDER: typing.Final = re.compile(r"\?|(?<![:\w]):([A-Za-z_]\w*)")


def _rewrite_code(code: str) -> str:
    """Rewrite a stretch of SQL outside string literals."""
    code = _IS_NOT.sub("IS DISTINCT FROM ", code)
    code = _MAIN.sub("", code)
    code = _FLAG_IMAGE.sub(r"THEN 0 ELSE CAST((\1) AS INTEGER) END", code)
    # The change log keeps every kind's first key as text (invite codes are text).
    return _TOUCHED_KEY.sub(
        lambda m: m.group(0) if m.group(1) == "code" else f"r.{m.group(1)} = CAST(t.k1 AS BIGINT)", code
    )


@functools.lru_cache(maxsize=8192)
def to_postgresql(sql: str) -> Translation:
    """Translate one SQLite statement of the store to PostgreSQL (cached per statement text)."""
    suffix = ""
    replaced = _REPLACE.match(sql)
    if replaced:
        table, listed = replaced.group(1), [c.strip() for c in replaced.group(2).split(",")]
        keys = _PRIMARY_KEYS[table]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in listed if c not in keys)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        suffix = f" ON CONFLICT ({', '.join(keys)}) {action}"
        sql = f"INSERT INTO {table} ({replaced.group(2)})" + sql[replaced.end() :]
    parts = _LITERAL.split(sql)
    names: list[str] = []
    positional = 0
    out: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        nonlocal positional
        if match.group(1) is None:
            positional += 1
            return f"${positional}"
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    for index, part in enumerate(parts):
        if index % 2:
            out.append(part)  # a literal
        else:
            out.append(_PLACEHOLDER.sub(placeholder, _rewrite_code(part)))
    text = "".join(out) + suffix
    if names and positional:
        msg = f"a statement mixes ? and :name placeholders: {sql}"
        raise ValueError(msg)
    head = text.lstrip()[:6].upper()
    return Translation(text, tuple(names) if names else None, head in ("SELECT", "WITH R", "VALUES"))


_TYPES: typing.Final = (
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
    (re.compile(r"\bBLOB\b"), "JSONB"),
)


def _columns(definition: str) -> str:
    for pattern, replacement in _TYPES:
        definition = pattern.sub(replacement, definition)
    return definition


def postgresql_schema() -> list[str]:
    """DDL creating the current schema's tables, indexes and views in the connection's schema."""
    statements = [f"CREATE TABLE IF NOT EXISTS {name} ({_columns(cols)})" for name, cols in schema.TABLES.items()]
    statements += [f"CREATE INDEX IF NOT EXISTS {ix} ON {table} ({cols})" for ix, table, cols in schema.INDEXES]
    statements += [
        f"CREATE INDEX IF NOT EXISTS {ix} ON {table} ({cols}) WHERE {cond}"
        for ix, table, cols, cond in schema.PARTIAL_INDEXES
    ]
    statements += [f"CREATE OR REPLACE VIEW {name} AS {query}" for name, query in schema.VIEWS.items()]
    return statements


def _normalized(value: str) -> str:
    # SQLite's json_each gives JSON booleans as the integers 1 and 0.
    return f"CASE WHEN jsonb_typeof({value}) = 'boolean' THEN to_jsonb(({value})::boolean::int) ELSE {value} END"


def postgresql_functions(schema_name: str) -> list[str]:
    """SQL functions giving PostgreSQL SQLite's ``json_each``, ``json_type`` and ``instr`` over ``jsonb``.

    ``json_each(data, '$.field')`` yields the value at the path when it is a scalar, each element
    of an array, or each member of an object (tagged values such as ``{"dt": ...}``) with its key;
    JSON nulls are left out (SQLite yields them as SQL NULLs, which no condition matches).
    """
    s = quote_identifier(schema_name)
    at = "data #> string_to_array(substr(path, 3), '.')"
    return [
        f"CREATE OR REPLACE FUNCTION {s}.json_each(data jsonb, path text) RETURNS TABLE (key text, value jsonb)"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$"
        f" WITH found(v) AS (SELECT {at})"
        f" SELECT NULL::text, {_normalized('v')} FROM found"
        " WHERE jsonb_typeof(v) NOT IN ('array', 'object', 'null')"
        f" UNION ALL SELECT NULL::text, {_normalized('e')} FROM found,"
        " jsonb_array_elements(CASE WHEN jsonb_typeof(v) = 'array' THEN v ELSE '[]'::jsonb END) AS e"
        " WHERE jsonb_typeof(e) <> 'null'"
        f" UNION ALL SELECT o.key, {_normalized('o.value')} FROM found,"
        " jsonb_each(CASE WHEN jsonb_typeof(v) = 'object' THEN v ELSE '{}'::jsonb END) AS o"
        " WHERE jsonb_typeof(o.value) <> 'null' $$",
        f"CREATE OR REPLACE FUNCTION {s}.json_type(data jsonb, path text) RETURNS text"
        f" LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT jsonb_typeof({at}) $$",
        f"CREATE OR REPLACE FUNCTION {s}.instr(haystack text, needle text) RETURNS integer"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT strpos(haystack, needle) $$",
        f"CREATE OR REPLACE FUNCTION {s}.instr(haystack jsonb, needle text) RETURNS integer"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT strpos("
        "CASE WHEN jsonb_typeof(haystack) IN ('string', 'number') THEN haystack #>> '{}' END, needle) $$",
    ]


TOUCHED_TABLE: typing.Final[str] = (
    "CREATE TEMP TABLE IF NOT EXISTS persist_touched (rowid BIGSERIAL, kind TEXT NOT NULL, k1 TEXT NOT NULL,"
    " k2 BIGINT NOT NULL, visible INTEGER NOT NULL, data JSONB, guild_id BIGINT, channel_id BIGINT,"
    " PRIMARY KEY (kind, k1, k2))"
)
"""PostgreSQL's change log: one per writer connection (a temporary table)."""

TRACK_SETTING: typing.Final[str] = "persist.track"
"""The transaction-local setting naming the tracked kinds (``,members,users,``)."""


def postgresql_tracking(schema_name: str, specs: typing.Mapping[str, TrackedSpec]) -> list[str]:
    """Triggers noting a row's state before a batch's event first touches it, per kind.

    PostgreSQL has no temporary triggers: these live with the tables and do nothing unless the
    writer's transaction names the kind in the ``persist.track`` setting (checked in the triggers'
    ``WHEN`` clause, so an untracked write never even calls the function).
    """
    s = quote_identifier(schema_name)
    statements: list[str] = []
    for kind, spec in sorted(specs.items()):
        a = spec.keys[0]
        b = spec.keys[1] if len(spec.keys) > 1 else None

        def image(row: str, *, joined: bool, spec: TrackedSpec = spec, a: str = a) -> str:
            visible = f"CAST(({spec.visible.format(r=row)}) AS INTEGER)"
            if joined:
                visible = f"CASE WHEN {row}.{a} IS NULL THEN 0 ELSE {visible} END"
            guild = f"{row}.{spec.guild}" if spec.guild else "NULL"
            channel = f"{row}.{spec.channel}" if spec.channel else "NULL"
            return f"{visible}, {row}.data, {guild}, {channel}"

        columns = "INSERT INTO pg_temp.persist_touched (kind, k1, k2, visible, data, guild_id, channel_id)"
        join = f"r.{a} = NEW.{a}" + (f" AND r.{b} = NEW.{b}" if b else "")
        name = f"persist_track_{kind}"
        statements.append(
            f"CREATE OR REPLACE FUNCTION {s}.{name}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
            " IF TG_OP = 'INSERT' THEN"
            f" {columns} SELECT '{kind}', NEW.{a}::text, {f'NEW.{b}' if b else '0'}, {image('r', joined=True)}"
            f" FROM (SELECT 1) AS d LEFT JOIN {s}.{spec.table} r ON {join} WHERE true ON CONFLICT DO NOTHING;"
            " RETURN NEW; END IF;"
            f" {columns} VALUES ('{kind}', OLD.{a}::text, {f'OLD.{b}' if b else '0'}, {image('OLD', joined=False)})"
            " ON CONFLICT DO NOTHING;"
            " IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $f$"
        )
        statements.append(
            f"CREATE OR REPLACE TRIGGER {name} BEFORE INSERT OR UPDATE OF {spec.watched} OR DELETE"
            f" ON {s}.{spec.table} FOR EACH ROW"
            f" WHEN (strpos(COALESCE(current_setting('{TRACK_SETTING}', true), ''), ',{kind},') > 0)"
            f" EXECUTE FUNCTION {s}.{name}()"
        )
    return statements
