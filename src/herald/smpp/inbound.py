"""Mobile-originated messages: a deliver_sm or data_sm that is not a receipt, as a small value.

The bytes stay raw (with data_coding) so nothing is lost; `text()` decodes them with the text
pipeline (herald.text, national shift tables included) or a decoder you pass. A malformed UDH
never raises here: the message is kept whole and `udh_malformed` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from herald.smpp.layouts import Tag
from herald.smpp.pdu import Pdu

ESM_UDHI = 0x40
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True, slots=True)
class Concat:
    """Where this part sits in a concatenated message (from the UDH or the SAR TLVs)."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True, slots=True)
class InboundMessage:
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    user_data: bytes  # short_message (or message_payload) as received, UDH included
    udh: bytes = b""  # the UDH information elements, without the UDHL octet
    body: bytes = b""  # the user data after the UDH
    concat: Concat | None = None
    udh_malformed: bool = False

    def text(self, decoder: Callable[[bytes, int], str] | None = None) -> str:
        """The message text. `decoder(body, data_coding)` overrides the text pipeline's
        decoding; without it 8-bit data raises TextError (it is not text)."""
        if decoder is not None:
            return decoder(self.body, self.data_coding)
        # Imported here: the codec must not depend on the text pipeline to load.
        from herald.text import decode_short_message

        udhi = bool(self.esm_class & ESM_UDHI) and not self.udh_malformed
        return decode_short_message(self.user_data, self.data_coding, udhi=udhi).text


def _udh(user_data: bytes) -> tuple[bytes, bytes, Concat | None] | None:
    """(IEs, body, concat) from user data that starts with a UDH; None if malformed."""
    if not user_data or 1 + user_data[0] > len(user_data):
        return None
    end = 1 + user_data[0]
    concat = None
    i = 1
    while i < end:
        if i + 2 > end or i + 2 + user_data[i + 1] > end:
            return None
        iei, value = user_data[i], user_data[i + 2 : i + 2 + user_data[i + 1]]
        if iei == IEI_CONCAT_8 and len(value) == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == IEI_CONCAT_16 and len(value) == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + user_data[i + 1]
    return user_data[1:end], user_data[end:], concat


def inbound_message(pdu: Pdu) -> InboundMessage:
    """The MO message a deliver_sm or data_sm carries."""
    user_data = pdu.params.get("short_message") or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
    if not isinstance(user_data, bytes):
        user_data = b""
    esm_class = int(pdu["esm_class"])
    udh, body, concat, malformed = b"", user_data, None, False
    if esm_class & ESM_UDHI:
        parsed = _udh(user_data)
        if parsed is None:
            malformed = True
        else:
            udh, body, concat = parsed
    if concat is None and Tag.SAR_MSG_REF_NUM in pdu.tlvs:
        tlvs = pdu.tlvs
        concat = Concat(
            int(tlvs[Tag.SAR_MSG_REF_NUM]),
            int(tlvs.get(Tag.SAR_TOTAL_SEGMENTS, 1)),
            int(tlvs.get(Tag.SAR_SEGMENT_SEQNUM, 1)),
        )
    return InboundMessage(
        source_addr=str(pdu["source_addr"]),
        source_addr_ton=int(pdu["source_addr_ton"]),
        source_addr_npi=int(pdu["source_addr_npi"]),
        destination_addr=str(pdu["destination_addr"]),
        dest_addr_ton=int(pdu["dest_addr_ton"]),
        dest_addr_npi=int(pdu["dest_addr_npi"]),
        esm_class=esm_class,
        data_coding=int(pdu["data_coding"]),
        user_data=user_data,
        udh=udh,
        body=body,
        concat=concat,
        udh_malformed=malformed,
    )
