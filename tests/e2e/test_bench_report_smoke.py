"""bench/report.py runs end to end on a tiny campaign (the suite's PostgreSQL, the real API
and `herald campaign export` in another process), so the benchmark cannot rot. No timing is
asserted here: speed lives in `make bench` and docs/performance.md."""

from __future__ import annotations

from tests.support.bench import run_bench


def test_the_report_benchmark_runs(pg_admin_dsn: str) -> None:
    out = run_bench(
        "report.py", ["--messages", "300", "--runs", "1", "--expansion", "100"], pg_admin_dsn
    )
    for row in ("report", "export", "last page", "expansion"):
        assert f"\n  {row} " in out, out
