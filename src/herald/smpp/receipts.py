"""Delivery receipts: recognise them by esm_class, read them from TLVs first, then the text.

    kind = message_type(pdu["esm_class"])       # MessageType.RECEIPT, .MOBILE_ORIGINATED, ...
    receipt = parse_receipt(pdu)                # Receipt, or None if no id and stat are found
    key = receipt.canonical_id("submit_hex_dlr_dec")   # match it with the submit_sm_resp id

Precedence (docs/protocol.md §5.2, as Kannel, Jasmin and vumi do): receipted_message_id
(0x001E), message_state (0x0427) and network_error_code (0x0423) when present, otherwise the
text. The text parser follows §5.4: labels in any case and any order, a value ends at the next
label, 10/12/14-digit dates, hex/UUID ids, sub/dlvrd optional, the body possibly in
message_payload. Only id and stat are required. Nothing here raises on carrier input.

Dates stay the raw digit strings the SMSC sent (in its local time, zone unknown);
`split_receipt_date` turns them into (year, month, day, hour, minute, second).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from herald.smpp.layouts import Tag
from herald.smpp.message_ids import IdMode, canonical_receipt_id
from herald.smpp.pdu import Pdu

MESSAGE_TYPE_MASK = 0x3C  # esm_class bits 5-2


class MessageType(StrEnum):
    MOBILE_ORIGINATED = "mo"  # 0x00: a message from a handset
    RECEIPT = "receipt"  # 0x04: SMSC delivery receipt
    SME_ACK = "sme_ack"  # 0x08: SME delivery acknowledgement
    USER_ACK = "user_ack"  # 0x10: manual/user acknowledgement
    CONVERSATION_ABORT = "conversation_abort"  # 0x18 (Korean CDMA)
    INTERMEDIATE = "intermediate"  # 0x20: intermediate delivery notification


_TYPES = {
    0x00: MessageType.MOBILE_ORIGINATED,
    0x04: MessageType.RECEIPT,
    0x08: MessageType.SME_ACK,
    0x10: MessageType.USER_ACK,
    0x18: MessageType.CONVERSATION_ABORT,
    0x20: MessageType.INTERMEDIATE,
}


def message_type(esm_class: int) -> MessageType:
    """What a deliver_sm/data_sm carries, by the esm_class mask (0x44, receipt + UDHI, is a
    receipt). Undefined combinations follow Kannel's bit tests: 0x04 set means receipt."""
    bits = esm_class & MESSAGE_TYPE_MASK
    kind = _TYPES.get(bits)
    if kind is not None:
        return kind
    if bits & 0x04:
        return MessageType.RECEIPT
    if bits & 0x20:
        return MessageType.INTERMEDIATE
    return MessageType.SME_ACK if bits & 0x08 else MessageType.USER_ACK


def is_receipt(esm_class: int) -> bool:
    """A receipt or an intermediate notification: both carry a message state for a part."""
    return message_type(esm_class) in (MessageType.RECEIPT, MessageType.INTERMEDIATE)


# --- states (docs/protocol.md §5.3) -----------------------------------------------------------

# stat name -> (final, success). ACCEPTD is not final: many SMSCs send it for "accepted by the
# SMSC" (Kannel and Jasmin agree). Kannel's non-standard buffered names are not final either.
STATES: dict[str, tuple[bool, bool]] = {
    "DELIVRD": (True, True),
    "EXPIRED": (True, False),
    "DELETED": (True, False),
    "UNDELIV": (True, False),
    "REJECTD": (True, False),
    "UNKNOWN": (True, False),
    "SKIPPED": (True, False),
    "ACCEPTD": (False, False),
    "ENROUTE": (False, False),
    "SCHEDULED": (False, False),
    "ACKED": (False, False),
    "BUFFRED": (False, False),
    "BUFFERD": (False, False),
}
_ALIASES = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
    "EXPIRD": "EXPIRED",
}
# message_state TLV values (SMPP 3.4 §5.2.28; 0 and 9 are SMPP 5.0)
MESSAGE_STATES = (
    "SCHEDULED",
    "ENROUTE",
    "DELIVRD",
    "EXPIRED",
    "DELETED",
    "UNDELIV",
    "ACCEPTD",
    "UNKNOWN",
    "REJECTD",
    "SKIPPED",
)


