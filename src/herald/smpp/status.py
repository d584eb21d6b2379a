"""command_status: every SMPP 3.4 code with a name and what the gateway does about it.

The classes follow the actions of docs/protocol.md §4.2, which match
Kannel's temporary/permanent split:

    ok             accepted: store the message_id and wait for the receipt
    retry          temporary (RSYSERR, RX_T_APPN, RUNKNOWNERR...): retry a limited number of times
    throttled      ESME_RTHROTTLED: slow the bind down, back off, resend in order
    queue_full     ESME_RMSGQFUL: like throttled, with a longer backoff
    permanent      the message is refused (validation errors): fail it, never resend
    bind_fatal     bad password / system_id / system_type: stop reconnecting, alert an operator
    rebind         ESME_RINVBNDSTS: not the message's fault; rebind, then resend it
    already_bound  ESME_RALYBND: the bind stands

An unknown code never raises: vendor codes (0x400-0x4FF) and reserved ones map to the table's
fallback class (permanent unless configured) under a readable name such as `vendor_0x00000401`.
A carrier that documents a code differently gets a per-bind table:

    StatusTable({0x401: StatusClass.RETRY, 0x45: StatusClass.RETRY})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum, StrEnum
from typing import NamedTuple


class StatusClass(StrEnum):
    OK = "ok"
    RETRY = "retry"
    THROTTLED = "throttled"
    QUEUE_FULL = "queue_full"
    PERMANENT = "permanent"
    BIND_FATAL = "bind_fatal"
    REBIND = "rebind"
    ALREADY_BOUND = "already_bound"

    @property
    def temporary(self) -> bool:
        """Resending the same PDU later may succeed."""
        return self in _TEMPORARY


_TEMPORARY = frozenset(
    {StatusClass.RETRY, StatusClass.THROTTLED, StatusClass.QUEUE_FULL, StatusClass.REBIND}
)

OK, RETRY, THROTTLED, QUEUE_FULL = (
    StatusClass.OK,
    StatusClass.RETRY,
    StatusClass.THROTTLED,
    StatusClass.QUEUE_FULL,
)
PERMANENT, BIND_FATAL, REBIND, ALREADY_BOUND = (
    StatusClass.PERMANENT,
    StatusClass.BIND_FATAL,
    StatusClass.REBIND,
    StatusClass.ALREADY_BOUND,
)


class Status(NamedTuple):
    code: int
    name: str
    status_class: StatusClass
    # a retry code's cap (docs/protocol.md §4.2); None: the dispatcher's policy
    max_retries: int | None
    description: str


class CommandStatus(IntEnum):
    """SMPP 3.4 §5.1.3 command_status codes."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


