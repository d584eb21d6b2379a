"""One validated configuration object: a TOML file, then `HERALD_...` environment overrides.

Every key has a documented default in `config/herald.toml`. Secrets (bind passwords, the DSN)
print as `**********` in reprs and logs: the DSN is a `SecretStr`, a bind's password is left
out of its repr and masked when the configuration is dumped.

Environment overrides: `HERALD_<SECTION>_<KEY>` for plain sections (`HERALD_API_PORT=8081`,
`HERALD_DATABASE_DSN=postgresql://...`), `HERALD_BIND_<NAME>_<KEY>` for a bind named in the
file (`HERALD_BIND_CARRIER_A_PASSWORD=...`; the name upper-cased, `-` as `_`; the longest bind
name that fits wins) and `HERALD_CARRIER_ACCOUNT_<NAME>_<KEY>` likewise for a carrier account.
`HERALD_DSN` is a short alias of `HERALD_DATABASE_DSN`. A bad value from the environment is
reported under the variable's name; a `HERALD_` variable that sets nothing is a warning
(`Config.warnings`), not an error.
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
    PrivateAttr,
    SecretStr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from herald.errors import ConfigError
from herald.smpp.session.tls import client_context
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
    # A request repeated with its Idempotency-Key within this time is answered as the first
    # time; the keys are swept after it.
    idempotency_hours: float = Field(24.0, gt=0)
    # XML bodies (create, run): elements at most, and how deep, on top of max_body_bytes
    max_xml_elements: int = Field(250_000, ge=100)
    max_xml_depth: int = Field(32, ge=4, le=256)
    # Serve the API over HTTPS with this certificate chain and key (PEM files); both or
    # neither. Usually a load balancer or reverse proxy terminates TLS instead.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together: give both or neither")
        return self


class UiConfig(_Section):
    """The web console at /ui, served with the API (docs/console.md)."""

    enabled: bool = True
    # A session lasts this long from sign-in, then the console asks for the key again.
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # Signs the session cookies. Unset: a random key kept in state_dir/ui-session.key, shared
    # by the processes on one host; processes on several hosts need the same value here.
    session_key: SecretStr | None = Field(None, min_length=16)
    # Mark cookies Secure even on plain HTTP (behind a TLS-terminating proxy that does not
    # say so); they are Secure anyway on an https:// request.
    secure_cookies: bool = False
    # How often a campaign page and the operations page refresh their numbers, seconds.
    refresh_seconds: float = Field(2.0, ge=0.5, le=60)


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
    # The carrier account this bind logs in to: binds of one account, in every herald process
    # on the database, share its rate and its number of binds ([[carrier_accounts]]).
    # Default: the bind's name.
    account: str = Field("", pattern=r"^[A-Za-z0-9_-]{0,32}$")
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
        if not own.get("account"):
            own["account"] = data.get("name", "")
        session = {k: v for k, v in data.items() if k in SESSION_KEYS}
        if session or "session" not in own:
            own["session"] = {**session, "name": data.get("name", "")}
        return own

    @model_validator(mode="after")
    def _one_name(self) -> BindConfig:
        if self.session.name != self.name:
            raise ValueError(f"session name {self.session.name!r} is not the bind's {self.name!r}")
        client_context(self.session)  # a TLS file that cannot be read is named now
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Flat, as in the file, the password masked like every SecretStr."""
        data = handler(self)
        session = data.pop("session")
        session["password"] = "**********" if self.session.password else ""
        return {**session, **data}


# The keys a [[binds]] table may have: the session's and herald's own around it.
BIND_KEYS = SESSION_KEYS | (frozenset(BindConfig.model_fields) - {"session"})


