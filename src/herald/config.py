"""One validated configuration object: a TOML file, then `HERALD_...` environment overrides.

Every key has a documented default in `config/herald.toml`. Secrets (bind passwords, the DSN)
print as `**********` in reprs and logs: the DSN is a `SecretStr`, a bind's password is left
out of its repr and masked when the configuration is dumped.

Environment overrides: `HERALD_<SECTION>_<KEY>` for plain sections (`HERALD_API_PORT=8081`,
`HERALD_DATABASE_DSN=postgresql://...`), and `HERALD_BIND_<NAME>_<KEY>` for a bind named in the
file (`HERALD_BIND_CARRIER_A_PASSWORD=...`; the name upper-cased, `-` as `_`). `HERALD_DSN` is
a short alias of `HERALD_DATABASE_DSN`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from herald.errors import ConfigError
from herald.smpp.session_settings import SessionSettings, SettingsError
from herald.text.national import NationalLanguage
from herald.text.segment import ConcatMethod

TimeWindow = tuple[str, str]  # ("23:00", "08:00") in the destination's local time


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Section):
    dsn: SecretStr | None = None  # None: start the embedded PostgreSQL in state_dir
    pool_min: int = Field(2, ge=1)
    pool_max: int = Field(10, ge=1)
    # The daemon pings the database this often, and restarts an embedded server that died.
    check_interval: float = Field(1.0, gt=0)
    # Unreachable this long: /healthz fails; an embedded server that could not be restarted
    # makes herald exit with status 1 (a supervisor restarts it).
    unreachable_seconds: float = Field(30.0, gt=0)
    # At shutdown, how long the last flush is retried while the database is unreachable.
    stop_flush_seconds: float = Field(10.0, ge=0)


class ApiConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_recipients_per_request: int = Field(30_000, ge=1)
    # JSON bodies: 30,000 recipients with a name and a few labels fit; beyond it, 413
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # the whole multipart request of a recipient file upload (the file and its fields)
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024)


class SimulatorConfig(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(2775, ge=0, le=65535)
    personality: str = "happy"
    system_id: str = "herald"
    password: SecretStr = SecretStr("secret")
    receipt_delay_ms: tuple[float, float] = (50.0, 500.0)


# The [[binds]] keys that are the session's: every field of SessionSettings, with its default.
SESSION_KEYS = frozenset(f.name for f in fields(SessionSettings))


class BindConfig(_Section):
    """One `[[binds]]` entry, written flat in the file. The keys of the SMPP session itself
    (address, credentials, bind_type, window, rate, timers...) are SessionSettings' fields, with
    its defaults and checks, and are kept in `session`, which the daemon hands to the bind as it
    is; the fields declared here are what herald does around the session (routing names,
    concatenation, national tables, sender rules, validity)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    session: SessionSettings
    concat: ConcatMethod = "udh8"
    national: tuple[NationalLanguage, ...] = ()
    short_code_ton: int = Field(3, ge=0, le=6)
    short_code_npi: int = Field(0, ge=0, le=18)
    validity_period: str = ""  # "" = SMSC default; SMPP absolute or relative format

    @model_validator(mode="before")
    @classmethod
    def _gather_session_keys(cls, data: Any) -> Any:
        """The file's flat keys: the session's go to `session` (the bind's name too)."""
        if not isinstance(data, Mapping):
            return data
        own = {k: v for k, v in data.items() if k not in SESSION_KEYS or k == "name"}
        session = {k: v for k, v in data.items() if k in SESSION_KEYS}
        if session or "session" not in own:
            own["session"] = {**session, "name": data.get("name", "")}
        return own

    @model_validator(mode="after")
    def _one_name(self) -> BindConfig:
        if self.session.name != self.name:
            raise ValueError(f"session name {self.session.name!r} is not the bind's {self.name!r}")
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Flat, as in the file, the password masked like every SecretStr."""
        data = handler(self)
        session = data.pop("session")
        session["password"] = "**********" if self.session.password else ""
        return {**session, **data}


class RouteConfig(_Section):
    name: str
    prefixes: tuple[str, ...] = ()  # E.164 digits, without '+'
    countries: tuple[str, ...] = ()  # ISO 3166 alpha-2, e.g. "GR"
    senders: tuple[str, ...] = ()  # exact source addresses; empty = any
    binds: tuple[str, ...] = Field(min_length=1)


class DispatcherConfig(_Section):
    claim_batch: int = Field(500, ge=1)
    lease_seconds: float = Field(60.0, gt=0)
    poll_interval: float = Field(1.0, gt=0)
    unknown_policy: Literal["mark_unknown", "resend"] = "mark_unknown"
    max_attempts: int = Field(5, ge=1)
    retry_base: float = Field(5.0, gt=0)
    retry_max: float = Field(600.0, gt=0)
    flush_size: int = Field(1000, ge=1)
    flush_interval: float = Field(0.2, gt=0)
    # ...and this long after the first receipt: the carrier is waiting for its acknowledgement.
    # 0: as soon as the writer is free (receipts that come in meanwhile join the next flush).
    receipt_flush_interval: float = Field(0.0, ge=0)
    # PDU slots (one per part) this process leases at once; 0: the sum of its bound binds'
    # windows. More than the windows keeps the binds busy while results are being stored; it
    # is also what a crash can leave leased (marked unknown, or resent under `resend`).
    max_in_flight: int = Field(0, ge=0)
    # Fair share (docs/operations.md, fair share): the queues with due messages are read in
    # full this often (less often when a read is slow); a wake-up in between reads only the
    # runs started since. Resumed campaigns, retries coming due in a run that ran dry and
    # leases taken back are seen at the next full read.
    queue_refresh_interval: float = Field(1.0, gt=0)
    # A queue kept waiting this long by higher tiers (transactional, higher priority) gets a
    # message at its route's next claim all the same.
    starvation_limit: float = Field(10.0, gt=0)


class TrackerConfig(_Section):
    validity_hours: float = Field(48.0, gt=0)  # when no bind sets validity_period
    receipt_margin_hours: float = Field(2.0, ge=0)
    orphan_ttl_hours: float = Field(6.0, gt=0)
    sweep_interval: float = Field(10.0, gt=0)

    @property
    def receipt_window(self) -> float:
        """Seconds after its submission within which a part takes a receipt: validity plus
        margin, past which the sweep gives up on it."""
        return (self.validity_hours + self.receipt_margin_hours) * 3600


class CallbacksConfig(_Section):
    timeout: float = Field(5.0, gt=0)
    max_attempts: int = Field(10, ge=1)
    backoff_base: float = Field(2.0, gt=0)
    backoff_max: float = Field(900.0, gt=0)
    concurrency: int = Field(8, ge=1)
    # Callback destinations are refused when any address of the host is loopback, private,
    # link-local, multicast, reserved or unspecified, unless it lies in one of these networks
    # (CIDRs, e.g. ["10.0.0.0/8", "127.0.0.1/32"]). See herald/delivery/destinations.py.
    allow_private: tuple[IPvAnyNetwork, ...] = ()


class CampaignDefaults(_Section):
    quiet_hours: tuple[TimeWindow, ...] = (("23:00", "08:00"), ("14:00", "17:00"))
    default_region: str | None = None  # for national-format numbers
    opt_out_keywords: tuple[str, ...] = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")


class LinksConfig(_Section):
    """Per-recipient short links (docs/api.md, links)."""

    # Where /l/{code} and /o/{code} are reached from a phone: the API's own address when
    # unset. Its length is part of every message that places a link.
    base_url: str | None = None
    ttl_days: int = Field(90, ge=1, le=3650)  # links keep working this long after a run ends
    # Clicks are recorded off the redirect's path: buffered, written at most this often.
    flush_interval: float = Field(0.5, gt=0)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        scheme, sep, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not sep or not rest.split("/")[0]:
            raise ValueError(f"{value!r} is not an http(s) URL such as https://s.example.com")
        if any(ch in value for ch in "?#") or any(ch.isspace() for ch in value):
            raise ValueError(f"{value!r}: a base URL takes no query, fragment or spaces")
        return value


class Config(_Section):
    node: str = Field("", description="this process's name in leases; default host:pid")
    state_dir: Path = Path("state")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database: DatabaseConfig = DatabaseConfig()
    api: ApiConfig = ApiConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    binds: tuple[BindConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    dispatcher: DispatcherConfig = DispatcherConfig()
    tracker: TrackerConfig = TrackerConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    campaigns: CampaignDefaults = CampaignDefaults()
    links: LinksConfig = LinksConfig()

    @model_validator(mode="after")
    def _check_references(self) -> Config:
        names = [b.name for b in self.binds]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"bind names must be unique; repeated: {', '.join(dupes)}")
        by_name = {b.name: b for b in self.binds}
        for route in self.routes:
            unknown = [b for b in route.binds if b not in by_name]
            if unknown:
                raise ValueError(f"route {route.name!r} names unknown binds: {', '.join(unknown)}")
            # Encoding happens once, at expansion, before a bind is picked: every bind of a
            # route must therefore segment the same way.
            profiles = {(by_name[b].concat, by_name[b].national) for b in route.binds}
            if len(profiles) > 1:
                raise ValueError(
                    f"route {route.name!r}: its binds differ in concat/national settings; "
                    "all binds of a route must share them"
                )
        return self

    def receipt_group(self, name: str) -> str:
        """The key that ties a part to its receipts: the carrier account of the bind,
        `system_id@host:port`. An SMSC may hand a receipt to any bind of the account (a
        receiver beside a transmitter, or another herald process sharing the database), so
        the key must be the same for all of them."""
        s = self.bind(name).session
        return f"{s.system_id}@{s.host}:{s.port}"

    def bind(self, name: str) -> BindConfig:
        for b in self.binds:
            if b.name == name:
                return b
        raise ConfigError(f"no bind named {name!r}")


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read `path` (TOML; None means defaults only), apply `HERALD_...` overrides, validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    _apply_env(data, env)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None
    if path is not None and not config.state_dir.is_absolute():
        # A relative state_dir is relative to the working directory, like `make run` expects.
        config = config.model_copy(update={"state_dir": Path.cwd() / config.state_dir})
    return config


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        # A bind's session keys are written flat in the file: name them as written there.
        loc = [str(p) for p in err["loc"] if p != "session"]
        where = ".".join(loc) or "config"
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, SettingsError):
            lines += [f"{where}.{key}: {message}" for key, message in cause.problems]
        else:
            lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


_SECTIONS = {
    "database",
    "api",
    "simulator",
    "dispatcher",
    "tracker",
    "callbacks",
    "campaigns",
    "links",
}


# Read by the `herald campaign` client, not by the daemon: never configuration keys.
CLIENT_VARIABLES = frozenset({"HERALD_API_URL", "HERALD_API_KEY"})


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not key.startswith("HERALD_") or key in CLIENT_VARIABLES:
            continue
        rest = key[len("HERALD_") :].lower()
        if rest == "dsn":
            data.setdefault("database", {})["dsn"] = value
        elif rest in ("state_dir", "log_level", "node"):
            data[rest] = value.upper() if rest == "log_level" else value
        elif rest.startswith("bind_"):
            _apply_bind_override(data, rest[len("bind_") :], value, key)
        else:
            section, _, field = rest.partition("_")
            if section in _SECTIONS and field:
                data.setdefault(section, {})[field] = _parse_env_value(value, key)


def _apply_bind_override(data: dict[str, Any], rest: str, value: str, key: str) -> None:
    for bind in data.get("binds", []):
        prefix = str(bind.get("name", "")).lower().replace("-", "_") + "_"
        if rest.startswith(prefix) and len(rest) > len(prefix):
            bind[rest[len(prefix) :]] = _parse_env_value(value, key)
            return
    raise ConfigError(f"{key}: no bind in the config file matches this override")


def _parse_env_value(value: str, key: str) -> Any:
    """Environment values are strings; validation coerces numbers and booleans. Arrays are
    written as TOML arrays (`HERALD_BIND_A_NATIONAL='["tr","es"]'`)."""
    if value.lstrip().startswith("["):
        try:
            return tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"{key}: not a valid TOML array: {value!r}") from None
    return value
