"""How many submit_sm/s `herald simulate` answers, against a minimal struct-based client.

The simulator runs as its own process (`herald simulate`, exactly what benchmarks start); the
client here is the least an ESME can be: pre-encoded submit_sm, a window of outstanding
requests kept full, responses counted by reading command_id from the header, deliver_sm
answered with a canned deliver_sm_resp. Its own ceiling is printed beside (the same client
against a bare struct SMSC in another process, the baseline of
docs/decisions/0004-smpp-libraries-as-production-client.md), so the ratio says what the
simulator costs. The target: at least 50k submit_sm/s, receipts off.

Run: .venv/bin/python bench/simulator.py [--n 200000] [--window 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import os
import signal
import statistics
import struct
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

HEADER = struct.Struct(">IIII")
SUBMIT_SM, DELIVER_SM, BIND_TRX = 0x04, 0x05, 0x09
RESP = 0x80000000


def submit_sm(seq: int, registered_delivery: int) -> bytes:
    body = (
        b"\x00\x05\x00Brand\x00\x01\x01447700900123\x00\x00\x00\x00\x00\x00"
        + bytes((registered_delivery,))
        + b"\x00\x00\x00"
        + bytes((34,))
        + b"Benchmark message, nothing to see."
    )
    return HEADER.pack(16 + len(body), SUBMIT_SM, 0, seq) + body


class Pump(asyncio.Protocol):
    """Keeps `window` submits outstanding until `n` were answered (and `receipts` arrived)."""

    def __init__(self, n: int, window: int, receipts: bool, done: asyncio.Future[float]) -> None:
        self.n, self.window, self.receipts, self.done = n, window, receipts, done
        self.sent = self.answered = self.delivered = 0
        self.buf = b""
        self.bound = False
        self.started = 0.0
        self.rd = 1 if receipts else 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        body = b"herald\x00secret\x00\x00\x34\x00\x00\x00"
        transport.write(HEADER.pack(16 + len(body), BIND_TRX, 0, 1) + body)  # type: ignore[attr-defined]

    def _send(self, count: int) -> None:
        count = min(count, self.n - self.sent)
        if count > 0:
            start = self.sent + 2
            self.t.write(b"".join(submit_sm(s, self.rd) for s in range(start, start + count)))  # type: ignore[attr-defined]
            self.sent += count

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos, n = 0, len(buf)
        answered = 0
        out = []
        while n - pos >= 16:
            length, cid, _, seq = HEADER.unpack_from(buf, pos)
            if n - pos < length:
                break
            if cid == SUBMIT_SM | RESP:
                answered += 1
            elif cid == DELIVER_SM:
                self.delivered += 1
                out.append(HEADER.pack(17, DELIVER_SM | RESP, 0, seq) + b"\0")
            elif cid == BIND_TRX | RESP:
                self.started = time.perf_counter()
                self._send(self.window)
            pos += length
        self.buf = buf[pos:]
        if out:
            self.t.write(b"".join(out))  # type: ignore[attr-defined]
        if answered:
            self.answered += answered
            self._send(answered)
        finished = self.answered >= self.n and (not self.receipts or self.delivered >= self.n)
        if finished and not self.done.done():
            self.done.set_result(time.perf_counter() - self.started)


async def client(port: int, n: int, window: int, receipts: bool) -> float:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: Pump(n, window, receipts, done), "127.0.0.1", port
    )
    try:
        elapsed = await asyncio.wait_for(done, 120)
    finally:
        transport.close()
    return n / elapsed


def run_client(port: int, n: int, window: int, receipts: bool) -> float:
    import uvloop

    return uvloop.run(client(port, n, window, receipts))


# --- the baseline SMSC: bind, submit_sm_resp and (optionally) a receipt, all struct ----------


class BareSmsc(asyncio.Protocol):
    receipts = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t, self.buf, self.id, self.seq = transport, b"", 0xA0000000, 0

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos, n, out = 0, len(buf), []
        while n - pos >= 16:
            length, cid, _, seq = HEADER.unpack_from(buf, pos)
            if n - pos < length:
                break
            if cid == SUBMIT_SM:
                self.id += 1
                mid = b"%x\0" % self.id
                out.append(HEADER.pack(16 + len(mid), SUBMIT_SM | RESP, 0, seq) + mid)
                if self.receipts:
                    self.seq += 1
                    text = b"id:%x sub:001 dlvrd:001 stat:DELIVRD err:000" % self.id
                    body = (
                        b"\0\x01\x01447700900123\0\x05\0Brand\0\x04\0\0\0\0\0\0\0\0"
                        + bytes((len(text),))
                        + text
                    )
                    out.append(HEADER.pack(16 + len(body), DELIVER_SM, 0, self.seq) + body)
            elif cid == BIND_TRX:
                out.append(HEADER.pack(21, cid | RESP, 0, seq) + b"bare\0")
            pos += length
        self.buf = buf[pos:]
        if out:
            self.t.write(b"".join(out))  # type: ignore[attr-defined]


def bare_smsc(port_queue: multiprocessing.Queue[int], receipts: bool) -> None:
    import uvloop

    BareSmsc.receipts = receipts

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(BareSmsc, "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    uvloop.run(main())


def start_simulator(receipts: bool, loop: str) -> tuple[subprocess.Popen[str], int]:
    args = [
        sys.executable,
        "-m",
        "herald",
        "simulate",
        "--port",
        "0",
        "--loop",
        loop,
        "--receipts" if receipts else "--no-receipts",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    port = int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])
    return proc, port


def cpu_seconds(pid: int, *, ended_children: bool = False) -> float:
    """User + system CPU time of a process so far (Linux /proc); with `ended_children`, that
    of its children it has waited for as well (a postmaster's ended backends)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if ended_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure_simulator(
    n: int, window: int, runs: int, receipts: bool, loop: str
) -> tuple[list[float], list[float]]:
    """(submit_sm/s seen by the client, server CPU µs per submit_sm) per run. The CPU figure
    does not depend on what else the 2 shared cores are doing."""
    rates, cpu = [], []
    for _ in range(runs):
        proc, port = start_simulator(receipts, loop)
        try:
            before = cpu_seconds(proc.pid)
            rates.append(run_client(port, n, window, receipts))
            cpu.append((cpu_seconds(proc.pid) - before) / n * 1e6)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    return rates, cpu


