"""The PDUs the simulator originates: delivery receipts and mobile-originated messages.

A receipt is a deliver_sm with esm_class 0x04 (0x20 for an intermediate notification the
submit asked for with registered_delivery bit 0x10), source and destination swapped from the
submit (docs/protocol.md §5.1), carrying the receipted_message_id, message_state and
network_error_code TLVs and the SMPP 3.4 Appendix B text:

    id:a0000000 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201
    stat:DELIVRD err:000 text:Hello                               (one line on the wire)

(`receipt_format`: both, text only, or TLVs only).
"""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass
from typing import Any

from herald.errors import TextError
from herald.simulator.settings import SimulatorSettings
from herald.smpp.layouts import CommandId, Tag
from herald.smpp.pdu import Pdu
from herald.text import encode_message
from herald.text.reassemble import decode_short_message, parse_tlvs

ESM_RECEIPT, ESM_INTERMEDIATE, ESM_UDHI = 0x04, 0x20, 0x40

# message_state TLV values (SMPP 3.4 §5.2.28)
MESSAGE_STATE = {
    "ENROUTE": 1,
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}
# err: / network_error_code per final state: GSM MAP-flavoured values, constant so tests can
# assert them (0 for success and intermediate states).
ERROR_CODES = {"UNDELIV": 1, "EXPIRED": 27, "REJECTD": 11, "DELETED": 6, "UNKNOWN": 255}
NETWORK_GSM = 3
_TL = struct.Struct(">HH")
_LENGTH = struct.Struct(">I")
_ZERO_HEADER = struct.pack(">IIII", 0, CommandId.DELIVER_SM, 0, 0)
# protocol_id, priority_flag, schedule_delivery_time NUL, validity_period NUL,
# registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
_EIGHT_ZEROS = bytes(8)
_BYTES = tuple(bytes((i,)) for i in range(256))
# GSM-7 codes that are the same character in ASCII: space to '~' but for $ @ [ \ ] ^ _ ` { | } ~
_GSM_AS_ASCII = bytes(c for c in range(0x20, 0x7F) if chr(c) not in "$@[\\]^_`{|}~")
_DATE_FORMATS = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S", 14: "%Y%m%d%H%M%S"}


@dataclass(slots=True)
class ReceiptJob:
    """What a submit's receipt needs, taken when the submit was accepted."""

    system_id: str
    submit_id: str  # as in submit_sm_resp
    text_id: str  # as in the receipt text
    source_addr: str  # of the submit; the receipt's destination
    source_ton: int
    source_npi: int
    destination_addr: str  # of the submit; the receipt's source
    dest_ton: int
    dest_npi: int
    registered_delivery: int
    preview: str  # the first 20 characters of the message
    submitted_at: float  # wall clock, seconds
    origin: object = None  # the connection it came on: a TRX bind gets its receipts back


def wants_receipt(registered_delivery: int, success: bool) -> bool:
    """registered_delivery bits 1-0: 1 any final outcome, 2 failure only, 3 success only
    (reserved in 3.4, "success only" in 5.0)."""
    mode = registered_delivery & 0x03
    return mode == 1 or (mode == 2 and not success) or (mode == 3 and success)


def preview(short_message: bytes, data_coding: int, esm_class: int) -> str:
    """The message's first 20 characters for the receipt's text: field ('' if not text)."""
    udhi = bool(esm_class & ESM_UDHI)
    if data_coding == 0 and not udhi:  # plain GSM-7 that reads the same as ASCII: no decoding
        head = short_message[:20]
        if not head.translate(None, _GSM_AS_ASCII):
            return head.decode("ascii")
    # 20 characters need at most 40 octets (UCS-2, or GSM-7 escapes) after the UDH
    keep = (1 + short_message[0] if udhi and short_message else 0) + 40
    try:
        text = decode_short_message(short_message[:keep], data_coding, udhi=udhi)
    except TextError:
        return ""
    return preview_text(text.text)


def preview_text(text: str) -> str:
    """ASCII only: the receipt text travels as data_coding 0, and a client decoding it as
    GSM-7 must not trip over a Latin-1 octet."""
    return text[:20].encode("ascii", "replace").decode("ascii")