def state_outcome(state: str) -> tuple[bool, bool]:
    """(final, success) of a stat name. An unknown name is a final failure, as in Kannel."""
    return STATES.get(state, (True, False))


# --- the value --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkError:
    network_type: int | None  # 1 ANSI-136, 2 IS-95, 3 GSM, ...; None for the ASCII form
    code: int


class Receipt(NamedTuple):  # a NamedTuple: built once per receipt, 3x cheaper than a dataclass
    message_id: str  # raw, as the SMSC wrote it
    state: str  # DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, ACCEPTD, ENROUTE, UNKNOWN, ...
    final: bool
    success: bool  # delivered (final and DELIVRD)
    id_from_tlv: bool = False  # message_id came from receipted_message_id
    message_state: int | None = None  # the message_state TLV, when present
    error: str | None = None  # the text's err: field, as written
    network_error: NetworkError | None = None
    submit_date: str | None = None  # raw digits: YYMMDDhhmm[ss] or YYYYMMDDhhmmss
    done_date: str | None = None
    submitted: int | None = None  # sub:
    delivered: int | None = None  # dlvrd:
    text: str | None = None

    def canonical_id(self, mode: IdMode | str = IdMode.AS_IS) -> str:
        """The key to match this receipt with its submit_sm_resp (see message_ids)."""
        return canonical_receipt_id(self.message_id, mode, from_tlv=self.id_from_tlv)


# --- parsing -----------------------------------------------------------------------------------

# A label counts only the first time it appears, so a later "id:" inside text: stays text.
_LABEL = re.compile(
    r"(?<![A-Za-z0-9_])(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)[ \t]*:",
    re.IGNORECASE,
)
# The SMPP 3.4 Appendix B layout most SMSCs send: one anchored match instead of a label scan
# (0.7 µs against 5-7 µs). Anything else goes to the scanner; both give the same fields.
_STANDARD = re.compile(
    r"id:(\S+)\s+sub:(\S*)\s+dlvrd:(\S*)\s+submit date:(\d*)\s+done date:(\d*)"
    r"\s+stat:(\S+)\s+err:(\S*)(?:\s+text:(.*))?\s*",
    re.IGNORECASE | re.DOTALL,
)


def _scan_labels(text: str) -> dict[str, str]:
    """The tolerant parser: labels in any case and order, a value ends at the next label."""
    found: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for m in _LABEL.finditer(text):
        key = m.group(1).lower().replace(" ", "").replace("_", "")
        if key not in seen:
            seen.add(key)
            found.append((key, m.start(), m.end()))
    fields = {}
    for i, (key, _, value_start) in enumerate(found):
        value_end = found[i + 1][1] if i + 1 < len(found) else len(text)
        fields[key] = text[value_start:value_end].strip()
    return fields


