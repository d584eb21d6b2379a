"""Configuration: the shipped file is valid, env overrides apply, errors name the bad key."""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from herald.config import SESSION_KEYS, BindConfig, Config, load_config
from herald.errors import ConfigError
from herald.smpp.session_settings import SessionSettings
from tests.support.tls import make_certificates

# The sample the package ships (herald init writes it; config/ links to it in the checkout).
SHIPPED = Path(__file__).resolve().parents[2] / "src" / "herald" / "etc" / "herald.toml"


def test_shipped_config_matches_the_documented_defaults() -> None:
    shipped = load_config(SHIPPED, env={})
    defaults = Config()
    # Every section except the demo bind/route/simulator equals the code defaults, so the file
    # documents the real defaults.
    sections = ("database", "api", "metrics", "dispatcher", "tracker", "callbacks", "campaigns")
    for section in (*sections, "links", "inbound", "retention", "logging", "nodes"):
        assert getattr(shipped, section) == getattr(defaults, section), section
    assert shipped.simulator.enabled
    assert [b.name for b in shipped.binds] == ["simulator"]
    # The demo bind writes every session key, at its default but for where it connects.
    written = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))["binds"][0]
    assert set(written) >= SESSION_KEYS
    here: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 2775,
        "system_id": "herald",
        "password": "secret",
    }
    demo = SessionSettings(name="simulator", **here)
    assert shipped.binds[0].session == demo
    assert shipped.routes[0].binds == ("simulator",)
    assert shipped.binds[0].account == "simulator" and shipped.carrier_accounts == ()


def test_environment_overrides_file_values(tmp_path: Path) -> None:
    env = {
        "HERALD_API_PORT": "9001",
        "HERALD_DSN": "postgresql://u:hunter2@db/herald",
        "HERALD_BIND_SIMULATOR_PASSWORD": "0042",
        "HERALD_BIND_SIMULATOR_NATIONAL": '["tr", "es"]',
        "HERALD_DISPATCHER_UNKNOWN_POLICY": "resend",
        "HERALD_LOG_LEVEL": "debug",
        "UNRELATED": "x",
    }
    c = load_config(SHIPPED, env=env)
    assert c.api.port == 9001
    assert c.database.dsn is not None
    assert c.database.dsn.get_secret_value() == "postgresql://u:hunter2@db/herald"
    assert c.binds[0].session.password == "0042"  # stays a string, leading zeros kept
    assert c.binds[0].national == ("tr", "es")
    assert c.dispatcher.unknown_policy == "resend"
    assert c.log_level == "DEBUG"


