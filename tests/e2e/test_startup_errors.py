"""What stops `herald run` from starting is one line naming what to change, exit status 2, no
traceback: a port in use, a database it cannot reach, a TLS file it cannot load, a bad value
from the environment. A HERALD_ variable that sets nothing is a warning naming it."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


async def herald_run(
    config: Path | None, env: dict[str, str], within: float = 60.0
) -> tuple[int, str]:
    """Run `herald run` to its end; its exit status and its output (stdout and stderr)."""
    command = [sys.executable, "-m", "herald", "run"]
    if config is not None:
        command += ["--config", str(config)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**clean, **env},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def config_file(tmp_path: Path, dsn: str, extra: str = "") -> Path:
    return write(
        tmp_path / "herald.toml",
        f'state_dir = "{tmp_path / "state"}"\n[database]\ndsn = "{dsn}"\n[api]\nport = 0\n{extra}',
    )


def one_line(output: str, fragment: str) -> str:
    """The output's one line that says `fragment`; no traceback anywhere."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if fragment in line]
    assert len(lines) == 1, output
    return lines[0]


async def test_a_port_in_use_is_one_line_naming_the_key(db_dsn: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = config_file(tmp_path, db_dsn)
        code, output = await herald_run(config, {"HERALD_API_PORT": str(port)})
    assert code == 2
    line = one_line(output, "cannot start")
    assert f"api.port: 127.0.0.1:{port} is already in use" in line
    assert "HERALD_API_PORT" in line
    # ...found before anything started: the database was never opened.
    assert "database ready" not in output


async def test_an_unreachable_database_is_one_line_without_its_password(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = f"postgresql://herald:hunter2@127.0.0.1:{port}/herald"
    code, output = await herald_run(config_file(tmp_path, dsn), {})
    assert code == 2
    line = one_line(output, "cannot start")
    assert (
        f"database: cannot connect to PostgreSQL at postgresql://herald:***@127.0.0.1:{port}"
        in (line)
    )
    assert "hunter2" not in output


async def test_a_bad_tls_file_is_one_line_naming_it(db_dsn: str, tmp_path: Path) -> None:
    cert = write(tmp_path / "cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n")
    key = tmp_path / "missing-key.pem"
    tls = f'tls_certfile = "{cert}"\ntls_keyfile = "{key}"\n'
    code, output = await herald_run(config_file(tmp_path, db_dsn, tls), {})
    assert code == 2
    assert f"api.tls_keyfile: {key}: No such file or directory" in one_line(output, "cannot")
    write(key, "-----BEGIN PRIVATE KEY-----\nnot base64\n")
    code, output = await herald_run(config_file(tmp_path, db_dsn, tls), {})
    assert code == 2
    assert "not a certificate chain and its private key in PEM" in one_line(output, "cannot")


async def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    code, output = await herald_run(None, {"HERALD_DISPATCHER_CLAIM_BATCH": "lots"})
    assert code == 2
    line = one_line(output, "cannot start")
    assert "HERALD_DISPATCHER_CLAIM_BATCH (dispatcher.claim_batch): Input should be a valid" in (
        line
    )


async def test_a_herald_variable_that_sets_nothing_is_a_warning(
    db_dsn: str, tmp_path: Path
) -> None:
    # A typo and a bad port together: the start fails on the port, after warning of the typo.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {"HERALD_API_PORT": str(port), "HERALD_DISPATCHR_CLAIM_BATCH": "10"}
        code, output = await herald_run(config_file(tmp_path, db_dsn), env)
    assert code == 2
    assert "WARNING" in one_line(output, "HERALD_DISPATCHR_CLAIM_BATCH is not a herald setting")
