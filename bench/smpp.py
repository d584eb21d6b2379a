"""herald's SMPP session against the simulator in another process, beside a raw client.

One bind; windows 1, 10 and 100; receipts off and on. The SMSC is `herald simulate` in its own
process (it shares the machine's cores with this one). Each figure is printed beside a
minimal raw-socket client written here and measured in the same run, against the same
simulator: an asyncio Protocol with struct-encoded submit_sm, the same window, one Future per
message (the API shape a gateway needs), writes coalesced per loop turn, deliver_sm answered at
once. Runs alternate between the two clients; the figures are medians.

    submit_sm/s   parts settled (submit_sm_resp read, future resolved) per second
    receipts/s    deliver_sm receipts received and answered per second (receipts on)

The targets (issue 3): herald at least 80% of the raw client at window 100, and at least
20k submit_sm/s with receipts flowing.

Run: .venv/bin/python bench/smpp.py [--runs 5] [--loop uvloop|asyncio] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import signal
import statistics
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from herald.smpp.pdu import Pdu
from herald.smpp.session import Session, SessionSettings

HEADER = struct.Struct(">IIII")
BIND_TRX, SUBMIT_SM, DELIVER_SM = 0x09, 0x04, 0x05
RESP = 0x80000000
DEST = "447911123456"
TEXT = b"Your code is 482913. It expires in 10 minutes. Do not share it."
SOURCE = "Herald"
MESSAGES = {1: 4_000, 10: 30_000, 100: 60_000}  # per run, by window


# --- the raw client ---------------------------------------------------------------------------


class RawClient(asyncio.Protocol):
    """The least an ESME with a Future per message can be."""

    def __init__(self, window: int, on_receipt: Callable[[], None]) -> None:
        self.window = window
        self.on_receipt = on_receipt
        self.queue: deque[tuple[asyncio.Future[str], bytes]] = deque()
        self.in_flight: dict[int, asyncio.Future[str]] = {}
        self.seq = 1
        self.out: list[bytes] = []
        self.flushing = False
        self.buf = b""
        self.bound: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        body = b"herald\0secret\0\0\x34\0\0\0"
        transport.write(HEADER.pack(16 + len(body), BIND_TRX, 0, 1) + body)

    def submit(self, registered_delivery: int) -> asyncio.Future[str]:
        body = b"".join(
            (
                b"\0\x05\0",
                SOURCE.encode(),
                b"\0\x01\x01",
                DEST.encode(),
                b"\0\0\0\0\0\0",
                bytes((registered_delivery,)),
                b"\0\0\0",
                bytes((len(TEXT),)),
                TEXT,
            )
        )
        future = self.loop.create_future()
        self.queue.append((future, body))
        self.pump()
        return future

    def pump(self) -> None:
        queue, in_flight, out = self.queue, self.in_flight, self.out
        pack = HEADER.pack
        while queue and len(in_flight) < self.window:
            future, body = queue.popleft()
            self.seq += 1
            in_flight[self.seq] = future
            out.append(pack(16 + len(body), SUBMIT_SM, 0, self.seq) + body)
        if out and not self.flushing:
            self.flushing = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flushing = False
        self.transport.write(b"".join(self.out))
        self.out.clear()

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos, end = 0, len(buf)
        unpack = HEADER.unpack_from
        while end - pos >= 16:
            length, command_id, _, seq = unpack(buf, pos)
            if end - pos < length:
                break
            if command_id == SUBMIT_SM | RESP:
                future = self.in_flight.pop(seq)
                if not future.done():
                    future.set_result(buf[pos + 16 : pos + length - 1].decode("latin-1"))
            elif command_id == DELIVER_SM:
                self.out.append(HEADER.pack(17, DELIVER_SM | RESP, 0, seq) + b"\0")
                self.on_receipt()
            elif command_id == BIND_TRX | RESP:
                self.bound.set_result(None)
            pos += length
        self.buf = buf[pos:]
        self.pump()


async def run_raw(port: int, n: int, window: int, receipts: bool) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    counted, all_in = [0], loop.create_future()

    def on_receipt() -> None:
        counted[0] += 1
        if counted[0] == n:
            all_in.set_result(time.perf_counter())

    transport, client = await loop.create_connection(
        lambda: RawClient(window, on_receipt), "127.0.0.1", port
    )
    await client.bound
    start = time.perf_counter()
    futures = [client.submit(1 if receipts else 0) for _ in range(n)]
    await asyncio.gather(*futures)
    submitted = time.perf_counter() - start
    received = (await asyncio.wait_for(all_in, 120)) - start if receipts else 0.0
    transport.close()
    return n / submitted, (n / received if receipts else 0.0)


# --- herald's session -----------------------------------------------------------------------


async def run_herald(port: int, n: int, window: int, receipts: bool) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    counted, all_in = [0], loop.create_future()

    async def on_deliver(pdu: Pdu) -> int:
        counted[0] += 1
        if counted[0] == n:
            all_in.set_result(time.perf_counter())
        return 0

    settings = SessionSettings(
        name="bench",
        host="127.0.0.1",
        port=port,
        system_id="herald",
        password="secret",
        window=window,
        rate=1e9,
        burst=100_000,
    )
    session = Session(settings, on_deliver=on_deliver)
    await session.start()
    await session.wait_bound(10)
    submit = session.submit
    start = time.perf_counter()
    rd = 1 if receipts else 0
    futures = [
        submit(
            source_addr=SOURCE,
            source_ton=5,
            source_npi=0,
            destination_addr=DEST,
            short_message=TEXT,
            registered_delivery=rd,
        )
        for _ in range(n)
    ]
    results = await asyncio.gather(*futures)
    submitted = time.perf_counter() - start
    received = (await asyncio.wait_for(all_in, 120)) - start if receipts else 0.0
    await session.close()
    assert all(r.outcome == "accepted" for r in results), {r.outcome for r in results}
    return n / submitted, (n / received if receipts else 0.0)


# --- the simulator, in its own process -------------------------------------------------------


def start_simulator(loop: str, *options: str) -> tuple[subprocess.Popen[str], int]:
    """`herald simulate` in its own process, with extra command-line options; (it, its port)."""
    args = [sys.executable, "-m", "herald", "simulate", "--port", "0", "--loop", loop, *options]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " on " not in line:
        proc.kill()
        raise SystemExit(f"herald simulate did not start: {line!r}")
    port = int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])
    return proc, port


def stop_simulator(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def run(loop: str, coro: Coroutine[Any, Any, Any]) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--windows", default="1,10,100")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default=None,
        help="event loop for both clients and the simulator (default: uvloop when installed)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply message counts")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile herald (largest window, receipts on), then stop",
    )
    args = parser.parse_args()
    loop = args.loop
    if loop is None:
        try:
            import uvloop  # noqa: F401

            loop = "uvloop"
        except ImportError:
            loop = "asyncio"
    windows = [int(w) for w in args.windows.split(",")]
    proc, port = start_simulator(loop)
    try:
        if args.profile:
            window = max(windows)
            n = int(MESSAGES.get(window, 60_000) * args.scale)
            profiler = cProfile.Profile()
            profiler.enable()
            rate = run(loop, run_herald(port, n, window, True))
            profiler.disable()
            print(f"herald, window {window}, receipts on: {rate[0]:,.0f} submit_sm/s")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        print(
            f"{os.cpu_count()} cores, {loop} loop (clients and simulator), herald simulate "
            f"in another process; median of {args.runs} runs"
        )
        header = (
            f"{'window':>6} {'receipts':>8} {'messages':>8} | {'herald':>9} {'raw':>9} "
            f"{'ratio':>5} | {'herald':>10} {'raw':>10} {'ratio':>5}"
        )
        print(f"{'':25} | {'submit_sm/s':^25} | {'receipts/s':^27}")
        print(header)
        for window in windows:
            n = int(MESSAGES.get(window, 60_000) * args.scale)
            for receipts in (False, True):
                ours: list[tuple[float, float]] = []
                theirs: list[tuple[float, float]] = []
                for i in range(args.runs):
                    pair = [(ours, run_herald), (theirs, run_raw)]
                    for into, fn in pair if i % 2 else pair[::-1]:
                        into.append(run(loop, fn(port, n, window, receipts)))
                h = statistics.median(r[0] for r in ours)
                b = statistics.median(r[0] for r in theirs)
                line = (
                    f"{window:>6} {'on' if receipts else 'off':>8} {n:>8} | {h:>9,.0f} "
                    f"{b:>9,.0f} {h / b:>5.2f} |"
                )
                if receipts:
                    hr = statistics.median(r[1] for r in ours)
                    br = statistics.median(r[1] for r in theirs)
                    line += f" {hr:>10,.0f} {br:>10,.0f} {hr / br:>5.2f}"
                print(line, flush=True)
    finally:
        stop_simulator(proc)


if __name__ == "__main__":
    main()
