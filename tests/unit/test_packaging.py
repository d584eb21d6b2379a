"""What the distribution promises: its name, a LICENSE that says what pyproject says, the files
operators need inside the package, and a constraints file that pins every dependency within
pyproject's ranges; `make run` installs the runtime only, `make test` the test extras.
(tests/e2e/test_wheel.py builds and installs the wheel.)"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from herald.cli.init import SHIPPED, shipped_file

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_distribution_is_herald_sms_under_the_apache_license() -> None:
    project = PROJECT["project"]
    assert project["name"] == "herald-sms"
    assert project["scripts"] == {"herald": "herald.cli.main:main"}
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert {"Homepage", "Source", "Documentation", "Issues", "Changelog"} <= set(project["urls"])
    assert any(c.startswith("Topic :: Communications") for c in project["classifiers"])


def test_the_operators_files_ship_inside_the_package() -> None:
    data = PROJECT["tool"]["setuptools"]["package-data"]["herald"]
    etc = sorted(p.name for p in (ROOT / "src" / "herald" / "etc").iterdir())
    assert etc == sorted(SHIPPED)
    assert all(f"etc/{name}" in data for name in etc)
    for name in SHIPPED:
        assert shipped_file(name)
    # The checkout's config/ is the package's etc/.
    assert (ROOT / "config").resolve() == (ROOT / "src" / "herald" / "etc").resolve()


def test_the_constraints_pin_every_dependency_within_its_range() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(requirement.name)] = spec.version
    for dependency in PROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])


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
