"""Kannel (bearerbox + smsbox, Debian's package, as shipped) as a benchmark peer of herald.

`Kannel` writes one configuration (one SMPP transceiver to the simulator with the window as
`max-pending-submits`, internal DLR storage, an smsbox with a sendsms user), starts both boxes
from this process and stops them with SIGTERM (SIGKILL after a grace period). `send` pushes
messages through `/cgi-bin/sendsms`, one HTTP GET each, with `dlr-mask=31` and a `dlr-url` to
a `DlrCounter` in this process; the run is over once every message has its final DLR.

The HTTP client (asyncio streams) and the counter (an asyncio Protocol) are a few lines each,
not an HTTP library: they share the machine's two cores with Kannel, so each request costs
this process as little as can be (the bench prints this process's own CPU per message beside
Kannel's: 64-96 µs for a sendsms request and two DLRs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

APT_PACKAGE = "kannel"
DLR_DELIVERED, DLR_FAILED, DLR_REJECTED = 1, 2, 16  # Kannel's DLR types (dlr-mask bits)
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_installed(echo: Callable[[str], None] = print) -> str | None:
    """None when bearerbox and smsbox are on PATH (installing Debian's `kannel` with apt-get
    when they are missing and we are root); else why Kannel cannot run here."""
    if shutil.which("bearerbox") and shutil.which("smsbox"):
        return None
    if shutil.which("apt-get") is None:
        return "bearerbox is missing and there is no apt-get to install Kannel"
    if os.geteuid() != 0:
        return "bearerbox is missing; installing Debian's kannel needs root"
    echo("bearerbox is missing: installing Debian's kannel package (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", APT_PACKAGE]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"{' '.join(command)} failed ({done.returncode}): {tail[0]}"
    if not (shutil.which("bearerbox") and shutil.which("smsbox")):
        return "the kannel package installed no bearerbox/smsbox"
    return None


def version() -> str:
    done = subprocess.run(["bearerbox", "--version"], capture_output=True, text=True, check=False)
    for line in (done.stdout + done.stderr).splitlines():
        if "version" in line.lower() and "Kannel" in line:
            return line.split("`")[1].rstrip("'.") if "`" in line else line.strip()
    return "unknown version"


# --- the DLR counter --------------------------------------------------------------------------


_DLR = re.compile(rb"[?&]id=(\d+)&type=(\d+)")


@dataclass
class DlrCounter:
    """An HTTP server counting the DLRs Kannel's smsbox fetches (`/dlr?id=N&type=T`)."""

    expected: int
    delivered: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    requests: int = 0
    connections: int = 0
    last_final: float = 0.0  # time.time() of the last final DLR
    done: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _server: asyncio.Server | None = None
    _open: set[asyncio.Transport] = field(default_factory=set)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _DlrProtocol(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for transport in list(self._open):
                transport.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()

    @property
    def final(self) -> int:
        return len(self.delivered) + len(self.failed)

    def count(self, target: bytes) -> None:
        self.requests += 1
        match = _DLR.search(target)
        if match is None:
            return
        message, kind = int(match.group(1)), int(match.group(2))
        if kind == DLR_DELIVERED:
            self.delivered.add(message)
        elif kind in (DLR_FAILED, DLR_REJECTED):
            self.failed.add(message)
        else:
            return  # buffered (4) or SMSC accepted (8): not final
        self.last_final = time.time()
        if self.final >= self.expected:
            self.done.set()


class _DlrProtocol(asyncio.Protocol):
    """One connection from smsbox: requests answered 200 in order, kept alive unless asked."""

    def __init__(self, counter: DlrCounter) -> None:
        self.counter = counter
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.counter.connections += 1
        self.counter._open.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.counter._open.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        while (end := buf.find(b"\r\n\r\n")) >= 0:  # GETs: no body
            head, buf = buf[:end], buf[end + 4 :]
            line = head.split(b"\r\n", 1)[0]
            self.counter.count(line)
            self.transport.write(_OK)
            if line.endswith(b"HTTP/1.0") or b"connection: close" in head.lower():
                self.transport.close()
                return
        self.buf = buf


# --- bearerbox and smsbox -----------------------------------------------------------------------


@dataclass
class Kannel:
    """bearerbox + smsbox with one SMPP transceiver to `smsc_port`."""

    work: Path
    smsc_port: int
    window: int
    system_id: str = "herald"
    password: str = "secret"
    admin_port: int = field(default_factory=free_port)
    box_port: int = field(default_factory=free_port)
    sendsms_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.work / "kannel.conf"

    def write_config(self) -> Path:
        # log-level 2 (warnings) and no access log: Kannel's defaults log every message at
        # debug level, which would measure its logging, not its sending.
        self.conf.write_text(
            f"""group = core
admin-port = {self.admin_port}
admin-password = bench
status-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.box_port}
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-file = "{self.work / "bearerbox.log"}"
log-level = 2

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = {self.smsc_port}
transceiver-mode = true
smsc-username = "{self.system_id}"
smsc-password = "{self.password}"
system-type = ""
max-pending-submits = {self.window}
msg-id-type = 0x03

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
log-file = "{self.work / "smsbox.log"}"
log-level = 2

group = sendsms-user
username = bench
password = bench
max-messages = 1
""",
            encoding="utf-8",
        )
        return self.conf

    async def start(self, within: float = 30.0) -> None:
        """Both boxes running, the SMPP bind and the smsbox online (bearerbox's status).
        bearerbox offers no event to wait on, so its status page is read every 50 ms."""
        self.write_config()
        deadline = time.monotonic() + within
        self._spawn("bearerbox")
        await self._until(lambda status: status != "", deadline)  # listening: smsbox may come
        self._spawn("smsbox")

        def ready(status: str) -> bool:
            boxes, _, smscs = status.partition("SMSC connections:")
            return "online" in smscs and "smsbox" in boxes.partition("Box connections:")[2]

        await self._until(ready, deadline)

    def _spawn(self, box: str) -> None:
        with (self.work / f"{box}.out").open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    [box, "-v", "4", "--", str(self.conf)],  # as Debian's init script
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.work,
                )
            )

    async def _until(self, ready: Callable[[str], bool], deadline: float) -> None:
        status = ""
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args!r} exited ({proc.returncode}):\n{self.logs()}")
            status = await self.status()
            if ready(status):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"Kannel not ready in time; status:\n{status}\n{self.logs()}")

    async def status(self) -> str:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.admin_port)
        except OSError:
            return ""
        try:
            writer.write(b"GET /status.txt?password=bench HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return (await reader.read()).decode("latin-1")
        finally:
            writer.close()

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def logs(self, lines: int = 20) -> str:
        out = []
        for name in ("bearerbox.out", "bearerbox.log", "smsbox.out", "smsbox.log"):
            path = self.work / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(out)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to smsbox then bearerbox (their clean shutdown), SIGKILL if one lingers."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


# --- sendsms ------------------------------------------------------------------------------------


def sendsms_targets(messages: Sequence[tuple[str, str]], sender: str, dlr_port: int) -> list[bytes]:
    """One GET request line target per (destination, text), with its own dlr-url."""
    targets = []
    for i, (destination, text) in enumerate(messages):
        query = urllib.parse.urlencode(
            {
                "username": "bench",
                "password": "bench",
                "from": sender,
                "to": destination,
                "text": text,
                "dlr-mask": "31",
                "dlr-url": f"http://127.0.0.1:{dlr_port}/dlr?id={i}&type=%d",
            }
        )
        targets.append(f"/cgi-bin/sendsms?{query}".encode())
    return targets


async def send(port: int, targets: Sequence[bytes], concurrency: int) -> int:
    """GET every target from smsbox over `concurrency` keep-alive connections; how many were
    accepted (HTTP 202). A refused request raises with Kannel's answer."""
    queue = iter(targets)
    accepted = 0

    async def worker() -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for target in queue:
                writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                if b" 202 " not in head.split(b"\r\n", 1)[0]:
                    raise RuntimeError(f"sendsms refused: {head!r} {body!r}")
                accepted += 1
                if b"close" in head.lower():  # Kannel closed this one: open another
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted
