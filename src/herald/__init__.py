"""herald: an asyncio SMS campaign gateway speaking SMPP 3.4."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

# The source tree's pyproject.toml, for a herald imported without being installed.
_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


DISTRIBUTION = "herald-sms"  # the name on the package index; the import package is herald


def _version(distribution: str = DISTRIBUTION) -> str:
    """The installed distribution's version, so it moves with releases (pyproject.toml is the
    one place it is written); the source tree's pyproject value when herald is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        import tomllib

        try:
            return str(tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


__version__ = _version()
