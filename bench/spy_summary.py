"""Where herald's CPU goes, from a py-spy profile: samples by component of the send path.

Reads py-spy's raw (collapsed) output, one `frame;frame;... count` line per stack, as
`bench/field.py --py-spy DIR` writes it, and puts each stack in the first component whose rule
matches (the order matters: a progress poll runs inside the API, a claim inside the
dispatcher). Prints each component's share of the samples, how much of it was inside asyncpg,
and, given herald's CPU per message (`--cpu-us`, from the same run), that share in µs.

py-spy counts a thread whenever it is runnable, so on a loaded machine the time spent waiting
for a core lands where the thread was: mostly in the event loop's C code just after a wake-up
("event loop in C"). Shares of the Python components are then lower bounds.

Run: .venv/bin/python bench/spy_summary.py PROFILE.txt [--cpu-us 180]
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

Rule = tuple[str, Callable[[str], bool]]


def _has(*needles: str) -> Callable[[str], bool]:
    return lambda stack: any(n in stack for n in needles)


RULES: tuple[Rule, ...] = (
    ("metrics scrapes (the bench's sampler)", lambda s: "api/ops.py" in s and "prometheus" in s),
    (
        "expansion (render, numbers, encode, COPY)",
        _has("campaigns/expansion.py", "campaigns/runs.py"),
    ),
    ("progress polls (GET /v1/campaigns/{id})", _has("campaigns/progress.py", "get_campaign")),
    ("intake (POST /v1/campaigns: store audience)", _has("create_campaign", "campaigns/")),
    (
        "HTTP and API framework (uvicorn, starlette)",
        _has("herald/api/", "fastapi/", "starlette/", "uvicorn/", "h11/"),
    ),
    ("writer flush (results, receipts)", _has("delivery/writer.py")),
    (
        "dispatcher claim (query, rows, contexts)",
        _has("claim_due_messages", "_load_contexts", "_claim_and_send"),
    ),
    ("dispatcher plan, hand to bind, results", _has("delivery/dispatcher.py")),
    ("tracker (receipts in)", _has("delivery/tracker.py")),
    ("SMPP session (read, write, encode)", _has("herald/smpp/")),
    ("maintenance, callbacks", _has("delivery/maintenance.py", "delivery/callbacks.py")),
    ("asyncpg alone (pool release and reset)", _has("asyncpg/")),
    (
        "event loop in C (uvloop, asyncpg protocol)",
        lambda s: s.endswith("(asyncio/runners.py:118)"),
    ),
)
OTHER = "other"


def component(stack: str) -> str:
    for name, matches in RULES:
        if matches(stack):
            return name
    return OTHER


def summarise(lines: Iterable[str]) -> tuple[Counter[str], Counter[str], int]:
    """(samples by component, of which inside asyncpg, total samples)."""
    samples: Counter[str] = Counter()
    in_asyncpg: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        name = component(stack)
        samples[name] += n
        if "asyncpg/" in stack:
            in_asyncpg[name] += n
    return samples, in_asyncpg, total


def report(path: Path, cpu_us: float | None) -> list[str]:
    samples, in_asyncpg, total = summarise(path.read_text().splitlines())
    out = [f"{path.name}: {total:,} samples"]
    for name, n in samples.most_common():
        share = n / total
        us = f"{share * cpu_us:6,.0f} µs" if cpu_us else ""
        out.append(f"  {name:46} {share:6.1%} {us}  (in asyncpg {in_asyncpg[name] / total:5.1%})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--cpu-us", type=float, help="herald's CPU µs per message in that run")
    args = parser.parse_args()
    for path in args.profiles:
        print("\n".join(report(path, args.cpu_us)))


if __name__ == "__main__":
    main()
