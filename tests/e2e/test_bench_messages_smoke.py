"""bench/messages.py runs end to end on a few requests (the suite's PostgreSQL), so the
benchmark cannot rot: it once called `Idempotency.perform` with a body where the method had
come to take a function giving it, and `make bench` stopped there. No timing is asserted:
speed lives in `make bench` and docs/performance.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "messages.py"


def test_the_messages_benchmark_runs(pg_admin_dsn: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "24", "--concurrency", "4", "--rounds", "1"],
        env={"HERALD_BENCH_DSN": pg_admin_dsn, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ("a campaign per request (herald):", "runs of one campaign per account:", "ratio:"):
        assert row in done.stdout, done.stdout
