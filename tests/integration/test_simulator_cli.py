"""`herald simulate` as a separate process: it prints where it listens, serves, and on SIGTERM
stops cleanly, prints its counters and exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from click.testing import CliRunner

from herald.cli.main import main
from herald.simulator.personalities import PERSONALITIES
from herald.smpp import parse_receipt
from herald.smpp.session import Session, SessionSettings
from tests.integration.simulator_support import RawEsme
from tests.support.tls import make_certificates


async def start(*args: str) -> tuple[asyncio.subprocess.Process, tuple[str, int]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald",
        "simulate",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = (await proc.stdout.readline()).decode()
    assert line.startswith("herald simulator listening on "), line
    host, port = line.split(" on ", 1)[1].split()[0].rsplit(":", 1)
    return proc, (host, int(port))


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def counters(out: str) -> dict[str, object]:
    (line,) = [x for x in out.splitlines() if x.startswith("counters: ")]
    return json.loads(line[len("counters: ") :])


async def test_simulate_serves_then_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    record = tmp_path / "submits.jsonl"
    proc, address = await start(
        "--personality",
        "nexmo",
        "--system-id",
        "bench",
        "--password",
        "pw",
        "--record",
        str(record),
        "--receipt-delay",
        "0-5",
    )
    esme = await RawEsme.connect(address)
    assert (await esme.bind("trx", "bench", "wrong")).command_status == 0x0E
    assert (await esme.bind("trx", "bench", "pw")).command_status == 0
    seqs = esme.submit_text("Hello from the command line")
    message_id = (await esme.response(seqs[0])).text("message_id")
    (pdu,) = await esme.deliveries(1)
    receipt = parse_receipt(pdu)
    assert receipt is not None and receipt.message_id == message_id == message_id.upper()
    await esme.close()
    code, out, err = await stop(proc)
    assert code == 0, err
    stats = counters(out)
    assert stats["binds"] == 1 and stats["bind_failures"] == 1
    assert stats["submits_by_status"] == {"ESME_ROK": 1} and stats["receipts_acked"] == 1
    (line,) = record.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["message_text"] == "Hello from the command line"


async def test_simulate_rejects_a_bad_option_with_its_name() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald",
        "simulate",
        "--port",
        "0",
        "--latency",
        "soon",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode != 0
    assert "--latency" in err.decode()


async def test_the_control_hook_and_simulate_mo_send_replies_on_demand(tmp_path: Path) -> None:
    proc, address = await start("--control-port", "0")
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = (await proc.stdout.readline()).decode()
    assert line.startswith("control hook on http://"), line
    control = line.split(" on ", 1)[1].strip()
    esme = await RawEsme.connect(address)
    assert (await esme.bind("rx")).command_status == 0

    async def mo(*args: str) -> tuple[int, str, str]:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "herald", "simulate", "mo", "--control", control, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(30):
            out, err = await child.communicate()
        assert child.returncode is not None
        return child.returncode, out.decode(), err.decode()

    code, out, err = await mo("--from", "306948530920", "--to", "Herald", "STOP")
    assert code == 0 and json.loads(out) == {"parts": 1, "statuses": [0]}, err
    long_greek = "Καλημέρα, θα ήθελα να αλλάξω την ώρα του ραντεβού μου σε αύριο. " * 2
    code, out, _ = await mo(
        "--from", "306948530920", "--to", "Herald", "--concat", "sar", long_greek
    )
    assert code == 0 and json.loads(out)["parts"] == 2
    delivered = await esme.deliveries(3)
    assert [p["data_coding"] for p in delivered] == [0, 8, 8]
    code, _, err = await mo("--from", "", "--to", "Herald", "x")
    assert code == 1 and "`from` must be a text" in err
    await esme.close()
    code, out, err = await stop(proc)
    assert code == 0, err
    assert counters(out)["mo_acked"] == 3


async def test_simulate_listens_with_tls(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "herald", "simulate", "--port", "0",
        "--tls-cert", str(certificates.server_cert), "--tls-key", str(certificates.server_key),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = (await proc.stdout.readline()).decode()
    assert line.startswith("herald simulator listening on ") and ", TLS)" in line, line
    host, port = line.split(" on ", 1)[1].split()[0].rsplit(":", 1)
    session = Session(
        SessionSettings(
            name="tls", host=host, port=int(port), system_id="herald", password="secret",
            tls=True, tls_ca=str(certificates.ca),
        )
    )  # fmt: skip
    await session.start()
    try:
        await session.wait_bound(10)
    finally:
        await session.close()
    code, out, err = await stop(proc)
    assert code == 0 and counters(out)["binds"] == 1, err


def test_help_names_every_personality() -> None:
    # The list was written by hand and fell behind (`carrier` was missing); now it is generated.
    out = CliRunner().invoke(main, ["simulate", "--help"], terminal_width=1000)
    assert out.exit_code == 0, out.output
    listed = out.output.split("--personality NAME[+NAME...]", 1)[1]
    assert all(name in listed for name in PERSONALITIES)
