"""`herald send` in a subprocess against herald's simulator: JSON lines, exit statuses, the
SMPP status named on failure, --wait-receipt; bad options rejected before any connection."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner

from herald.cli.main import main
from herald.simulator import Simulator, personality_settings

NUMBER = "+447911123456"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(personality_settings("happy", seed=1))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def herald_send(
    sim: Simulator,
    *args: str,
    password: str = "secret",
) -> tuple[int, list[dict[str, Any]], str]:
    host, port = sim.address
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald",
        "send",
        "--smsc",
        f"{host}:{port}",
        "--system-id",
        "herald",
        "--password",
        password,
        "--timeout",
        "5",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = [json.loads(line) for line in out.decode().splitlines()]
    return process.returncode or 0, lines, err.decode()


async def test_one_part_accepted(sim: Simulator) -> None:
    code, lines, err = await herald_send(sim, "--from", "Herald", "--to", NUMBER, "Hello")
    assert code == 0, err
    (line,) = lines
    record = sim.submits[0]
    assert line == {
        "part": 1,
        "parts": 1,
        "outcome": "accepted",
        "message_id": record.message_id,
        "status": "ESME_ROK",
        "command_status": "0x00000000",
    }
    assert (record.destination_addr, record.dest_addr_ton, record.dest_addr_npi) == (
        "447911123456",
        1,
        1,
    )
    assert (record.source_addr, record.source_addr_ton, record.message_text) == (
        "Herald",
        5,
        "Hello",
    )
    assert record.registered_delivery == 0 and "bound (trx)" in err


async def test_multipart_with_receipts(sim: Simulator) -> None:
    text = "Grüße aus Köln, wie geht's? " * 6  # GSM-7 with ü/ö... two parts
    code, lines, err = await herald_send(
        sim, "--from", "+447911000000", "--to", NUMBER, "--wait-receipt", "10", text
    )
    assert code == 0, err
    assert [line["part"] for line in lines] == [1, 2] and {line["parts"] for line in lines} == {2}
    assert all(line["receipt"]["state"] == "DELIVRD" and line["receipt"]["final"] for line in lines)
    assert [r.message_id for r in sim.submits] == [line["message_id"] for line in lines]
    assert sim.submits[-1].message_text == text and sim.submits[0].registered_delivery == 1
    assert sim.submits[0].source_addr_ton == 1  # an international sender
    await sim.wait_for_receipts_acked(2)


async def test_transmitter_bind(sim: Simulator) -> None:
    code, lines, err = await herald_send(
        sim, "--bind", "tx", "--from", "12345", "--to", NUMBER, "Hi"
    )
    assert code == 0, err
    assert lines[0]["outcome"] == "accepted" and sim.stats.binds_tx == 1
    assert (sim.submits[0].source_addr, sim.submits[0].source_addr_ton) == ("12345", 3)


async def test_flash(sim: Simulator) -> None:
    code, _, err = await herald_send(sim, "--flash", "--from", "Herald", "--to", NUMBER, "Now")
    assert code == 0, err
    assert sim.submits[0].data_coding == 0xF0


async def test_rejected_part_exits_1_naming_the_status(sim: Simulator) -> None:
    sim.configure(errors=((0x0B, 1.0),))
    code, lines, err = await herald_send(sim, "--from", "Herald", "--to", NUMBER, "Hello")
    assert code == 1
    assert lines[0]["outcome"] == "rejected" and lines[0]["status"] == "ESME_RINVDSTADR"
    assert "ESME_RINVDSTADR (0x0000000B)" in err


async def test_refused_bind_exits_1_naming_the_status(sim: Simulator) -> None:
    code, lines, err = await herald_send(
        sim, "--from", "Herald", "--to", NUMBER, "Hello", password="wrong"
    )
    assert code == 1 and lines == []
    assert "ESME_RINVPASWD (0x0000000E)" in err and sim.stats.bind_failures == 1


async def test_missing_receipt_exits_1(sim: Simulator) -> None:
    sim.configure(receipts=False)
    code, lines, err = await herald_send(
        sim, "--from", "Herald", "--to", NUMBER, "--wait-receipt", "0.5", "Hello"
    )
    assert code == 1 and lines[0]["outcome"] == "accepted" and lines[0]["receipt"] is None
    assert "no final receipt within 0.5s" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--smsc", "localhost"], "--smsc 'localhost': expected HOST:PORT"),
        (["--to", "12"], "--to: '12': invalid_format"),
        (["--from", "A sender far too long"], "--from: alphanumeric sender"),
        (["--bind", "tx", "--wait-receipt", "5"], "--wait-receipt needs --bind trx"),
        (["--wait-receipt", "0"], "--wait-receipt 0.0: must be positive"),
        (["--system-id", "a-system-id-too-long"], "system_id must be at most 15"),
        (["--bind", "rx"], "Invalid value for '--bind'"),
    ],
)
def test_bad_options_are_named_before_connecting(args: list[str], message: str) -> None:
    options = {
        "--smsc": "127.0.0.1:9",
        "--system-id": "herald",
        "--password": "secret",
        "--from": "Herald",
        "--to": NUMBER,
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        options[flag] = value
    argv = ["send", *[x for pair in options.items() for x in pair], "Hello"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_empty_text_is_refused() -> None:
    result = CliRunner().invoke(
        main,
        [
            "send",
            "--smsc",
            "127.0.0.1:9",
            "--system-id",
            "h",
            "--password",
            "p",
            "--from",
            "Herald",
            "--to",
            NUMBER,
            "",
        ],
    )
    assert result.exit_code == 2 and "TEXT is empty" in result.output
