"""As a new user: the wheel, built from this checkout and installed with the constraints file
into a fresh virtual environment outside it, runs `herald init` and `herald run` in an empty
directory (embedded PostgreSQL, built-in simulator) and sends a message through it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.support.processes import HeraldProcess

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without herald's variables or a path into the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HERALD_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, **extra}


async def run(*command: str | Path, cwd: Path, env: dict[str, str], within: float) -> str:
    proc = await asyncio.create_subprocess_exec(
        *map(str, command),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), within)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{text[-3000:]}"
    return text


class InstalledHerald(HeraldProcess):
    """`herald run` from the installed virtual environment, in a directory of its own."""

    def __init__(self, herald: Path, cwd: Path, env: dict[str, str]) -> None:
        super().__init__(cwd / "herald.toml")
        self._herald, self._cwd, self._env = herald, cwd, env

    async def start(self, within: float = 120.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(self._herald),
            "run",
            "--config",
            "herald.toml",
            cwd=self._cwd,
            env={**self._env, "PYTHONUNBUFFERED": "1"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.ensure_future(self._read())
        await self.wait_for_line("herald is running", within)


async def test_the_wheel_installs_initialises_runs_and_sends(tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(ROOT)
    env = clean_env()
    dist, venv, site = tmp_path / "dist", tmp_path / "venv", tmp_path / "site"
    await run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        dist,
        ROOT,
        cwd=tmp_path,
        env=env,
        within=300,
    )
    (wheel,) = dist.glob("herald_sms-*.whl")
    await run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env, within=120)
    await run(
        venv / "bin" / "pip",
        "install",
        "-q",
        wheel,
        "-c",
        ROOT / "constraints.txt",
        cwd=tmp_path,
        env=env,
        within=600,
    )
    where = await run(
        venv / "bin" / "python",
        "-c",
        "import herald; print(herald.__file__)",
        cwd=tmp_path,
        env=env,
        within=60,
    )
    assert Path(where.strip()).is_relative_to(venv)  # the installed package, not the checkout

    site.mkdir()
    herald = venv / "bin" / "herald"
    said = await run(herald, "init", cwd=site, env=env, within=60)
    assert "herald run --config" in said and (site / "herald.toml").exists()

    # The sample's ports may be taken on a shared machine: the same keys, other values.
    api, smsc = free_port(), free_port()
    run_env = clean_env(
        HERALD_API_PORT=str(api),
        HERALD_SIMULATOR_PORT=str(smsc),
        HERALD_BIND_SIMULATOR_PORT=str(smsc),
    )
    daemon = InstalledHerald(herald, site, run_env)
    await daemon.start()
    try:
        # The banner's `export HERALD_URL=... HERALD_KEY=...` line for the demo account.
        line = await daemon.wait_for_line("HERALD_KEY=", 10)
        key = line.rsplit("HERALD_KEY=", 1)[1].split()[0]
        answer = await run(
            herald,
            "campaign",
            "create",
            "--name",
            "first campaign",
            "--sender",
            "Herald",
            "--message",
            "Hello from the wheel",
            "--to",
            "+306948530920",
            "--no-quiet-hours",
            "--wait",
            "--interval",
            "0.2",
            "--json",
            cwd=site,
            env=clean_env(HERALD_URL=f"http://127.0.0.1:{api}", HERALD_KEY=key),
            within=120,
        )
    finally:
        code = await daemon.terminate()
    final = json.loads(answer.strip().splitlines()[-1])  # once every message is final
    assert final["progress"]["messages"]["delivered"] == 1, final
    assert code == 0
    assert (site / "state" / "pgdata").is_dir()  # beside herald.toml, as init wrote it
