"""The named-query loader: blocks, names, and the mistakes it refuses."""

from __future__ import annotations

import pytest

from herald.errors import StoreError
from herald.store.queries import Queries, parse_queries, queries, read_sql


def test_blocks_split_on_name_lines_and_keep_their_comments() -> None:
    text = (
        "-- header comment\n\n"
        "-- name: first\n-- what it does\nSELECT 1;\n\n"
        "--name:second\nSELECT\n  2;\n"
    )
    assert parse_queries(text) == {
        "first": "-- what it does\nSELECT 1;",
        "second": "SELECT\n  2;",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n",
            r"x.sql:3: query 'a' already defined at line 1",
        ),
        ("-- name: a\n-- only a comment\n\n-- name: b\nSELECT 1;", r"x.sql:1: query 'a' has no"),
        ("-- name: a\nSELECT 1;\n-- name: b\n", r"x.sql:3: query 'b' has no SQL"),
        ("-- name: \nSELECT 1;", r"x.sql:1: bad query name ''"),
        ("-- name: Bad-Name\nSELECT 1;", r"bad query name 'Bad-Name'"),
        ("SELECT 0;\n-- name: a\nSELECT 1;", r"x.sql:1: SQL before the first '-- name:' line"),
    ],
)
def test_mistakes_name_the_line(text: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        parse_queries(text, "x.sql")


def test_queries_is_a_read_only_mapping_with_attribute_access() -> None:
    q = Queries({"create_account": "INSERT ..."})
    assert q["create_account"] == q.create_account == "INSERT ..."
    assert list(q) == ["create_account"] and len(q) == 1
    with pytest.raises(KeyError, match="no query named 'nope'"):
        q["nope"]
    with pytest.raises(AttributeError, match="no query named 'nope'"):
        _ = q.nope


def test_the_packaged_file_loads_once_with_the_queries_the_engine_needs() -> None:
    assert parse_queries(read_sql("queries.sql")).items() <= dict(queries).items()
    for name in ("create_account", "claim_due_messages", "apply_receipts", "sweep_unreceipted"):
        assert name in queries
    assert "FOR UPDATE SKIP LOCKED" in queries.claim_due_messages
