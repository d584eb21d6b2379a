"""SMPP 3.4 as data: command ids, the body layout of every PDU, and the TLV tag table.

Nothing here runs; `codec.py` walks these tables (the house style of fiorix/go-smpp's
`pdu/types.go`). To support another PDU or TLV, add a row here and nothing else.

Sizes follow the spec's "Var. max N" column: a C-octet string's maximum *includes* its NUL.
Each mandatory field also names the command_status to answer when the peer sends it malformed
(a source_addr without its NUL earns ESME_RINVSRCADR, a bad system_id ESME_RINVSYSID, ...).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from herald.smpp.status import CommandStatus as S

RESPONSE_BIT = 0x80000000
HEADER_LENGTH = 16
MAX_SM_LENGTH = 254  # sm_length 0-254 (SMPP 3.4 §5.2.21); longer text goes in message_payload


class CommandId(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


def command_name(command_id: int) -> str:
    """`submit_sm`, `deliver_sm_resp`, ... or `command_0x00000021` for an id we do not know."""
    try:
        return CommandId(command_id).name.lower()
    except ValueError:
        return f"command_0x{command_id:08x}"


# Requests that have no response PDU: answer problems with them by generic_nack.
NO_RESPONSE = frozenset({CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION})

# --- field kinds -------------------------------------------------------------------------------

U8, U16, U32 = "u8", "u16", "u32"
CSTR = "cstr"  # C-octet string: octets then NUL; size = maximum including the NUL
SM = "sm"  # short_message: one sm_length octet, then that many octets
OCTETS = "octets"  # TLV only: raw octets
FLAG = "flag"  # TLV only: present with length 0 (alert_on_message_delivery)


class Field(NamedTuple):
    name: str
    kind: str
    size: int  # C-string maximum including NUL; SM maximum octets; 0 for integers
    status: int  # command_status answered when the peer sends this field malformed
    default: int | str | bytes


def _cstr(name: str, size: int, status: int = S.ESME_RINVCMDLEN) -> Field:
    return Field(name, CSTR, size, status, "")


def _u8(name: str, default: int = 0) -> Field:
    return Field(name, U8, 0, S.ESME_RINVCMDLEN, default)


_BIND = (
    _cstr("system_id", 16, S.ESME_RINVSYSID),
    _cstr("password", 9, S.ESME_RINVPASWD),
    _cstr("system_type", 13, S.ESME_RINVSYSTYP),
    _u8("interface_version", 0x34),
    _u8("addr_ton"),
    _u8("addr_npi"),
    _cstr("address_range", 41, S.ESME_RBINDFAIL),
)
_BIND_RESP = (_cstr("system_id", 16, S.ESME_RINVSYSID),)  # + TLV sc_interface_version
_MESSAGE_ID = (_cstr("message_id", 65, S.ESME_RINVMSGID),)

# submit_sm and deliver_sm share a layout (SMPP 3.4 §4.4.1 and §4.6.1)
_SHORT_MESSAGE = (
    _cstr("service_type", 6, S.ESME_RINVSERTYP),
    _u8("source_addr_ton"),
    _u8("source_addr_npi"),
    _cstr("source_addr", 21, S.ESME_RINVSRCADR),
    _u8("dest_addr_ton"),
    _u8("dest_addr_npi"),
    _cstr("destination_addr", 21, S.ESME_RINVDSTADR),
    _u8("esm_class"),
    _u8("protocol_id"),
    _u8("priority_flag"),
    _cstr("schedule_delivery_time", 17, S.ESME_RINVSCHED),
    _cstr("validity_period", 17, S.ESME_RINVEXPIRY),
    _u8("registered_delivery"),
    _u8("replace_if_present_flag"),
    _u8("data_coding"),
    _u8("sm_default_msg_id"),
    Field("short_message", SM, MAX_SM_LENGTH, S.ESME_RINVMSGLEN, b""),
)

LAYOUTS: dict[int, tuple[Field, ...]] = {
    CommandId.GENERIC_NACK: (),
    CommandId.BIND_RECEIVER: _BIND,
    CommandId.BIND_RECEIVER_RESP: _BIND_RESP,
    CommandId.BIND_TRANSMITTER: _BIND,
    CommandId.BIND_TRANSMITTER_RESP: _BIND_RESP,
    CommandId.BIND_TRANSCEIVER: _BIND,
    CommandId.BIND_TRANSCEIVER_RESP: _BIND_RESP,
    CommandId.OUTBIND: (
        _cstr("system_id", 16, S.ESME_RINVSYSID),
        _cstr("password", 9, S.ESME_RINVPASWD),
    ),
    CommandId.UNBIND: (),
    CommandId.UNBIND_RESP: (),
    CommandId.ENQUIRE_LINK: (),
    CommandId.ENQUIRE_LINK_RESP: (),
    CommandId.SUBMIT_SM: _SHORT_MESSAGE,
    CommandId.SUBMIT_SM_RESP: _MESSAGE_ID,
    CommandId.DELIVER_SM: _SHORT_MESSAGE,
    CommandId.DELIVER_SM_RESP: _MESSAGE_ID,  # message_id unused: sent as a lone NUL
    CommandId.DATA_SM: (
        _cstr("service_type", 6, S.ESME_RINVSERTYP),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _cstr("source_addr", 65, S.ESME_RINVSRCADR),
        _u8("dest_addr_ton"),
        _u8("dest_addr_npi"),
        _cstr("destination_addr", 65, S.ESME_RINVDSTADR),
        _u8("esm_class"),
        _u8("registered_delivery"),
        _u8("data_coding"),
    ),
    CommandId.DATA_SM_RESP: _MESSAGE_ID,
    CommandId.QUERY_SM: (
        _cstr("message_id", 65, S.ESME_RINVMSGID),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _cstr("source_addr", 21, S.ESME_RINVSRCADR),
    ),
    CommandId.QUERY_SM_RESP: (
        _cstr("message_id", 65, S.ESME_RINVMSGID),
        _cstr("final_date", 17),
        _u8("message_state"),
        _u8("error_code"),
    ),
    CommandId.CANCEL_SM: (
        _cstr("service_type", 6, S.ESME_RINVSERTYP),
        _cstr("message_id", 65, S.ESME_RINVMSGID),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _cstr("source_addr", 21, S.ESME_RINVSRCADR),
        _u8("dest_addr_ton"),
        _u8("dest_addr_npi"),
        _cstr("destination_addr", 21, S.ESME_RINVDSTADR),
    ),
    CommandId.CANCEL_SM_RESP: (),
    CommandId.REPLACE_SM: (
        _cstr("message_id", 65, S.ESME_RINVMSGID),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _cstr("source_addr", 21, S.ESME_RINVSRCADR),
        _cstr("schedule_delivery_time", 17, S.ESME_RINVSCHED),
        _cstr("validity_period", 17, S.ESME_RINVEXPIRY),
        _u8("registered_delivery"),
        _u8("sm_default_msg_id"),
        Field("short_message", SM, MAX_SM_LENGTH, S.ESME_RINVMSGLEN, b""),
    ),
    CommandId.REPLACE_SM_RESP: (),
    CommandId.ALERT_NOTIFICATION: (
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _cstr("source_addr", 65, S.ESME_RINVSRCADR),
        _u8("esme_addr_ton"),
        _u8("esme_addr_npi"),
        _cstr("esme_addr", 65, S.ESME_RINVDSTADR),
    ),
}

FIELD_NAMES: dict[int, frozenset[str]] = {
    cid: frozenset(f.name for f in layout) for cid, layout in LAYOUTS.items()
}


# --- TLVs (SMPP 3.4 §5.3.2) ----------------------------------------------------------------


class Tag(IntEnum):
    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


# The value type of each known tag. Telematics ids and subaddresses stay raw octets: their
# sizes differ between spec revisions and nobody needs them decoded. A tag missing from this
# table is kept as raw octets and re-encoded unchanged.
TAG_KINDS: dict[int, str] = {
    Tag.DEST_ADDR_SUBUNIT: U8,
    Tag.DEST_NETWORK_TYPE: U8,
    Tag.DEST_BEARER_TYPE: U8,
    Tag.DEST_TELEMATICS_ID: OCTETS,
    Tag.SOURCE_ADDR_SUBUNIT: U8,
    Tag.SOURCE_NETWORK_TYPE: U8,
    Tag.SOURCE_BEARER_TYPE: U8,
    Tag.SOURCE_TELEMATICS_ID: OCTETS,
    Tag.QOS_TIME_TO_LIVE: U32,
    Tag.PAYLOAD_TYPE: U8,
    Tag.ADDITIONAL_STATUS_INFO_TEXT: CSTR,
    Tag.RECEIPTED_MESSAGE_ID: CSTR,
    Tag.MS_MSG_WAIT_FACILITIES: U8,
    Tag.PRIVACY_INDICATOR: U8,
    Tag.SOURCE_SUBADDRESS: OCTETS,
    Tag.DEST_SUBADDRESS: OCTETS,
    Tag.USER_MESSAGE_REFERENCE: U16,
    Tag.USER_RESPONSE_CODE: U8,
    Tag.SOURCE_PORT: U16,
    Tag.DESTINATION_PORT: U16,
    Tag.SAR_MSG_REF_NUM: U16,
    Tag.LANGUAGE_INDICATOR: U8,
    Tag.SAR_TOTAL_SEGMENTS: U8,
    Tag.SAR_SEGMENT_SEQNUM: U8,
    Tag.SC_INTERFACE_VERSION: U8,
    Tag.CALLBACK_NUM_PRES_IND: U8,
    Tag.CALLBACK_NUM_ATAG: OCTETS,
    Tag.NUMBER_OF_MESSAGES: U8,
    Tag.CALLBACK_NUM: OCTETS,
    Tag.DPF_RESULT: U8,
    Tag.SET_DPF: U8,
    Tag.MS_AVAILABILITY_STATUS: U8,
    Tag.NETWORK_ERROR_CODE: OCTETS,  # 3 octets: network type, then a 16-bit error code
    Tag.MESSAGE_PAYLOAD: OCTETS,
    Tag.DELIVERY_FAILURE_REASON: U8,
    Tag.MORE_MESSAGES_TO_SEND: U8,
    Tag.MESSAGE_STATE: U8,
    Tag.USSD_SERVICE_OP: U8,
    Tag.DISPLAY_TIME: U8,
    Tag.SMS_SIGNAL: U16,
    Tag.MS_VALIDITY: U8,
    Tag.ALERT_ON_MESSAGE_DELIVERY: FLAG,
    Tag.ITS_REPLY_TYPE: U8,
    Tag.ITS_SESSION_INFO: U16,
}


def tag_name(tag: int) -> str:
    """`message_payload`, ... or `tag_0x1401` for a tag we do not know."""
    try:
        return Tag(tag).name.lower()
    except ValueError:
        return f"tag_0x{tag:04x}"
