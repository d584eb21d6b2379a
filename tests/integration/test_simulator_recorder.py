"""What the simulator records: JSON lines per submit_sm, decoded, with the reassembled text of
concatenated messages, and the duplicate count crash-safety tests rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herald.simulator import Simulator, personality_settings
from herald.smpp.status import CommandStatus as S
from tests.integration.simulator_support import RawEsme

UCS2_TEXT = "Καλημέρα! Η παραγγελία σας στάλθηκε σήμερα. Ευχαριστούμε 😊 " * 3
GSM_EXTENDED = "Price: 5€ [promo] {code} ~x^y | back\\slash, then more plain text. " * 3


async def send_and_wait(sim: Simulator, esme: RawEsme, seqs: list[int]) -> None:
    for seq in seqs:
        await esme.response(seq)
    sim.flush_record()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_multipart_ucs2_is_recorded_and_reassembled(tmp_path: Path) -> None:
    path = tmp_path / "submits.jsonl"
    async with Simulator(personality_settings("happy", record_path=path)) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seqs = esme.submit_text(UCS2_TEXT, reference=42)
        assert len(seqs) == 3
        await send_and_wait(sim, esme, seqs)
        records = lines(path)
        assert [r["sequence"] for r in records] == seqs
        for seq_in_message, record in enumerate(records, 1):
            assert record["data_coding"] == 0x08 and record["esm_class"] == 0x40
            assert record["udh"]["concat"] == {  # type: ignore[index]
                "reference": 42,
                "total": 3,
                "seq": seq_in_message,
                "bits": 8,
            }
            assert record["system_id"] == "herald" and record["bind"] == "trx"
            assert (record["source_addr"], record["source_addr_ton"]) == ("Brand", 5)
            assert (record["destination_addr"], record["dest_addr_ton"]) == ("447700900123", 1)
            assert record["registered_delivery"] == 1 and record["status"] == 0
        assert "".join(r["text"] for r in records) == UCS2_TEXT  # type: ignore[misc]
        assert [r["message_text"] for r in records] == [None, None, UCS2_TEXT]
        assert sim.submits[-1].message_text == UCS2_TEXT
        await esme.close()


async def test_gsm_with_extension_characters_is_reassembled(tmp_path: Path) -> None:
    path = tmp_path / "submits.jsonl"
    async with Simulator(personality_settings("happy", record_path=path)) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seqs = esme.submit_text(GSM_EXTENDED, concat="udh16", reference=0x1234)
        await send_and_wait(sim, esme, seqs)
        records = lines(path)
        assert records[0]["data_coding"] == 0
        assert records[0]["udh"]["concat"]["bits"] == 16  # type: ignore[index]
        assert records[0]["udh"]["concat"]["reference"] == 0x1234  # type: ignore[index]
        assert records[-1]["message_text"] == GSM_EXTENDED
        await esme.close()


@pytest.mark.parametrize("concat", ["sar", "payload"])
async def test_sar_and_message_payload_are_read(concat: str) -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seqs = esme.submit_text(UCS2_TEXT, concat=concat, reference=300)
        await send_and_wait(sim, esme, seqs)
        records = sim.submits
        if concat == "sar":
            assert [r.sar for r in records] == [
                {"reference": 300, "total": 3, "seq": n} for n in (1, 2, 3)
            ]
            assert records[0].udh is None and records[0].esm_class == 0
        else:
            assert len(records) == 1 and records[0].payload
        assert records[-1].message_text == UCS2_TEXT
        await esme.close()


async def test_national_shift_tables_are_recorded() -> None:
    text = "Şişli'de buluşalım mı?"
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        await send_and_wait(sim, esme, esme.submit_text(text, national=("tr",)))
        (record,) = sim.submits
        assert record.udh is not None and record.udh["locking_shift"] == 1
        assert (record.data_coding, record.text, record.message_text) == (0, text, text)
        await esme.close()


async def test_eight_bit_data_is_recorded_without_text() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        await send_and_wait(sim, esme, [esme.submit(b"\x01\x02\xff", data_coding=0x04)])
        (record,) = sim.submits
        assert record.text is None and record.error and "8-bit" in record.error
        await esme.close()


async def test_duplicates_count_accepted_messages_by_destination_and_text() -> None:
    async with Simulator(personality_settings("happy", receipts=False)) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        await send_and_wait(sim, esme, esme.submit_text(UCS2_TEXT, reference=1))
        await send_and_wait(sim, esme, esme.submit_text("once", "447700900999"))
        assert sim.stats.duplicate_messages == 0
        await send_and_wait(sim, esme, esme.submit_text(UCS2_TEXT, reference=2))  # sent again
        assert sim.stats.duplicate_messages == 1
        assert sim.duplicates() == {("447700900123", UCS2_TEXT): 2}
        await esme.close()


async def test_a_refused_then_resent_part_is_not_a_duplicate() -> None:
    settings = personality_settings("happy", errors=((S.ESME_RTHROTTLED, 1.0),))
    async with Simulator(settings) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        await send_and_wait(sim, esme, esme.submit_text("hello"))
        sim.configure(errors=())
        await send_and_wait(sim, esme, esme.submit_text("hello"))
        assert [r.status for r in sim.submits] == [S.ESME_RTHROTTLED, 0]
        assert sim.stats.duplicate_messages == 0 and sim.duplicates() == {}
        await esme.close()


async def test_kept_submits_are_bounded() -> None:
    async with Simulator(keep_submits=2, receipts=False) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        await send_and_wait(sim, esme, [esme.submit(f"m{i}".encode()) for i in range(5)])
        assert [r.text for r in sim.submits] == ["m3", "m4"]
        await esme.close()
