"""The files herald ships for operators are valid where it matters: the Prometheus alert rules
(promtool check rules, and promtool test rules: they fire when they should and only then),
the systemd unit (systemd-analyze verify), the environment file (every variable is a
setting). The tools are fetched once when missing (tests/support/tools.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from herald.config import load_config
from tests.support import tools

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "src" / "herald" / "etc" / "prometheus-alerts.yml"
ALERT_TESTS = ROOT / "tests" / "unit" / "alerts" / "herald-alerts-test.yml"
UNIT = ROOT / "deploy" / "herald.service"
ENV_FILE = ROOT / "deploy" / "herald.env"


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def test_the_alert_rules_are_valid_and_fire_when_they_should() -> None:
    promtool = tools.promtool()
    checked = run(promtool, "check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout
    tested = run(promtool, "test", "rules", ALERT_TESTS.name, cwd=ALERT_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = tools.systemd_analyze()
    # verify checks that ExecStart's program exists: point it at this environment's herald.
    herald = Path(sys.executable).with_name("herald")
    unit = tmp_path / "herald.service"
    text = UNIT.read_text(encoding="utf-8")
    assert "ExecStart=/opt/herald/bin/herald run --config /etc/herald/herald.toml" in text
    unit.write_text(text.replace("/opt/herald/bin/herald", str(herald)), encoding="utf-8")
    verified = run(analyze, "verify", str(unit))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stderr == "", verified.stderr
    # What the operations document promises of it.
    for line in (
        "User=herald",
        "EnvironmentFile=/etc/herald/herald.env",
        "KillSignal=SIGTERM",
        "Restart=on-failure",
        "TimeoutStopSec=60",
    ):
        assert f"\n{line}\n" in text, line


def test_every_variable_of_the_environment_file_is_a_setting() -> None:
    env = {}
    for line in ENV_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    assert "HERALD_DSN" in env
    config = load_config(None, env=env)
    assert config.warnings == ()
    assert config.database.dsn is not None
