"""What the simulator received, decoded: one record per submit_sm, kept in memory and/or
written as JSON lines, with concatenated messages reassembled when their last part arrives.

Each part is decoded on its own with the shift tables of its own UDH (as a handset does), by
the text pipeline's `decode_short_message`; the concatenation comes from the UDH (8- or
16-bit reference) or else the SAR TLVs; message_payload is read when short_message is empty.
Only accepted parts (ESME_ROK) count towards reassembly and duplicates: a part refused with
ESME_RTHROTTLED and sent again is one message, not two.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from herald.errors import TextError
from herald.smpp.layouts import LAYOUTS, CommandId, Tag
from herald.smpp.pdu import Pdu
from herald.text.reassemble import decode_short_message, parse_udh

ESM_UDHI = 0x40
IEI_CONCAT_8, IEI_CONCAT_16, IEI_SINGLE_SHIFT, IEI_LOCKING_SHIFT = 0x00, 0x08, 0x24, 0x25
_COMMANDS: dict[int, str] = {CommandId.SUBMIT_SM: "submit_sm", CommandId.DATA_SM: "data_sm"}
MAX_OPEN_MESSAGES = 10_000  # concatenated messages waiting for parts; the oldest are dropped


@dataclass(slots=True)
class SubmitRecord:
    time: str  # ISO 8601 UTC, milliseconds
    system_id: str
    bind: str  # tx | trx
    command: str  # submit_sm | data_sm
    sequence: int
    status: int | None  # command_status answered; None: not answered (black hole)
    message_id: str | None  # given in the response (accepted submits only)
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    udh: dict[str, Any] | None  # concat (reference, total, seq, bits), shift tables, raw IEs
    sar: dict[str, int] | None  # reference, total, seq from the SAR TLVs
    payload: bool  # the user data came in message_payload
    text: str | None  # this part's text; None when it is not text (8-bit) or undecodable
    message_text: str | None  # the whole message, on the part that completed it
    error: str | None = None  # why text is None
    validity_period: str = ""  # as sent ("": the SMSC's default)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


_second: list[Any] = [-1, ""]  # the last whole second formatted, and its ISO prefix


def iso_now() -> str:
    """Now as ISO 8601 UTC with milliseconds; the date part formatted once per second."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[:] = [second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second[1]}.{int((now - second) * 1000):03d}+00:00"


def _udh_fields(user_data: bytes) -> dict[str, Any]:
    ies, _ = parse_udh(user_data)
    udh: dict[str, Any] = {"ies": [[iei, value.hex()] for iei, value in ies]}
    for iei, value in ies:
        if iei == IEI_CONCAT_8 and len(value) == 3:
            udh["concat"] = {"reference": value[0], "total": value[1], "seq": value[2], "bits": 8}
        elif iei == IEI_CONCAT_16 and len(value) == 4:
            reference = (value[0] << 8) | value[1]
            udh["concat"] = {"reference": reference, "total": value[2], "seq": value[3], "bits": 16}
        elif iei == IEI_LOCKING_SHIFT and len(value) == 1:
            udh["locking_shift"] = value[0]
        elif iei == IEI_SINGLE_SHIFT and len(value) == 1:
            udh["single_shift"] = value[0]
    return udh


def _sar_fields(tlvs: dict[int, Any]) -> dict[str, int] | None:
    if Tag.SAR_MSG_REF_NUM not in tlvs:
        return None
    return {
        "reference": int(tlvs[Tag.SAR_MSG_REF_NUM]),
        "total": int(tlvs.get(Tag.SAR_TOTAL_SEGMENTS, 1)),
        "seq": int(tlvs.get(Tag.SAR_SEGMENT_SEQNUM, 1)),
    }


