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
    "MYSQL_COLLATION",
    "MYSQL_TOUCHED_TABLE",
    "MYSQL_TRACK_VARIABLE",
    "TOUCHED_TABLE",
    "TRACK_SETTING",
    "JSONBlock",
    "MySQLTranslation",
    "TrackedSpec",
    "Translation",
    "mysql_indexes",
    "mysql_schema",
    "mysql_tracking",
    "postgresql_functions",
    "postgresql_literals",
    "postgresql_schema",
    "postgresql_tracking",
    "quote_identifier",
    "render_mysql",
    "to_mysql",
    "to_postgresql",
)

import functools
import re
import typing

from hikaripersist._internal import schema

if typing.TYPE_CHECKING:
    from collections.abc import Sequence


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


def _postgresql_literal(value: object) -> str | None:
    """``value`` as a PostgreSQL literal (standard-conforming strings), or ``None`` if it is not one we write."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        # Parenthesised: "- -1" must not become a comment ("--1").
        return f"({int(value)})" if value < 0 else str(int(value))
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return None
    if isinstance(value, str):
        # Text cannot hold NUL: leave it to the driver, which reports it.
        return None if "\x00" in value else "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        return f"({value!r}::float8)"
    return None


def postgresql_literals(arguments: Sequence[object]) -> str | None:
    """``arguments`` as a comma-separated list of PostgreSQL literals, or ``None`` if one cannot be written.

    Untyped literals take the type their place asks for, as parameters do. The writer's session
    keeps ``standard_conforming_strings`` on (PostgreSQL's default), so doubling quotes is the
    whole escaping of text.
    """
    out: list[str] = []
    for argument in arguments:
        literal = _postgresql_literal(argument)
        if literal is None:
            return None
        out.append(literal)
    return ", ".join(out)


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


# --- MySQL / MariaDB ------------------------------------------------------------------------------

MYSQL_COLLATION: typing.Final[str] = "utf8mb4_bin"
"""Text compares by code point, like SQLite (a binary collation of UTF-8)."""

MYSQL_TRACK_VARIABLE: typing.Final[str] = "@persist_track"
"""The writer connection's user variable naming the tracked kinds (``,members,users,``)."""

# A text column in a key or an index needs a bounded length (3072 bytes per key, 4 per character).
_MYSQL_KEY_TEXT: typing.Final[str] = f"VARCHAR(700) COLLATE {MYSQL_COLLATION}"
_MYSQL_TEXT: typing.Final[str] = f"LONGTEXT COLLATE {MYSQL_COLLATION}"
_MYSQL_TABLE_OPTIONS: typing.Final[str] = f"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={MYSQL_COLLATION}"
_MYSQL_RESERVED_COLUMNS: typing.Final[frozenset[str]] = frozenset(("key",))
_MYSQL_KEY_WORD: typing.Final = re.compile(r"(?<!PRIMARY )(?<!DUPLICATE )(?<![\w.`])key\b(?!`)")
_JSON_EACH: typing.Final = re.compile(r"EXISTS \(SELECT 1 FROM json_each\(([\w.]+), \?\) WHERE ")
_JSON_TYPE: typing.Final = re.compile(r"\bjson_type\(([\w.]+), \?\)")
_JSON_PATH: typing.Final = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_CONFLICT_UPDATE: typing.Final = re.compile(r"\s*ON CONFLICT \([^)]*\) DO UPDATE SET\s+")
_CONFLICT_NOTHING: typing.Final = re.compile(r"\s*ON CONFLICT(?: \([^)]*\))? DO NOTHING")
_ALIASED_DELETE: typing.Final = re.compile(r"^\s*DELETE FROM (\w+) AS (\w+) ")
_EXCLUDED: typing.Final = re.compile(r"\bexcluded\.(\w+)")
_OPERAND: str = r"(?:'(?:[^']|'')*'|[\w.?]+)"
_MYSQL_IS_NOT: typing.Final = re.compile(rf"({_OPERAND}) IS NOT (?!NULL\b)({_OPERAND})")
_NUMERIC_JSON: typing.Final[str] = "'INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL'"


class JSONBlock(typing.NamedTuple):
    """A ``json_each`` filter of a MySQL statement: rendered per execution (its path must be a literal)."""

    data: str
    """The JSON column."""
    path: int
    """Index of the path among the statement's arguments (it is inlined, not bound)."""
    condition: tuple[int, ...]
    """Indexes of the arguments the condition on the values compares with."""
    text: bool
    """Whether the condition matches text (``instr``): numbers are compared as their text too."""


class MySQLTranslation(typing.NamedTuple):
    """A statement translated for MySQL/MariaDB (``%s`` placeholders; ``%`` escaped)."""

    sql: str
    names: tuple[str, ...] | None
    """For ``:name`` placeholders: the name of each ``%s`` in order; ``None`` for ``?`` ones."""
    json: tuple[JSONBlock, ...] = ()
    """The ``json_each`` filters, whose paths [`render_mysql`][] inlines."""


def _closing(sql: str, start: int) -> int:
    """Index of the parenthesis closing the one open before ``start``."""
    depth = 1
    quoted = False
    for index in range(start, len(sql)):
        char = sql[index]
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    msg = f"unbalanced parentheses: {sql}"
    raise ValueError(msg)


def _mysql_json(sql: str) -> tuple[str, tuple[JSONBlock, ...]]:
    """Mark the ``json_each`` filters (rendered per execution) and rewrite ``json_type``."""
    blocks: list[JSONBlock] = []
    out: list[str] = []
    position = 0
    while found := _JSON_EACH.search(sql, position):
        close = _closing(sql, found.end())
        condition = sql[found.end() : close]
        condition = condition.replace(" AND key IS NOT 'u'", "").replace("key IS NOT 'u' AND ", "")
        before = sql[: found.start()]
        first = before.count("?")
        n = len(blocks)
        blocks.append(
            JSONBlock(
                found.group(1),
                first,
                tuple(range(first + 1, first + 1 + condition.count("?"))),
                "instr(value" in condition,
            )
        )
        condition = re.sub(r"\bvalue\b", f"\x00V{n}\x00", condition)
        out.append(sql[position : found.start()])
        out.append(f"EXISTS (SELECT 1 FROM \x00J{n}\x00 WHERE \x00U{n}\x00 AND {condition})")
        position = close + 1
    out.append(sql[position:])
    text = "".join(out)
    text = _JSON_TYPE.sub(r"LOWER(JSON_TYPE(JSON_EXTRACT(\1, ?)))", text)
    return text, tuple(blocks)


def _mysql_code(code: str) -> str:
    code = _MYSQL_IS_NOT.sub(r"NOT (\1 <=> \2)", code)
    code = _MAIN.sub("", code)
    code = _MYSQL_KEY_WORD.sub("`key`", code)
    code = code.replace("%", "%%")
    return _TOUCHED_KEY.sub(
        lambda m: m.group(0) if m.group(1) == "code" else f"r.{m.group(1)} = CAST(t.k1 AS SIGNED)", code
    )


@functools.lru_cache(maxsize=8192)
def to_mysql(sql: str) -> MySQLTranslation:
    """Translate one SQLite statement of the store to MySQL/MariaDB (cached per statement text).

    * ``?`` and ``:name`` placeholders become ``%s`` (named ones repeated per use);
    * ``INSERT OR REPLACE`` and ``ON CONFLICT (...) DO UPDATE SET x = excluded.x`` become
      ``INSERT ... ON DUPLICATE KEY UPDATE x = VALUES(x)`` (every table has only its primary key
      as unique key); ``ON CONFLICT DO NOTHING`` becomes ``INSERT IGNORE``;
    * ``a IS NOT b`` becomes ``NOT (a <=> b)``; the column ``key`` is quoted;
    * ``json_each`` filters become ``JSON_TABLE`` over the path (inlined per execution by
      [`render_mysql`][]), ``json_type(data, ?)`` a ``JSON_TYPE`` of ``JSON_EXTRACT``.
    """
    suffix = ""
    replaced = _REPLACE.match(sql)
    if replaced:
        table, listed = replaced.group(1), [c.strip() for c in replaced.group(2).split(",")]
        keys = _PRIMARY_KEYS[table]
        updates = ", ".join(f"{c} = VALUES({c})" for c in listed if c not in keys) or f"{keys[0]} = {keys[0]}"
        suffix = f" ON DUPLICATE KEY UPDATE {updates}"
        sql = f"INSERT INTO {table} ({replaced.group(2)})" + sql[replaced.end() :]
    conflict = _CONFLICT_UPDATE.search(sql)
    if conflict:
        head, tail = sql[: conflict.start()], sql[conflict.end() :]
        sql = head + " ON DUPLICATE KEY UPDATE " + _EXCLUDED.sub(r"VALUES(\1)", tail)
    nothing = _CONFLICT_NOTHING.search(sql)
    if nothing:
        sql = sql[: nothing.start()] + sql[nothing.end() :]
        sql = re.sub(r"^\s*INSERT INTO", "INSERT IGNORE INTO", sql)
    # MariaDB takes a single-table DELETE's alias only in the multiple-table form.
    sql = _ALIASED_DELETE.sub(r"DELETE \2 FROM \1 AS \2 ", sql)
    sql, blocks = _mysql_json(sql)
    parts = _LITERAL.split(sql)
    names: list[str] = []
    positional = 0
    out: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        nonlocal positional
        if match.group(1) is None:
            positional += 1
        else:
            names.append(match.group(1))
        return "%s"

    for index, part in enumerate(parts):
        if index % 2:
            out.append(part.replace("%", "%%"))  # a literal
        else:
            out.append(_PLACEHOLDER.sub(placeholder, _mysql_code(part)))
    text = "".join(out) + suffix
    if names and positional:
        msg = f"a statement mixes ? and :name placeholders: {sql}"
        raise ValueError(msg)
    return MySQLTranslation(text, tuple(names) if names else None, blocks)


def _json_value(expression: str, kind: str) -> str:
    """SQL for a ``json_each`` value (JSON) as SQLite would compare it with a number or text."""
    if kind == "number":
        return (
            f"(CASE WHEN JSON_TYPE({expression}) IN ({_NUMERIC_JSON})"
            f" THEN CAST(JSON_UNQUOTE({expression}) AS DECIMAL(65, 20))"
            f" WHEN JSON_TYPE({expression}) = 'BOOLEAN' THEN (JSON_UNQUOTE({expression}) = 'true') END)"
        )
    types = f"'STRING', {_NUMERIC_JSON}" if kind == "text" else "'STRING'"
    return (
        f"(CASE WHEN JSON_TYPE({expression}) IN ({types})"
        f" THEN CONVERT(JSON_UNQUOTE({expression}) USING utf8mb4) END COLLATE {MYSQL_COLLATION})"
    )


def render_mysql(translation: MySQLTranslation, arguments: Sequence[typing.Any]) -> tuple[str, Sequence[typing.Any]]:
    """The statement to run with ``arguments``: the ``json_each`` paths inlined as literals."""
    if not translation.json:
        return translation.sql, arguments
    sql = translation.sql
    inlined: set[int] = set()
    for n, block in enumerate(translation.json):
        path = arguments[block.path]
        if not isinstance(path, str) or not _JSON_PATH.match(path):
            msg = f"not a JSON path of a field: {path!r}"
            raise ValueError(msg)
        inlined.add(block.path)
        compared = [arguments[i] for i in block.condition]
        kind = "text" if block.text else ("string" if any(isinstance(v, str) for v in compared) else "number")
        alias = f"je{n}"
        table = (
            f"JSON_TABLE({block.data}, '{path}' COLUMNS (v JSON PATH '$',"
            " NESTED PATH '$[*]' COLUMNS (e JSON PATH '$'), NESTED PATH '$.*' COLUMNS (o JSON PATH '$'))) AS"
            f" {alias}"
        )
        value = _json_value(f"COALESCE({alias}.e, {alias}.o, {alias}.v)", kind)
        # UNDEFINED is stored as {"u": 0}: never a match.
        undefined = f"NOT ({alias}.o IS NOT NULL AND JSON_CONTAINS_PATH({alias}.v, 'one', '$.u'))"
        sql = (
            sql.replace(f"\x00J{n}\x00", table.replace("%", "%%"))
            .replace(f"\x00V{n}\x00", value)
            .replace(f"\x00U{n}\x00", undefined)
        )
    return sql, [a for i, a in enumerate(arguments) if i not in inlined]


def _split_columns(definition: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in definition:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _mysql_identifier(name: str) -> str:
    return f"`{name}`" if name in _MYSQL_RESERVED_COLUMNS else name


def _mysql_table(name: str, definition: str, keyed: set[str]) -> str:
    columns: list[str] = []
    # The indexes are created with the table (one statement: DDL is slow on MySQL).
    indexes = [f"INDEX {ix} ({cols})" for ix, table, cols in mysql_indexes() if table == name]
    for column in _split_columns(definition):
        if column.startswith("PRIMARY KEY"):
            inner = column[column.index("(") + 1 : column.rindex(")")]
            listed = ", ".join(_mysql_identifier(c.strip()) for c in inner.split(","))
            columns.append(f"PRIMARY KEY ({listed})")
            continue
        words = column.split()
        col, rest = words[0], " ".join(words[1:])
        text = f" {rest} "
        key_text = col in keyed or "PRIMARY KEY" in rest
        text = re.sub(r" INTEGER ", " BIGINT ", text)
        text = re.sub(r" TEXT ", f" {_MYSQL_KEY_TEXT if key_text else _MYSQL_TEXT} ", text)
        text = re.sub(r" BLOB ", f" {_MYSQL_TEXT} ", text)
        columns.append(f"{_mysql_identifier(col)} {text.strip()}")
    return f"CREATE TABLE IF NOT EXISTS {name} ({', '.join([*columns, *indexes])}) {_MYSQL_TABLE_OPTIONS}"


def mysql_indexes() -> list[tuple[str, str, str]]:
    """(index, table, columns) of the current schema; partial indexes become plain ones."""
    return [*schema.INDEXES, *((ix, table, cols) for ix, table, cols, _ in schema.PARTIAL_INDEXES)]


def mysql_schema() -> list[str]:
    """DDL creating the current schema's tables with their indexes, and its views.

    Indexes added to an existing table later are created separately (see [`mysql_indexes`][]).
    """
    keyed: dict[str, set[str]] = {}
    for _, table, cols in mysql_indexes():
        keyed.setdefault(table, set()).update(c.strip() for c in cols.split(","))
    for table, keys in _PRIMARY_KEYS.items():
        keyed.setdefault(table, set()).update(keys)
    statements = [_mysql_table(name, cols, keyed.get(name, set())) for name, cols in schema.TABLES.items()]
    statements.append(MYSQL_TOUCHED_TABLE)
    statements += [
        f"CREATE OR REPLACE VIEW {name} AS {to_mysql(query).sql.replace('%%', '%')}"
        for name, query in schema.VIEWS.items()
    ]
    return statements


MYSQL_TOUCHED_TABLE: typing.Final[str] = (
    "CREATE TABLE IF NOT EXISTS persist_touched (rowid BIGINT NOT NULL AUTO_INCREMENT,"
    " kind VARCHAR(32) NOT NULL, k1 VARCHAR(255) NOT NULL, k2 BIGINT NOT NULL, visible INTEGER NOT NULL,"
    f" data {_MYSQL_TEXT}, guild_id BIGINT, channel_id BIGINT, PRIMARY KEY (kind, k1, k2), UNIQUE KEY (rowid))"
    f" {_MYSQL_TABLE_OPTIONS}"
)
"""MySQL's change log: a table of the store, empty between batches (writers take turns)."""


def mysql_tracking(specs: typing.Mapping[str, TrackedSpec]) -> list[str]:
    """Triggers noting a row's state before a batch's event first touches it, per kind.

    Each ``CREATE TRIGGER`` follows a ``DROP TRIGGER`` of the same trigger (run it when the trigger
    exists: MySQL has no ``CREATE OR REPLACE TRIGGER``).

    They live with the tables and do nothing unless the writer's connection names the kind in
    ``@persist_track`` (MySQL has no transaction-local settings; the writer clears it after each
    batch).
    """
    statements: list[str] = []
    columns = "INSERT IGNORE INTO persist_touched (kind, k1, k2, visible, data, guild_id, channel_id)"
    for kind, spec in sorted(specs.items()):
        a = spec.keys[0]
        b = spec.keys[1] if len(spec.keys) > 1 else None
        gate = f"{MYSQL_TRACK_VARIABLE} LIKE '%,{kind},%'"

        def image(row: str, *, joined: bool, spec: TrackedSpec = spec, a: str = a) -> str:
            visible = f"({spec.visible.format(r=row)})"
            if joined:
                visible = f"CASE WHEN {row}.{a} IS NULL THEN 0 ELSE {visible} END"
            guild = f"{row}.{spec.guild}" if spec.guild else "NULL"
            channel = f"{row}.{spec.channel}" if spec.channel else "NULL"
            return f"{visible}, {row}.data, {guild}, {channel}"

        join = f"r.{a} = NEW.{a}" + (f" AND r.{b} = NEW.{b}" if b else "")
        watched = " OR ".join(f"NOT (OLD.{c.strip()} <=> NEW.{c.strip()})" for c in spec.watched.split(","))
        old = f"{columns} VALUES ('{kind}', OLD.{a}, {f'OLD.{b}' if b else '0'}, {image('OLD', joined=False)});"
        name = f"persist_track_{kind}"
        bodies = {
            "insert": (
                "INSERT",
                f"IF {gate} THEN {columns} SELECT '{kind}', NEW.{a}, {f'NEW.{b}' if b else '0'},"
                f" {image('r', joined=True)} FROM (SELECT 1) AS d LEFT JOIN {spec.table} r ON {join}; END IF;",
            ),
            "update": ("UPDATE", f"IF {gate} AND ({watched}) THEN {old} END IF;"),
            "delete": ("DELETE", f"IF {gate} THEN {old} END IF;"),
        }
        for suffix, (event, body) in bodies.items():
            statements.append(f"DROP TRIGGER {name}_{suffix}")
            statements.append(
                f"CREATE TRIGGER {name}_{suffix} BEFORE {event} ON {spec.table} FOR EACH ROW BEGIN {body} END"
            )
    return statements
