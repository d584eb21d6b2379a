"""The text of an inbound (mobile-originated) message from its parts, per data_coding.

The parts' user data after their UDHs are joined first and decoded once: a UCS-2 surrogate
pair or a GSM-7 escape that a handset split between two parts still decodes. GSM-7 uses the
national shift tables the first part's UDH names (docs/protocol.md §1.4). Besides GSM-7, UCS-2
and 8-bit data, carriers send IA5 (0x01, ASCII) and Latin-1 (0x03) for replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from herald.errors import TextError
from herald.text.national import IEI_LOCKING_SHIFT, IEI_SINGLE_SHIFT, codec_for_nli
from herald.text.reassemble import alphabet, parse_udh

ESM_UDHI = 0x40


@dataclass(frozen=True, slots=True)
class InboundText:
    text: str | None  # None: 8-bit data, or a data_coding herald does not read as text
    payload: bytes  # the user data after each part's UDH, joined


def _split(user_data: bytes, esm_class: int) -> tuple[list[tuple[int, bytes]], bytes]:
    if not esm_class & ESM_UDHI:
        return [], user_data
    try:
        return parse_udh(user_data)
    except TextError:
        return [], user_data  # a broken header: keep every octet as data


def decode_inbound(parts: Sequence[tuple[bytes, int]], data_coding: int) -> InboundText:
    """`parts`: (user data, esm_class) of each part, in order."""
    ies: list[tuple[int, bytes]] = []
    bodies = []
    for index, (user_data, esm_class) in enumerate(parts):
        found, body = _split(user_data, esm_class)
        if index == 0:
            ies = found
        bodies.append(body)
    payload = b"".join(bodies)
    if data_coding == 0x01:
        return InboundText(payload.decode("ascii", "replace"), payload)
    if data_coding == 0x03:
        return InboundText(payload.decode("latin-1"), payload)
    try:
        kind = alphabet(data_coding)
    except TextError:
        return InboundText(None, payload)
    if kind == "ucs2":
        return InboundText(payload.decode("utf-16-be", "replace"), payload)
    if kind == "gsm7":
        lock = next((v[0] for i, v in ies if i == IEI_LOCKING_SHIFT and len(v) == 1), 0)
        single = next((v[0] for i, v in ies if i == IEI_SINGLE_SHIFT and len(v) == 1), 0)
        try:
            return InboundText(codec_for_nli(lock, single).decode(payload), payload)
        except (TextError, ValueError, KeyError):
            return InboundText(None, payload)
    return InboundText(None, payload)
