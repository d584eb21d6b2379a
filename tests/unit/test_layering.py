"""The import rules of the architecture, enforced by scanning source files.

Pure layers (text, numbers, the sans-I/O part of smpp) import no asyncio, no asyncpg and no
clock; only store/ runs SQL (imports asyncpg, holds SQL text, calls a connection's query
methods); delivery/ (the send runtime) knows nothing of the service layer or the front ends,
campaigns/ nothing of the front ends (api/, ui/, cli/), ui/ no store of its own, and only
`python -m herald` starts the CLI.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import cast

SRC = Path(__file__).resolve().parents[2] / "src" / "herald"

PURE = [SRC / "text", SRC / "numbers.py"]
SMPP_IO = SRC / "smpp" / "session"  # the asyncio adapter (a package) is the only I/O in smpp/
FORBIDDEN_IN_PURE = {"asyncio", "asyncpg", "time", "socket", "uvloop", "datetime"}


def _modules(path: Path) -> list[Path]:
    return sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []


def _imports(path: Path) -> set[str]:
    """The top-level packages `path` imports."""
    return {name.split(".")[0] for name in _modules_imported(path)}


def _modules_imported(path: Path) -> set[str]:
    """Every module `path` imports, in full (`herald.store.db`); `from x import y` gives x.y
    as well, since y may be a module. Relative imports are refused: they would hide the rules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.relative_to(SRC)}:{node.lineno}: relative import"
            assert node.module is not None
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _imports_from(path: Path, package: str) -> list[str]:
    return sorted(m for m in _modules_imported(path) if m == package or m.startswith(package + "."))


def test_pure_layers_do_no_io() -> None:
    files = [f for p in PURE for f in _modules(p)]
    files += [f for f in _modules(SRC / "smpp") if SMPP_IO not in f.parents]
    for f in files:
        bad = _imports(f) & FORBIDDEN_IN_PURE
        assert not bad, f"{f.relative_to(SRC)} imports {sorted(bad)}"


def test_only_store_imports_asyncpg() -> None:
    for f in _modules(SRC):
        if "store" in f.relative_to(SRC).parts:
            continue
        assert "asyncpg" not in _imports(f), f"{f.relative_to(SRC)} imports asyncpg"


def test_herald_never_imports_test_oracles_or_phonenumbers_geodata() -> None:
    for f in _modules(SRC):
        text = f.read_text(encoding="utf-8")
        assert "gsm0338" not in _imports(f), f"{f.relative_to(SRC)} imports gsm0338"
        for banned in ("phonenumbers.geocoder", "phonenumbers.carrier", "import geocoder"):
            assert banned not in text, f"{f.relative_to(SRC)} uses {banned}"


# --- the service layer and the front ends -------------------------------------------------------

# package -> the herald packages it must not import
LAYERS = {
    "delivery": ("herald.campaigns", "herald.api", "herald.ui", "herald.cli", "herald.daemon"),
    "campaigns": ("herald.api", "herald.ui", "herald.cli", "herald.daemon"),
    "store": (
        "herald.campaigns",
        "herald.delivery",
        "herald.api",
        "herald.ui",
        "herald.cli",
        "herald.daemon",
    ),
    # The console reads and writes through the services (campaigns/) as the API does: no
    # store of its own, nothing of the send runtime.
    "ui": ("herald.store", "herald.delivery", "herald.cli", "herald.daemon"),
}


def test_the_send_runtime_and_the_service_layer_do_not_reach_up() -> None:
    for package, forbidden in LAYERS.items():
        for f in _modules(SRC / package):
            for other in forbidden:
                bad = _imports_from(f, other)
                assert not bad, f"{f.relative_to(SRC)} imports {bad}"


def test_only_the_main_module_starts_the_cli() -> None:
    for f in _modules(SRC):
        if "cli" in f.relative_to(SRC).parts or f.name == "__main__.py":
            continue
        bad = _imports_from(f, "herald.cli")
        assert not bad, f"{f.relative_to(SRC)} imports {bad}"


# --- SQL only in store/ -----------------------------------------------------------------------

# A string that is an SQL statement (herald writes SQL upper case), not a word in a sentence.
SQL_STATEMENT = re.compile(
    r"^\s*(SELECT\s+\S|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|(UN)?LISTEN\s+\S|NOTIFY\s+\S|COPY\s+\w+|WITH\s+\w+\s+AS\s*\("
    r"|(CREATE|ALTER|DROP|TRUNCATE|LOCK)\s+(TABLE|INDEX|TYPE|FUNCTION)\b)"
)
# What asyncpg connections and pools run SQL with.
QUERY_METHODS = {
    "execute",
    "executemany",
    "fetch",
    "fetchrow",
    "fetchval",
    "fetchmany",
    "cursor",
    "prepare",
    "copy_records_to_table",
    "copy_to_table",
    "copy_from_table",
    "copy_from_query",
    "add_listener",
    "remove_listener",
}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes: prose, where "SELECT ..." may be quoted."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def sql_in(source: str) -> list[str]:
    """What in `source` runs SQL or holds SQL text, one 'line: what' each."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.JoinedStr):  # an f-string, each placeholder read as "x"
            # A Constant in an f-string is its literal text, always a str.
            text = "".join(
                cast(str, v.value) if isinstance(v, ast.Constant) else "x" for v in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = None if id(node) in docstrings else node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
        ):
            found.append(f"{node.lineno}: .{node.func.attr}() call")
        if text is not None and SQL_STATEMENT.match(text):
            lineno = cast(ast.expr, node).lineno  # text came from a JoinedStr or a Constant
            found.append(f"{lineno}: SQL text {text.strip()[:40]!r}")
    return sorted(set(found), key=lambda line: int(line.split(":")[0]))


def test_only_store_runs_sql() -> None:
    for f in _modules(SRC):
        if "store" in f.relative_to(SRC).parts:
            continue
        found = sql_in(f.read_text(encoding="utf-8"))
        assert not found, f"{f.relative_to(SRC)} runs SQL: {found}"


def test_the_sql_check_sees_what_the_daemon_used_to_run_and_not_prose() -> None:
    source = '''
async def wake(conn):
    await conn.execute(f"NOTIFY {CHANNEL}")
    await conn.fetchval("SELECT 1")
    rows = await conn.fetch(QUERY)
QUERY = """
    UPDATE messages SET status = 'sent' WHERE id = $1"""
'''
    found = sql_in(source)
    assert [line.split(":")[0] for line in found] == ["3", "3", "4", "4", "5", "6"], found
    prose = '''
def f():
    """Wakes the others through NOTIFY; SELECT 1 answers readiness."""
    client.request("DELETE", url)
    return "Update the campaign", "Listen to me"
'''
    assert sql_in(prose) == []
