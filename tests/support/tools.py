"""Command-line tools some tests check herald's files with, found or fetched once per machine.

- `promtool` (Debian's `prometheus` package): when it is not on PATH, the package is fetched
  with `apt-get download` and only promtool is unpacked, into a cache directory, so that no
  Prometheus service is installed or started. Fetched once; later runs find it at once.
- `systemd-analyze` (Debian's `systemd`): installed with `apt-get install` when missing.
When neither is possible (not root, no apt, no network to the mirror) the test is skipped and
says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "herald-test-tools"


def _apt(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "-q", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        cwd=cwd,
        timeout=600,
        check=False,
    )


def _apt_or_skip(command: str, package: str, *args: str, cwd: str | None = None) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip(f"{command} is missing and there is no apt-get to fetch {package}")
    result = _apt(*args, cwd=cwd)
    if result.returncode != 0 and os.geteuid() == 0:  # the package lists may be missing
        _apt("update")
        result = _apt(*args, cwd=cwd)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"{command} is missing and `apt-get {' '.join(args)}` failed: {last}")


def promtool() -> str:
    found = shutil.which("promtool") or (CACHE / "promtool")
    if Path(found).exists():
        return str(found)
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        _apt_or_skip("promtool", "prometheus", "download", "prometheus", cwd=work)
        (deb,) = Path(work).glob("prometheus_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), work], check=True, timeout=300)
        shutil.move(Path(work) / "usr" / "bin" / "promtool", CACHE / "promtool")
    return str(CACHE / "promtool")


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("systemd-analyze is missing; installing systemd needs root")
    _apt_or_skip(
        "systemd-analyze", "systemd", "install", "-y", "--no-install-recommends", "systemd"
    )
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd was installed but systemd-analyze is not on PATH")
    return found
