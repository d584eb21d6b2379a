"""The rows of an uploaded recipient file, CSV or XLSX, read as a stream.

This module knows file formats only: what the bytes are, how they decode, where the header is.
What the columns mean (phone, name, labels) is herald.campaigns.recipient_files' job.

Format
    Decided by content, never by name: a zip (``PK\\x03\\x04``) holding ``xl/workbook.xml`` is
    an XLSX workbook; text is CSV. The name and content type only sharpen error messages
    (a file named .xlsx that is not a zip), give a declared charset, and say "tab-separated"
    (``.tsv``, ``text/tab-separated-values``). Browsers send ``application/vnd.ms-excel`` for
    .csv files on Windows, so a content type is never trusted to name the format.

CSV text encoding
    A BOM decides (UTF-8, UTF-16 LE/BE: Excel's "Unicode text" export). Else a declared charset
    (``text/csv; charset=...``), where latin-1 and ASCII labels are read as windows-1252, as
    browsers do (WHATWG Encoding). Else UTF-8, unless the first 64 KiB are not valid UTF-8 and
    hold no valid multi-byte UTF-8 sequence at all: then the file was saved by Excel on Windows
    in its ANSI code page and is read as windows-1252. A file that is mostly UTF-8 with a few
    bad bytes stays UTF-8 (re-reading it as cp1252 would garble every accented name), and the
    rows holding bad bytes are reported as ``bad_encoding``: undecodable bytes are kept as lone
    surrogates (``surrogateescape``), which valid text never holds.

CSV delimiter
    ``,`` ``;`` or tab: csv.Sniffer on the first lines, restricted to those three; if it cannot
    tell, the one most frequent in the header line; a one-column file gets ``,``. Excel's
    ``sep=;`` first line is honoured and is not a row. Quoting is Excel's (``"``, doubled).

Row numbers
    As a spreadsheet shows them: the first line is row 1, a quoted field with line breaks is
    one row, blank lines count (and are skipped). The header is the first non-blank row.

XLSX
    The first visible worksheet unless one is named. python-calamine reads it about 11 times
    faster than openpyxl (100k rows x 5 columns: 0.46 s against 5.1 s), but it loads the whole
    sheet before the first row: about 450 bytes per row of 5 columns (1M rows: +450 MiB RSS,
    6.6 s). So a worksheet whose XML is larger than ``in_memory_max`` bytes (default 32 MiB,
    about 150k-300k rows of 5 columns) is read by openpyxl in read-only mode instead: a stream,
    though its XML parser keeps an emptied element per row, about 80 bytes (1M rows: +80 MiB,
    84 s).
    Cells come as Python values (str, int, float, bool, date, datetime, time, timedelta);
    an empty cell is ``""`` or None. Legacy .xls and password-protected workbooks (both OLE
    compound files) are refused with their own reasons.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, BinaryIO, Literal

from herald.errors import RecipientFileError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

__all__ = ["Sheet", "cell_text", "open_sheet"]

SAMPLE = 64 * 1024  # bytes read ahead to decide the format, encoding and delimiter
SNIFF_CHARS = 16 * 1024  # Sniffer is slow on long samples; the first lines tell enough
XLSX_IN_MEMORY_MAX = 32 << 20

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # stream name in an encrypted OOXML
_MAGIC = {  # other binary files people upload by mistake, for a better message
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"PK\x05\x06": "an empty zip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"{\\rtf": "an RTF document",
}
_XLSX_NAMES = (".xlsx", ".xlsm")
_XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
_LATIN1_LABELS = {"latin_1", "ascii", "iso8859_1"}  # normalised codec names read as cp1252
_ESCAPED_RE = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode
_MULTIBYTE_RE = re.compile("[\u0080-\udc7f\udd00-\U0010ffff]")  # really decoded non-ASCII
_SEP_LINE_RE = re.compile(r"sep=(.)\r?\n?")

Cell = object  # str for CSV; str, int, float, bool, date, ... or None for XLSX
Row = tuple[int, Sequence[Cell]]  # (row number as a spreadsheet shows it, cells)


@dataclass
class Sheet:
    """An opened file: its header row and an iterator over the rows below it.

    ``rows`` yields ``(row number, cells)``; the cell of spreadsheet column ``c`` (1-based) is
    ``cells[c - 1 - col_offset]`` (calamine starts rows at the first used column). ``header``
    is the header row's text, trimmed, indexed from column A. Iterate ``rows`` once.
    """

    format: Literal["csv", "xlsx"]
    header_row: int
    header: list[str]
    rows: Iterator[Row]
    col_offset: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    sheet_name: str | None = None
    engine: str | None = None
    closer: Callable[[], None] | None = field(default=None, repr=False)

    def close(self) -> None:
        """Free the workbook or text stream; safe to call more than once."""
        closer, self.closer = self.closer, None
        if closer is not None:
            closer()


def open_sheet(
    data: bytes | BinaryIO,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    sheet: str | int | None = None,
    in_memory_max: int = XLSX_IN_MEMORY_MAX,
) -> Sheet:
    """Detect the format of `data`, read up to its header row, return the rest as a stream.

    Raises RecipientFileError (``reason``: empty_file, unknown_format, legacy_xls,
    encrypted_xlsx, corrupt_xlsx, no_sheet, bad_charset) for a file that cannot be read.
    """
    stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    head = _read_head(stream)
    if not head:
        raise RecipientFileError("the file is empty", reason="empty_file")
    name = (filename or "").lower()
    mime, charset = _parse_content_type(content_type)
    if head.startswith(_ZIP):
        return _open_xlsx(_Rejoined(head, stream), sheet, in_memory_max)
    if name.endswith(_XLSX_NAMES) or mime in _XLSX_TYPES:
        raise RecipientFileError(
            f"{filename or 'the file'} is declared as XLSX but is not one (an XLSX workbook "
            "is a zip archive): the upload may be damaged, or the file renamed",
            reason="corrupt_xlsx",
        )
    if head.startswith(_OLE):
        if _ENCRYPTED_PACKAGE in head or _ENCRYPTED_PACKAGE in stream.read(1 << 20):
            raise RecipientFileError(
                "the workbook is password-protected: remove the password in Excel "
                "(File > Info > Protect Workbook) and upload it again",
                reason="encrypted_xlsx",
            )
        raise RecipientFileError(
            "legacy Excel 97-2003 (.xls) workbooks are not supported: save it as .xlsx or CSV",
            reason="legacy_xls",
        )
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise RecipientFileError(
                f"the file is {what}, not CSV or XLSX", reason="unknown_format"
            )
    tab = name.endswith(".tsv") or mime == "text/tab-separated-values"
    return _open_csv(_Rejoined(head, stream), head, charset, tab)


# --- CSV --------------------------------------------------------------------------------------


def _open_csv(raw: _Rejoined, head: bytes, charset: str | None, tab: bool) -> Sheet:
    encoding = _choose_encoding(head, charset)
    if b"\x00" in head and not encoding.startswith("utf-16"):
        raise RecipientFileError(
            "the file is binary (it holds NUL bytes), not CSV or XLSX", reason="unknown_format"
        )
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
    sample = decoder.decode(head)[:SNIFF_CHARS]
    text = io.TextIOWrapper(
        io.BufferedReader(raw), encoding=encoding, errors="surrogateescape", newline=""
    )
    delimiter = "\t" if tab else None
    sep = _SEP_LINE_RE.match(sample)
    if sep is not None:
        delimiter = sep.group(1)
        text.readline()
        sample = sample[sep.end() :]
    if delimiter is None:
        delimiter = _sniff_delimiter(sample)
    reader = csv.reader(text, delimiter=delimiter)
    rows = _csv_rows(reader)
    for number, cells in rows:
        if any(cell.strip() for cell in cells):
            header = [cell.strip() for cell in cells]
            return Sheet(
                "csv",
                number,
                header,
                rows,
                encoding=encoding,
                delimiter=delimiter,
                closer=text.close,
            )
    raise RecipientFileError("the file holds no rows, not even a header", reason="empty_file")


def _csv_rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells
    except csv.Error as exc:
        raise RecipientFileError(
            f"row {number + 1} cannot be read as CSV: {exc}",
            reason="malformed_csv",
            row=number + 1,
        ) from None


def _choose_encoding(head: bytes, charset: str | None) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if charset:
        try:
            name = codecs.lookup(charset).name
        except LookupError:
            raise RecipientFileError(
                f"unknown charset {charset!r} in the content type", reason="bad_charset"
            ) from None
        if name.replace("-", "_") in _LATIN1_LABELS:
            return "cp1252"
        return "utf-8-sig" if name == "utf-8" else name
    decoded = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(head)
    if _ESCAPED_RE.search(decoded) is None or _MULTIBYTE_RE.search(decoded) is not None:
        return "utf-8"
    return "cp1252"


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()[:-1] or sample.splitlines()  # the last one may be cut short
    text = "\n".join(lines[:50])
    try:
        return csv.Sniffer().sniff(text, delimiters=",;\t").delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in ",;\t"}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


def _parse_content_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return mime.strip().lower(), charset


class _Rejoined(io.RawIOBase):
    """The caller's stream with its first bytes (already read) put back in front.

    Closing it leaves the caller's stream open: that stream is theirs.
    """

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest
        self._pos = 0
        self._start = _position(rest)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer)
        if self._pos < len(self._head):
            chunk = self._head[self._pos : self._pos + len(view)]
        else:
            chunk = self._rest.read(len(view)) or b""
        view[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def seekable_copy(self) -> BinaryIO:
        """The whole content as a seekable stream (a zip needs to seek), copied only when the
        caller's stream cannot seek back to where it started."""
        if self._start == len(self._head) and self._pos == 0:
            self._rest.seek(0)
            return self._rest
        return io.BytesIO(self._head + self._rest.read())