def _token(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(None, 1)[0]


def _count(value: str | None) -> int | None:
    token = _token(value)
    return None if token is None else _number(token)


def _date(value: str | None) -> str | None:
    token = _token(value)
    return None if token is None else _digits(token)


ReceiptValues = tuple[
    str | None, str | None, str | None, int | None, int | None, str | None, str | None, str | None
]  # id, stat, err, sub, dlvrd, submit date, done date, text: as Receipt holds them


def standard_receipt_values(body: str) -> ReceiptValues | None:
    """The values of a receipt text in the standard layout, None for any other layout. Its
    groups are single tokens already (runs of \\S or \\d), so no token splitting is needed:
    the same values as `scanned_receipt_values`, a third cheaper."""
    match = _STANDARD.fullmatch(body)
    if match is None:
        return None
    text_id, sub, dlvrd, submit_date, done_date, stat, err, text = match.groups()
    return (
        text_id or None,
        stat or None,
        err or None,
        _number(sub),
        _number(dlvrd),
        _digits(submit_date),
        _digits(done_date),
        text.strip() if text is not None else None,
    )


def scanned_receipt_values(body: str) -> ReceiptValues:
    """The values of a receipt text in any layout the label scanner reads."""
    fields = _scan_labels(body)
    return (
        _token(fields.get("id")),
        _token(fields.get("stat")),
        _token(fields.get("err")),
        _count(fields.get("sub")),
        _count(fields.get("dlvrd")),
        _date(fields.get("submitdate")),
        _date(fields.get("donedate")),
        fields.get("text"),
    )


def _digits(token: str) -> str | None:
    """ASCII digits only, else None."""
    return token if token.isdigit() and token.isascii() else None


def _number(token: str) -> int | None:
    """ASCII digits as a number, else None."""
    return int(token) if token.isdigit() and token.isascii() else None


def network_error(raw: bytes | None) -> NetworkError | None:
    """The network_error_code TLV: a network type octet and a 16-bit code; or Kannel's
    tolerated ASCII form, three decimal digits."""
    if raw is None or len(raw) != 3:
        return None
    if raw.isdigit():
        return NetworkError(None, int(raw))
    return NetworkError(raw[0], int.from_bytes(raw[1:3], "big"))


def receipt_body(pdu: Pdu) -> str:
    """The receipt text: short_message, else message_payload; UCS-2 when it must be."""
    body = pdu.params.get("short_message") or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
    if not isinstance(body, bytes):
        return ""
    if pdu.params.get("data_coding") == 0x08 and b"\0" in body:
        return body.decode("utf-16-be", "replace")
    return body.decode("latin-1")


def parse_receipt(pdu: Pdu) -> Receipt | None:
    """The receipt a deliver_sm or data_sm carries, or None when neither TLVs nor text give
    both an id and a state. It does not look at esm_class: use `message_type` for that."""
    tlvs = pdu.tlvs
    tlv_id = tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
    tlv_state = tlvs.get(Tag.MESSAGE_STATE)
    body = receipt_body(pdu)
    text_id, stat, err, submitted, delivered, submit_date, done_date, text = (
        standard_receipt_values(body) or scanned_receipt_values(body)
    )
    # Each from the TLV when it has a usable one, else from the text, which may have none.
    message_id: str | None
    if isinstance(tlv_id, str) and tlv_id.strip():
        message_id, from_tlv = tlv_id.strip(), True
    else:
        message_id, from_tlv = text_id, False
    state: str | None
    if isinstance(tlv_state, int):
        state = MESSAGE_STATES[tlv_state] if 0 <= tlv_state < len(MESSAGE_STATES) else "UNKNOWN"
    else:
        state = _ALIASES.get(stat.upper(), stat.upper()) if stat else None
    if not message_id or not state:
        return None
    network = tlvs.get(Tag.NETWORK_ERROR_CODE)  # octets when decoded; a built Pdu may hold more
    final, success = state_outcome(state)
    return Receipt(
        message_id,
        state,
        final,
        success,
        from_tlv,
        tlv_state if isinstance(tlv_state, int) else None,
        err,
        network_error(network if isinstance(network, bytes) else None),
        submit_date,
        done_date,
        submitted,
        delivered,
        text if text else None,
    )  # positional, in Receipt's field order: a third cheaper than keywords


def split_receipt_date(value: str) -> tuple[int, int, int, int, int, int] | None:
    """(year, month, day, hour, minute, second) from YYMMDDhhmm, YYMMDDhhmmss or
    YYYYMMDDhhmmss (two-digit years are 20YY); None if it is not a valid date of those forms."""
    if not (value.isascii() and value.isdigit()) or len(value) not in (10, 12, 14):
        return None
    if len(value) == 14:
        year, rest = int(value[:4]), value[4:]
    else:
        year, rest = 2000 + int(value[:2]), value[2:]
    month, day, hour, minute = (int(rest[i : i + 2]) for i in range(0, 8, 2))
    second = int(rest[8:10]) if len(rest) == 10 else 0
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    return (year, month, day, hour, minute, second)
