"""The simulator's knobs: one frozen value, validated once, replaced whole at run time.

Every behaviour is a plain field, so personalities (personalities.py) are just named sets of
field values and compose by merging. Durations are seconds (`Delay`); the command line and
the config speak milliseconds and are converted by `Delay.parse_ms`.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from herald.smpp.status import CommandStatus

DelayKind = Literal["fixed", "uniform", "exponential"]

# stat names the simulator can end a message with, and the intermediate ones it can send first
FINAL_STATES = ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN")
INTERMEDIATE_STATES = ("ENROUTE", "ACCEPTD")


@dataclass(frozen=True, slots=True)
class Delay:
    """A delay distribution in seconds: fixed, uniform in [low, high], or exponential with
    mean `low`, capped at `high` (0: no cap). Sampled with the simulator's seeded RNG."""

    kind: DelayKind = "fixed"
    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "uniform", "exponential"):
            raise ValueError(f"delay kind must be fixed, uniform or exponential, not {self.kind!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("delays must be finite")
        if self.low < 0 or self.high < 0:
            raise ValueError(f"delays cannot be negative (got {self.low}, {self.high})")
        if self.kind == "uniform" and self.high < self.low:
            raise ValueError(f"uniform delay range is reversed: {self.low} > {self.high}")

    @classmethod
    def fixed(cls, seconds: float) -> Delay:
        return cls("fixed", seconds, seconds)

    @classmethod
    def uniform(cls, low: float, high: float) -> Delay:
        return cls("uniform", low, high)

    @classmethod
    def exponential(cls, mean: float, cap: float = 0.0) -> Delay:
        return cls("exponential", mean, cap)

    @property
    def is_zero(self) -> bool:
        return self.low == 0 and (self.kind != "uniform" or self.high == 0)

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return self.low if self.low == self.high else rng.uniform(self.low, self.high)
        if self.low == 0:
            return 0.0
        value = rng.expovariate(1.0 / self.low)
        return min(value, self.high) if self.high else value

    @classmethod
    def parse_ms(cls, text: str) -> Delay:
        """`50` (fixed), `50-500` (uniform), `exp:200` or `exp:200:2000` (mean, cap), in ms."""
        spec = text.strip().lower()
        try:
            if spec.startswith("exp:"):
                mean, _, cap = spec[4:].partition(":")
                return cls.exponential(float(mean) / 1000, float(cap or 0) / 1000)
            low, sep, high = spec.partition("-")
            if sep:
                return cls.uniform(float(low) / 1000, float(high) / 1000)
            return cls.fixed(float(spec) / 1000)
        except ValueError as exc:
            raise ValueError(
                f"delay {text!r}: expected MS, MS-MS or exp:MEAN[:CAP] in milliseconds ({exc})"
            ) from None

    def __str__(self) -> str:
        ms = lambda s: f"{s * 1000:g}"  # noqa: E731
        if self.kind == "fixed":
            return f"{ms(self.low)} ms"
        if self.kind == "uniform":
            return f"{ms(self.low)}-{ms(self.high)} ms"
        cap = f" (cap {ms(self.high)} ms)" if self.high else ""
        return f"exponential, mean {ms(self.low)} ms{cap}"


NO_DELAY = Delay()


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """Everything the simulator does, as data. Build one from a personality with
    `personality_settings("throttling", throttle_rate=10)` or directly."""

    # --- the listening socket and the accounts ------------------------------------------
    host: str = "127.0.0.1"
    port: int = 0  # 0: an ephemeral port (see Simulator.start's return value)
    system_id: str = "herald"
    password: str = field(default="secret", repr=False)
    # more system_id -> password pairs
    accounts: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    accept_any_credentials: bool = False
    smsc_system_id: str = "herald-sim"  # our name in bind responses
    # SMPP over TLS: the certificate chain and key to listen with (PEM); None: plain TCP.
    # With tls_client_ca, a client must present a certificate that CA signed.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    bind_status: int = 0  # refuse every (well-credentialed) bind with this status, e.g. 0x0D
    seed: int = 0  # every random choice comes from one RNG seeded with this

    # --- message ids ----------------------------------------------------------------------
    id_format: Literal["hex", "dec"] = "hex"
    id_case: Literal["lower", "upper"] = "lower"
    id_width: int = 0  # zero-pad to this many digits (0: no padding)
    id_start: int = 0xA0000000  # hex a0000000, decimal 2684354560: 10 digits
    # ids wrap back to id_start after this many (a short counter); None: they never wrap.
    # A restarted simulator starts again at id_start either way, as a carrier's SMSC does.
    id_space: int | None = None
    receipt_id_format: Literal["same", "hex", "dec"] = "same"  # the id in the receipt text
    receipt_id_width: int = 0

    # --- receipts -------------------------------------------------------------------------
    receipts: bool = True  # honour registered_delivery
    receipt_format: Literal["both", "text", "tlv"] = "both"  # TLVs and text, text only, TLVs only
    receipt_delay: Delay = NO_DELAY
    outcomes: tuple[tuple[str, float], ...] = (("DELIVRD", 1.0),)  # final stat and weight
    intermediate: Literal["ENROUTE", "ACCEPTD"] | None = None  # sent first, half-way
    early_receipt: bool = False  # the receipt goes out before the submit_sm_resp
    receipt_date_digits: Literal[10, 12, 14] = 10  # YYMMDDhhmm, +ss, or YYYYMMDDhhmmss
    max_pending_receipts: int = 1_000_000  # per system_id with no receiver bound; oldest dropped
    # deliver_sm (receipts and MO) written and not yet answered, per connection, as an SMSC's
    # window holds them; the rest wait their turn. 0: no limit.
    deliver_window: int = 0

    # --- how submits are answered ---------------------------------------------------------
    submit_answer: Literal["ok", "none", "generic_nack"] = "ok"  # none: a black hole
    nack_status: int = CommandStatus.ESME_RINVCMDID
    # share of the submits that would be accepted answered with a generic_nack (`nack_status`)
    # carrying their own sequence_number, as some SMSCs refuse a PDU they cannot take
    nack_share: float = 0.0
    throttle_rate: float | None = None  # submits per second per system_id (token bucket)
    throttle_burst: int = 1
    throttle_status: int = CommandStatus.ESME_RTHROTTLED  # or ESME_RMSGQFUL
    errors: tuple[tuple[int, float], ...] = ()  # (command_status, share of submits)
    latency: Delay = NO_DELAY  # before each response to a submit
    unbind_after: int | None = None  # send unbind after this many submits on a connection
    drop_after_pdus: int | None = None  # close TCP once this many PDUs were answered
    drop_probability: float = 0.0  # per PDU received: abort TCP before answering it
    malformed_share: float = 0.0  # share of submits answered with a broken PDU
    malformed_kind: Literal["unknown_command", "no_nul", "bad_length"] = "unknown_command"
    answer_enquire_link: bool = True

    # --- how bytes reach the socket -------------------------------------------------------
    # Off, the way many carrier SMSCs run: each PDU its own transport write, on a socket
    # without TCP_NODELAY, so Nagle holds a small write while an earlier one is unacknowledged
    # (the "carrier" personality). On: writes coalesced per read or loop turn, TCP_NODELAY.
    coalesce_writes: bool = True
    tcp_nodelay: bool = True

    # --- recording ------------------------------------------------------------------------
    record_path: Path | None = None  # JSON lines, one per submit_sm
    keep_submits: int | None = 100_000  # records kept in memory (None: all, 0: none)
    track_duplicates: bool = True  # count messages accepted twice by (destination, text)

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ValueError("simulator settings: " + "; ".join(problems))

    def replace(self, **changes: Any) -> SimulatorSettings:
        """A copy with `changes` applied (validated)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown simulator setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    @property
    def records(self) -> bool:
        """Whether submits are decoded at all (recorded, kept or checked for duplicates)."""
        return self.record_path is not None or self.keep_submits != 0 or self.track_duplicates

    def credentials_ok(self, system_id: str, password: str) -> int:
        """0, or the bind status for these credentials: RINVSYSID or RINVPASWD."""
        if self.accept_any_credentials:
            return 0
        if system_id == self.system_id:
            expected: str | None = self.password
        else:
            expected = self.accounts.get(system_id)
        if expected is None:
            return CommandStatus.ESME_RINVSYSID
        return 0 if password == expected else CommandStatus.ESME_RINVPASWD


FIELDS = tuple(f.name for f in dataclasses.fields(SimulatorSettings))


def _share(name: str, value: float) -> str | None:
    if not (0.0 <= value <= 1.0):
        return f"{name} must be within 0..1, got {value}"
    return None


def _problems(s: SimulatorSettings) -> Any:
    if not 0 <= s.port <= 65535:
        yield f"port must be 0..65535, got {s.port}"
    if s.id_format not in ("hex", "dec"):
        yield f"id_format must be hex or dec, got {s.id_format!r}"
    if s.id_case not in ("lower", "upper"):
        yield f"id_case must be lower or upper, got {s.id_case!r}"
    if s.receipt_id_format not in ("same", "hex", "dec"):
        yield f"receipt_id_format must be same, hex or dec, got {s.receipt_id_format!r}"
    if not 0 <= s.id_width <= 64 or not 0 <= s.receipt_id_width <= 64:
        yield "id widths must be 0..64 (message ids are at most 64 characters)"
    if s.id_start < 0:
        yield f"id_start cannot be negative, got {s.id_start}"
    if s.id_space is not None and s.id_space < 1:
        yield f"id_space must be at least 1 (or None), got {s.id_space}"
    if s.receipt_format not in ("both", "text", "tlv"):
        yield f"receipt_format must be both, text or tlv, got {s.receipt_format!r}"
    if s.receipt_date_digits not in (10, 12, 14):
        yield f"receipt_date_digits must be 10, 12 or 14, got {s.receipt_date_digits}"
    if not s.outcomes:
        yield "outcomes needs at least one (stat, weight)"
    for stat, weight in s.outcomes:
        if stat not in FINAL_STATES:
            yield f"outcome {stat!r} is not one of {', '.join(FINAL_STATES)}"
        if not (weight >= 0 and math.isfinite(weight)):
            yield f"outcome {stat} has a bad weight {weight}"
    if s.outcomes and sum(w for _, w in s.outcomes) <= 0:
        yield "outcome weights must not all be zero"
    if s.intermediate is not None and s.intermediate not in INTERMEDIATE_STATES:
        yield f"intermediate must be ENROUTE, ACCEPTD or None, got {s.intermediate!r}"
    if s.submit_answer not in ("ok", "none", "generic_nack"):
        yield f"submit_answer must be ok, none or generic_nack, got {s.submit_answer!r}"
    if s.throttle_rate is not None and not s.throttle_rate > 0:
        yield f"throttle_rate must be positive (or None), got {s.throttle_rate}"
    if s.throttle_burst < 1:
        yield f"throttle_burst must be at least 1, got {s.throttle_burst}"
    for code in (s.nack_status, s.throttle_status, s.bind_status):
        if not 0 <= code <= 0xFFFFFFFF:
            yield f"command_status 0x{code:x} does not fit 32 bits"
    total = 0.0
    for code, share in s.errors:
        if not 0 < code <= 0xFFFFFFFF:
            yield f"injected error status must be non-zero and 32 bits, got {code}"
        if (problem := _share(f"error share for 0x{code:x}", share)) is not None:
            yield problem
        total += share
    if total > 1.0 + 1e-9:
        yield f"injected error shares add up to {total:g}, more than 1"
    for name in ("unbind_after", "drop_after_pdus"):
        value = getattr(s, name)
        if value is not None and value < 1:
            yield f"{name} must be at least 1 (or None), got {value}"
    for name in ("drop_probability", "malformed_share", "nack_share"):
        if (problem := _share(name, getattr(s, name))) is not None:
            yield problem
    if s.malformed_kind not in ("unknown_command", "no_nul", "bad_length"):
        yield (
            "malformed_kind must be unknown_command, no_nul or bad_length, "
            f"got {s.malformed_kind!r}"
        )
    if s.keep_submits is not None and s.keep_submits < 0:
        yield f"keep_submits must be >= 0 or None, got {s.keep_submits}"
    if s.deliver_window < 0:
        yield f"deliver_window cannot be negative, got {s.deliver_window}"
    if s.max_pending_receipts < 0:
        yield f"max_pending_receipts cannot be negative, got {s.max_pending_receipts}"
    for name in ("system_id", "smsc_system_id"):
        if len(getattr(s, name)) > 15:
            yield f"{name} is at most 15 characters (SMPP C-string of 16)"
    if (s.tls_key is not None or s.tls_client_ca is not None) and s.tls_cert is None:
        yield "tls_key and tls_client_ca need tls_cert (the certificate to listen with)"


def parse_outcomes(text: str) -> tuple[tuple[str, float], ...]:
    """`DELIVRD=90,UNDELIV=10` (weights; a bare name weighs 1)."""
    outcomes = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        stat, _, weight = item.partition("=")
        try:
            outcomes.append((stat.strip().upper(), float(weight) if weight else 1.0))
        except ValueError:
            raise ValueError(f"outcome {item!r}: the weight must be a number") from None
    return tuple(outcomes)


def parse_status(text: str) -> int:
    """A command_status as `0x58`, `88` or a name such as `ESME_RTHROTTLED` / `RTHROTTLED`."""
    spec = text.strip()
    name = spec.upper()
    for candidate in (name, f"ESME_{name}"):
        if candidate in CommandStatus.__members__:
            return int(CommandStatus[candidate])
    try:
        return int(spec, 0)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a command_status (0x58, 88 or ESME_RTHROTTLED)"
        ) from None


def parse_error(text: str) -> tuple[int, float]:
    """`STATUS=SHARE`, e.g. `0x58=0.1` or `ESME_RSYSERR=0.05`."""
    status, sep, share = text.partition("=")
    if not sep:
        raise ValueError(f"error {text!r}: expected STATUS=SHARE, e.g. 0x45=0.1")
    try:
        return parse_status(status), float(share)
    except ValueError as exc:
        raise ValueError(f"error {text!r}: {exc}") from None