def decode_submit(
    pdu: Pdu, *, system_id: str, bind: str, status: int | None, message_id: str | None
) -> SubmitRecord:
    """The record of one submit_sm/data_sm. Never raises on what the peer sent."""
    params: Any = pdu.params if len(pdu.params) == len(LAYOUTS[pdu.command_id]) else pdu.fields()
    tlvs = pdu.tlvs
    user_data = params.get("short_message") or b""
    payload = False
    if not user_data and isinstance(tlvs.get(Tag.MESSAGE_PAYLOAD), bytes):
        user_data, payload = tlvs[Tag.MESSAGE_PAYLOAD], True
    esm_class: int = params["esm_class"]
    data_coding: int = params["data_coding"]
    udhi = bool(esm_class & ESM_UDHI)
    udh = text = error = None
    try:
        if udhi:
            udh = _udh_fields(user_data)
        text = decode_short_message(user_data, data_coding, udhi=udhi).text
    except TextError as exc:
        error = str(exc)
    return SubmitRecord(
        time=iso_now(),
        system_id=system_id,
        bind=bind,
        command=_COMMANDS.get(pdu.command_id) or pdu.name,
        sequence=pdu.sequence_number,
        status=status,
        message_id=message_id,
        source_addr=params["source_addr"],
        source_addr_ton=params["source_addr_ton"],
        source_addr_npi=params["source_addr_npi"],
        destination_addr=params["destination_addr"],
        dest_addr_ton=params["dest_addr_ton"],
        dest_addr_npi=params["dest_addr_npi"],
        esm_class=esm_class,
        data_coding=data_coding,
        registered_delivery=params["registered_delivery"],
        udh=udh,
        sar=_sar_fields(tlvs),
        payload=payload,
        text=text,
        message_text=None,
        error=error,
        validity_period=params.get("validity_period", ""),
    )


class Recorder:
    """Keeps records (bounded), writes JSON lines, reassembles, counts duplicates."""

    def __init__(self, path: Path | None, keep: int | None, track_duplicates: bool) -> None:
        self.path = path
        self.track_duplicates = track_duplicates
        self.kept: deque[SubmitRecord] | list[SubmitRecord] | None
        self.kept = None if keep == 0 else list() if keep is None else deque(maxlen=keep)
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")  # a restart appends, loses nothing
        self._open: OrderedDict[tuple[Any, ...], dict[int, str]] = OrderedDict()
        self.seen: dict[tuple[str, str], int] = {}  # (destination, text) -> accepted count
        self._dirty = False

    def add(self, record: SubmitRecord) -> bool:
        """Keep and write `record`; True if it completed a message seen before (duplicate)."""
        duplicate = False
        if record.status == 0 and record.text is not None:
            record.message_text = self._assemble(record)
            if record.message_text is not None and self.track_duplicates:
                key = (record.destination_addr, record.message_text)
                count = self.seen.get(key, 0) + 1
                self.seen[key] = count
                duplicate = count > 1
        if self.kept is not None:
            self.kept.append(record)
        if self._file is not None:
            self._file.write(record.to_json() + "\n")
            self._dirty = True
        return duplicate

    def _assemble(self, record: SubmitRecord) -> str | None:
        concat = (record.udh or {}).get("concat") or record.sar
        assert record.text is not None
        if concat is None or concat["total"] <= 1:
            return record.text
        total = concat["total"]
        key = (
            record.system_id,
            record.source_addr,
            record.destination_addr,
            concat["reference"],
            total,
        )
        parts = self._open.get(key)
        if parts is None:
            parts = self._open[key] = {}
            if len(self._open) > MAX_OPEN_MESSAGES:
                self._open.popitem(last=False)
        parts[concat["seq"]] = record.text
        if len(parts) < total:
            return None
        del self._open[key]
        return "".join(parts[seq] for seq in sorted(parts))

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(destination, text) accepted more than once, with the count."""
        return {key: n for key, n in self.seen.items() if n > 1}

    def flush(self) -> None:
        if self._file is not None and self._dirty:
            self._file.flush()
            self._dirty = False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