class CarrierAccountConfig(_Section):
    """What a carrier granted one account (a system_id): a rate and a number of binds, for
    every herald process on the database together (docs/operations.md, several processes)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    rate: float = Field(gt=0)  # submit_sm per second, all binds of all processes together
    burst: int = Field(0, ge=0)  # token bucket depth shared the same way; 0: its binds' sum
    max_binds: int = Field(0, ge=0)  # binds open at once; 0: no limit


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


class RetentionConfig(_Section):
    # Messages and parts of batches finished this many days ago are deleted (the batches
    # keep their counters); 0 keeps them for ever.
    messages_days: int = Field(90, ge=0)
    # Delivered and dead callbacks this many days old are deleted; 0 keeps them for ever.
    # Pending ones never are.
    callbacks_days: int = Field(30, ge=0)
    interval: float = Field(3600.0, gt=0)  # seconds between sweeps
    chunk: int = Field(5000, ge=1, le=100_000)  # messages (with their parts) per transaction


class LoggingConfig(_Section):
    format: Literal["text", "json"] = "text"
    requests: bool = True  # one line per API request (method, path, status, duration, ids)


class MetricsConfig(_Section):
    # A port of its own for /metrics (and the health routes), apart from the API; None: on
    # the API's port. 0: any free port.
    port: int | None = Field(None, ge=0, le=65535)
    host: str = "127.0.0.1"
    # Seconds between reads of the backlog (queued and deferred messages, the oldest due
    # message's age) for herald_backlog_messages and herald_oldest_due_seconds.
    backlog_interval: float = Field(15.0, gt=0)


class NodesConfig(_Section):
    # Every process writes a heartbeat row this often; carrier accounts' rates and binds are
    # shared out among the processes whose heartbeat is younger than `timeout`.
    heartbeat_interval: float = Field(1.0, gt=0)
    timeout: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _timeout_spans_heartbeats(self) -> NodesConfig:
        if self.timeout < 3 * self.heartbeat_interval:
            raise ValueError(
                f"timeout {self.timeout:g} must be at least three heartbeat_interval "
                f"({3 * self.heartbeat_interval:g})"
            )
        return self


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


class InboundConfig(_Section):
    """Mobile-originated messages (replies): keywords, automatic replies, concatenation."""

    # A reply that is one of these (trimmed, any case) takes the number off the blacklist of
    # the accounts owning the sender, where its own opt-out (campaigns.opt_out_keywords) had
    # put it; never where the account put it.
    opt_in_keywords: tuple[str, ...] = ("START", "UNSTOP")
    # keyword -> the text sent back from the sender the reply was sent to (opt-out and opt-in
    # keywords included); the blacklist does not stop a reply.
    auto_replies: dict[str, str] = Field(default_factory=dict)
    # The parts of a concatenated reply are kept this long for the rest to come; then what came
    # is stored as the message, with the count of missing parts.
    parts_ttl_seconds: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _keywords_apart(self) -> InboundConfig:
        for keyword, text in self.auto_replies.items():
            if not keyword.strip() or not text.strip():
                raise ValueError("auto_replies: a keyword and its reply cannot be empty")
        return self


class Config(_Section):
    node: str = Field("", description="this process's name in leases; default host:pid")
    state_dir: Path = Path("state")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    logging: LoggingConfig = LoggingConfig()
    database: DatabaseConfig = DatabaseConfig()
    api: ApiConfig = ApiConfig()
    metrics: MetricsConfig = MetricsConfig()
    ui: UiConfig = UiConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    binds: tuple[BindConfig, ...] = ()
    carrier_accounts: tuple[CarrierAccountConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    dispatcher: DispatcherConfig = DispatcherConfig()
    tracker: TrackerConfig = TrackerConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    campaigns: CampaignDefaults = CampaignDefaults()
    links: LinksConfig = LinksConfig()
    inbound: InboundConfig = InboundConfig()
    retention: RetentionConfig = RetentionConfig()
    nodes: NodesConfig = NodesConfig()
    # What loading noticed and did not refuse (HERALD_ variables that set nothing): the
    # daemon logs them once logging is set up.
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._warnings

    @model_validator(mode="after")
    def _check_references(self) -> Config:
        opt_out = {k.strip().casefold() for k in self.campaigns.opt_out_keywords}
        both = sorted(k for k in self.inbound.opt_in_keywords if k.strip().casefold() in opt_out)
        if both:
            raise ValueError(
                f"inbound.opt_in_keywords and campaigns.opt_out_keywords share {', '.join(both)}"
            )
        names = [b.name for b in self.binds]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"bind names must be unique; repeated: {', '.join(dupes)}")
        accounts = [a.name for a in self.carrier_accounts]
        dupes = sorted({n for n in accounts if accounts.count(n) > 1})
        if dupes:
            raise ValueError(f"carrier account names must be unique; repeated: {', '.join(dupes)}")
        used = {b.account for b in self.binds}
        unused = [a for a in accounts if a not in used]
        if unused:
            raise ValueError(
                f"carrier_accounts {', '.join(unused)}: no bind names it as its account"
            )
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

    def carrier_account(self, name: str) -> CarrierAccountConfig:
        """Carrier account `name` as declared, or as its binds in this file imply: the rates
        and bursts of those that send (not receivers) added up, no limit on binds."""
        binds = [b.session for b in self.binds if b.account == name]
        if not binds:
            raise ConfigError(f"no bind uses the carrier account {name!r}")
        senders = [b for b in binds if b.bind_type != "rx"] or binds
        burst = sum(b.burst for b in senders)
        for account in self.carrier_accounts:
            if account.name == name:
                return account if account.burst else account.model_copy(update={"burst": burst})
        return CarrierAccountConfig(name=name, rate=sum(b.rate for b in senders), burst=burst)

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
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path}: cannot read it: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    overrides = _Overrides(data)
    overrides.apply(env)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, overrides.variables)) from None
    if path is not None and not config.state_dir.is_absolute():
        # A relative state_dir is relative to the working directory, like `make run` expects.
        config = config.model_copy(update={"state_dir": Path.cwd() / config.state_dir})
    config._warnings = tuple(overrides.warnings)
    return config


def _describe(exc: ValidationError, source: str, variables: Mapping[tuple[str, ...], str]) -> str:
    """Every problem, each under the key as written in the file, or under the environment
    variable that set it (`HERALD_API_PORT (api.port): ...`)."""
    from_file: list[str] = []
    from_env: list[str] = []
    for err in exc.errors():
        # A bind's session keys are written flat in the file: name them as written there.
        loc = tuple(str(p) for p in err["loc"] if p != "session")
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, SettingsError):
            problems = [((*loc, key), message) for key, message in cause.problems]
        else:
            problems = [(loc, err["msg"])]
        for where, message in problems:
            path = ".".join(where) or "config"
            variable = variables.get(where)
            if variable is None:
                from_file.append(f"{path}: {message}")
            else:
                from_env.append(f"{variable} ({path}): {message}")
    described = []
    if from_file:
        described.append(f"{source}: " + "; ".join(from_file))
    described += from_env
    return "; ".join(described)


_SECTIONS: dict[str, type[BaseModel]] = {
    name: Config.model_fields[name].annotation  # type: ignore[misc]  # a section's model class
    for name in (
        "database",
        "api",
        "metrics",
        "ui",
        "simulator",
        "dispatcher",
        "tracker",
        "callbacks",
        "campaigns",
        "links",
        "inbound",
        "retention",
        "logging",
        "nodes",
    )
}
_TOP_LEVEL = ("state_dir", "log_level", "node")


# Read by the `herald campaign` client, `herald simulate mo` and the test suite, not by the
# daemon: never configuration keys, and no warning about them.
CLIENT_VARIABLES = frozenset(
    {
        "HERALD_URL",
        "HERALD_KEY",
        "HERALD_API_URL",
        "HERALD_API_KEY",
        "HERALD_SIMULATOR_CONTROL",
        "HERALD_TEST_DSN",
    }
)


class _Overrides:
    """`HERALD_` variables applied to the file's data, remembering which variable set which
    key (errors name it) and which variables set nothing (warnings name them)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.variables: dict[tuple[str, ...], str] = {}
        self.warnings: list[str] = []

    def apply(self, env: Mapping[str, str]) -> None:
        for key in sorted(env):
            if key.startswith("HERALD_") and key not in CLIENT_VARIABLES:
                self._apply(key, env[key])

    def _set(self, target: dict[str, Any], where: tuple[str, ...], value: Any, key: str) -> None:
        target[where[-1]] = value
        self.variables[where] = key

    def _apply(self, key: str, value: str) -> None:
        rest = key[len("HERALD_") :].lower()
        data = self.data
        if rest == "dsn":
            self._set(data.setdefault("database", {}), ("database", "dsn"), value, key)
        elif rest in _TOP_LEVEL:
            self._set(data, (rest,), value.upper() if rest == "log_level" else value, key)
        elif rest.startswith("bind_"):
            self._listed(key, value, "binds", rest[len("bind_") :], BIND_KEYS)
        elif rest.startswith("carrier_account_"):
            keys = frozenset(CarrierAccountConfig.model_fields)
            self._listed(key, value, "carrier_accounts", rest[len("carrier_account_") :], keys)
        else:
            section, _, field = rest.partition("_")
            model = _SECTIONS.get(section)
            if model is None or field not in model.model_fields:
                self.warnings.append(
                    f"{key} is not a herald setting (no [{section}] key {field!r}): ignored"
                    if model is not None
                    else f"{key} is not a herald setting: ignored"
                )
                return
            target = data.setdefault(section, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{key}: [{section}] in the config file is not a table")
            self._set(target, (section, field), _parse_env_value(value, key), key)

    def _listed(self, key: str, value: str, table: str, rest: str, keys: frozenset[str]) -> None:
        """`HERALD_BIND_<NAME>_<KEY>`: the entry of `table` whose name is the longest that
        fits, so `CARRIER_A_RX_PASSWORD` reaches `carrier-a-rx` even when `carrier-a` exists."""
        entries = self.data.get(table, [])
        best: tuple[int, int] | None = None  # (length of the name, index)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            prefix = str(entry.get("name", "")).lower().replace("-", "_") + "_"
            fits = rest.startswith(prefix) and rest[len(prefix) :] in keys
            if fits and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
        if best is None:
            what = "bind" if table == "binds" else "carrier account"
            raise ConfigError(
                f"{key}: no {what} in the config file matches this override "
                f"(HERALD_{'BIND' if table == 'binds' else 'CARRIER_ACCOUNT'}_<NAME>_<KEY>, "
                f"the name upper-cased with - as _, and a {what} key)"
            )
        length, index = best
        field = rest[length:]
        self._set(entries[index], (table, str(index), field), _parse_env_value(value, key), key)


def _parse_env_value(value: str, key: str) -> Any:
    """Environment values are strings; validation coerces numbers and booleans. Arrays are
    written as TOML arrays (`HERALD_BIND_A_NATIONAL='["tr","es"]'`)."""
    if value.lstrip().startswith("["):
        try:
            return tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"{key}: not a valid TOML array: {value!r}") from None
    return value
