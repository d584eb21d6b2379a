"""herald's SMPP session against the simulator in another process, beside a raw client.

One bind; windows 1, 10 and 100; receipts off and on. The SMSC is `herald simulate` in its own
process (it shares the machine's cores with this one). Each figure is printed beside a
minimal raw-socket client written here and measured in the same run, against the same
simulator: an asyncio Protocol with struct-encoded submit_sm, the same window, one Future per
message (the API shape a gateway needs), writes coalesced per loop turn, deliver_sm answered at
once. Runs alternate between the two clients; the figures are medians.

    submit_sm/s   parts settled (submit_sm_resp read, future resolved) per second
    receipts/s    deliver_sm receipts received and answered per second (receipts on)
    CPU µs/msg    the client process's CPU time per message, until the last response (or
                  receipt) is in: what a change to herald's send path costs, and a figure a
                  shared machine disturbs far less than the rates

The targets (issue 3): herald at least 80% of the raw client at window 100, and at least
20k submit_sm/s with receipts flowing.

First, herald's own CPU per part and per receipt, in process (no socket, no simulator: the
SMSC's answers are fed to the session's link as one read per window): the figure to compare
two versions of the session by, since it does not move with the machine's load. `--in-process`
prints only these.

Run: .venv/bin/python bench/smpp.py [--runs 5] [--loop uvloop|asyncio] [--profile] [--in-process]
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
from typing import Any, NamedTuple

from herald.smpp.pdu import Pdu
from herald.smpp.session import Session, SessionSettings

HEADER = struct.Struct(">IIII")
BIND_TRX, SUBMIT_SM, DELIVER_SM, UNBIND = 0x09, 0x04, 0x05, 0x06
RESP = 0x80000000
DEST = "447911123456"
TEXT = b"Your code is 482913. It expires in 10 minutes. Do not share it."
SOURCE = "Herald"
MESSAGES = {1: 4_000, 10: 30_000, 100: 60_000}  # per run, by window


class Run(NamedTuple):
    """One client's run: rates, and its process's CPU per message."""

    submits_per_s: float
    receipts_per_s: float  # 0.0 with receipts off
    cpu_us: float


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


async def run_raw(port: int, n: int, window: int, receipts: bool) -> Run:
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
    start, cpu = time.perf_counter(), time.process_time()
    futures = [client.submit(1 if receipts else 0) for _ in range(n)]
    await asyncio.gather(*futures)
    submitted = time.perf_counter() - start
    received = (await asyncio.wait_for(all_in, 120)) - start if receipts else 0.0
    cpu = time.process_time() - cpu
    transport.close()
    return Run(n / submitted, (n / received if receipts else 0.0), cpu * 1e6 / n)


# --- herald's session -----------------------------------------------------------------------


async def run_herald(port: int, n: int, window: int, receipts: bool) -> Run:
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
    start, cpu = time.perf_counter(), time.process_time()
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
    cpu = time.process_time() - cpu
    await session.close()
    assert all(r.outcome == "accepted" for r in results), {r.outcome for r in results}
    return Run(n / submitted, (n / received if receipts else 0.0), cpu * 1e6 / n)


# --- herald's session in process: no socket, no simulator -------------------------------------


class Wire(asyncio.Transport):
    """Keeps what the session writes; the bench answers by calling its link's data_received.
    Answers an unbind, and closing it ends the connection, as a socket's would."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.protocol = protocol
        self.written: list[bytes] = []
        self.written_to = asyncio.Event()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        self.written.append(data)
        self.written_to.set()
        if data[4:8] == UNBIND.to_bytes(4, "big"):
            answer = HEADER.pack(16, UNBIND | RESP, 0, int.from_bytes(data[12:16], "big"))
            asyncio.get_running_loop().call_soon(self.protocol.data_received, answer)

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def answers(first_seq: int, count: int) -> bytes:
    """One read of submit_sm_resp for sequence numbers first_seq.., message_ids as a carrier's."""
    out = []
    for seq in range(first_seq, first_seq + count):
        body = f"{seq:016X}".encode() + b"\0"
        out.append(HEADER.pack(16 + len(body), SUBMIT_SM | RESP, 0, seq) + body)
    return b"".join(out)


def receipts(count: int) -> bytes:
    """One read of deliver_sm receipts."""
    out = []
    for seq in range(1, count + 1):
        text = f"id:{seq:016X} sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 "
        text += "stat:DELIVRD err:000 text:Your code is 4829"
        body = b"".join(
            (
                b"\0\x01\x01",
                DEST.encode(),
                b"\0\x05\x00",
                SOURCE.encode(),
                b"\0\x04\0\0\0\0\0\0\0\0",
                bytes((len(text),)),
                text.encode(),
            )
        )
        out.append(HEADER.pack(16 + len(body), DELIVER_SM, 0, seq) + body)
    return b"".join(out)


