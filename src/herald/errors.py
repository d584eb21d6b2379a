"""Every error herald raises on purpose.

One root, `HeraldError`, and a subclass per kind of bad input. Messages name what was wrong
(the character, the position, the field, the PDU), so a user can fix it without reading code.
Packages add their own subclasses here, next to their siblings, rather than defining errors
locally: callers catch by kind, not by module.
"""

from __future__ import annotations


class HeraldError(Exception):
    """Root of every error herald raises deliberately."""


# --- configuration --------------------------------------------------------------------------


class ConfigError(HeraldError):
    """The configuration file or an environment override is invalid."""


# --- text pipeline (herald.text) -------------------------------------------------------------


class TextError(HeraldError):
    """A text cannot be encoded, segmented or rendered as asked."""


class InvalidTextError(TextError):
    """The text holds characters that must never be sent (lone surrogates, NUL, controls)."""


class UnencodableError(TextError):
    """A character has no representation in the alphabet or table that was asked for."""


class TooManyPartsError(TextError):
    """The message needs more than 255 parts."""


class TextOptionError(TextError, ValueError):
    """An encoding option (concat method, national table, reference) is not an allowed value."""


class TemplateError(TextError):
    """A message template is malformed; `position` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


class MissingLabelError(TextError):
    """A recipient has no value for a label the template uses, and there is no fallback.

    `reason` ("missing_label:<label>") is what the caller records against the recipient
    before going on with the next one.
    """

    def __init__(self, label: str) -> None:
        super().__init__(f"no value for label {label!r} and no fallback for it")
        self.label = label
        self.reason = f"missing_label:{label}"


class InvalidLabelValueError(InvalidTextError):
    """A recipient's value for a label holds a character that must never be sent.

    `reason` is "invalid_label_value:<label>", recorded like a missing label.
    """

    def __init__(self, label: str, message: str) -> None:
        super().__init__(f"value of label {label!r}: {message}")
        self.label = label
        self.reason = f"invalid_label_value:{label}"


# --- numbers and senders (herald.numbers) ----------------------------------------------------


class NumberError(HeraldError):
    """A phone number is not usable; `reason` is a stable machine-readable code."""

    def __init__(self, number: str, reason: str, detail: str = "") -> None:
        text = f"{number!r}: {reason}"
        super().__init__(f"{text} ({detail})" if detail else text)
        self.number = number
        self.reason = reason


class SenderError(HeraldError):
    """A sender id breaks one of the sender rules; the message names the rule."""


# --- SMPP (herald.smpp) ----------------------------------------------------------------------


class SmppError(HeraldError):
    """Root of SMPP link errors."""


class LocalProtocolError(SmppError):
    """We were about to break the protocol (our bug, or a caller's): nothing was sent."""


class RemoteProtocolError(SmppError):
    """The peer sent something that breaks the protocol (malformed or illegal PDU).

    It carries what the session needs to answer and go on: `fatal` is True when the byte
    stream can no longer be framed (bad command_length): answer if you like, then close and
    reconnect. Otherwise the bad PDU was skipped and the stream is in sync. `command_id` and
    `sequence_number` are the offending PDU's, when readable; `reply_command_id` and
    `reply_status` are the answer it is owed (generic_nack or its own *_resp), or None when
    nothing may be answered (it was itself a response, or its header was unreadable).
    """

    def __init__(
        self,
        message: str,
        *,
        fatal: bool = False,
        command_id: int | None = None,
        sequence_number: int | None = None,
        reply_command_id: int | None = None,
        reply_status: int = 0,
    ) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.reply_command_id = reply_command_id
        self.reply_status = reply_status


class BindError(SmppError):
    """The SMSC refused the bind; `status` is the command_status it answered."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SessionClosedError(SmppError):
    """The session is closed or closing; the request was not sent."""


# --- store and engine ------------------------------------------------------------------------


class StoreError(HeraldError):
    """The database could not be reached, started or migrated."""


class StateError(HeraldError):
    """An object is not in a state that allows the requested change."""


class NotFoundError(HeraldError):
    """An object does not exist (or belongs to another account)."""


class ConflictError(HeraldError):
    """The object clashes with an existing one (e.g. a campaign name already used)."""


class InsufficientBalanceError(HeraldError):
    """A run needs more segments than the account's credit; nothing was sent."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"insufficient balance: the run needs {needed} segments, the account has {available}"
        )
        self.needed = needed
        self.available = available


class NoRecipientsError(HeraldError):
    """A campaign or run has nobody to send to (none given, or all invalid or blacklisted)."""


class RecipientFileError(HeraldError):
    """An uploaded recipient file cannot be read, or its column mapping does not fit it.

    `reason` is a stable code (empty_file, unknown_format, legacy_xls, encrypted_xlsx,
    corrupt_xlsx, no_sheet, bad_charset, malformed_csv, too_many_rows, missing_column,
    ambiguous_column, bad_mapping); `row` is the row to blame as a spreadsheet numbers it
    (the header is row 1), when there is one; `details` is what an API answer lists (the
    headers found, the columns missing).
    """

    def __init__(
        self, message: str, *, reason: str, row: int | None = None, details: object = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.row = row
        self.details = details


# --- the campaign service (herald.campaigns.service, contacts; answered by herald.api) --------


class RequestError(HeraldError):
    """A request to the campaign service breaks one of its rules.

    `code` is the stable code the HTTP API answers with (the table in herald.api.errors);
    `details` is what the caller needs to fix it: the numbers, row numbers, position or state.
    """

    def __init__(self, code: str, message: str, details: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


# --- per-recipient links (herald.campaigns.visits; answered by herald.api's link pages) ------


class LinkUnavailableError(HeraldError):
    """A short link that leads nowhere: no such code, or `expired` (its run ended more than
    `links.ttl_days` ago). Answered as a small page, not as JSON: a phone opened it."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired
