"""SMPP 3.4: the PDU codec, command_status table, sans-I/O connection and receipts.

Everything here but session/ is pure (no asyncio, no socket, no clock): bytes in, events out.
"""

from herald.smpp.codec import SubmitSmTemplate, decode, encode, encode_tlvs
from herald.smpp.connection import (
    Connection,
    Response,
    Role,
    State,
    StrayResponse,
    Violation,
)
from herald.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH, PduReader
from herald.smpp.inbound import Concat, InboundMessage, inbound_message
from herald.smpp.layouts import CommandId, Tag, command_name, tag_name
from herald.smpp.message_ids import IdMode, canonical_receipt_id, canonical_submit_id
from herald.smpp.pdu import Pdu
from herald.smpp.receipts import (
    MessageType,
    NetworkError,
    Receipt,
    message_type,
    parse_receipt,
    split_receipt_date,
)
from herald.smpp.status import CommandStatus, Status, StatusClass, StatusTable, status_name

__all__ = [
    "DEFAULT_MAX_COMMAND_LENGTH",
    "CommandId",
    "CommandStatus",
    "Concat",
    "Connection",
    "IdMode",
    "InboundMessage",
    "MessageType",
    "NetworkError",
    "Pdu",
    "PduReader",
    "Receipt",
    "Response",
    "Role",
    "State",
    "Status",
    "StatusClass",
    "StatusTable",
    "StrayResponse",
    "SubmitSmTemplate",
    "Tag",
    "Violation",
    "canonical_receipt_id",
    "canonical_submit_id",
    "command_name",
    "decode",
    "encode",
    "encode_tlvs",
    "inbound_message",
    "message_type",
    "parse_receipt",
    "split_receipt_date",
    "status_name",
    "tag_name",
]
