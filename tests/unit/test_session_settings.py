"""SessionSettings: every bad value named at once, before anything connects."""

from __future__ import annotations

from typing import Any

import pytest

from herald.smpp.session import SessionSettings, describe_status
from herald.smpp.session_settings import SettingsError

BASE: dict[str, Any] = dict(
    name="acme", host="127.0.0.1", port=2775, system_id="herald", password="secret"
)


def test_defaults_are_valid() -> None:
    s = SessionSettings(**BASE)
    assert (s.bind_type, s.window, s.rate, s.burst) == ("trx", 10, 100.0, 20)
    assert (s.enquire_link_interval, s.response_timeout, s.id_mode) == (30.0, 10.0, "as_is")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bind_type": "rtx"}, "bind_type 'rtx' is not one of trx, tx, rx"),
        ({"window": 0}, "window 0 must be at least 1"),
        ({"port": 0}, "port 0 is not 1-65535"),
        ({"response_timeout": 0}, "response_timeout must be positive"),
        ({"reconnect_min": 5.0, "reconnect_max": 1.0}, "reconnect_max 1.0 is below"),
        ({"id_mode": "hexadecimal"}, "id_mode 'hexadecimal' is not one of as_is"),
        ({"rate": 0}, "throttle needs rate > 0"),
        ({"system_id": "x" * 16}, "system_id must be at most 15"),
        ({"password": "123456789"}, "password must be at most 8"),
        ({"max_throttle_retries": -1}, "max_throttle_retries -1 is negative"),
        ({"max_timeouts": -2}, "max_timeouts -2 is negative"),
        ({"window": 10_001}, "window 10001 must be at most 10000"),
        ({"addr_npi": 256}, "addr_npi 256 is not 0-255"),
        ({"max_command_length": 15}, "max_command_length must be at least 16, got 15"),
        ({"temporary_statuses": (0x401, -1)}, "temporary_statuses: -1 is not a command_status"),
    ],
)
def test_bad_values_are_named(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match="bind 'acme': ") as caught:
        SessionSettings(**{**BASE, **changes})
    assert message in str(caught.value)


def test_several_problems_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        SessionSettings(**{**BASE, "window": 0, "port": 70000})
    assert "window 0" in str(caught.value) and "port 70000" in str(caught.value)


def test_statuses_are_named_with_their_code() -> None:
    assert describe_status(0x0B) == "ESME_RINVDSTADR (0x0000000B)"
    assert describe_status(0x401) == "vendor_0x00000401 (0x00000401)"


def test_each_problem_names_its_setting_and_the_password_stays_out_of_reprs() -> None:
    with pytest.raises(SettingsError) as caught:
        SessionSettings(**{**BASE, "window": 0, "burst": 0, "addr_ton": -1})
    assert [key for key, _ in caught.value.problems] == ["window", "addr_ton", "burst"]
    assert "secret" not in repr(SessionSettings(**BASE))
