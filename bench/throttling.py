"""Throughput under carrier throttling: the accepted rate as a share of the carrier's limit.

One bind with a backlog (window 10, its rate configured at ten times the carrier's) against
`herald simulate` in another process, refusing above --limit submits a second per system_id
(a token bucket, burst 10): with ESME_RTHROTTLED (the `throttling` personality) and with
ESME_RMSGQFUL (`queue_full`). Printed per SMSC: the submits accepted per second over the last
--tail seconds of --seconds, as a share of the limit (the target: at least 90%), the bind's
rate at the end, the refusals, and whether the accepted parts kept their submit order.

--baseline REF measures the same client at commit REF of this repository (its `src/`, from
`git archive`, first on PYTHONPATH in a child process) against the same simulator, in the
same run. Issue 25's baseline is c61c74a: a refusal halved the rate and paused the bind 1 s
(5 s for a full queue).

Run: .venv/bin/python bench/throttling.py [--limit 100] [--seconds 30] [--tail 20]
     [--baseline REF]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from herald.smpp.session import Session, SessionSettings
from herald.smpp.submit import SubmitOutcome, SubmitResult

ROOT = Path(__file__).resolve().parents[1]
TEXT = b"Your code is 482913. It expires in 10 minutes."
SMSCS = ("throttling", "queue_full")


async def measure(port: int, limit: float, seconds: float, tail: float) -> dict[str, Any]:
    """One bind with a backlog for `seconds` of real time: what the carrier accepted."""
    loop = asyncio.get_running_loop()
    settings = SessionSettings(
        name="bench",
        host="127.0.0.1",
        port=port,
        system_id="herald",
        password="secret",
        window=10,
        rate=limit * 10,
        burst=20,
        response_timeout=30.0,
    )
    session = Session(settings)
    await session.start()
    await session.wait_bound(10)
    accepted: list[tuple[float, int]] = []  # (when, submit order), as they come

    def settled(index: int, future: asyncio.Future[SubmitResult]) -> None:
        if not future.cancelled() and future.result().outcome is SubmitOutcome.ACCEPTED:
            accepted.append((loop.time(), index))

    started = loop.time()
    for index in range(int(limit * seconds * 1.5) + 100):  # more than the carrier takes
        future = session.submit(
            source_addr="Herald",
            source_ton=5,
            source_npi=0,
            destination_addr=f"4479{index:08d}",
            short_message=TEXT,
            registered_delivery=0,
        )
        future.add_done_callback(partial(settled, index))
    await asyncio.sleep(seconds)  # a benchmark: real time is what is measured
    rate, refusals = session.rate, session.stats.throttle_events
    await session.close(drain_timeout=1.0)
    since = started + seconds - tail
    late = [when for when, _ in accepted if since <= when <= started + seconds]
    order = [index for _, index in accepted]
    return {
        "accepted_per_s": len(late) / tail,
        "rate": rate,
        "refusals": refusals,
        "order_kept": order == sorted(order),
    }


def start_simulator(*options: str) -> tuple[subprocess.Popen[str], int]:
    """`herald simulate` in its own process (this tree's), with options; (it, its port)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    args = [sys.executable, "-m", "herald", "simulate", "--port", "0", *options]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " on " not in line:
        proc.kill()
        raise SystemExit(f"herald simulate did not start: {line!r}")
    return proc, int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])


def stop_simulator(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def at_commit(ref: str, port: int, args: argparse.Namespace, into: Path) -> dict[str, Any]:
    """This client, run by the herald of commit `ref` in a child process."""
    src = into / "src"
    if not src.exists():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    command = [
        sys.executable,
        __file__,
        "--client-only",
        str(port),
        f"--limit={args.limit}",
        f"--seconds={args.seconds}",
        f"--tail={args.tail}",
    ]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=float, default=100.0, help="the carrier's submits/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="each run's length")
    parser.add_argument("--tail", type=float, default=20.0, help="measured: the last seconds")
    parser.add_argument("--baseline", metavar="REF", help="also run the client of commit REF")
    parser.add_argument("--client-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_only is not None:  # the child process of --baseline
        figures = asyncio.run(measure(args.client_only, args.limit, args.seconds, args.tail))
        print(json.dumps(figures))
        return
    print(
        f"carrier limit {args.limit:g}/s (token bucket, burst 10), one bind: window 10, rate "
        f"configured {args.limit * 10:g}/s; accepted over the last {args.tail:g} s of "
        f"{args.seconds:g} s"
    )
    print(
        f"{'SMSC':<11} {'herald':<12} {'accepted/s':>10} {'share':>6} {'rate at end':>11} "
        f"{'refusals':>8}  order"
    )
    with tempfile.TemporaryDirectory(prefix="herald-bench-throttling-") as scratch:
        for smsc in SMSCS:
            proc, port = start_simulator(
                "--personality", smsc, "--throttle-rate", f"{args.limit:g}", "--no-receipts"
            )
            try:
                ours = asyncio.run(measure(port, args.limit, args.seconds, args.tail))
                runs = [("this tree", ours)]
                if args.baseline:
                    before = at_commit(args.baseline, port, args, Path(scratch))
                    runs.append((args.baseline, before))
            finally:
                stop_simulator(proc)
            for who, f in runs:
                print(
                    f"{smsc:<11} {who:<12} {f['accepted_per_s']:>10.1f} "
                    f"{f['accepted_per_s'] / args.limit:>6.0%} {f['rate']:>11.1f} "
                    f"{f['refusals']:>8}  {'kept' if f['order_kept'] else 'LOST'}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
