"""The text pipeline: pure functions, no I/O.

Encoding choice (GSM-7, national shift tables or UCS-2), segmentation into SMS parts with their
UDH or TLVs, look-alike transcoding, reference numbers, and decoding parts back into text.
"""

from herald.text.encoding import EncodedMessage, encode_message, encode_with_tables
from herald.text.gsm7 import gsm7_decode, gsm7_encode, is_gsm7, septet_count
from herald.text.national import NATIONAL_LANGUAGES
from herald.text.reassemble import DecodedPart, decode_message, decode_parts, decode_short_message
from herald.text.references import ReferenceAllocator
from herald.text.segment import CONCAT_METHODS, Part
from herald.text.transcode import transcode

__all__ = [
    "CONCAT_METHODS",
    "NATIONAL_LANGUAGES",
    "DecodedPart",
    "EncodedMessage",
    "Part",
    "ReferenceAllocator",
    "decode_message",
    "decode_parts",
    "decode_short_message",
    "encode_message",
    "encode_with_tables",
    "gsm7_decode",
    "gsm7_encode",
    "is_gsm7",
    "septet_count",
    "transcode",
]
