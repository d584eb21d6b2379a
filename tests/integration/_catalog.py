"""A comparable dump of a database's public schema, read from the catalogs."""

from __future__ import annotations

from typing import Any

import asyncpg

IGNORED = ("schema_migrations", "schema_migrations_pkey")

CATALOG_QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind::text
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace
    """,
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
               coalesce(co.collname, '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'v', 'm', 'p', 'c')
          AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
    """,
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by, min_value, max_value,
               cache_size, cycle
        FROM pg_sequences WHERE schemaname = 'public'
    """,
    "functions": """
        SELECT p.proname, pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    """,
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
        FROM pg_trigger WHERE NOT tgisinternal
    """,
    "types": """
        SELECT t.typname, t.typtype::text
        FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typrelid = 0
          AND t.typelem = 0
    """,
}


async def dump_catalog(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """{kind: sorted rows} for the public schema, without migrate()'s bookkeeping table."""
    dump = {}
    for kind, sql in CATALOG_QUERIES.items():
        rows = [tuple(r) for r in await conn.fetch(sql)]
        dump[kind] = sorted(
            (r for r in rows if not any(str(v) in IGNORED for v in r[:2])), key=repr
        )
    return dump