class ReceiptMaker:
    """Picks outcomes and builds receipt PDUs from the settings and the seeded RNG."""

    __slots__ = ("_cumulative", "_date_format", "_last_date", "_states", "rng", "settings")

    def __init__(self, settings: SimulatorSettings, rng: random.Random) -> None:
        self.rng = rng
        self.configure(settings)

    def configure(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        total, cumulative = 0.0, []
        for _, weight in settings.outcomes:
            total += weight
            cumulative.append(total)
        self._cumulative = [c / total for c in cumulative]
        self._states = [stat for stat, _ in settings.outcomes]
        self._date_format = _DATE_FORMATS[settings.receipt_date_digits]
        self._last_date = (-1, "")

    def outcome(self) -> str:
        states = self._states
        if len(states) == 1:
            return states[0]
        draw = self.rng.random()
        for bound, stat in zip(self._cumulative, states, strict=True):
            if draw < bound:
                return stat
        return states[-1]

    def delay(self) -> float:
        return self.settings.receipt_delay.sample(self.rng)

    def _date(self, wall: float) -> str:
        second = int(wall)
        cached = self._last_date
        if cached[0] != second:  # receipts come in bursts within one second: format once
            cached = self._last_date = (second, time.strftime(self._date_format, time.gmtime(wall)))
        return cached[1]

    def text(self, job: ReceiptJob, stat: str, done_at: float) -> str:
        delivered = "001" if stat == "DELIVRD" else "000"
        return (
            f"id:{job.text_id} sub:001 dlvrd:{delivered} submit date:{self._date(job.submitted_at)}"
            f" done date:{self._date(done_at)} stat:{stat} err:{ERROR_CODES.get(stat, 0):03d}"
            f" text:{job.preview}"
        )

    def pdu(self, job: ReceiptJob, stat: str, done_at: float) -> Pdu:
        """The deliver_sm for `stat` (a final or an intermediate state)."""
        fmt = self.settings.receipt_format
        tlvs: dict[int, int | str | bytes | bool] = {}
        if fmt != "text":
            code = ERROR_CODES.get(stat, 0)
            tlvs = {
                Tag.RECEIPTED_MESSAGE_ID: job.submit_id,
                Tag.MESSAGE_STATE: MESSAGE_STATE[stat],
                Tag.NETWORK_ERROR_CODE: bytes((NETWORK_GSM, code >> 8, code & 0xFF)),
            }
        body = b""
        if fmt != "tlv":
            body = self.text(job, stat, done_at).encode("ascii", "replace")[:254]
        return Pdu(
            CommandId.DELIVER_SM,
            source_addr_ton=job.dest_ton,
            source_addr_npi=job.dest_npi,
            source_addr=job.destination_addr,
            dest_addr_ton=job.source_ton,
            dest_addr_npi=job.source_npi,
            destination_addr=job.source_addr,
            esm_class=receipt_esm_class(job, stat),
            short_message=body,
            tlvs=tlvs,
        )

    def encode(self, job: ReceiptJob, stat: str, done_at: float) -> bytes:
        """`pdu(...)` on the wire with sequence_number 0, packed directly (for
        Connection.send_encoded): the same octets as the generic encoder, 4x cheaper."""
        fmt = self.settings.receipt_format
        body = b""
        if fmt != "tlv":
            body = self.text(job, stat, done_at).encode("ascii", "replace")[:254]
        tlvs = b""
        if fmt != "text":
            code = ERROR_CODES.get(stat, 0)
            receipted = job.submit_id.encode("latin-1") + b"\0"
            tlvs = b"".join(
                (
                    _TL.pack(Tag.RECEIPTED_MESSAGE_ID, len(receipted)),
                    receipted,
                    _TL.pack(Tag.MESSAGE_STATE, 1),
                    _BYTES[MESSAGE_STATE[stat]],
                    _TL.pack(Tag.NETWORK_ERROR_CODE, 3),
                    bytes((NETWORK_GSM, code >> 8, code & 0xFF)),
                )
            )
        data = b"".join(
            (
                _ZERO_HEADER,
                b"\0",  # service_type
                _BYTES[job.dest_ton],
                _BYTES[job.dest_npi],
                job.destination_addr.encode("latin-1"),
                b"\0",
                _BYTES[job.source_ton],
                _BYTES[job.source_npi],
                job.source_addr.encode("latin-1"),
                b"\0",
                _BYTES[receipt_esm_class(job, stat)],
                _EIGHT_ZEROS,
                _BYTES[len(body)],
                body,
                tlvs,
            )
        )
        return _LENGTH.pack(len(data)) + data[4:]


def receipt_esm_class(job: ReceiptJob, stat: str) -> int:
    """0x04, or 0x20 for an intermediate state the submit asked for (registered_delivery
    bit 0x10); an unasked-for ENROUTE/ACCEPTD goes as a receipt, as many SMSCs send it."""
    if stat in ("ENROUTE", "ACCEPTD") and job.registered_delivery & 0x10:
        return ESM_INTERMEDIATE
    return ESM_RECEIPT


def address_type(address: str) -> tuple[int, int]:
    """(TON, NPI) for an address as the table of docs/protocol.md §3.2 has it: international
    numbers 1/1, short codes (up to 6 digits) 3/0, alphanumeric 5/0."""
    if address.isdigit():
        return (1, 1) if len(address) > 6 else (3, 0)
    return 5, 0


def mo_pdus(
    source: str, destination: str, text: str, reference: int, *, concat: str = "udh8"
) -> list[Pdu]:
    """A mobile-originated message from `source` (a handset) to `destination` (the sender
    address a campaign used): one deliver_sm per part, encoded by the text pipeline, its
    parts joined by a UDH (udh8, udh16) or SAR TLVs (sar)."""
    width = 0xFF if concat == "udh8" else 0xFFFF
    message = encode_message(text, concat=concat, reference=reference & width)
    source_ton, source_npi = address_type(source)
    dest_ton, dest_npi = address_type(destination)
    return [
        Pdu(
            CommandId.DELIVER_SM,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            destination_addr=destination,
            esm_class=message.esm_class,
            data_coding=message.data_coding,
            short_message=part.short_message,
            tlvs=_tlvs(part.tlvs),
        )
        for part in message.parts
    ]


def _tlvs(encoded: bytes) -> dict[int, Any]:
    """The pre-encoded SAR TLVs of a part as the Pdu's {tag: value}."""
    values: dict[int, Any] = {}
    for tag, value in parse_tlvs(encoded).items():
        values[tag] = int.from_bytes(value, "big") if len(value) <= 2 else value
    return values
