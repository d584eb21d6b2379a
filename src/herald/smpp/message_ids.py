"""Message-id canonicalisation: one key for the id in submit_sm_resp and the id in its receipt.

Some SMSCs return the id in hex in submit_sm_resp and in decimal in the receipt text (or the
other way round), zero-padded and in either case (docs/protocol.md §5.5). Each bind has a
mode; both sides are turned into a canonical string and compared:

    as_is               no base: upper-cased, leading zeros stripped   (0e999f21 == E999F21)
    submit_hex_dlr_dec  submit hex, receipt decimal: both as a decimal integer string
    submit_dec_dlr_hex  submit decimal, receipt hex: both as a decimal integer string
    hex / dec           the same base on both sides, as a decimal integer string

    canonical_submit_id("C085E0", "submit_hex_dlr_dec")      == "12617184"
    canonical_receipt_id("0012617184", "submit_hex_dlr_dec") == "12617184"

An id that does not parse in its side's base (a UUID under a numeric mode) falls back to the
as_is form; this never raises. A receipted_message_id TLV normally carries the id exactly as
submit_sm_resp did, so `from_tlv=True` reads it in the submit base.
"""

from __future__ import annotations

from enum import StrEnum


class IdMode(StrEnum):
    AS_IS = "as_is"
    SUBMIT_HEX_DLR_DEC = "submit_hex_dlr_dec"
    SUBMIT_DEC_DLR_HEX = "submit_dec_dlr_hex"
    HEX = "hex"
    DEC = "dec"


# mode -> (base of the submit_sm_resp id, base of the receipt text id); None: no base
_BASES: dict[str, tuple[int | None, int | None]] = {  # an IdMode is its plain string
    IdMode.AS_IS: (None, None),
    IdMode.SUBMIT_HEX_DLR_DEC: (16, 10),
    IdMode.SUBMIT_DEC_DLR_HEX: (10, 16),
    IdMode.HEX: (16, 16),
    IdMode.DEC: (10, 10),
}
_DIGITS = {10: frozenset("0123456789"), 16: frozenset("0123456789abcdefABCDEF")}


def _bases(mode: IdMode | str) -> tuple[int | None, int | None]:
    try:
        return _BASES[mode]
    except KeyError:
        modes = ", ".join(_BASES)
        raise ValueError(f"unknown message id mode {mode!r}; one of {modes}") from None


def canonical_id(message_id: str, base: int | None) -> str:
    """The comparable form of one id read in `base` (10, 16 or None for as_is)."""
    raw = message_id.strip()
    # int() alone would also take "0x1f", "1_f" and inner spaces: check the digits first
    if base is not None and raw and _DIGITS[base].issuperset(raw):
        return str(int(raw, base))
    return raw.upper().lstrip("0") or ("0" if raw else "")


def canonical_submit_id(message_id: str, mode: IdMode | str = IdMode.AS_IS) -> str:
    """Canonical form of the message_id from a submit_sm_resp (or data_sm_resp)."""
    return canonical_id(message_id, _bases(mode)[0])


def canonical_receipt_id(
    message_id: str, mode: IdMode | str = IdMode.AS_IS, *, from_tlv: bool = False
) -> str:
    """Canonical form of a receipt's id: the text `id:` in the receipt base, or the
    receipted_message_id TLV (`from_tlv`) in the submit base."""
    submit_base, receipt_base = _bases(mode)
    return canonical_id(message_id, submit_base if from_tlv else receipt_base)
