"""Cut a TCP byte stream into PDUs: feed chunks as they arrive, read whole PDUs back.

Chunks may split a PDU anywhere or hold many; a whole chunk of complete PDUs is decoded in
place without copying. Malformed input raises RemoteProtocolError and nothing else:

- a command_length under 16 or over `max_command_length` is fatal (`error.fatal`): the next
  PDU boundary is unknown, so the stream can never be resynchronised; close and reconnect.
  The error says so, and carries the sequence_number if the 16-octet header had arrived.
- anything wrong inside a well-framed PDU (unknown command_id, bad body, bad TLVs) skips that
  PDU and raises a non-fatal error carrying the answer it is owed; reading goes on.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from herald.errors import RemoteProtocolError
from herald.smpp.codec import GENERIC_NACK, decode_pdu
from herald.smpp.layouts import HEADER_LENGTH, RESPONSE_BIT
from herald.smpp.pdu import Pdu
from herald.smpp.status import CommandStatus

# The largest legitimate PDU is a data_sm or submit_sm with a full 64 KiB message_payload:
# 16 header + ~400 mandatory + 4 + 65535 TLV, plus room for the other TLVs.
DEFAULT_MAX_COMMAND_LENGTH = 16 + 4096 + 4 + 0xFFFF

ESME_RINVCMDLEN = CommandStatus.ESME_RINVCMDLEN.value
_HEADER = struct.Struct(">IIII")
_LENGTH = struct.Struct(">I")


class PduReader:
    """Incremental PDU decoder: `feed(chunk)`, then `next_pdu()` until it returns None."""

    __slots__ = ("_buf", "_error", "_pos", "max_command_length")

    def __init__(self, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        if max_command_length < HEADER_LENGTH:
            raise ValueError(f"max_command_length must be at least 16, got {max_command_length}")
        self.max_command_length = max_command_length
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._error: RemoteProtocolError | None = None  # set once the stream is out of sync

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as PDUs (a partial PDU)."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._error is not None or not data:
            return
        buf = self._buf
        if self._pos == len(buf):  # nothing pending: decode straight from the caller's chunk
            self._buf = data if isinstance(data, bytes) else bytes(data)
            self._pos = 0
        elif isinstance(buf, bytearray):  # still collecting a partial PDU (its _pos is always 0)
            buf += data
        else:  # a partial PDU left at the end of the last chunk: start collecting
            collected = bytearray(memoryview(buf)[self._pos :])
            collected += data
            self._buf, self._pos = collected, 0

    def next_pdu(self) -> Pdu | None:
        """The next whole PDU, or None until more data is fed."""
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail < 4:
            return None
        (length,) = _LENGTH.unpack_from(buf, pos)
        if length < HEADER_LENGTH or length > self.max_command_length:
            self._error = self._length_error(buf, pos, length, avail)
            self._buf, self._pos = b"", 0
            raise self._error
        if avail < length:
            return None
        if isinstance(buf, bytearray):  # complete at last: decode from bytes (one copy per chunk)
            buf = self._buf = bytes(buf)
        self._pos = end = pos + length  # consumed even if its body is bad: still in sync
        if end == len(buf):
            self._buf, self._pos = b"", 0
        return decode_pdu(buf, pos, end)

    def __iter__(self) -> Iterator[Pdu]:
        next_pdu = self.next_pdu
        while (pdu := next_pdu()) is not None:
            yield pdu

    def _length_error(
        self, buf: bytes | bytearray, pos: int, length: int, avail: int
    ) -> RemoteProtocolError:
        if length < HEADER_LENGTH:
            what = f"command_length {length} is less than the 16-octet header"
        else:
            what = f"command_length {length} is over the maximum {self.max_command_length}"
        command_id = seq = None
        reply = None
        if avail >= HEADER_LENGTH:
            _, command_id, _, seq = _HEADER.unpack_from(buf, pos)
            if not command_id & RESPONSE_BIT:
                reply = GENERIC_NACK
        return RemoteProtocolError(
            f"{what}; the stream cannot be resynchronised, close the connection",
            fatal=True,
            command_id=command_id,
            sequence_number=seq,
            reply_command_id=reply,
            reply_status=ESME_RINVCMDLEN,
        )
