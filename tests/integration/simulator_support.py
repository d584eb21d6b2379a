"""A minimal raw ESME for driving the simulator in tests: the sans-I/O Connection over an
asyncio stream, nothing else (no session logic to hide what the simulator does).

Every event is logged in wire order (`log`); deliver_sm and unbind are answered unless told
otherwise; waiting is on an asyncio.Condition, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from herald.errors import RemoteProtocolError
from herald.smpp import CommandId, Connection, Pdu, Response, Role, StrayResponse, Violation
from herald.smpp.codec import SubmitSmTemplate
from herald.text import encode_message

C = CommandId
BINDS = {"tx": C.BIND_TRANSMITTER, "rx": C.BIND_RECEIVER, "trx": C.BIND_TRANSCEIVER}


class RawEsme:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = Connection(Role.ESME)
        self.log: list[Any] = []  # events in wire order: Response, Pdu, Violation, ...
        self.fatal: RemoteProtocolError | None = None
        self.eof = False
        self.auto_ack = True
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, address: tuple[str, int]) -> RawEsme:
        reader, writer = await asyncio.open_connection(*address)
        return cls(reader, writer)

    # --- reading -----------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self.conn.receive_data(data)
                try:
                    for event in self.conn.events():
                        self._handle(event)
                except RemoteProtocolError as error:  # fatal: the stream cannot be framed
                    self.fatal = error
                    break
                finally:
                    await self._notify()
        except ConnectionError:
            pass
        self.eof = True
        await self._notify()

    def _handle(self, event: Any) -> None:
        self.log.append(event)
        if isinstance(event, Pdu):
            if event.command_id == C.UNBIND or (event.command_id == C.DELIVER_SM and self.auto_ack):
                self.send(event.reply())
        elif isinstance(event, Violation) and event.reply is not None:
            self.send(event.reply)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Wait until predicate() is truthy (checked after every chunk read); its value."""
        async with asyncio.timeout(within), self._changed:
            while not (value := predicate()):
                if self.eof and not predicate():
                    raise AssertionError(f"connection ended; log: {self.log}")
                await self._changed.wait()
            return value

    # --- views of the log --------------------------------------------------------------------

    def responses(self) -> dict[int, Pdu]:
        """Responses to our requests, by sequence_number."""
        return {e.pdu.sequence_number: e.pdu for e in self.log if isinstance(e, Response)}

    def delivered(self) -> list[Pdu]:
        return [e for e in self.log if isinstance(e, Pdu) and e.command_id == C.DELIVER_SM]

    def violations(self) -> list[Violation]:
        return [e for e in self.log if isinstance(e, Violation)]

    def strays(self) -> list[StrayResponse]:
        return [e for e in self.log if isinstance(e, StrayResponse)]

    async def response(self, seq: int, within: float = 5.0) -> Pdu:
        return await self.until(lambda: self.responses().get(seq), within)

    async def deliveries(self, n: int, within: float = 5.0) -> list[Pdu]:
        return await self.until(lambda: (d := self.delivered()) and len(d) >= n and d, within)

    async def closed(self, within: float = 5.0) -> None:
        await self.until(lambda: self.eof, within)

    # --- writing -----------------------------------------------------------------------------

    def send(self, pdu: Pdu, context: Any = None) -> int:
        self.writer.write(self.conn.send(pdu, context))
        return pdu.sequence_number

    def write_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def bind(
        self, kind: str = "trx", system_id: str = "herald", password: str = "secret"
    ) -> Pdu:
        seq = self.send(Pdu(BINDS[kind], system_id=system_id, password=password))
        return await self.response(seq)

    def submit(
        self,
        short_message: bytes = b"hello",
        destination: str = "447700900123",
        *,
        source: str = "Brand",
        esm_class: int = 0,
        data_coding: int = 0,
        registered_delivery: int = 1,
        tlvs: dict[int, Any] | None = None,
    ) -> int:
        return self.send(
            Pdu(
                C.SUBMIT_SM,
                source_addr_ton=5,
                source_addr=source,
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=destination,
                esm_class=esm_class,
                data_coding=data_coding,
                registered_delivery=registered_delivery,
                short_message=short_message,
                tlvs=tlvs,
            )
        )

    def submit_text(
        self,
        text: str,
        destination: str = "447700900123",
        *,
        concat: str = "udh8",
        reference: int = 7,
        registered_delivery: int = 1,
        national: tuple[str, ...] = (),
    ) -> list[int]:
        """Encode `text` with herald's text pipeline, one submit_sm per part; the seqs."""
        message = encode_message(text, concat=concat, reference=reference, national=national)
        template = SubmitSmTemplate(
            source_addr="Brand",
            source_addr_ton=5,
            dest_addr_ton=1,
            dest_addr_npi=1,
            registered_delivery=registered_delivery,
        )
        seqs = []
        for part in message.parts:
            seq, data = self.conn.send_submit_sm(
                template,
                destination,
                part.short_message,
                part.tlvs,
                esm_class=message.esm_class,
                data_coding=message.data_coding,
            )
            self.writer.write(data)
            seqs.append(seq)
        return seqs

    async def close(self) -> None:
        self._task.cancel()
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
