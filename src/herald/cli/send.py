"""`herald send`: one message through one bind, to test a carrier link from the terminal.

The text goes through the same pipeline as campaigns (GSM-7 or UCS-2, segmentation, flash),
the sender and number through the same rules; every part is one submit_sm on one Session.
One JSON line per part is printed to stdout once the part is settled: after its
submit_sm_resp, or with `wait_receipt` after its final receipt (matched by canonical message
id, so a receipt that overtakes its submit_sm_resp still counts) or the end of the wait.
Progress and errors go to stderr. The exit status is 0 when every part was accepted (and,
when waiting, delivered), 1 otherwise; the error names the SMPP status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from herald.errors import BindError, HeraldError, NumberError, SenderError, TextError
from herald.numbers import Sender, normalize_number, parse_sender
from herald.smpp.message_ids import IdMode
from herald.smpp.pdu import Pdu
from herald.smpp.receipts import Receipt, is_receipt, parse_receipt
from herald.smpp.session import Session, SessionSettings, describe_status
from herald.smpp.session_settings import BindType
from herald.smpp.submit import SubmitOutcome, SubmitResult
from herald.text import EncodedMessage, encode_message


class SendOptionError(HeraldError, ValueError):
    """An option of `herald send` is not usable; the message names it."""


@dataclass(frozen=True)
class SendRequest:
    host: str
    port: int
    system_id: str
    password: str
    sender: str
    to: str
    text: str
    bind: BindType = "trx"
    system_type: str = ""
    flash: bool = False
    wait_receipt: float | None = None  # seconds to wait for the receipts; None: don't
    id_mode: str = "as_is"
    timeout: float = 10.0  # to connect and bind, and for each response


def parse_smsc(value: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:2775` for IPv6) -> (host, port), or SendOptionError."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SendOptionError(f"--smsc {value!r}: expected HOST:PORT, e.g. smsc.example.com:2775")
    return host, int(port)


class _Receipts:
    """Receipts by canonical id; whoever waits for one is woken when it (or a newer) comes."""

    def __init__(self, id_mode: str) -> None:
        self.id_mode = id_mode
        self.by_id: dict[str, Receipt] = {}
        self.changed = asyncio.Event()

    async def on_deliver(self, pdu: Pdu) -> int:
        if is_receipt(pdu.integer("esm_class")):
            receipt = parse_receipt(pdu)
            if receipt is not None:
                self.by_id[receipt.canonical_id(self.id_mode)] = receipt
                self.changed.set()
        return 0  # nothing to keep beyond this process: acknowledge

    async def final(self, canonical_id: str) -> Receipt:
        while True:
            receipt = self.by_id.get(canonical_id)
            if receipt is not None and receipt.final:
                return receipt
            self.changed.clear()
            await self.changed.wait()


def _settings(request: SendRequest) -> SessionSettings:
    try:
        return SessionSettings(
            name="send",
            host=request.host,
            port=request.port,
            system_id=request.system_id,
            password=request.password,
            system_type=request.system_type,
            bind_type=request.bind,
            window=10,
            rate=1000.0,
            burst=255,
            response_timeout=request.timeout,
            bind_timeout=request.timeout,
            connect_timeout=request.timeout,
            reconnect_min=0.5,
            reconnect_max=2.0,
            id_mode=request.id_mode,
        )
    except ValueError as exc:
        raise SendOptionError(str(exc).replace("bind 'send': ", "")) from None


def _line(
    part: int, parts: int, result: SubmitResult, receipt: Receipt | None, waited: bool
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "part": part,
        "parts": parts,
        "outcome": result.outcome.value,
        "message_id": result.message_id or None,
        "status": result.status_name or None,
        "command_status": f"0x{result.command_status:08X}",
    }
    if waited:
        line["receipt"] = (
            None
            if receipt is None
            else {
                "state": receipt.state,
                "final": receipt.final,
                "error": receipt.error,
                "message_state": receipt.message_state,
            }
        )
    return line


def _failure(part: int, parts: int, result: SubmitResult) -> str:
    where = f"part {part} of {parts}"
    if result.outcome is SubmitOutcome.UNKNOWN:
        return f"{where}: no submit_sm_resp within the response timeout (outcome unknown)"
    if result.outcome is SubmitOutcome.NOT_SENT:
        return f"{where}: not sent (the bind went down)"
    return f"{where} {result.outcome.value}: {describe_status(result.command_status)}"


def check(request: SendRequest) -> tuple[Sender, str, EncodedMessage]:
    """Every option checked before any connection: (sender, destination, encoded message).
    Raises SendOptionError naming the option and the problem."""
    if request.bind not in ("trx", "tx"):
        raise SendOptionError(f"--bind {request.bind!r}: expected trx or tx")
    if request.wait_receipt is not None:
        if request.wait_receipt <= 0:
            raise SendOptionError(f"--wait-receipt {request.wait_receipt}: must be positive")
        if request.bind != "trx":
            raise SendOptionError(
                "--wait-receipt needs --bind trx: a transmitter bind never receives deliver_sm"
            )
    try:
        IdMode(request.id_mode)
    except ValueError:
        raise SendOptionError(
            f"--id-mode {request.id_mode!r}: one of {', '.join(IdMode)}"
        ) from None
    if not request.text:
        raise SendOptionError("TEXT is empty")
    _settings(request)
    try:
        sender = parse_sender(request.sender)
    except SenderError as exc:
        raise SendOptionError(f"--from: {exc}") from None
    try:
        destination = normalize_number(request.to).lstrip("+")
    except NumberError as exc:
        raise SendOptionError(
            f"--to: {exc}; give it in international form, e.g. +447911123456"
        ) from None
    try:
        return sender, destination, encode_message(request.text, flash=request.flash)
    except TextError as exc:
        raise SendOptionError(f"TEXT: {exc}") from None


async def send(
    request: SendRequest,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    session_factory: Callable[..., Session] = Session,
) -> int:
    """Send the message; print the JSON lines; return the exit status (0 or 1)."""
    sender, destination, message = check(request)
    parts = len(message.parts)

    receipts = _Receipts(request.id_mode)
    waiting = request.wait_receipt is not None
    session = session_factory(
        _settings(request), on_deliver=receipts.on_deliver if waiting else None
    )

    def say(text: str) -> None:
        print(text, file=err, flush=True)

    await session.start()
    try:
        try:
            await session.wait_bound(request.timeout)
        except BindError as exc:
            say(f"error: {exc}")
            return 1
        except TimeoutError:
            why = session.last_error or "no answer"
            say(
                f"error: not bound to {request.host}:{request.port} within "
                f"{request.timeout:g}s: {why}"
            )
            return 1
        say(
            f"bound ({request.bind}) to {request.host}:{request.port} as {request.system_id}; "
            f"{parts} part(s), {message.encoding}, "
            f"data_coding 0x{message.data_coding:02X}"
        )
        futures = [
            session.submit(
                source_addr=sender.address,
                source_ton=sender.ton,
                source_npi=sender.npi,
                destination_addr=destination,
                dest_ton=1,
                dest_npi=1,
                esm_class=message.esm_class,
                data_coding=message.data_coding,
                short_message=part.short_message,
                tlvs=part.tlvs,
                registered_delivery=1 if waiting else 0,
            )
            for part in message.parts
        ]
        results = list(await asyncio.gather(*futures))
        failures = [
            _failure(i, parts, r)
            for i, r in enumerate(results, 1)
            if r.outcome is not SubmitOutcome.ACCEPTED
        ]
        found: dict[int, Receipt] = {}
        if request.wait_receipt is not None and not failures:
            say(f"waiting up to {request.wait_receipt:g}s for {parts} receipt(s)")
            await _wait_receipts(receipts, results, found, request.wait_receipt)
        for i, result in enumerate(results, 1):
            receipt = found.get(i)
            if waiting and result.outcome is SubmitOutcome.ACCEPTED and receipt is None:
                latest = receipts.by_id.get(result.canonical_id)  # an intermediate one, maybe
                receipt = latest
                failures.append(
                    f"part {i} of {parts}: no final receipt within {request.wait_receipt:g}s"
                    + (f" (last state {latest.state})" if latest else "")
                )
            elif receipt is not None and not receipt.success:
                failures.append(
                    f"part {i} of {parts}: receipt {receipt.state}"
                    + (f" err:{receipt.error}" if receipt.error else "")
                )
            print(json.dumps(_line(i, parts, result, receipt, waiting)), file=out, flush=True)
        for failure in failures:
            say(f"error: {failure}")
        return 1 if failures else 0
    finally:
        await session.close(drain_timeout=request.timeout)


async def _wait_receipts(
    receipts: _Receipts, results: list[SubmitResult], found: dict[int, Receipt], seconds: float
) -> None:
    async def one(index: int, canonical_id: str) -> None:
        found[index] = await receipts.final(canonical_id)

    tasks = [asyncio.ensure_future(one(i, r.canonical_id)) for i, r in enumerate(results, 1)]
    try:
        await asyncio.wait(tasks, timeout=seconds)
    finally:
        for task in tasks:
            task.cancel()


def run(request: SendRequest, *, loop: str = "auto") -> int:
    """The command's body: a fresh event loop (uvloop when available), quiet logging."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("herald.smpp.session").setLevel(logging.CRITICAL)  # we report errors
    check(request)
    try:
        if loop != "asyncio":
            import uvloop

            return uvloop.run(send(request))
    except ImportError:
        pass
    return asyncio.run(send(request))


__all__ = ["SendOptionError", "SendRequest", "check", "parse_smsc", "run", "send"]
