"""bench/messages.py runs end to end on a few requests (the suite's PostgreSQL), so the
benchmark cannot rot: it once called `Idempotency.perform` with a body where the method had
come to take a function giving it, and `make bench` stopped there. No timing is asserted:
speed lives in `make bench` and docs/performance.md."""

from __future__ import annotations

from tests.support.bench import run_bench


def test_the_messages_benchmark_runs(pg_admin_dsn: str) -> None:
    out = run_bench(
        "messages.py", ["--requests", "24", "--concurrency", "4", "--rounds", "1"], pg_admin_dsn
    )
    for row in ("a campaign per request (herald):", "runs of one campaign per account:", "ratio:"):
        assert row in out, out
