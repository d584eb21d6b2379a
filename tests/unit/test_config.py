"""Configuration: the shipped file is valid, env overrides apply, errors name the bad key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from pydantic import SecretStr

from herald.config import BindConfig, Config, load_config
from herald.daemon import session_settings
from herald.errors import ConfigError
from herald.smpp.session_settings import SessionSettings

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "herald.toml"


def test_shipped_config_matches_the_documented_defaults() -> None:
    shipped = load_config(SHIPPED, env={})
    defaults = Config()
    # Every section except the demo bind/route/simulator equals the code defaults, so the file
    # documents the real defaults.
    for section in ("database", "api", "dispatcher", "tracker", "callbacks", "campaigns", "links"):
        assert getattr(shipped, section) == getattr(defaults, section), section
    assert shipped.simulator.enabled
    assert [b.name for b in shipped.binds] == ["simulator"]
    assert shipped.routes[0].binds == ("simulator",)


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
    assert c.binds[0].password.get_secret_value() == "0042"  # stays a string, leading zeros kept
    assert c.binds[0].national == ("tr", "es")
    assert c.dispatcher.unknown_policy == "resend"
    assert c.log_level == "DEBUG"


def test_secrets_never_appear_in_reprs() -> None:
    c = load_config(SHIPPED, env={"HERALD_DSN": "postgresql://u:hunter2@db/x"})
    text = repr(c) + str(c) + c.model_dump_json()
    assert "hunter2" not in text
    assert "secret" not in repr(c.binds[0])


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


def test_every_bind_setting_the_session_knows_reaches_it() -> None:
    # Each [[binds]] key that SessionSettings also has, set to a value unlike its default.
    bind = BindConfig(
        name="b",
        host="smsc.example",
        port=2776,
        system_id="sys",
        password=SecretStr("pw"),
        system_type="cmt",
        bind_type="tx",
        window=7,
        rate=33.0,
        burst=3,
        id_mode="submit_hex_dlr_dec",
        enquire_link_interval=12.0,
        response_timeout=4.0,
        reconnect_min=2.0,
        reconnect_max=9.0,
        temporary_statuses=(0x401,),
        max_pending_deliveries=25,
    )
    settings = session_settings(bind)
    defaults = SessionSettings(name="x", host="h", port=1, system_id="s", password="p")
    shared = {f.name for f in fields(SessionSettings)} & set(BindConfig.model_fields)
    assert "max_pending_deliveries" in shared
    for name in shared:
        value = getattr(bind, name)
        value = value.get_secret_value() if isinstance(value, SecretStr) else value
        assert getattr(settings, name) == value, name
        assert value != getattr(defaults, name), f"{name}: pick a value unlike the default"


def test_links_base_url_is_an_http_url_without_query(tmp_path: Path) -> None:
    c = load_config(None, env={"HERALD_LINKS_BASE_URL": "https://s.example.com/ "})
    assert c.links.base_url == "https://s.example.com"
    for bad in ("s.example.com", "ftp://s.example.com", "https://", "https://s.example.com/?a=1"):
        with pytest.raises(ConfigError, match=r"links\.base_url"):
            load_config(None, env={"HERALD_LINKS_BASE_URL": bad})
    with pytest.raises(ConfigError, match=r"links\.ttl_days"):
        load_config(_write(tmp_path, "[links]\nttl_days = 0\n"), env={})