def measure_bare(n: int, window: int, runs: int, receipts: bool) -> list[float]:
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=bare_smsc, args=(queue, receipts), daemon=True)
    server.start()
    try:
        port = queue.get(timeout=30)
        return [run_client(port, n, window, receipts) for _ in range(runs)]
    finally:
        server.terminate()
        server.join()


# --- server CPU per submit_sm, in process: the fast path against the generic Connection path --


class NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str) -> None:
        return None

    def is_closing(self) -> bool:
        return False


def _each(step: Callable[[bytes], None], pdus: list[bytes]) -> None:
    for pdu in pdus:
        step(pdu)


def per_submit_us() -> dict[str, float]:
    """CPU µs per submit_sm for the simulator's paths, fed 1000 PDUs per chunk."""
    from herald.simulator import Simulator, personality_settings
    from herald.simulator.protocol import SmscProtocol

    async def measure() -> dict[str, float]:
        results = {}
        chunk = b"".join(submit_sm(seq, 0) for seq in range(2, 1002))
        pdus = [submit_sm(seq, 0) for seq in range(2, 1002)]
        bind = b"herald\x00secret\x00\x00\x34\x00\x00\x00"
        for label, knobs in (
            ("fast path, body not decoded (receipts and recording off)", {}),
            ("fast path, body decoded (recording on)", {"track_duplicates": True}),
        ):
            sim = Simulator(
                personality_settings(
                    "happy", receipts=False, keep_submits=0, track_duplicates=False
                ).replace(**knobs)
            )
            proto = SmscProtocol(sim)
            proto.connection_made(NullTransport())  # type: ignore[arg-type]
            proto.data_received(HEADER.pack(16 + len(bind), BIND_TRX, 0, 1) + bind)
            results[label] = min(
                timeit.repeat(
                    functools.partial(proto.data_received, chunk),
                    number=20,
                    repeat=5,
                    timer=time.process_time,
                )
            )
            results[label] *= 1e6 / 20 / 1000
            if label.startswith("fast path, body not"):
                generic = min(
                    timeit.repeat(
                        functools.partial(_each, proto._generic, pdus),
                        number=20,
                        repeat=5,
                        timer=time.process_time,
                    )
                )
                results["generic Connection path (decode, event, reply, encode)"] = (
                    generic * 1e6 / 20 / 1000
                )
        label = "receipts on, immediate (submit_sm, its receipt, the deliver_sm_resp)"
        results[label] = receipted_us(bind)
        return results

    return asyncio.run(measure())


def receipted_us(bind: bytes, number: int = 20, repeat: int = 5) -> float:
    """CPU µs per receipted submit_sm, fed 1000 per chunk: the submit, its receipt routed and
    written at once, and the ESME's deliver_sm_resp read back (the switchboard's round)."""
    from herald.simulator import Simulator, personality_settings
    from herald.simulator.protocol import SmscProtocol

    sim = Simulator(personality_settings("happy", keep_submits=0, track_duplicates=False))
    proto = SmscProtocol(sim)
    proto.connection_made(NullTransport())  # type: ignore[arg-type]
    proto.data_received(HEADER.pack(16 + len(bind), BIND_TRX, 0, 1) + bind)
    chunk = b"".join(submit_sm(seq, 1) for seq in range(2, 1002))
    # the deliver_sm are numbered 1, 2, ... in the order written: their answers, made ahead
    answers = iter(
        [
            b"".join(
                HEADER.pack(17, DELIVER_SM | RESP, 0, seq) + b"\0"
                for seq in range(first, first + 1000)
            )
            for first in range(1, number * repeat * 1000, 1000)
        ]
    )

    def one_round() -> None:
        proto.data_received(chunk)
        proto.data_received(next(answers))

    best = min(timeit.repeat(one_round, number=number, repeat=repeat, timer=time.process_time))
    assert sim.stats.receipts_acked == number * repeat * 1000, sim.stats.receipts_acked
    return best * 1e6 / number / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="submits per run")
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; n={args.n}, window={args.window}, median of {args.runs}")
    for label, us in per_submit_us().items():
        print(f"server CPU per submit_sm, {label}: {us:.2f} µs")
    print(f"{'':40} {'submit_sm/s':>12} {'baseline':>10} {'ratio':>6} {'server µs':>10}")
    for receipts in (False, True):
        bare = statistics.median(measure_bare(args.n, args.window, args.runs, receipts))
        for loop in ("uvloop", "asyncio"):
            rates, cpu = measure_simulator(args.n, args.window, args.runs, receipts, loop)
            sim, us = statistics.median(rates), statistics.median(cpu)
            label = f"herald simulate ({loop}), receipts {'on' if receipts else 'off'}"
            print(f"{label:40} {sim:12,.0f} {bare:10,.0f} {sim / bare:6.2f} {us:10.1f}")
    print("server µs: the simulator process's CPU time per submit_sm (receipts: and its receipt)")


if __name__ == "__main__":
    main()
