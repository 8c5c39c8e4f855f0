"""What a store's schema is, read back from the database: each table's columns and indexes.

Used to recognise a store made before migrations (its tables must be 0001's) and, in the tests, to
check that the migrations build exactly what the models describe (a model changed without a
migration fails there). Table comments and column order are left out: neither changes what the
service reads or writes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

# Runs one query (with `?`-free SQL and positional values) and returns its rows as dicts.
Fetch = Callable[[str, list[Any]], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    default: str | None
    primary_key: bool


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class Table:
    columns: frozenset[Column]
    indexes: frozenset[Index]


Schema = dict[str, Table]


async def read_schema(fetch: Fetch, dialect: str, *, skip: tuple[str, ...] = ()) -> Schema:
    """Every table of the current schema (PostgreSQL: `current_schema()`), less `skip`."""
    reader = _read_postgres if dialect == "postgres" else _read_sqlite
    schema = await reader(fetch)
    return {name: table for name, table in schema.items() if name not in skip}


async def _read_sqlite(fetch: Fetch) -> Schema:
    schema: Schema = {}
    names = await fetch("SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%'", [])
    for row in names:
        table = row["name"]
        columns = frozenset(
            Column(c["name"], c["type"].upper(), bool(c["notnull"]), c["dflt_value"],
                   bool(c["pk"]))
            for c in await fetch(f'PRAGMA table_info("{table}")', []))
        indexes = set()
        for index in await fetch(f'PRAGMA index_list("{table}")', []):
            parts = await fetch(f'PRAGMA index_info("{index["name"]}")', [])
            # SQLite names the indexes behind UNIQUE and PRIMARY KEY constraints itself
            # (sqlite_autoindex_<table>_<n>); the constraint's columns identify them.
            name = index["name"] if index["origin"] == "c" else f"({index['origin']})"
            indexes.add(Index(name, tuple(p["name"] for p in parts), bool(index["unique"])))
        schema[table] = Table(columns, frozenset(indexes))
    return schema


_PG_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_value,
       coalesce(a.attnum = ANY(p.conkey), false) AS primary_key
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_constraint p ON p.conrelid = c.oid AND p.contype = 'p'
WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""

_PG_INDEXES = """
SELECT t.relname AS table_name, i.relname AS name, x.indisunique AS is_unique,
       array_to_string(array(
           SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, position)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           ORDER BY k.position), ',') AS columns
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema()
"""

# A serial column's default names its sequence, schema-qualified when the schema is not on the
# search path; the name without the schema is what identifies it.
_SEQUENCE_SCHEMA = re.compile(r"nextval\('(?:[^'.]+\.)")


async def _read_postgres(fetch: Fetch) -> Schema:
    columns: dict[str, set[Column]] = {}
    for c in await fetch(_PG_COLUMNS, []):
        default = c["default_value"]
        if default is not None:
            default = _SEQUENCE_SCHEMA.sub("nextval('", default)
        columns.setdefault(c["table_name"], set()).add(
            Column(c["name"], c["type"], bool(c["not_null"]), default, bool(c["primary_key"])))
    indexes: dict[str, set[Index]] = {}
    for i in await fetch(_PG_INDEXES, []):
        indexes.setdefault(i["table_name"], set()).add(
            Index(i["name"], tuple(i["columns"].split(",")), bool(i["is_unique"])))
    return {table: Table(frozenset(cols), frozenset(indexes.get(table, ())))
            for table, cols in columns.items()}


def differences(expected: Schema, actual: Schema, *, index_names: bool = True) -> list[str]:
    """What `actual` lacks or has otherwise than `expected`, one line each; tables only in
    `actual` are not differences (the caller decides about them). Without `index_names`, an
    index is its columns and uniqueness (names depend on the tool that made it)."""
    found = []
    for name in sorted(expected):
        want, have = expected[name], actual.get(name)
        if have is None:
            found.append(f"table {name} is missing")
            continue
        want_cols = {c.name: c for c in want.columns}
        have_cols = {c.name: c for c in have.columns}
        for col in sorted(want_cols.keys() | have_cols.keys()):
            if col not in have_cols:
                found.append(f"{name}.{col} is missing")
            elif col not in want_cols:
                found.append(f"{name}.{col} is not expected")
            elif want_cols[col] != have_cols[col]:
                found.append(f"{name}.{col} is {_column(have_cols[col])}, expected "
                             f"{_column(want_cols[col])}")

        def key(index: Index) -> tuple[Any, ...]:
            return (index.name if index_names else "", index.columns, index.unique)

        want_idx, have_idx = {key(i) for i in want.indexes}, {key(i) for i in have.indexes}
        found += [f"{name}: index {_index(i)} is missing" for i in sorted(want_idx - have_idx)]
        found += [f"{name}: index {_index(i)} is not expected"
                  for i in sorted(have_idx - want_idx)]
    return found


def _column(column: Column) -> str:
    parts = [column.type, "NOT NULL" if column.not_null else "NULL"]
    if column.primary_key:
        parts.append("PRIMARY KEY")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    return " ".join(parts)


def _index(key: tuple[Any, ...]) -> str:
    name, columns, unique = key
    return f"{'UNIQUE ' if unique else ''}{name + ' ' if name else ''}({', '.join(columns)})"
