"""Message ids as carriers write them: hex or decimal, either case, zero-padded or not, and
possibly in another base in the receipt text than in submit_sm_resp (docs/protocol.md
§5.5, Nexmo's habit). One counter per simulator, so ids are unique across its binds, unless
`id_space` makes it wrap (a short counter: ids come back while older messages' are known)."""

from __future__ import annotations

from herald.simulator.settings import SimulatorSettings


def format_id(number: int, base: str, upper: bool, width: int) -> str:
    text = f"{number:x}" if base == "hex" else str(number)
    if upper:
        text = text.upper()
    return text.zfill(width) if width else text


class MessageIds:
    __slots__ = ("_end", "_next", "_receipt", "_start", "_submit")

    def __init__(self, settings: SimulatorSettings, start: int | None = None) -> None:
        self._next = settings.id_start if start is None else start
        self.configure(settings)

    def configure(self, settings: SimulatorSettings) -> None:
        self._start = settings.id_start
        self._end = None if settings.id_space is None else settings.id_start + settings.id_space
        upper = settings.id_case == "upper"
        self._submit = (settings.id_format, upper, settings.id_width)
        if settings.receipt_id_format == "same":
            self._receipt: tuple[str, bool, int] | None = None
        else:
            width = settings.receipt_id_width
            self._receipt = (settings.receipt_id_format, upper, width)

    def next_number(self) -> int:
        number = self._next
        if self._end is not None and not self._start <= number < self._end:
            number = self._start  # wrapped (or the space changed at run time)
        self._next = number + 1
        return number

    def submit_id(self, number: int) -> str:
        """The id in submit_sm_resp (and in the receipted_message_id TLV)."""
        base, upper, width = self._submit
        if base == "hex" and not upper and not width:  # the common case, inline
            return f"{number:x}"
        return format_id(number, base, upper, width)

    def receipt_text_id(self, number: int, submit_id: str) -> str:
        """The id in the receipt text's `id:` field."""
        if self._receipt is None:
            return submit_id
        return format_id(number, *self._receipt)
