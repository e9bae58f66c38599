"""The SQLite and PostgreSQL migrations build the same schema: the same tables, the same columns
in each, the same indexes over the same columns (types differ by backend and are not compared).
A migration written for one backend and forgotten, or written differently, fails here."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from chargemesh.store import open_store

EXPRESSION = "<expression>"  # an index over an expression (e.g. upper(evse_code))

#: the migrations' bookkeeping table, named by each backend's own runner
BOOKKEEPING = {"schema_migrations", "sqlite_sequence"}


def sqlite_schema(path: Path) -> tuple[dict[str, set[str]], dict[str, tuple[str, tuple[str, ...]]]]:
    db = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] not in BOOKKEEPING
        ]
        columns = {t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")} for t in tables}
        indexes: dict[str, tuple[str, tuple[str, ...]]] = {}
        for name, table in db.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ):
            cols = tuple(r[2] or EXPRESSION for r in db.execute(f"PRAGMA index_info({name})"))
            indexes[name] = (table, cols)
        return columns, indexes
    finally:
        db.close()


def postgres_schema(url: str) -> tuple[dict[str, set[str]], dict[str, tuple[str, tuple[str, ...]]]]:
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
        columns: dict[str, set[str]] = {}
        for table, column in rows:
            if table not in BOOKKEEPING:
                columns.setdefault(table, set()).add(column)
        found = db.execute(
            "SELECT i.relname, t.relname, array_agg(a.attname ORDER BY k.ord) "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema() "
            "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "WHERE NOT x.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "  WHERE c.conindid = x.indexrelid AND c.contype = 'u') "
            "GROUP BY i.relname, t.relname"
        ).fetchall()
        indexes = {
            name: (table, tuple(c or EXPRESSION for c in cols))
            for name, table, cols in found
            if table not in BOOKKEEPING
        }
        return columns, indexes


def test_sqlite_and_postgresql_have_the_same_tables_columns_and_indexes(
    tmp_path: Path, postgres_url: str
) -> None:
    path = tmp_path / "schema.db"
    open_store(f"sqlite:///{path}").close()
    open_store(postgres_url).close()
    lite_columns, lite_indexes = sqlite_schema(path)
    pg_columns, pg_indexes = postgres_schema(postgres_url)
    assert len(lite_columns) >= 15  # the whole registry, not an empty database
    assert sorted(lite_columns) == sorted(pg_columns)
    for table, cols in lite_columns.items():
        assert cols == pg_columns[table], table
    assert lite_indexes == pg_indexes
