"""The tracker: deliver_sm receipts are stored before they are acknowledged; MO messages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from herald.delivery.tracker import Tracker
from herald.delivery.writer import Writer
from herald.metrics import Metrics
from herald.smpp import CommandId, InboundMessage, Pdu, Tag, decode, encode
from herald.store.db import Database

pytestmark = pytest.mark.usefixtures("counters_kept")

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def wire(pdu: Pdu) -> Pdu:
    """Through the codec, as the session would receive it."""
    return decode(encode(pdu))


def receipt_tlv(message_id: str, state: int) -> Pdu:
    return wire(
        Pdu(
            CommandId.DELIVER_SM,
            sequence_number=7,
            esm_class=0x04,
            source_addr="306948530920",
            destination_addr="Herald",
            short_message=b"id:x stat:whatever",
            tlvs={
                Tag.RECEIPTED_MESSAGE_ID: message_id,
                Tag.MESSAGE_STATE: state,
                Tag.NETWORK_ERROR_CODE: bytes([3, 0, 1]),
            },
        )
    )


def receipt_text(text: str, esm_class: int = 0x04) -> Pdu:
    return wire(
        Pdu(
            CommandId.DELIVER_SM,
            sequence_number=8,
            esm_class=esm_class,
            short_message=text.encode(),
        )
    )


async def test_receipts_are_acknowledged_only_after_they_are_stored(database: Database) -> None:
    metrics = Metrics()
    writer = Writer(database, metrics=metrics)
    tracker = Tracker(
        writer,
        metrics=metrics,
        clock=lambda: NOW,
        id_modes={"rx": "submit_hex_dlr_dec"},
        receipt_groups={"rx": "tx"},
    )
    handler = tracker.handler("rx")
    first = asyncio.ensure_future(handler(receipt_tlv("C085E0", 2)))
    second = asyncio.ensure_future(
        handler(
            receipt_text(
                "id:0012617185 sub:001 dlvrd:000 submit date:2611221000 done date:2611221001 "
                "stat:UNDELIV err:034 text:hello"
            )
        )
    )
    await asyncio.sleep(0)  # let both handlers run up to the writer
    assert not first.done() and not second.done()
    assert await writer.flush()
    assert await first is None and await second is None  # stored: the session answers ROK
    async with database.acquire() as conn:
        rows = await conn.fetch(
            "SELECT bind, canonical_id, state, receipt_state, receipt_error, network_error"
            " FROM orphan_receipts ORDER BY canonical_id"
        )
    # No parts exist, so both wait as orphans under the transmitter's group, ids in one base.
    assert [tuple(r) for r in rows] == [
        ("tx", "12617184", "delivered", 2, None, "3:1"),
        ("tx", "12617185", "undeliverable", 5, "034", None),
    ]
    assert metrics.bind("rx").receipts == {"delivered": 1, "undeliverable": 1}


async def test_mobile_originated_messages_reach_the_callback(database: Database) -> None:
    metrics = Metrics()
    seen: list[tuple[str, str, str]] = []

    async def on_mo(bind: str, message: InboundMessage) -> None:
        seen.append((bind, message.source_addr, message.text()))

    tracker = Tracker(
        Writer(database, metrics=metrics),
        metrics=metrics,
        clock=lambda: NOW,
        on_mobile_originated=on_mo,
    )
    mo = wire(
        Pdu(
            CommandId.DELIVER_SM,
            esm_class=0,
            source_addr="306948530920",
            destination_addr="Herald",
            short_message=b"STOP",
        )
    )
    assert await tracker.handler("a")(mo) is None
    assert seen == [("a", "306948530920", "STOP")]


async def test_unparsable_receipts_are_counted_and_acknowledged(database: Database) -> None:
    metrics = Metrics()
    tracker = Tracker(Writer(database, metrics=metrics), metrics=metrics, clock=lambda: NOW)
    assert await tracker.handler("a")(receipt_text("no id or state here")) is None
    assert metrics.bind("a").receipts == {"unparsable": 1}
