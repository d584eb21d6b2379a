"""`herald init [DIR]`: a working directory for herald in one command.

It writes the annotated sample configuration shipped inside the package (herald/etc/
herald.toml: every key with its default, the built-in simulator on, one bind and one route
to it) as DIR/herald.toml, with its state directory beside it, and prints the command that
starts herald on it. It never overwrites a file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from herald.errors import HeraldError

SHIPPED = ("herald.toml", "grafana-dashboard.json", "prometheus-alerts.yml")


def shipped_file(name: str) -> str:
    """The text of a file shipped in the package (sample configuration, dashboard, alerts)."""
    return (resources.files("herald") / "etc" / name).read_text(encoding="utf-8")


def init(directory: Path) -> Path:
    """Write directory/herald.toml (creating the directory); its path. HeraldError if it
    exists or cannot be written."""
    target = directory / "herald.toml"
    if target.exists():
        raise HeraldError(f"{target} exists already: herald init never overwrites a file")
    text = shipped_file("herald.toml")
    # The sample's state directory is relative to where herald runs; pin it beside the file
    # so that `herald run --config DIR/herald.toml` works from anywhere.
    state = (directory / "state").resolve()
    old = 'state_dir = "state"'
    if old not in text:
        raise HeraldError("the shipped herald.toml has no state_dir line to set")
    text = text.replace(old, f"state_dir = {_toml_string(str(state))}", 1)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise HeraldError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
