"""The console in a real browser: Debian's headless Chromium driven by Selenium through
/usr/bin/chromedriver, against `herald run` as a process (the built-in simulator as its
carrier) on the suite's PostgreSQL.

Where Chromium, its driver or Selenium is missing, every test here is skipped with the reason
(`make test` installs Chromium first when it can: as root, with apt-get). Tests wait for
conditions on the page (WebDriverWait), never for time to pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PgCluster

CHROMIUM = Path(os.environ.get("HERALD_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("HERALD_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
HERE = Path(__file__).resolve().parent


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return (
                f"{path} is missing: apt-get install chromium chromium-driver "
                "(`make test` does it when run as root)"
            )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_browser()
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Herald:
    """`herald run` with its API and console, and the accounts the tests sign in with."""

    url: str
    config: Path
    keys: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def api(self, account: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/v1",
            headers={"Authorization": f"Bearer {self.keys[account]}"},
            timeout=30,
        )


def _write_config(path: Path, dsn: str) -> tuple[Path, int]:
    api, smsc = free_port(), free_port()
    path.write_text(
        f"""
node = "console-test"
state_dir = {json.dumps(str(path.parent / "state"))}
log_level = "INFO"
[database]
dsn = {json.dumps(dsn)}
[api]
port = {api}
[ui]
refresh_seconds = 0.5
[simulator]
enabled = true
port = {smsc}
receipt_delay_ms = [20.0, 80.0]
[[binds]]
name = "simulator"
host = "127.0.0.1"
port = {smsc}
system_id = "herald"
password = "secret"
window = 50
rate = 2000.0
burst = 50
[[routes]]
name = "default"
binds = ["simulator"]
[dispatcher]
poll_interval = 0.2
flush_interval = 0.02
[tracker]
sweep_interval = 0.2
""",
        encoding="utf-8",
    )
    return path, api


def _create_account(config: Path, name: str, credit: int) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "herald",
            "account",
            "create",
            name,
            "--credit",
            str(credit),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r"API key:\s+(hk_\S+)", done.stdout)
    assert found, done.stdout + done.stderr
    return found[1]


@pytest.fixture(scope="session")
def herald(pg_cluster: PgCluster) -> Iterator[Herald]:
    if missing_browser():
        pytest.skip(missing_browser() or "")
    database = pg_cluster.create_database()
    folder = Path(tempfile.mkdtemp(prefix="herald-console-"))
    config, port = _write_config(folder / "herald.toml", pg_cluster.dsn(database))
    running = Herald(url=f"http://127.0.0.1:{port}", config=config)
    running.keys["shop"] = _create_account(config, "shop", 100_000)
    running.keys["rival"] = _create_account(config, "rival", 1_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "herald", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    started = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.output.append(line)
            if "herald is running" in line:
                started.set()
        started.set()  # it ended: the test sees the output

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not started.wait(120) or process.poll() is not None:
            raise RuntimeError("herald did not start:\n" + "".join(running.output[-40:]))
        for account, sender in (("shop", "Shop"), ("rival", "Rival")):
            with running.api(account) as api:
                api.post("/senders", json={"address": sender}).raise_for_status()
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        reader.join(10)
        pg_cluster.drop_database(database)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager fetches nothing
    profile = tempfile.mkdtemp(prefix="herald-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium: Any, herald: Herald) -> Iterator[Any]:
    """The browser, signed out and at the normal laptop width, for one test."""
    chromium.set_window_size(1280, 900)
    chromium.get(herald.url + "/ui/sign-in")
    chromium.delete_all_cookies()
    yield chromium


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test says what the page showed, and what herald logged."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.when != "call"
        or not report.failed
        or not isinstance(item, pytest.Function)  # funcargs: a test function's fixtures
        or "browser" not in item.funcargs
    ):
        return
    browser: Any = item.funcargs["browser"]  # as the fixture gives it
    with contextlib.suppress(Exception):
        report.sections.append(
            ("page", f"{browser.current_url}\n{browser.find_element('tag name', 'main').text}")
        )
    running = item.funcargs.get("herald")
    if isinstance(running, Herald):
        report.sections.append(("herald output", "".join(running.output[-60:])))
