"""What a fresh clone installs: `make run` the runtime only, `make test` the test extras; the
licence declared the way current setuptools wants it (no deprecation warning at install)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run on a machine without a virtual environment."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_run_installs_the_runtime_only(tmp_path: Path) -> None:
    run = planned("run", tmp_path)
    assert "pip install -q -e ." in run
    assert "[test]" not in run
    assert "herald run --config" in run
    assert "pip install -q -e '.[test]'" in planned("test", tmp_path)


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    # A TOML table here makes setuptools >= 77 warn at every install.
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_api_parses_http_with_httptools() -> None:
    # uvicorn's pure-Python parser (h11) cost herald ~1 ms of CPU per request; with httptools
    # installed, its "auto" choice (the daemon's) is the C parser.
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    assert AutoHTTPProtocol.__name__ == "HttpToolsProtocol"
