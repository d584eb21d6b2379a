"""What the distribution promises: its name, a LICENSE that says what pyproject says, the files
operators need inside the package, and a constraints file that pins every dependency within
pyproject's ranges. (tests/e2e/test_wheel.py builds and installs the wheel.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

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