def _read_head(stream: BinaryIO) -> bytes:
    """The first SAMPLE bytes, or all of a shorter stream (a raw stream may return less)."""
    chunks, size = [], 0
    while size < SAMPLE and (chunk := stream.read(SAMPLE - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _position(stream: BinaryIO) -> int | None:
    """Where a seekable stream stands, or None if it cannot seek."""
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, ValueError, OSError):
        return None


# --- XLSX -------------------------------------------------------------------------------------


def _open_xlsx(raw: _Rejoined, sheet: str | int | None, in_memory_max: int) -> Sheet:
    content = raw.seekable_copy()
    start = content.tell()
    try:
        with zipfile.ZipFile(content) as archive:
            names = {info.filename: info.file_size for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise RecipientFileError(
            f"the file starts like an XLSX workbook (a zip archive) but is damaged: {exc} "
            "(an interrupted upload?)",
            reason="corrupt_xlsx",
        ) from None
    content.seek(start)
    if "xl/workbook.xml" not in names:
        what = (
            "an OpenDocument file (.ods)"
            if "content.xml" in names
            else "a Word document"
            if "word/document.xml" in names
            else "a zip archive"
        )
        raise RecipientFileError(
            f"the file is {what}, not an XLSX workbook: save it as .xlsx or CSV",
            reason="unknown_format",
        )
    sheet_bytes = max(
        (size for n, size in names.items() if n.startswith("xl/worksheets/")), default=0
    )
    if sheet_bytes > in_memory_max:
        return _open_openpyxl(content, sheet)
    return _open_calamine(content, sheet)


def _corrupt(exc: Exception, row: int | None = None) -> RecipientFileError:
    where = f" at row {row}" if row else ""
    return RecipientFileError(
        f"the XLSX workbook cannot be read{where}: {exc}", reason="corrupt_xlsx", row=row
    )


def _pick_sheet(names: list[str], visible: list[bool], sheet: str | int | None) -> int:
    if sheet is None:
        for index, shown in enumerate(visible):
            if shown:
                return index
        raise RecipientFileError("the workbook has no visible worksheet", reason="no_sheet")
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 1 <= sheet <= len(names):
            return sheet - 1
    else:
        folded = [n.strip().casefold() for n in names]
        key = str(sheet).strip().casefold()
        if key in folded:
            return folded.index(key)
    raise RecipientFileError(
        f"no worksheet {sheet!r} in the workbook; its worksheets: "
        + ", ".join(repr(n) for n in names),
        reason="no_sheet",
        details={"sheet": sheet, "sheets": names},
    )


def _open_calamine(content: BinaryIO, sheet: str | int | None) -> Sheet:
    import python_calamine
    from python_calamine import CalamineError, SheetTypeEnum, SheetVisibleEnum

    try:
        book = python_calamine.CalamineWorkbook.from_filelike(content)
        meta = book.sheets_metadata
        visible = [
            m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet for m in meta
        ]
        index = _pick_sheet([m.name for m in meta], visible, sheet)
        data = book.get_sheet_by_index(index)
    except CalamineError as exc:
        raise _corrupt(exc) from None
    name = meta[index].name
    start = data.start
    if start is None:  # iter_rows() cannot start on an empty sheet
        raise RecipientFileError(f"worksheet {name!r} is empty", reason="empty_file")
    rows = _calamine_rows(data.iter_rows(), start[0])
    return _xlsx_sheet(rows, name, "calamine", start[1], book.close)


def _calamine_rows(it: Iterator[Sequence[Cell]], first_row: int) -> Iterator[Row]:
    # python-calamine 0.9 yields the blank rows above the first used one, so the n-th row
    # yielded is sheet row n. Should a later version skip them, the first row yielded is
    # not blank and the used area's first row tells its number.
    number = 0
    for cells in it:
        if number == 0 and first_row and any(c != "" for c in cells):
            number = first_row
        number += 1
        yield number, cells


def _open_openpyxl(content: BinaryIO, sheet: str | int | None) -> Sheet:
    import openpyxl

    try:
        book = openpyxl.load_workbook(content, read_only=True, data_only=True)
        sheets = book.worksheets
        visible = [ws.sheet_state == "visible" for ws in sheets]
        index = _pick_sheet([ws.title for ws in sheets], visible, sheet)
        ws = sheets[index]
        ws.reset_dimensions()  # trust the cells, not the declared dimension
    except RecipientFileError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise _corrupt(exc) from None
    return _xlsx_sheet(_openpyxl_rows(ws), ws.title, "openpyxl", 0, book.close)


def _openpyxl_rows(ws: ReadOnlyWorksheet) -> Iterator[Row]:
    number = 0
    try:
        # types-openpyxl gives ReadOnlyWorksheet Worksheet's iter_rows, self type and all
        rows = ws.iter_rows(values_only=True)  # type: ignore[misc]
        for number, cells in enumerate(rows, start=1):
            yield number, cells
    except Exception as exc:  # a damaged part shows only when reached
        raise _corrupt(exc, number + 1) from None


def _xlsx_sheet(
    rows: Iterator[Row], name: str, engine: str, col_offset: int, close: Callable[[], None]
) -> Sheet:
    for number, cells in rows:
        header = [cell_text(c) for c in cells]
        if any(header):
            header = [""] * col_offset + header
            return Sheet(
                "xlsx",
                number,
                header,
                rows,
                col_offset=col_offset,
                sheet_name=name,
                engine=engine,
                closer=close,
            )
    close()
    raise RecipientFileError(f"worksheet {name!r} is empty", reason="empty_file")


def cell_text(value: Cell) -> str:
    """A cell as the text a template inserts: trimmed; numbers without a needless ``.0``
    (XLSX stores 12345 as 12345.0); dates as ISO 8601 (a midnight datetime as its date, as
    openpyxl cannot tell a date cell from a datetime one); booleans as Excel shows them."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        if not (value.hour or value.minute or value.second or value.microsecond):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip()
