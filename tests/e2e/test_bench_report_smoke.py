"""bench/report.py runs end to end on a tiny campaign (the suite's PostgreSQL, the real API
and `herald campaign export` in another process), so the benchmark cannot rot. No timing is
asserted here: speed lives in `make bench` and docs/performance.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "report.py"


def test_the_report_benchmark_runs(pg_admin_dsn: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--messages", "300", "--runs", "1", "--expansion", "100"],
        env={"HERALD_BENCH_DSN": pg_admin_dsn, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ("report", "export", "last page", "expansion"):
        assert f"\n  {row} " in done.stdout, done.stdout
