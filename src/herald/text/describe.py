"""What `herald preview` shows: an EncodedMessage as a JSON-ready dict or a short summary."""

from __future__ import annotations

from typing import Any

from herald.text.encoding import EncodedMessage


def describe(message: EncodedMessage, *, with_text: bool = False) -> dict[str, Any]:
    """The preview fields of `message`; `text` is included when `with_text` (transcoding)."""
    found: dict[str, Any] = {
        "encoding": message.encoding,
        "data_coding": message.data_coding,
        "esm_class": message.esm_class,
        "segments": message.segments,
        "units": list(message.units),
        "sm_length": list(message.sm_lengths),
        "chars_left": message.chars_left,
        "national": list(message.national) if message.national else None,
        "forced_ucs2_by": list(message.forced_ucs2_by),
        "parts_hex": [part.short_message.hex() for part in message.parts],
    }
    if any(part.tlvs for part in message.parts):
        found["tlvs_hex"] = [part.tlvs.hex() for part in message.parts]
    if with_text:
        found["text"] = message.text
    return found


def summary(message: EncodedMessage, *, with_text: bool = False) -> str:
    """A few lines for a person: encoding, segments, per-part sizes, room left, why UCS-2."""
    unit = "septets" if message.encoding == "gsm7" else "UTF-16 units"
    name = "GSM-7" if message.encoding == "gsm7" else "UCS-2"
    segments = f"{message.segments} segment" + ("s" if message.segments != 1 else "")
    lines = [
        f"{name}, {segments}, data_coding 0x{message.data_coding:02X}, "
        f"esm_class 0x{message.esm_class:02X}"
    ]
    if message.national:
        lock, single = message.national
        lines.append(
            f"national tables: locking {lock or 'default'}, single shift {single or 'default'}"
        )
    for i, (units, length) in enumerate(zip(message.units, message.sm_lengths, strict=True), 1):
        lines.append(f"part {i}: {units} {unit}, sm_length {length}")
    lines.append(f"characters left in the last segment: {message.chars_left}")
    if message.forced_ucs2_by:
        lines.append("UCS-2 because of: " + " ".join(repr(c) for c in message.forced_ucs2_by))
    if with_text:
        lines.append(f"text sent: {message.text}")
    return "\n".join(lines)
