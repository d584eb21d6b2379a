"""A benchmark script run whole by its smoke test: on the suite's PostgreSQL (as
HERALD_BENCH_DSN), tiny, so that it cannot rot. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, args: list[str], pg_admin_dsn: str) -> str:
    """`bench/<script>` with `args`, which must succeed; what it printed."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        env={"HERALD_BENCH_DSN": pg_admin_dsn, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