# code: (class, max_retries, description); actions from docs/protocol.md §4.2.
_CODES: dict[int, tuple[StatusClass, int | None, str]] = {
    CommandStatus.ESME_ROK: (OK, None, "no error"),
    CommandStatus.ESME_RINVMSGLEN: (PERMANENT, None, "message length is invalid"),
    CommandStatus.ESME_RINVCMDLEN: (PERMANENT, None, "command length is invalid"),
    CommandStatus.ESME_RINVCMDID: (PERMANENT, None, "invalid command id"),
    CommandStatus.ESME_RINVBNDSTS: (REBIND, None, "incorrect bind status for the command"),
    CommandStatus.ESME_RALYBND: (ALREADY_BOUND, None, "ESME already in bound state"),
    CommandStatus.ESME_RINVPRTFLG: (PERMANENT, None, "invalid priority flag"),
    CommandStatus.ESME_RINVREGDLVFLG: (PERMANENT, None, "invalid registered delivery flag"),
    CommandStatus.ESME_RSYSERR: (RETRY, 3, "system error"),
    CommandStatus.ESME_RINVSRCADR: (PERMANENT, None, "invalid source address"),
    CommandStatus.ESME_RINVDSTADR: (PERMANENT, None, "invalid destination address"),
    CommandStatus.ESME_RINVMSGID: (PERMANENT, None, "message id is invalid"),
    CommandStatus.ESME_RBINDFAIL: (RETRY, None, "bind failed"),
    CommandStatus.ESME_RINVPASWD: (BIND_FATAL, None, "invalid password"),
    CommandStatus.ESME_RINVSYSID: (BIND_FATAL, None, "invalid system id"),
    CommandStatus.ESME_RCANCELFAIL: (PERMANENT, None, "cancel_sm failed"),
    CommandStatus.ESME_RREPLACEFAIL: (PERMANENT, None, "replace_sm failed"),
    CommandStatus.ESME_RMSGQFUL: (QUEUE_FULL, None, "message queue full"),
    CommandStatus.ESME_RINVSERTYP: (PERMANENT, None, "invalid service type"),
    CommandStatus.ESME_RINVNUMDESTS: (PERMANENT, None, "invalid number of destinations"),
    CommandStatus.ESME_RINVDLNAME: (PERMANENT, None, "invalid distribution list name"),
    CommandStatus.ESME_RINVDESTFLAG: (PERMANENT, None, "destination flag is invalid"),
    CommandStatus.ESME_RINVSUBREP: (PERMANENT, None, "invalid submit with replace request"),
    CommandStatus.ESME_RINVESMCLASS: (PERMANENT, None, "invalid esm_class field data"),
    CommandStatus.ESME_RCNTSUBDL: (PERMANENT, None, "cannot submit to distribution list"),
    CommandStatus.ESME_RSUBMITFAIL: (PERMANENT, None, "submit_sm or submit_multi failed"),
    CommandStatus.ESME_RINVSRCTON: (PERMANENT, None, "invalid source address TON"),
    CommandStatus.ESME_RINVSRCNPI: (PERMANENT, None, "invalid source address NPI"),
    CommandStatus.ESME_RINVDSTTON: (PERMANENT, None, "invalid destination address TON"),
    CommandStatus.ESME_RINVDSTNPI: (PERMANENT, None, "invalid destination address NPI"),
    CommandStatus.ESME_RINVSYSTYP: (BIND_FATAL, None, "invalid system_type field"),
    CommandStatus.ESME_RINVREPFLAG: (PERMANENT, None, "invalid replace_if_present flag"),
    CommandStatus.ESME_RINVNUMMSGS: (PERMANENT, None, "invalid number of messages"),
    CommandStatus.ESME_RTHROTTLED: (THROTTLED, None, "throttling error: rate limit exceeded"),
    CommandStatus.ESME_RINVSCHED: (PERMANENT, None, "invalid scheduled delivery time"),
    CommandStatus.ESME_RINVEXPIRY: (PERMANENT, None, "invalid message validity period"),
    CommandStatus.ESME_RINVDFTMSGID: (PERMANENT, None, "predefined message invalid or not found"),
    CommandStatus.ESME_RX_T_APPN: (RETRY, 3, "ESME receiver temporary application error"),
    CommandStatus.ESME_RX_P_APPN: (PERMANENT, None, "ESME receiver permanent application error"),
    CommandStatus.ESME_RX_R_APPN: (PERMANENT, None, "ESME receiver reject message error"),
    CommandStatus.ESME_RQUERYFAIL: (PERMANENT, None, "query_sm request failed"),
    CommandStatus.ESME_RINVOPTPARSTREAM: (PERMANENT, None, "error in the TLV part of the body"),
    CommandStatus.ESME_ROPTPARNOTALLWD: (PERMANENT, None, "optional parameter not allowed"),
    CommandStatus.ESME_RINVPARLEN: (PERMANENT, None, "invalid parameter length"),
    CommandStatus.ESME_RMISSINGOPTPARAM: (PERMANENT, None, "expected optional parameter missing"),
    CommandStatus.ESME_RINVOPTPARAMVAL: (PERMANENT, None, "invalid optional parameter value"),
    CommandStatus.ESME_RDELIVERYFAILURE: (PERMANENT, None, "delivery failure (data_sm_resp)"),
    CommandStatus.ESME_RUNKNOWNERR: (RETRY, 2, "unknown error"),
}

STATUSES: dict[int, Status] = {
    code: Status(int(code), CommandStatus(code).name, *row) for code, row in _CODES.items()
}


def status_name(code: int) -> str:
    """`ESME_RTHROTTLED`, or `vendor_0x00000401` / `reserved_0x00000070` for codes not in 3.4."""
    status = STATUSES.get(code)
    if status is not None:
        return status.name
    if 0x400 <= code <= 0x4FF:
        return f"vendor_0x{code:08x}"
    return f"reserved_0x{code:08x}"


class StatusTable:
    """What each command_status means on one bind: the 3.4 defaults plus carrier overrides."""

    __slots__ = ("_classes", "fallback", "overrides")

    def __init__(
        self,
        overrides: Mapping[int, StatusClass | str] | None = None,
        fallback: StatusClass | str = StatusClass.PERMANENT,
    ) -> None:
        self.overrides = {int(c): StatusClass(k) for c, k in (overrides or {}).items()}
        self.fallback = StatusClass(fallback)
        self._classes = {code: s.status_class for code, s in STATUSES.items()}
        self._classes.update(self.overrides)

    @classmethod
    def with_temporary(cls, codes: Iterable[int]) -> StatusTable:
        """The table for a bind whose carrier documents `codes` as temporary (config's
        `temporary_statuses`)."""
        return cls(dict.fromkeys(codes, StatusClass.RETRY))

    def classify(self, code: int) -> StatusClass:
        return self._classes.get(code, self.fallback)

    def describe(self, code: int) -> Status:
        """Name, class, retry cap and description; a made-up entry for unknown codes."""
        known = STATUSES.get(code)
        status_class = self.classify(code)
        if known is not None:
            return known._replace(status_class=status_class)
        kind = "vendor-specific" if 0x400 <= code <= 0x4FF else "reserved"
        return Status(code, status_name(code), status_class, None, f"{kind} error code")


DEFAULT_TABLE = StatusTable()
classify = DEFAULT_TABLE.classify
