"""Simulator settings, delay distributions and personalities: validation and composition."""

from __future__ import annotations

import random

import pytest

from herald.simulator import DESCRIPTIONS, PERSONALITIES, Delay, SimulatorSettings
from herald.simulator.ids import MessageIds
from herald.simulator.personalities import personality_settings, with_personality
from herald.simulator.run import settings_from_options
from herald.simulator.settings import parse_error, parse_outcomes, parse_status
from herald.smpp.status import CommandStatus as S


@pytest.mark.parametrize(
    ("text", "delay"),
    [
        ("50", Delay.fixed(0.05)),
        ("50-500", Delay.uniform(0.05, 0.5)),
        ("exp:200", Delay.exponential(0.2)),
        ("exp:200:2000", Delay.exponential(0.2, 2.0)),
        ("0", Delay()),
    ],
)
def test_delay_parses_milliseconds(text: str, delay: Delay) -> None:
    assert Delay.parse_ms(text) == delay


@pytest.mark.parametrize("text", ["", "fast", "5-x", "-5", "500-50", "exp:"])
def test_delay_rejects_nonsense_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match=r"delay|negative|reversed"):
        Delay.parse_ms(text)


def test_delay_samples_stay_in_range_and_follow_the_seed() -> None:
    uniform, capped = Delay.uniform(0.1, 0.2), Delay.exponential(0.05, 0.1)
    draws = [uniform.sample(random.Random(1)) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]
    rng = random.Random(2)
    assert all(0.1 <= uniform.sample(rng) <= 0.2 for _ in range(1000))
    assert all(0 <= capped.sample(rng) <= 0.1 for _ in range(1000))
    assert Delay.fixed(0.3).sample(rng) == 0.3 and Delay().is_zero
    assert str(Delay.uniform(0.05, 0.5)) == "50-500 ms"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": 70000}, "port"),
        ({"outcomes": (("DELIVERED", 1.0),)}, "DELIVERED"),
        ({"outcomes": (("DELIVRD", 0.0),)}, "not all be zero"),
        ({"errors": ((0x58, 0.7), (0x45, 0.7))}, "add up to 1.4"),
        ({"errors": ((0, 0.1),)}, "non-zero"),
        ({"drop_probability": 1.5}, "drop_probability"),
        ({"throttle_rate": 0.0}, "throttle_rate"),
        ({"unbind_after": 0}, "unbind_after"),
        ({"intermediate": "DELIVRD"}, "intermediate"),
        ({"system_id": "x" * 16}, "system_id"),
        ({"id_format": "base64"}, "id_format"),
    ],
)
def test_settings_name_what_is_wrong(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatorSettings().replace(**change)


def test_replace_refuses_unknown_knobs() -> None:
    with pytest.raises(ValueError, match=r"unknown simulator setting.*throttle"):
        SimulatorSettings().replace(throttle=5)


def test_credentials_answer_the_right_status() -> None:
    settings = SimulatorSettings(accounts={"b": "pb"})
    assert settings.credentials_ok("herald", "secret") == 0
    assert settings.credentials_ok("b", "pb") == 0
    assert settings.credentials_ok("herald", "nope") == S.ESME_RINVPASWD
    assert settings.credentials_ok("c", "secret") == S.ESME_RINVSYSID
    assert settings.replace(accept_any_credentials=True).credentials_ok("c", "") == 0


def test_every_personality_builds_and_is_described() -> None:
    assert set(PERSONALITIES) == set(DESCRIPTIONS)
    for name in PERSONALITIES:
        assert isinstance(personality_settings(name), SimulatorSettings)
    assert {
        "happy",
        "black_hole",
        "throttling",
        "generic_nack",
        "unbind_on_submit",
        "vendor_status",
        "early_receipt",
        "flaky_link",
    } <= set(PERSONALITIES)


def test_personalities_compose_left_to_right_and_take_overrides() -> None:
    settings = personality_settings("early-receipt+throttling", throttle_rate=7.0, seed=3)
    assert settings.early_receipt and settings.throttle_rate == 7.0 and settings.seed == 3
    # a later personality wins on the fields it names, and only those
    assert personality_settings("generic_nack+black_hole").submit_answer == "none"
    assert personality_settings("black_hole+generic_nack").submit_answer == "generic_nack"
    assert personality_settings("queue_full+throttling").throttle_status == S.ESME_RMSGQFUL
    with pytest.raises(ValueError, match="unknown personality grumpy; known: happy"):
        personality_settings("happy+grumpy")


def test_switching_personality_keeps_the_socket_and_accounts() -> None:
    current = personality_settings("throttling", port=2775, password="pw", seed=9)
    switched = with_personality(current, "early_receipt")
    assert (switched.port, switched.password, switched.seed) == (2775, "pw", 9)
    assert switched.throttle_rate is None and switched.early_receipt


def test_status_and_outcome_parsing() -> None:
    assert parse_status("0x58") == parse_status("88") == parse_status("RTHROTTLED") == 0x58
    assert parse_status("ESME_RMSGQFUL") == 0x14
    assert parse_error("ESME_RSYSERR=0.25") == (0x08, 0.25)
    assert parse_outcomes("DELIVRD=9, undeliv=1,EXPIRED") == (
        ("DELIVRD", 9.0),
        ("UNDELIV", 1.0),
        ("EXPIRED", 1.0),
    )
    with pytest.raises(ValueError, match="STATUS=SHARE"):
        parse_error("0x58")
    with pytest.raises(ValueError, match="not a command_status"):
        parse_status("RSLOW")


def test_command_line_options_become_settings() -> None:
    settings = settings_from_options(
        "nexmo",
        {
            "port": 0,
            "receipt_delay": "10-20",
            "errors": ("0x45=0.1",),
            "receipts": None,
            "outcomes": "DELIVRD=1,UNDELIV=1",
            "record": "x.jsonl",
            "intermediate": "enroute",
        },
    )
    assert settings.receipt_id_format == "dec"  # from the personality
    assert settings.receipt_delay == Delay.uniform(0.01, 0.02)
    assert settings.errors == ((0x45, 0.1),) and settings.intermediate == "ENROUTE"
    assert settings.keep_submits == 0 and not settings.track_duplicates
    assert str(settings.record_path) == "x.jsonl"
    with pytest.raises(ValueError, match="--receipt-delay"):
        settings_from_options("happy", {"receipt_delay": "soon"})


def test_a_short_id_space_wraps_and_a_restart_starts_over() -> None:
    settings = personality_settings("id_reuse", id_start=10, id_space=3)
    ids = MessageIds(settings)
    assert [ids.next_number() for _ in range(7)] == [10, 11, 12, 10, 11, 12, 10]
    assert MessageIds(settings).next_number() == 10  # a restarted simulator
    with pytest.raises(ValueError, match="id_space"):
        personality_settings("happy", id_space=0)
