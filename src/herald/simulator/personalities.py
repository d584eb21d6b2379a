"""Named personalities: SMSC behaviours worth testing against, as sets of settings.

Each personality is a mapping of `SimulatorSettings` fields; anything it does not name keeps
its default. They compose with `+` (later ones win on a shared field) and take overrides:

    personality_settings("happy")
    personality_settings("early_receipt+throttling", throttle_rate=50, seed=7)

The names follow the fake peers of jookies/jasmin's test suite (HappySMSC, BlackHoleSMSC,
...), plus the carrier habits of docs/protocol.md §5.4-5.6.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from herald.simulator.settings import FIELDS, Delay, SimulatorSettings
from herald.smpp.status import CommandStatus

_P: dict[str, tuple[str, dict[str, Any]]] = {
    "happy": ("accepts everything; one DELIVRD receipt per part", {}),
    "black_hole": (
        "accepts binds, never answers a submit_sm (requests time out)",
        {"submit_answer": "none", "receipts": False},
    ),
    "throttling": (
        "ESME_RTHROTTLED above 100 submits/s per system_id (token bucket, burst 10)",
        {"throttle_rate": 100.0, "throttle_burst": 10},
    ),
    "queue_full": (
        "ESME_RMSGQFUL above 100 submits/s per system_id (token bucket, burst 10)",
        {
            "throttle_rate": 100.0,
            "throttle_burst": 10,
            "throttle_status": CommandStatus.ESME_RMSGQFUL,
        },
    ),
    "generic_nack": (
        "answers every submit_sm with generic_nack (ESME_RINVCMDID)",
        {"submit_answer": "generic_nack", "receipts": False},
    ),
    "nack_per_message": (
        "answers a third of the submits with generic_nack (ESME_RINVCMDID) carrying their own "
        "sequence_number, the rest as usual",
        {"nack_share": 1 / 3},
    ),
    "unbind_on_submit": (
        "sends unbind after 5 submits on a connection",
        {"unbind_after": 5},
    ),
    "unbind_mid_window": (
        "answers each submit after 20 ms and sends unbind after its 5th answer on a "
        "connection: the answers it still owes, and its ESME_RINVBNDSTS refusals of what "
        "arrives after the unbind, follow the unbind",
        {"unbind_after": 5, "latency": Delay.fixed(0.02)},
    ),
    "vendor_status": (
        "answers half of the submits with vendor status 0x401",
        {"errors": ((0x401, 0.5),)},
    ),
    "early_receipt": (
        "sends each receipt before its submit_sm_resp",
        {"early_receipt": True},
    ),
    "flaky_link": (
        "aborts the TCP connection at random, on 2% of PDUs (seeded)",
        {"drop_probability": 0.02},
    ),
    "nexmo": (
        "ids in upper-case hex in submit_sm_resp, zero-padded decimal in receipt text",
        {"id_case": "upper", "receipt_id_format": "dec", "receipt_id_width": 10},
    ),
    "id_reuse": (
        "message ids from a counter of 1,000 that wraps: ids come back while older messages "
        "with them are known (restart the simulator for a counter reset)",
        {"id_space": 1000},
    ),
    "text_receipts": (
        "receipts carry only the Appendix B text, no TLVs",
        {"receipt_format": "text"},
    ),
    "mixed_outcomes": (
        "ENROUTE first, then 80% DELIVRD, 8% UNDELIV, 5% EXPIRED, 4% REJECTD, 2% DELETED, "
        "1% UNKNOWN, after 50-500 ms",
        {
            "intermediate": "ENROUTE",
            "receipt_delay": Delay.uniform(0.05, 0.5),
            "outcomes": (
                ("DELIVRD", 80.0),
                ("UNDELIV", 8.0),
                ("EXPIRED", 5.0),
                ("REJECTD", 4.0),
                ("DELETED", 2.0),
                ("UNKNOWN", 1.0),
            ),
        },
    ),
    "carrier": (
        "writes like common carrier SMSCs: each PDU (response, then its receipt) in its own "
        "write, no TCP_NODELAY (Nagle on)",
        {"coalesce_writes": False, "tcp_nodelay": False},
    ),
    "slow": (
        "answers each submit_sm after 20-200 ms (responses may overtake each other)",
        {"latency": Delay.uniform(0.02, 0.2)},
    ),
}

PERSONALITIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {name: MappingProxyType(knobs) for name, (_, knobs) in _P.items()}
)
DESCRIPTIONS: Mapping[str, str] = MappingProxyType({name: d for name, (d, _) in _P.items()})

# Fields a personality may set: everything but the socket, the accounts and the recording.
IDENTITY_FIELDS = frozenset(
    {
        "host",
        "port",
        "system_id",
        "password",
        "accounts",
        "accept_any_credentials",
        "smsc_system_id",
        "seed",
        "record_path",
        "keep_submits",
        "track_duplicates",
    }
)
BEHAVIOUR_FIELDS = tuple(f for f in FIELDS if f not in IDENTITY_FIELDS)


def personality_names(spec: str) -> list[str]:
    """`early_receipt+throttling` -> ["early_receipt", "throttling"]; `-` reads as `_`."""
    names = [n.strip().lower().replace("-", "_") for n in spec.split("+")]
    unknown = [n for n in names if n not in PERSONALITIES]
    if unknown:
        known = ", ".join(PERSONALITIES)
        raise ValueError(f"unknown personality {', '.join(unknown)}; known: {known}")
    return names


def personality_knobs(spec: str) -> dict[str, Any]:
    """The fields a personality spec sets, merged left to right."""
    knobs: dict[str, Any] = {}
    for name in personality_names(spec):
        knobs.update(PERSONALITIES[name])
    return knobs


def personality_settings(spec: str = "happy", **overrides: Any) -> SimulatorSettings:
    """Settings for a personality (or several joined by `+`), then `overrides`."""
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown simulator setting(s): {', '.join(unknown)}")
    return SimulatorSettings(**{**personality_knobs(spec), **overrides})


def with_personality(current: SimulatorSettings, spec: str, **overrides: Any) -> SimulatorSettings:
    """`current` with every behaviour field reset to `spec`'s (identity fields kept)."""
    fresh = personality_settings(spec, **overrides)
    changes = {name: getattr(fresh, name) for name in BEHAVIOUR_FIELDS}
    changes.update({k: v for k, v in overrides.items() if k in IDENTITY_FIELDS})
    return current.replace(**changes)
