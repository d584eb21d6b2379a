"""Recipient files: the rows of an uploaded CSV or XLSX file as checked recipients.

A file has a header row, or not; a ``FileMapping`` names the phone column, optionally the name
column, and the label columns (custom fields for ``[~label]`` and ``%Label%`` placeholders).
Without a header row (``header=False``, or found so: the phone column, named by number or
letter, holds a phone number on the first row) that first row is data, columns are named by
number or letter only, and labels take their column's letter as name. Rows come
out one at a time, in constant memory apart from the set of numbers seen (file formats, text
encodings and row numbering: see herald.campaigns.recipient_sheets):

- ``RecipientRow``: row number, phone as written, phone as E.164, name, labels.
- ``BadRow``: row number, phone as written, a reason code and a detail for people. Reasons:
  ``invalid_format``, ``invalid_number``, ``not_mobile`` (herald.numbers.check_number),
  ``missing_phone`` (the phone cell is empty on a row that is not), ``duplicate`` (a number
  already seen on an earlier row, which is kept), ``too_many_columns`` (CSV: more non-empty
  cells than the header has columns, usually a delimiter inside an unquoted field, which
  shifts every column after it), ``bad_encoding`` (CSV: a cell the row needs holds bytes that
  are not text in the file's encoding).

A bad row never stops the good ones. A file that cannot be read at all, a mapping that does
not fit the header, or more than ``max_rows`` data rows raise RecipientFileError (the row limit
is hit while iterating, with ``row`` set).

Cells become text as a template inserts them: trimmed; XLSX numbers without a needless ``.0``
(a customer id 12345.0 is "12345", a phone 306948530920.0 is "306948530920"); dates in ISO
8601. Empty label cells are left out of ``labels``, so the template's fallback applies. Blank
rows are skipped without a report.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

from herald.campaigns.recipient_sheets import Sheet, cell_text, open_sheet
from herald.errors import NumberError, RecipientFileError
from herald.numbers import check_number, normalize_number
from herald.text.template import label_key

__all__ = [
    "ALL_OTHER_COLUMNS",
    "DEFAULT_MAX_ROWS",
    "BadRow",
    "FileMapping",
    "FileSummary",
    "RecipientFile",
    "RecipientRow",
    "open_recipient_file",
    "read_recipients",
    "summarize",
]

DEFAULT_MAX_ROWS = 1_000_000
ALL_OTHER_COLUMNS = "*"

ColumnRef = str | int  # header text (any case, trimmed), 1-based index, or letters ("C", "AB")

_LETTERS_RE = re.compile("[A-Za-z]{1,3}")
_ESCAPED_RE = re.compile("[\udc80-\udcff]")  # undecodable bytes kept by surrogateescape
_SCIENTIFIC_RE = re.compile(r"[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]+")


class RecipientRow(NamedTuple):
    """A good row: a number to send to, its name and labels."""

    row: int
    phone_raw: str
    phone: str  # E.164
    name: str | None
    labels: dict[str, str]


class BadRow(NamedTuple):
    """A row that cannot be sent to; `reason` is a stable code, `detail` is for people."""

    row: int
    phone_raw: str
    reason: str
    detail: str = ""


RowResult = RecipientRow | BadRow


@dataclass(frozen=True)
class FileMapping:
    """Which columns hold what. Columns are named by header text (matched after trimming,
    ignoring case), by 1-based index, or by spreadsheet letters ("C"; used only when no
    header has that text). `labels` is a list of columns or ``"*"``: every column other than
    phone and name that has a header. Label names are the header texts. `sheet` picks an XLSX
    worksheet by name or 1-based index (default: the first visible one). `header`: whether the
    first row names the columns; None decides it (see the module's docstring)."""

    phone: ColumnRef = "phone"
    name: ColumnRef | None = None
    labels: Sequence[ColumnRef] | str = ()
    sheet: str | int | None = None
    header: bool | None = None

    def __post_init__(self) -> None:
        refs = [("phone", self.phone)] + ([("name", self.name)] if self.name is not None else [])
        if isinstance(self.labels, str):
            if self.labels != ALL_OTHER_COLUMNS:
                raise _bad_mapping(
                    f"labels is {self.labels!r}: give a list of columns, or "
                    f"{ALL_OTHER_COLUMNS!r} for every other column"
                )
        else:
            refs += [("labels", ref) for ref in self.labels]
        for role, ref in refs:
            if isinstance(ref, bool) or not isinstance(ref, str | int):
                raise _bad_mapping(f"{role} column {ref!r}: name it by header text or number")
            if isinstance(ref, int) and ref < 1:
                raise _bad_mapping(f"{role} column {ref}: column numbers start at 1")
            if isinstance(ref, str) and not ref.strip():
                raise _bad_mapping(f"{role} column is an empty name")


@dataclass(frozen=True)
class Columns:
    """A mapping resolved against one header: 0-based sheet column indexes."""

    phone: int
    name: int | None
    labels: tuple[tuple[str, int], ...]  # (label name, index)


def resolve_columns(mapping: FileMapping, header: Sequence[str], header_row: int = 1) -> Columns:
    """Find the mapping's columns in `header`, or raise RecipientFileError naming every
    column not found (reason missing_column) and the headers there are."""
    folded: dict[str, list[int]] = {}
    for index, text in enumerate(header):
        if text:
            folded.setdefault(label_key(text), []).append(index)
    missing: list[ColumnRef] = []

    def find(ref: ColumnRef) -> int | None:
        if isinstance(ref, int):
            index = ref - 1
        else:
            found = folded.get(label_key(ref), [])
            if len(found) > 1:
                where = " and ".join(_letter(i) for i in found)
                raise RecipientFileError(
                    f"{ref!r} names more than one column ({where}): rename one in the file, "
                    "or name the column by letter or number",
                    reason="ambiguous_column",
                    row=header_row,
                    details={"column": ref, "columns": [_letter(i) for i in found]},
                )
            if found:
                return found[0]
            if not _LETTERS_RE.fullmatch(ref.strip()):
                missing.append(ref)
                return None
            index = _column_index(ref.strip())
        if index >= len(header):
            missing.append(ref)
            return None
        return index

    phone = find(mapping.phone)
    name = find(mapping.name) if mapping.name is not None else None
    if mapping.labels == ALL_OTHER_COLUMNS:
        taken = {phone, name}
        indexes = [i for i, text in enumerate(header) if text and i not in taken]
    else:
        indexes = [i for i in (find(ref) for ref in mapping.labels) if i is not None]
    if missing or phone is None:
        raise _missing(missing, header, header_row)
    labels: dict[str, int] = {}
    for index in indexes:
        text = header[index]
        if not text:
            raise RecipientFileError(
                f"column {_letter(index)} has no header: a label needs a name",
                reason="bad_mapping",
                row=header_row,
                details={"column": _letter(index)},
            )
        key = label_key(text)
        if key in labels and labels[key] != index:
            raise RecipientFileError(
                f"columns {_letter(labels[key])} and {_letter(index)} are both called "
                f"{text!r}: a label name must be unique",
                reason="ambiguous_column",
                row=header_row,
                details={"column": text, "columns": [_letter(labels[key]), _letter(index)]},
            )
        labels[key] = index
    return Columns(phone, name, tuple((header[i], i) for i in labels.values()))


class RecipientFile:
    """An opened recipient file: what was detected, the resolved columns, and the rows.

    Iterate it once; the rows are read as they are asked for. Use it as a context manager
    (or call ``close``) to free the workbook early when not reading to the end.
    """

    def __init__(
        self, sheet: Sheet, columns: Columns, rows: Generator[RowResult], *, has_header: bool = True
    ) -> None:
        self.format = sheet.format
        self.encoding = sheet.encoding
        self.delimiter = sheet.delimiter
        self.sheet_name = sheet.sheet_name
        self.engine = sheet.engine
        self.has_header = has_header  # False: the first row was read as data
        self.header_row = sheet.header_row if has_header else None
        self.headers = tuple(sheet.header) if has_header else ()
        self.columns = columns
        self.label_names = tuple(label for label, _ in columns.labels)
        self._sheet = sheet
        self._rows = rows

    def __iter__(self) -> Iterator[RowResult]:
        return self._rows

    def close(self) -> None:
        self._rows.close()
        self._sheet.close()

    def __enter__(self) -> RecipientFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_recipient_file(
    data: bytes | BinaryIO,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    mapping: FileMapping,
    default_region: str | None = None,
    mobile_only: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> RecipientFile:
    """Open `data` (bytes or a binary stream, read from where it stands), read its header and
    resolve `mapping` against it. Raises RecipientFileError before any row is read for a file
    that cannot be read or a mapping that does not fit, and ConfigError for an unknown
    `default_region`."""
    check_number("000", default_region=default_region)  # an unknown region raises now
    sheet = open_sheet(data, filename=filename, content_type=content_type, sheet=mapping.sheet)
    try:
        has_header, columns = _columns(mapping, sheet, default_region)
    except RecipientFileError as exc:
        sheet.close()
        if exc.reason == "missing_column" and mapping.header is not False:
            _hint_headerless(exc, sheet.header, default_region)
        raise
    if not has_header:  # the first row is data: read it before the rest
        first = (sheet.header_row, sheet.header[sheet.col_offset :])
        sheet.rows = itertools.chain([first], sheet.rows)
    rows = _rows(sheet, columns, default_region, mobile_only, max_rows)
    return RecipientFile(sheet, columns, rows, has_header=has_header)


def _columns(mapping: FileMapping, sheet: Sheet, region: str | None) -> tuple[bool, Columns]:
    """(whether the first row is a header, the mapping resolved). Without a header the columns
    are named by letter, so labels are called by their column's letter."""
    if mapping.header is False:
        return False, _by_letter(mapping, sheet, "header is false")
    if mapping.header is None and (phone := _first_row_phone(mapping, sheet.header, region)):
        why = f"row {sheet.header_row} holds the number {phone!r} in the phone column"
        return False, _by_letter(mapping, sheet, why)
    return True, resolve_columns(mapping, sheet.header, sheet.header_row)


def _by_letter(mapping: FileMapping, sheet: Sheet, why: str) -> Columns:
    letters = [_letter(i) for i in range(len(sheet.header))]
    try:
        return resolve_columns(mapping, letters, sheet.header_row)
    except RecipientFileError as exc:
        if exc.reason == "missing_column" and isinstance(exc.details, dict):
            missing = ", ".join(repr(ref) for ref in exc.details["missing"])
            exc.args = (
                f"the file has no header row ({why}), so its columns are named by number or "
                f"letter (A to {letters[-1]}): {missing} is not one",
            )
        raise


def _first_row_phone(mapping: FileMapping, header: Sequence[str], region: str | None) -> str:
    """The first row's phone cell when the phone column is named by number or letter (not by
    a header text) and that cell is a phone number, else "". No header names a column with a
    phone number, so that row is the first recipient (read as a header, it was lost)."""
    ref = mapping.phone
    if isinstance(ref, int):
        index = ref - 1
    elif _LETTERS_RE.fullmatch(ref.strip()) and not any(
        label_key(text) == label_key(ref) for text in header if text
    ):
        index = _column_index(ref.strip())
    else:
        return ""
    cell = header[index] if index < len(header) else ""
    return cell if cell and check_number(cell, default_region=region)[0] is not None else ""


def read_recipients(
    data: bytes | BinaryIO,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    mapping: FileMapping,
    default_region: str | None = None,
    mobile_only: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Iterator[RowResult]:
    """The rows of a recipient file, good and bad, in file order (see open_recipient_file)."""
    return iter(
        open_recipient_file(
            data,
            filename=filename,
            content_type=content_type,
            mapping=mapping,
            default_region=default_region,
            mobile_only=mobile_only,
            max_rows=max_rows,
        )
    )


def _rows(
    sheet: Sheet, columns: Columns, region: str | None, mobile_only: bool, max_rows: int
) -> Generator[RowResult]:
    offset = sheet.col_offset
    phone_at = columns.phone - offset
    name_at = -1 if columns.name is None else columns.name - offset
    labels = [(label, index - offset) for label, index in columns.labels]
    is_csv = sheet.format == "csv"
    width = len(sheet.header)
    seen: dict[int, int] = {}  # E.164 digits as an int (half the memory of the str) -> row
    count = 0
    try:
        for number, cells in sheet.rows:
            n = len(cells)
            raw = cell_text(cells[phone_at]) if 0 <= phone_at < n else ""
            if not raw and not any(cell_text(c) for c in cells):
                continue  # a blank row
            count += 1
            if count > max_rows:
                raise RecipientFileError(
                    f"the file has more than {max_rows} rows (row {number} is one too many): "
                    "split it into several files",
                    reason="too_many_rows",
                    row=number,
                    details={"max_rows": max_rows},
                )
            if not raw:
                yield BadRow(number, "", "missing_phone", "the phone cell is empty")
                continue
            if is_csv and n > width and any(cell_text(c) for c in cells[width:]):
                yield BadRow(
                    number,
                    raw,
                    "too_many_columns",
                    f"{n} cells but the header has {width} columns: quote a value that holds "
                    f"the delimiter {sheet.delimiter!r}",
                )
                continue
            name = cell_text(cells[name_at]) if 0 <= name_at < n else ""
            values = {}
            for label, index in labels:
                if index < n and (value := cell_text(cells[index])):
                    values[label] = value
            if is_csv and _undecodable(raw, name, values):
                yield BadRow(
                    number,
                    raw,
                    "bad_encoding",
                    f"the row holds bytes that are not {sheet.encoding} text",
                )
                continue
            checked = check_number(raw, default_region=region, mobile_only=mobile_only)
            if checked[0] is None:
                yield BadRow(number, raw, checked[1], _number_detail(raw, region, mobile_only))
                continue
            e164 = checked[0]
            first = seen.setdefault(int(e164[1:]), number)
            if first != number:
                yield BadRow(number, raw, "duplicate", f"{e164} is already on row {first}")
                continue
            yield RecipientRow(number, raw, e164, name or None, values)
    finally:
        sheet.close()


def _undecodable(raw: str, name: str, values: dict[str, str]) -> bool:
    texts = [raw, name, *values.values()] if values else (raw, name)
    return any(not t.isascii() and _ESCAPED_RE.search(t) for t in texts)


def _number_detail(raw: str, region: str | None, mobile_only: bool) -> str:
    if "\n" in raw or "\r" in raw:
        return "the phone cell holds a line break: is a quote left open on an earlier row?"
    if _SCIENTIFIC_RE.fullmatch(raw):
        return (
            f"{raw} is in scientific notation: a spreadsheet rounded the number; format the "
            "phone column as text and export the file again"
        )
    try:
        normalize_number(raw, default_region=region, mobile_only=mobile_only)
    except NumberError as exc:
        return str(exc)
    return ""  # pragma: no cover - check_number and normalize_number agree


# --- summary ----------------------------------------------------------------------------------


@dataclass
class FileSummary:
    """Counts of good and bad rows, per reason, and the first `max_bad` bad rows."""

    max_bad: int = 100
    good: int = 0
    bad: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    first_bad: list[BadRow] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.good + self.bad

    def add(self, result: RowResult) -> None:
        if isinstance(result, RecipientRow):
            self.good += 1
            return
        self.bad += 1
        self.reasons[result.reason] += 1
        if len(self.first_bad) < self.max_bad:
            self.first_bad.append(result)

    def good_rows(self, results: Iterable[RowResult]) -> Iterator[RecipientRow]:
        """Count every row of `results` and pass the good ones on (one pass, for streaming
        into storage)."""
        for result in results:
            self.add(result)
            if isinstance(result, RecipientRow):
                yield result

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "good": self.good,
            "bad": self.bad,
            "reasons": dict(self.reasons),
            "bad_rows": [r._asdict() for r in self.first_bad],
            "bad_rows_truncated": self.bad > len(self.first_bad),
        }


def summarize(results: Iterable[RowResult], *, max_bad: int = 100) -> FileSummary:
    """Read `results` to the end and count them."""
    summary = FileSummary(max_bad=max_bad)
    for result in results:
        summary.add(result)
    return summary


# --- helpers ----------------------------------------------------------------------------------


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - 64
    return index - 1


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _bad_mapping(message: str) -> RecipientFileError:
    return RecipientFileError(message, reason="bad_mapping")


def _missing(
    missing: list[ColumnRef], header: Sequence[str], header_row: int
) -> RecipientFileError:
    found = [text for text in header if text]
    names = ", ".join(repr(ref) for ref in missing)
    return RecipientFileError(
        f"column{'s' if len(missing) > 1 else ''} {names} not found in the header (row "
        f"{header_row}), which has: " + ", ".join(repr(text) for text in found),
        reason="missing_column",
        row=header_row,
        details={"missing": missing, "headers": found},
    )


def _hint_headerless(exc: RecipientFileError, header: Sequence[str], region: str | None) -> None:
    """A first row holding a phone number is data: say the file needs a header row."""
    for text in header:
        if text and check_number(text, default_region=region)[0] is not None:
            exc.args = (
                f"{exc.args[0]}. Row {exc.row} looks like data (it holds the number {text!r}): "
                "the file needs a header row naming its columns",
            )
            return
