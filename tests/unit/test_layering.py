"""The import rules of the architecture, enforced by scanning source files.

Pure layers (text, numbers, the sans-I/O part of smpp) import no asyncio, no asyncpg and no
clock; only store/ runs SQL (imports asyncpg).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "herald"

PURE = [SRC / "text", SRC / "numbers.py"]
SMPP_IO = SRC / "smpp" / "session"  # the asyncio adapter (a package) is the only I/O in smpp/
FORBIDDEN_IN_PURE = {"asyncio", "asyncpg", "time", "socket", "uvloop", "datetime"}


def _modules(path: Path) -> list[Path]:
    return sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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
