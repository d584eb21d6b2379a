"""Named SQL blocks from the query files in `sql/` (every `*.sql` but `schema.sql`), loaded
once at import. One file per area (`queries.sql` for the core paths, others beside it).

A block starts with a line `-- name: <identifier>` and runs to the next one; the comments in it
stay with the SQL (they explain it in logs and in pg_stat_statements). Names are unique and no
block is empty: a mistake in the file fails the import with the line that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from importlib import resources

from herald.errors import StoreError

_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>.*?)\s*$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _is_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("--")


def parse_queries(text: str, source: str = "<string>") -> dict[str, str]:
    """Split `text` into {name: sql}; StoreError names the file and line of any mistake."""
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    name: str | None = None
    body: list[str] = []

    def close() -> None:
        if name is not None:
            sql = "\n".join(body).strip()
            if all(_is_blank(line) for line in body):
                raise StoreError(f"{source}:{first_line[name]}: query {name!r} has no SQL")
            queries[name] = sql

    for number, line in enumerate(text.splitlines(), start=1):
        match = _NAME_LINE.match(line)
        if match is None:
            if name is None and not _is_blank(line):
                raise StoreError(f"{source}:{number}: SQL before the first '-- name:' line")
            body.append(line)
            continue
        close()
        name, body = match["name"], []
        if not _IDENTIFIER.match(name):
            raise StoreError(f"{source}:{number}: bad query name {name!r} (use a-z, 0-9, _)")
        if name in first_line:
            raise StoreError(
                f"{source}:{number}: query {name!r} already defined at line {first_line[name]}"
            )
        first_line[name] = number
    close()
    return queries


class Queries(Mapping[str, str]):
    """Read-only {name: sql}; also `queries.create_account` for the same string."""

    def __init__(self, queries: Mapping[str, str]) -> None:
        self._queries = dict(queries)

    def __getitem__(self, name: str) -> str:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no query named {name!r} in store/sql/") from None

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._queries[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r} in store/sql/") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)


def read_sql(name: str) -> str:
    """The text of a packaged file under store/sql/, e.g. 'schema.sql'."""
    return (resources.files("herald.store") / "sql" / name).read_text(encoding="utf-8")


def load_all() -> dict[str, str]:
    """Every named block of every query file; a name defined in two files is an error."""
    merged: dict[str, str] = {}
    where: dict[str, str] = {}
    files = sorted(
        f.name
        for f in (resources.files("herald.store") / "sql").iterdir()
        if f.name.endswith(".sql") and f.name != "schema.sql"
    )
    for name in files:
        for query, sql in parse_queries(read_sql(name), name).items():
            if query in merged:
                raise StoreError(f"{name}: query {query!r} already defined in {where[query]}")
            merged[query], where[query] = sql, name
    return merged


queries = Queries(load_all())
