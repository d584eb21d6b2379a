"""The send path's named rows mirror the SQL row types they are sent as (schema.sql)."""

from __future__ import annotations

import re
from typing import cast

import pytest

from herald.store.queries import read_sql
from herald.store.send_rows import PartOutcome, Receipt, StatusMove

# Python annotation -> the SQL types a field of that annotation may have
_SQL_TYPES = {
    "int": {"bigint", "smallint", "integer"},
    "int | None": {"bigint", "smallint", "integer"},
    "str": {"text"},
    "str | None": {"text"},
    "float": {"double precision"},
    "float | None": {"double precision"},
}


def sql_row_type(name: str) -> list[tuple[str, str]]:
    """(field, type) of `CREATE TYPE name AS (...)` in schema.sql, in order."""
    schema = read_sql("schema.sql")
    match = re.search(rf"CREATE TYPE {name} AS \((.*?)\n\);", schema, re.S)
    assert match, f"no row type {name} in schema.sql"
    fields = []
    for line in match[1].splitlines():
        line = line.split("--")[0].strip().rstrip(",")
        if line:
            field, sql_type = line.split(None, 1)
            fields.append((field, sql_type.strip()))
    return fields


@pytest.mark.parametrize(
    ("row", "sql_name"), [(PartOutcome, "part_outcome"), (StatusMove, "status_move")]
)
def test_named_rows_match_their_sql_row_types(
    row: type[PartOutcome | StatusMove], sql_name: str
) -> None:
    sql = sql_row_type(sql_name)
    assert list(row._fields) == [field for field, _ in sql]
    for field, sql_type in sql:
        annotation = row.__annotations__[field]
        # As written: a str (the module has `from __future__ import annotations`).
        annotation = cast(str, getattr(annotation, "__forward_arg__", annotation))
        assert sql_type in _SQL_TYPES[annotation], (field, annotation, sql_type)


def test_a_folded_receipt_takes_the_parts_place() -> None:
    outcome = PartOutcome(7, 2, "submitted", "0a", "A", 0, 100.0, "g")
    receipt = Receipt("g", "A", "delivered", 2, "000", "3:1", 104.5, {"id": "0a"})
    folded = outcome.with_receipt(receipt)
    assert folded == (7, 2, "delivered", "0a", "A", 0, 100.0, "g", 2, "000", "3:1", 104.5)
    # Built without the class's __new__ (a speed trick): still a whole PartOutcome.
    assert type(folded) is PartOutcome and len(folded) == len(PartOutcome._fields)
    assert folded._asdict()["receipt_at"] == 104.5
    assert receipt.key == ("g", "A") and receipt.final
    assert not receipt._replace(state="enroute").final
