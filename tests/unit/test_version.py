"""The version moves with releases: read from the installed distribution, or from
pyproject.toml in a source tree, and printed by `herald --version`."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from click.testing import CliRunner

import herald
from herald.cli.main import main

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def pyproject_version() -> str:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]


def test_the_version_is_the_installed_distributions() -> None:
    assert herald.__version__ == metadata.version("herald-sms")


def test_without_an_installed_distribution_the_source_trees_pyproject_gives_it() -> None:
    assert herald._version("herald-is-not-installed-under-this-name") == pyproject_version()


def test_herald_version_prints_it() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"herald, version {herald.__version__}\n"
