"""herald leaves no session state on a pooled connection, so the pool need not reset one
(store/db.py keep_session): every SQL text in src/ is checked for what would outlive a
transaction on the connection that ran it."""

from __future__ import annotations

import re
from pathlib import Path

from herald.store.db import keep_session

SRC = Path(__file__).resolve().parents[2] / "src" / "herald"

# Anywhere in a statement: session-level advisory locks, session settings by function (a
# set_config whose is_local is true lasts only its transaction), cursors that survive their
# transaction, temporary tables.
ANYWHERE = re.compile(
    r"pg_advisory_lock\s*\(|pg_try_advisory_lock\s*\(|set_config\s*\((?![^)]*,\s*true\s*\))"
    r"|\bWITH\s+HOLD\b"
    r"|\bCREATE\s+TEMP(?:ORARY)?\s+TABLE\b",
    re.IGNORECASE,
)
# As a statement: a session setting (SET LOCAL ends with its transaction), LISTEN, a named
# prepared statement.
STATEMENT = re.compile(
    r"^\s*(?:SET\s+(?!TRANSACTION\b|LOCAL\b)\w+|LISTEN\b|PREPARE\b)", re.IGNORECASE
)
COMMENT = re.compile(r"--[^\n]*")
# SQL written in Python: a literal passed to a connection's query methods.
PY_SQL = re.compile(r"\.(?:execute|fetch\w*)\(\s*[rf]?[\"']([^\"']*)")


def problems(sql: str) -> list[str]:
    """What in `sql` (statements separated by ';') would outlive its transaction."""
    sql = COMMENT.sub("", sql)
    found = [m.group(0) for m in ANYWHERE.finditer(sql)]
    return found + [s.strip() for s in sql.split(";") if STATEMENT.match(s)]


def test_no_sql_leaves_session_state_behind() -> None:
    for path in sorted(SRC.rglob("*.sql")):
        if "migrations" not in path.parts:  # applied once, on a connection of their own
            text = path.read_text(encoding="utf-8")
            assert not problems(text), f"{path.relative_to(SRC)}: {problems(text)}"
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found = [m.group(1) for m in PY_SQL.finditer(text) if problems(m.group(1))]
        found += [m.group(0) for m in ANYWHERE.finditer(text)]
        assert not found, f"{path.relative_to(SRC)}: {found}"


def test_the_check_sees_what_it_looks_for() -> None:
    for bad in (
        "SELECT pg_advisory_lock(1)",
        "SET search_path = x",
        "SET statement_timeout TO 5",
        "SET SESSION statement_timeout TO 5",
        "LISTEN herald",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "CREATE TEMP TABLE t (x int)",
        "SELECT set_config('a.b', 'c', false)",
    ):
        assert problems(bad), bad
    for fine in (
        "UPDATE parts\nSET state = 'x'",
        "SELECT set_config('work_mem', '64MB', true)",
        "-- SET x = 1 in a comment\nSELECT 1",
        "SELECT pg_advisory_xact_lock(1)",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "SET LOCAL default_statistics_target = 10; ANALYZE messages",
    ):
        assert not problems(fine), fine


async def test_keep_session_does_nothing() -> None:
    await keep_session(None)  # type: ignore[arg-type]  # never touches the connection
