"""A bind's settings, checked once: every bad value is named before anything connects.

Pure (no asyncio): the configuration validates `[[binds]]` entries into these
(herald.config.BindConfig), `herald.smpp.session` uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from herald.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH
from herald.smpp.layouts import HEADER_LENGTH, CommandId
from herald.smpp.message_ids import IdMode
from herald.smpp.status import status_name
from herald.smpp.throttle import ThrottlePolicy

MAX_WINDOW = 10_000  # submit_sm outstanding on one bind: far beyond any SMSC's limit

BindType = Literal["trx", "tx", "rx"]
BIND_COMMANDS: dict[BindType, CommandId] = {
    "trx": CommandId.BIND_TRANSCEIVER,
    "tx": CommandId.BIND_TRANSMITTER,
    "rx": CommandId.BIND_RECEIVER,
}


def describe_status(code: int) -> str:
    """`ESME_RINVDSTADR (0x0000000B)`: how herald names a command_status to people."""
    return f"{status_name(code)} (0x{code:08X})"


class SettingsError(ValueError):
    """Bad bind settings: `problems` holds (setting, what is wrong) for each one, so the
    configuration can name each key where it was written."""

    def __init__(self, bind: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(f"bind {bind!r}: " + "; ".join(message for _, message in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class SessionSettings:
    """Everything a bind's session needs, checked once. This class is the one declaration of
    these settings: the `[[binds]]` keys of the configuration are its fields, with its
    defaults (herald.config.BindConfig adds only what herald does around the session)."""

    name: str
    host: str
    port: int
    system_id: str
    password: str = field(default="", repr=False)
    system_type: str = ""
    bind_type: BindType = "trx"
    window: int = 10  # submit_sm outstanding at most
    rate: float = 100.0  # submit_sm per second, the ceiling (lowered while throttled)
    burst: int = 20
    enquire_link_interval: float = 30.0  # seconds without traffic from the SMSC
    response_timeout: float = 10.0  # per request: submit_sm, enquire_link, unbind
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    connect_timeout: float = 10.0
    id_mode: str = "as_is"
    temporary_statuses: tuple[int, ...] = ()  # carrier codes to treat as temporary (RETRY)
    max_throttle_retries: int = 10
    bind_timeout: float = 10.0
    service_type: str = ""
    addr_ton: int = 0  # bind address_range (the SMSC may route MO by it)
    addr_npi: int = 0
    address_range: str = ""
    max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH
    max_pending_deliveries: int = 1000  # on_deliver calls not done: stop reading beyond this
    # generic_nacks in a row matching no request in flight: the stream is out of step,
    # reconnect (0: never). A nack carrying a submit's sequence_number is that submit's answer.
    nack_reconnect_after: int = 5
    # submit_sm unanswered within response_timeout, in a row: a black hole, out of rotation
    # until a new link answers a probe (0: never)
    max_timeouts: int = 3
    # SMPP over TLS (herald.smpp.session.tls): verified against tls_ca (PEM; "" the system's CAs)
    # unless tls_verify is off; tls_cert/tls_key: a client certificate; tls_server_name: the
    # name the certificate must carry (and SNI) when it is not `host`.
    tls: bool = False
    tls_ca: str = ""
    tls_verify: bool = True
    tls_cert: str = ""
    tls_key: str = ""
    tls_server_name: str = ""

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []

        def bad(name: str, message: str) -> None:
            problems.append((name, message))

        if self.bind_type not in BIND_COMMANDS:
            bad(
                "bind_type",
                f"bind_type {self.bind_type!r} is not one of {', '.join(BIND_COMMANDS)}",
            )
        if self.window < 1:
            bad("window", f"window {self.window} must be at least 1")
        elif self.window > MAX_WINDOW:
            bad("window", f"window {self.window} must be at most {MAX_WINDOW}")
        if not 0 < self.port < 65536:
            bad("port", f"port {self.port} is not 1-65535")
        for name in (
            "response_timeout",
            "enquire_link_interval",
            "connect_timeout",
            "bind_timeout",
            "reconnect_min",
        ):
            if getattr(self, name) <= 0:
                bad(name, f"{name} must be positive, got {getattr(self, name)}")
        if self.reconnect_max < self.reconnect_min:
            bad(
                "reconnect_max",
                f"reconnect_max {self.reconnect_max} is below reconnect_min {self.reconnect_min}",
            )
        for name in ("max_throttle_retries", "nack_reconnect_after", "max_timeouts"):
            if getattr(self, name) < 0:
                bad(name, f"{name} {getattr(self, name)} is negative")
        if self.max_pending_deliveries < 1:
            bad(
                "max_pending_deliveries",
                f"max_pending_deliveries {self.max_pending_deliveries} must be >= 1",
            )
        for name in ("addr_ton", "addr_npi"):  # one octet each in bind_*
            if not 0 <= getattr(self, name) <= 255:
                bad(name, f"{name} {getattr(self, name)} is not 0-255")
        if self.max_command_length < HEADER_LENGTH:
            bad(
                "max_command_length",
                f"max_command_length must be at least {HEADER_LENGTH}, "
                f"got {self.max_command_length}",
            )
        for status in self.temporary_statuses:
            if not 0 <= status <= 0xFFFFFFFF:
                bad("temporary_statuses", f"temporary_statuses: {status} is not a command_status")
        for name, most in (
            ("system_id", 15),
            ("password", 8),
            ("system_type", 12),
            ("address_range", 40),
            ("service_type", 5),
        ):
            value = getattr(self, name)
            if len(value.encode("latin-1", "replace")) > most or "\0" in value:
                bad(name, f"{name} must be at most {most} characters (SMPP 3.4)")
        try:
            IdMode(self.id_mode)
        except ValueError:
            bad("id_mode", f"id_mode {self.id_mode!r} is not one of {', '.join(IdMode)}")
        try:
            ThrottlePolicy(rate=self.rate, burst=self.burst)
        except ValueError as exc:
            bad("burst" if self.rate > 0 and self.burst < 1 else "rate", str(exc))
        if not self.tls:
            for name in ("tls_ca", "tls_cert", "tls_key", "tls_server_name"):
                if getattr(self, name):
                    bad(name, f"{name} is set but tls is off: add tls = true")
        if self.tls_key and not self.tls_cert:
            bad("tls_key", "tls_key needs tls_cert (the client certificate it belongs to)")
        if problems:
            raise SettingsError(self.name, problems)