def test_secrets_never_appear_in_reprs() -> None:
    c = load_config(SHIPPED, env={"HERALD_DSN": "postgresql://u:hunter2@db/x"})
    text = repr(c) + str(c) + c.model_dump_json()
    assert "hunter2" not in text
    assert "secret" not in repr(c.binds[0])
    assert "secret" not in text and c.binds[0].session.password == "secret"
    assert c.model_dump()["binds"][0]["password"] == "**********"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "h.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_errors_name_the_bad_key(tmp_path: Path) -> None:
    bad = _write(tmp_path, '[[binds]]\nname="a"\nhost="h"\nport=1\nsystem_id="s"\nwindow=0\n')
    with pytest.raises(ConfigError, match=r"binds\.0\.window"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="typo"):
        load_config(_write(tmp_path, "[api]\ntypo = 1\n"), env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[api\n"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", env={})


def test_routes_must_name_known_binds_with_one_encoding_profile(tmp_path: Path) -> None:
    binds = (
        '[[binds]]\nname="a"\nhost="h"\nport=1\nsystem_id="s"\n'
        '[[binds]]\nname="b"\nhost="h"\nport=2\nsystem_id="s"\nconcat="sar"\n'
    )
    with pytest.raises(ConfigError, match="unknown binds: c"):
        load_config(_write(tmp_path, binds + '[[routes]]\nname="r"\nbinds=["a","c"]\n'), env={})
    with pytest.raises(ConfigError, match="differ in concat"):
        load_config(_write(tmp_path, binds + '[[routes]]\nname="r"\nbinds=["a","b"]\n'), env={})
    dup = '[[binds]]\nname="a"\nhost="h"\nport=1\nsystem_id="s"\n' * 2
    with pytest.raises(ConfigError, match="repeated: a"):
        load_config(_write(tmp_path, dup), env={})


def test_bind_override_for_an_unknown_bind_is_an_error() -> None:
    with pytest.raises(ConfigError, match="HERALD_BIND_NOPE_PASSWORD"):
        load_config(SHIPPED, env={"HERALD_BIND_NOPE_PASSWORD": "x"})


def test_a_bind_override_reaches_the_bind_with_the_longest_name_that_fits(
    tmp_path: Path,
) -> None:
    # It used to land on the first bind whose name is a prefix: `carrier-a` got a key
    # `rx_password` (and failed as an unknown key) when `carrier-a-rx` was meant.
    body = (
        '[[binds]]\nname="carrier-a"\nhost="h"\nport=1\nsystem_id="s"\n'
        '[[binds]]\nname="carrier-a-rx"\nhost="h"\nport=1\nsystem_id="s"\nbind_type="rx"\n'
    )
    env = {"HERALD_BIND_CARRIER_A_RX_PASSWORD": "rx", "HERALD_BIND_CARRIER_A_PASSWORD": "tx"}
    c = load_config(_write(tmp_path, body), env=env)
    assert [b.session.password for b in c.binds] == ["tx", "rx"]


def test_a_bad_value_from_the_environment_names_its_variable(tmp_path: Path) -> None:
    env = {
        "HERALD_API_PORT": "eighty",
        "HERALD_BIND_SIMULATOR_WINDOW": "0",
        "HERALD_RETENTION_MESSAGES_DAYS": "-1",
    }
    with pytest.raises(ConfigError) as err:
        load_config(SHIPPED, env=env)
    message = str(err.value)
    assert message.startswith("HERALD_API_PORT (api.port): Input should be a valid integer")
    assert "HERALD_BIND_SIMULATOR_WINDOW (binds.0.window): window 0 must be at least 1" in message
    assert "HERALD_RETENTION_MESSAGES_DAYS (retention.messages_days)" in message
    assert "\n" not in message  # one line
    # A file's own mistake still names the file and the key.
    bad = _write(tmp_path, "[api]\nport = -1\n")
    with pytest.raises(ConfigError, match=r"h\.toml: api\.port: Input should be greater"):
        load_config(bad, env={})


def test_a_herald_variable_that_sets_nothing_is_a_warning_naming_it() -> None:
    env = {
        "HERALD_API_PROT": "9000",  # a typo of a key
        "HERALD_CALLBAKS_TIMEOUT": "3",  # a typo of a section
        "HERALD_API_KEY": "hk_client",  # the command line client's own: no warning
        "HERALD_URL": "http://127.0.0.1:8080",  # likewise (its newer names)
        "HERALD_KEY": "hk_client",
        "HERALD_TEST_DSN": "postgresql://x",  # the test suite's
    }
    c = load_config(SHIPPED, env=env)
    assert c.warnings == (
        "HERALD_API_PROT is not a herald setting (no [api] key 'prot'): ignored",
        "HERALD_CALLBAKS_TIMEOUT is not a herald setting: ignored",
    )
    assert c.api == load_config(SHIPPED, env={}).api


def test_carrier_accounts_default_to_their_binds_and_may_be_declared(tmp_path: Path) -> None:
    body = (
        '[[binds]]\nname="a1"\naccount="acme"\nhost="h"\nport=1\nsystem_id="s"\nrate=30.0\n'
        '[[binds]]\nname="a2"\naccount="acme"\nhost="h"\nport=1\nsystem_id="s"\nrate=50.0\n'
        "burst=5\n"
        '[[binds]]\nname="z"\nhost="h"\nport=2\nsystem_id="z"\n'
        '[[binds]]\nname="a-rx"\naccount="acme"\nhost="h"\nport=1\nsystem_id="s"\n'
        'bind_type="rx"\n'  # receives only: not part of the account's rate
    )
    c = load_config(_write(tmp_path, body), env={})
    assert [b.account for b in c.binds] == ["acme", "acme", "z", "acme"]
    acme = c.carrier_account("acme")
    assert (acme.rate, acme.burst, acme.max_binds) == (80.0, 25, 0)
    declared = body + '[[carrier_accounts]]\nname="acme"\nrate=40.0\nmax_binds=1\n'
    env = {"HERALD_CARRIER_ACCOUNT_ACME_MAX_BINDS": "2"}
    acme = load_config(_write(tmp_path, declared), env=env).carrier_account("acme")
    assert (acme.rate, acme.burst, acme.max_binds) == (40.0, 25, 2)
    unused = body + '[[carrier_accounts]]\nname="other"\nrate=1.0\n'
    with pytest.raises(ConfigError, match="carrier_accounts other: no bind names it"):
        load_config(_write(tmp_path, unused), env={})


def test_binds_of_one_carrier_account_share_a_receipt_group(tmp_path: Path) -> None:
    body = (
        '[[binds]]\nname="tx"\nhost="smsc"\nport=2775\nsystem_id="acme"\nbind_type="tx"\n'
        '[[binds]]\nname="rx"\nhost="smsc"\nport=2775\nsystem_id="acme"\nbind_type="rx"\n'
        '[[binds]]\nname="other"\nhost="smsc"\nport=2775\nsystem_id="zeta"\n'
    )
    c = load_config(_write(tmp_path, body), env={})
    assert c.receipt_group("tx") == c.receipt_group("rx") == "acme@smsc:2775"
    assert c.receipt_group("other") == "zeta@smsc:2775"


def test_a_bind_password_longer_than_smpp_allows_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    body = '[[binds]]\nname="a"\nhost="h"\nport=1\nsystem_id="s"\npassword="123456789"\n'
    with pytest.raises(ConfigError, match=r"binds\.0\.password: .*at most 8") as err:
        load_config(_write(tmp_path, body), env={})
    assert "123456789" not in str(err.value)


def test_the_command_line_clients_variables_are_not_configuration() -> None:
    env = {"HERALD_API_KEY": "hk_secret", "HERALD_API_URL": "http://127.0.0.1:8080"}
    assert load_config(SHIPPED, env=env).api == load_config(SHIPPED, env={}).api


# Every SessionSettings field as a [[binds]] key, each set to a value unlike its default.
EVERY_SESSION_KEY: dict[str, object] = {
    "name": "b",
    "host": "smsc.example",
    "port": 2776,
    "system_id": "sys",
    "password": "pw",
    "system_type": "cmt",
    "bind_type": "tx",
    "window": 7,
    "rate": 33.0,
    "burst": 3,
    "enquire_link_interval": 12.0,
    "response_timeout": 4.0,
    "reconnect_min": 2.0,
    "reconnect_max": 9.0,
    "connect_timeout": 3.0,
    "id_mode": "submit_hex_dlr_dec",
    "temporary_statuses": [0x401, 0x402],
    "max_throttle_retries": 4,
    "bind_timeout": 6.0,
    "service_type": "WAP",
    "addr_ton": 1,
    "addr_npi": 1,
    "address_range": "^3069",
    "max_command_length": 4096,
    "max_pending_deliveries": 25,
    "nack_reconnect_after": 2,
    "max_timeouts": 5,
}


def test_every_bind_setting_the_session_knows_reaches_it(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)  # the TLS files are read when loading
    every = {
        **EVERY_SESSION_KEY,
        "tls": True,
        "tls_ca": str(certificates.ca),
        "tls_verify": False,
        "tls_cert": str(certificates.server_cert),
        "tls_key": str(certificates.server_key),
        "tls_server_name": "smpp.carrier.example",
    }
    assert set(every) == {f.name for f in fields(SessionSettings)} == SESSION_KEYS
    body = "[[binds]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in every.items())
    bind = load_config(_write(tmp_path, body), env={}).bind("b")
    defaults = SessionSettings(name="x", host="h", port=1, system_id="s")
    for name, value in every.items():
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(bind.session, name) == expected, name
        assert expected != getattr(defaults, name), f"{name}: pick a value unlike the default"
    # The dump is the file's flat shape again (what the daemon logs), the password masked.
    dumped = bind.model_dump(mode="json")
    assert dumped == {
        **every,
        "password": "**********",
        "account": "b",
        "concat": "udh8",
        "national": [],
        "short_code_ton": 3,
        "short_code_npi": 0,
        "validity_period": "",
    }


def test_a_bind_has_the_sessions_defaults() -> None:
    bind = BindConfig.model_validate({"name": "a", "host": "h", "port": 1, "system_id": "s"})
    assert bind.session == SessionSettings(name="a", host="h", port=1, system_id="s")


def test_every_bad_session_setting_is_named_as_written(tmp_path: Path) -> None:
    head = '[[binds]]\nname="a"\nhost="h"\nport=1\nsystem_id="s"\n'
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, head + "window=0\naddr_ton=300\nrate=-1.0\n"), env={})
    assert str(err.value) == (
        f"{tmp_path / 'h.toml'}: binds.0.window: window 0 must be at least 1; "
        "binds.0.addr_ton: addr_ton 300 is not 0-255; "
        "binds.0.rate: throttle needs rate > 0, burst >= 1, min_rate > 0; "
        "got rate=-1.0, burst=20, min_rate=1.0"
    )
    with pytest.raises(ConfigError, match=r"binds\.0\.window: Input should be a valid integer"):
        load_config(_write(tmp_path, head + 'window="many"\n'), env={})
    with pytest.raises(ConfigError, match=r"binds\.0\.host: Field required"):
        load_config(_write(tmp_path, '[[binds]]\nname="a"\nport=1\nsystem_id="s"\n'), env={})
    with pytest.raises(ConfigError, match=r"binds\.0\.windows: Extra inputs are not permitted"):
        load_config(_write(tmp_path, head + "windows=5\n"), env={})


def test_links_base_url_is_an_http_url_without_query(tmp_path: Path) -> None:
    c = load_config(None, env={"HERALD_LINKS_BASE_URL": "https://s.example.com/ "})
    assert c.links.base_url == "https://s.example.com"
    for bad in ("s.example.com", "ftp://s.example.com", "https://", "https://s.example.com/?a=1"):
        with pytest.raises(ConfigError, match=r"links\.base_url"):
            load_config(None, env={"HERALD_LINKS_BASE_URL": bad})
    with pytest.raises(ConfigError, match=r"links\.ttl_days"):
        load_config(_write(tmp_path, "[links]\nttl_days = 0\n"), env={})