async def in_process(window: int = 100, rounds: int = 20, repeat: int = 40) -> dict[str, float]:
    """herald's CPU µs per part and per receipt, fed a window's answers per read: the least
    of `repeat` samples of `rounds` windows each (the least is what the load disturbed least)."""
    loop = asyncio.get_running_loop()
    links: list[tuple[Wire, asyncio.Protocol]] = []
    connected = asyncio.Event()

    async def connect(
        factory: Callable[[], asyncio.Protocol], host: str, port: int
    ) -> tuple[asyncio.BaseTransport, Any]:
        protocol = factory()
        wire = Wire(protocol)
        protocol.connection_made(wire)
        links.append((wire, protocol))
        connected.set()
        return wire, protocol

    def kept(pdu: Pdu) -> asyncio.Future[int | None]:
        future: asyncio.Future[int | None] = loop.create_future()  # what the tracker returns
        future.set_result(None)
        return future

    settings = SessionSettings(
        name="bench",
        host="127.0.0.1",
        port=2775,
        system_id="herald",
        password="secret",
        window=window,
        rate=1e9,
        burst=1_000_000,
        response_timeout=3600.0,
        enquire_link_interval=3600.0,
    )
    session = Session(settings, on_deliver=kept, connect=connect)
    await session.start()
    await connected.wait()
    wire, link = links[0]
    await wire.written_to.wait()  # the bind
    bind_resp = b"SMSC\0"
    link.data_received(HEADER.pack(16 + len(bind_resp), BIND_TRX | RESP, 0, 1) + bind_resp)
    await session.wait_bound(5)
    submit = session.submit
    seq = 2  # the next sequence_number the session uses (the bind had 1)
    delivered = receipts(window)
    figures = {"part": float("inf"), "receipt": float("inf")}
    for _ in range(repeat):
        reads = [answers(seq + r * window, window) for r in range(rounds)]
        seq += rounds * window
        started = time.process_time()
        for read in reads:
            futures = [
                submit(
                    source_addr=SOURCE,
                    source_ton=5,
                    source_npi=0,
                    destination_addr=DEST,
                    short_message=TEXT,
                )
                for _ in range(window)
            ]
            await asyncio.sleep(0)  # the window goes out in one write
            link.data_received(read)
            assert futures[-1].done(), "every part answered in the read"
        part = (time.process_time() - started) * 1e6 / (rounds * window)
        figures["part"] = min(figures["part"], part)
        wire.written.clear()
        started = time.process_time()
        for _ in range(rounds):
            link.data_received(delivered)
            await asyncio.sleep(0)  # the futures' callbacks answer them
            await asyncio.sleep(0)  # and the answers go out
        receipt = (time.process_time() - started) * 1e6 / (rounds * window)
        figures["receipt"] = min(figures["receipt"], receipt)
        assert len(b"".join(wire.written)) >= 17 * window, "every receipt answered"
        wire.written.clear()
    await session.close(drain_timeout=0.1)
    return figures


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
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="print herald's CPU per part and per receipt in process, then stop",
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
    figures = run(loop, in_process())
    print(
        f"herald CPU in process ({loop} loop, window 100, one read per window): "
        f"{figures['part']:.2f} µs a part (submit, write, submit_sm_resp read, result), "
        f"{figures['receipt']:.2f} µs a receipt (deliver_sm read, kept, deliver_sm_resp)",
        flush=True,
    )
    if args.in_process:
        return
    proc, port = start_simulator(loop)
    try:
        if args.profile:
            window = max(windows)
            n = int(MESSAGES.get(window, 60_000) * args.scale)
            profiler = cProfile.Profile()
            profiler.enable()
            rate = run(loop, run_herald(port, n, window, True))
            profiler.disable()
            print(f"herald, window {window}, receipts on: {rate.submits_per_s:,.0f} submit_sm/s")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        print(
            f"{os.cpu_count()} cores, {loop} loop (clients and simulator), herald simulate "
            f"in another process; median of {args.runs} runs"
        )
        header = (
            f"{'window':>6} {'receipts':>8} {'messages':>8} | {'herald':>9} {'raw':>9} "
            f"{'ratio':>5} | {'herald':>10} {'raw':>10} {'ratio':>5} | {'herald':>6} {'raw':>6}"
        )
        print(f"{'':25} | {'submit_sm/s':^25} | {'receipts/s':^27} | {'CPU µs/msg':^13}")
        print(header)
        for window in windows:
            n = int(MESSAGES.get(window, 60_000) * args.scale)
            for receipts in (False, True):
                ours: list[Run] = []
                theirs: list[Run] = []
                for i in range(args.runs):
                    pair = [(ours, run_herald), (theirs, run_raw)]
                    for into, fn in pair if i % 2 else pair[::-1]:
                        into.append(run(loop, fn(port, n, window, receipts)))
                h = statistics.median(r.submits_per_s for r in ours)
                b = statistics.median(r.submits_per_s for r in theirs)
                line = (
                    f"{window:>6} {'on' if receipts else 'off':>8} {n:>8} | {h:>9,.0f} "
                    f"{b:>9,.0f} {h / b:>5.2f} |"
                )
                if receipts:
                    hr = statistics.median(r.receipts_per_s for r in ours)
                    br = statistics.median(r.receipts_per_s for r in theirs)
                    line += f" {hr:>10,.0f} {br:>10,.0f} {hr / br:>5.2f} |"
                else:
                    line += f" {'':>27} |"
                hc = statistics.median(r.cpu_us for r in ours)
                bc = statistics.median(r.cpu_us for r in theirs)
                line += f" {hc:>6.1f} {bc:>6.1f}"
                print(line, flush=True)
    finally:
        stop_simulator(proc)


if __name__ == "__main__":
    main()
