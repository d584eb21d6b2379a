"""The PDU value: a header, the mandatory body fields by name, and the TLVs by tag.

One class for every command (the layout table says which fields exist), so the decoder makes
exactly one small object per PDU. Build one with keyword fields; fields left out take their
default (0, "" or b"") when encoded:

    Pdu(CommandId.SUBMIT_SM, destination_addr="447700900123", short_message=b"hi",
        tlvs={Tag.USER_MESSAGE_REFERENCE: 7})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from herald.errors import LocalProtocolError
from herald.smpp.layouts import FIELD_NAMES, LAYOUTS, RESPONSE_BIT, command_name, tag_name

FieldValue = int | str | bytes
TlvValue = int | str | bytes | bool


class Pdu:
    __slots__ = ("command_id", "command_status", "params", "sequence_number", "tlvs")

    command_id: int
    command_status: int
    sequence_number: int
    params: dict[str, FieldValue]  # mandatory body fields, by the names in layouts.LAYOUTS
    tlvs: dict[int, TlvValue]  # optional parameters by tag; unknown tags hold raw bytes

    def __init__(
        self,
        command_id: int,
        /,
        *,
        command_status: int = 0,
        sequence_number: int = 0,
        tlvs: dict[int, TlvValue] | None = None,
        **params: FieldValue,
    ) -> None:
        check_params(command_id, params)
        self.command_id = command_id
        self.command_status = command_status
        self.sequence_number = sequence_number
        self.params = params
        self.tlvs = {} if tlvs is None else tlvs

    @property
    def name(self) -> str:
        return command_name(self.command_id)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def __getitem__(self, field: str) -> FieldValue:
        """A mandatory field's value, or its default when it was not set."""
        try:
            return self.params[field]
        except KeyError:
            for f in LAYOUTS[self.command_id]:
                if f.name == field:
                    return f.default
            raise KeyError(f"{self.name} has no field {field!r}") from None

    def fields(self) -> dict[str, FieldValue]:
        """Every mandatory field in layout order, defaults filled in."""
        params = self.params
        return {f.name: params.get(f.name, f.default) for f in LAYOUTS[self.command_id]}

    def integer(self, field: str) -> int:
        """An integer field such as esm_class: 0 when absent (or, in a Pdu built by hand, when
        not an integer; a decoded one always has its layout's types)."""
        value = self.params.get(field, 0)
        return value if isinstance(value, int) else 0

    def text(self, field: str) -> str:
        """A C-Octet String field such as destination_addr or message_id, typed as such (its
        default when absent). TypeError names the field when it holds something else."""
        value = self[field]
        if not isinstance(value, str):
            raise TypeError(f"{self.name} field {field} is {type(value).__name__}, not str")
        return value

    def octets(self, field: str) -> bytes:
        """An octet field such as short_message, typed as such (its default when absent).
        TypeError names the field when it holds something else."""
        value = self[field]
        if not isinstance(value, bytes):
            raise TypeError(f"{self.name} field {field} is {type(value).__name__}, not bytes")
        return value

    def tlv(self, tag: int, default: Any = None) -> Any:
        return self.tlvs.get(tag, default)

    def reply(self, command_status: int = 0, **params: FieldValue) -> Pdu:
        """The response to this request: same sequence_number, response command_id."""
        if self.is_response:
            raise LocalProtocolError(f"{self.name} is a response; responses are not answered")
        command_id = self.command_id | RESPONSE_BIT
        check_params(command_id, params)
        return _make(command_id, command_status, self.sequence_number, params, {})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pdu):
            return NotImplemented
        return (
            self.command_id == other.command_id
            and self.command_status == other.command_status
            and self.sequence_number == other.sequence_number
            and self.fields() == other.fields()
            and self.tlvs == other.tlvs
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable; typeshed wants a method

    def __repr__(self) -> str:
        parts = [f"seq={self.sequence_number}"]
        if self.command_status:
            parts.append(f"status=0x{self.command_status:08x}")
        parts += [f"{k}={v!r}" for k, v in self.params.items()]
        parts += [f"{tag_name(t)}={v!r}" for t, v in self.tlvs.items()]
        return f"<{self.name} {' '.join(parts)}>"


def check_params(command_id: int, params: Mapping[str, object]) -> None:
    """LocalProtocolError unless `command_id` has a layout with every field named in `params`."""
    names = FIELD_NAMES.get(command_id)
    if names is None:
        raise LocalProtocolError(f"no PDU layout for command_id 0x{command_id:08x}")
    if not names.issuperset(params):
        extra = ", ".join(sorted(set(params) - names))
        raise LocalProtocolError(f"{command_name(command_id)} has no field {extra}")


_new = object.__new__


def _make(
    command_id: int,
    command_status: int,
    sequence_number: int,
    params: dict[str, FieldValue],
    tlvs: dict[int, TlvValue],
) -> Pdu:
    """The decoder's constructor: no validation, the layout table already shaped `params`."""
    pdu = _new(Pdu)
    pdu.command_id = command_id
    pdu.command_status = command_status
    pdu.sequence_number = sequence_number
    pdu.params = params
    pdu.tlvs = tlvs
    return pdu
