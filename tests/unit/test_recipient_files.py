"""Recipient files (herald.campaigns.recipient_files, recipient_sheets): CSV and XLSX parsing,
column mapping, bad rows with their row numbers, file-level errors, summary.

Files are written in the test with the csv module and openpyxl; row numbers are as a
spreadsheet shows them (header = row 1).
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from collections.abc import Iterable
from typing import Any, BinaryIO, cast

import openpyxl
import pytest

from herald.campaigns.recipient_files import (
    ALL_OTHER_COLUMNS,
    BadRow,
    FileMapping,
    FileSummary,
    RecipientRow,
    RowResult,
    open_recipient_file,
    read_recipients,
    summarize,
)
from herald.campaigns.recipient_sheets import cell_text, open_sheet
from herald.errors import ConfigError, RecipientFileError

GR1, GR2, GR3 = "+306912345678", "+306912345679", "+306912345670"
GB = "+447400123456"
GB_LANDLINE = "+442079460000"


def make_csv(rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def make_xlsx(rows: list[list[Any]], *, title: str = "Sheet1", **extra_sheets) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for name, (state, sheet_rows) in extra_sheets.items():
        other = book.create_sheet(name, 0)
        other.sheet_state = state
        for row in sheet_rows:
            other.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def rows_of(data: bytes | BinaryIO, mapping: FileMapping | None = None, **kw) -> list:
    return list(read_recipients(data, mapping=mapping or FileMapping(), **kw))


def recipients(rows: Iterable[RowResult]) -> list[RecipientRow]:
    """`rows`, every one a RecipientRow (a BadRow fails the test)."""
    got = []
    for r in rows:
        assert isinstance(r, RecipientRow), r
        got.append(r)
    return got


def error_of(data: bytes, mapping: FileMapping | None = None, **kw) -> RecipientFileError:
    with pytest.raises(RecipientFileError) as info:
        rows_of(data, mapping, **kw)
    return info.value


# --- CSV ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters_are_detected(delimiter: str) -> None:
    data = make_csv(
        [
            ["Phone", "Name", "City", "Amount"],
            [GR1, "Doe, John", "Athens", "12,50"],
            [GR2, "Roe; Jane", "Patra", "3,00"],
            [GR3, "Poe", "Larisa", "1"],
        ],
        delimiter=delimiter,
    )
    f = open_recipient_file(data, mapping=FileMapping(name="name", labels=["City", "Amount"]))
    assert (f.format, f.delimiter, f.encoding) == ("csv", delimiter, "utf-8")
    rows = list(f)
    assert rows == [
        RecipientRow(2, GR1, GR1, "Doe, John", {"City": "Athens", "Amount": "12,50"}),
        RecipientRow(3, GR2, GR2, "Roe; Jane", {"City": "Patra", "Amount": "3,00"}),
        RecipientRow(4, GR3, GR3, "Poe", {"City": "Larisa", "Amount": "1"}),
    ]


def test_semicolon_file_with_decimal_commas_and_no_quotes() -> None:
    data = b"phone;name;amount\n+306912345678;Ann;12,50\n+306912345679;Bob;3,00\n"
    f = open_recipient_file(data, mapping=FileMapping(labels=ALL_OTHER_COLUMNS))
    assert f.delimiter == ";"
    assert [r.labels for r in recipients(f)] == [
        {"name": "Ann", "amount": "12,50"},
        {"name": "Bob", "amount": "3,00"},
    ]


def test_single_column_file() -> None:
    rows = rows_of(b"phone\n+306912345678\n+306912345679\n")
    assert [r.phone for r in rows] == [GR1, GR2]


def test_tsv_by_name_and_excel_sep_line() -> None:
    data = b"phone\tname\n+306912345678\tA, B; C\n"
    f = open_recipient_file(data, filename="list.tsv", mapping=FileMapping(name="name"))
    assert f.delimiter == "\t"
    assert [r.name for r in recipients(f)] == ["A, B; C"]
    # Excel's "sep=" hint line is not a row: the header is row 1 after it.
    data = b"sep=|\r\nphone|name\r\n+306912345678|Ann\r\n"
    f = open_recipient_file(data, mapping=FileMapping(name="name"))
    assert f.delimiter == "|" and f.header_row == 1
    assert [(r.row, r.name) for r in recipients(f)] == [(2, "Ann")]


def test_utf8_bom_and_mixed_case_headers() -> None:
    data = "\ufeff  PHONE ;Full Name;First Name\n+306912345678;Μαρία Π.;Μαρία\n".encode()
    mapping = FileMapping(phone="Phone", name=" full name ", labels=["first name"])
    f = open_recipient_file(data, mapping=mapping)
    assert f.encoding == "utf-8-sig"
    assert f.headers == ("PHONE", "Full Name", "First Name")
    assert list(f) == [RecipientRow(2, GR1, GR1, "Μαρία Π.", {"First Name": "Μαρία"})]


def test_utf16_with_bom_as_excel_unicode_text() -> None:
    data = make_csv([["phone", "name"], [GR1, "Zoë"]], delimiter="\t", encoding="utf-16")
    f = open_recipient_file(data, mapping=FileMapping(name="name"))
    assert (f.encoding, f.delimiter) == ("utf-16", "\t")
    assert [r.name for r in recipients(f)] == ["Zoë"]


def test_quoted_newlines_count_as_one_row() -> None:
    data = make_csv(
        [["phone", "note"], [GR1, "line one\nline two"], [GR2, "a\r\nb\r\nc"], ["bad", "x"]]
    )
    rows = rows_of(data, FileMapping(labels=["note"]))
    assert [(r.row, type(r).__name__) for r in rows] == [
        (2, "RecipientRow"),
        (3, "RecipientRow"),
        (4, "BadRow"),
    ]
    assert rows[0].labels == {"note": "line one\nline two"}
    assert rows[1].labels == {"note": "a\r\nb\r\nc"}


def test_cp1252_when_clearly_not_utf8() -> None:
    data = "phone,name\n+306912345678,José\n+306912345679,Œuvre €5\n".encode("cp1252")
    f = open_recipient_file(data, mapping=FileMapping(name="name"))
    assert f.encoding == "cp1252"
    assert [r.name for r in recipients(f)] == ["José", "Œuvre €5"]


def test_declared_charset_wins_and_latin1_reads_as_cp1252() -> None:
    data = "phone,name\n+306912345678,€uro\n".encode("cp1252")
    f = open_recipient_file(
        data, content_type="text/csv; charset=ISO-8859-1", mapping=FileMapping(name="name")
    )
    assert f.encoding == "cp1252"
    assert [r.name for r in recipients(f)] == ["€uro"]
    data = "phone,name\n+306912345678,Μαρία\n".encode("iso8859-7")
    f = open_recipient_file(
        data, content_type='text/csv; charset="iso-8859-7"', mapping=FileMapping(name="name")
    )
    assert [r.name for r in recipients(f)] == ["Μαρία"]
    err = error_of(data, content_type="text/csv; charset=klingon")
    assert err.reason == "bad_charset" and "klingon" in str(err)


def test_mostly_utf8_file_reports_rows_with_bad_bytes() -> None:
    data = (
        "phone,name,notes\n+306912345678,Zoë,\n".encode()
        + b"+306912345679,Jos\xe9,\n"  # a cp1252 byte in a UTF-8 file
        + b"+306912345670,Ann,\xff\n"  # bad bytes in a cell that is not used: fine
    )
    rows = rows_of(data, FileMapping(name="name"))
    assert rows[0] == RecipientRow(2, GR1, GR1, "Zoë", {})
    assert rows[1].row == 3 and rows[1].reason == "bad_encoding"
    assert "utf-8" in rows[1].detail
    assert isinstance(rows[2], RecipientRow) and rows[2].row == 4


def test_bad_rows_have_spreadsheet_row_numbers() -> None:
    data = make_csv(
        [
            ["phone", "name", "city"],  # 1
            [GR1, "ok", "A"],  # 2
            ["", "", ""],  # 3 blank: skipped, still counted
            ["+30 691", "short", ""],  # 4 invalid_number
            ["69x12345678", "letters", ""],  # 5 invalid_format
            ["", "no phone", "B"],  # 6 missing_phone
            [GB_LANDLINE, "landline", ""],  # 7 not_mobile (mobile_only)
            ["0030 691 234 5678", "dup", ""],  # 8 duplicate of row 2
            [GB, "Smith", "John", "extra"],  # 9 too_many_columns
            [GR2, "ok too", "", "", ""],  # 10 trailing empty cells are fine
            ["3.06912E+11", "excel", ""],
        ]  # 11 scientific notation
    )
    rows = rows_of(data, FileMapping(name="name", labels=["city"]), mobile_only=True)
    got = [(r.row, r.reason if isinstance(r, BadRow) else "ok") for r in rows]
    assert got == [
        (2, "ok"),
        (4, "invalid_number"),
        (5, "invalid_format"),
        (6, "missing_phone"),
        (7, "not_mobile"),
        (8, "duplicate"),
        (9, "too_many_columns"),
        (10, "ok"),
        (11, "invalid_format"),
    ]
    by_row = {r.row: r for r in rows}
    assert by_row[8].detail == f"{GR1} is already on row 2"
    assert by_row[8].phone_raw == "0030 691 234 5678"
    assert "scientific notation" in by_row[11].detail
    assert "69x12345678" in by_row[5].detail and "'x'" in by_row[5].detail
    assert "delimiter ','" in by_row[9].detail


def test_default_region_reads_national_numbers() -> None:
    data = make_csv([["phone"], ["07400 123456"], ["691 234 5678"]])
    rows = rows_of(data, default_region="GB")
    assert [r.phone if isinstance(r, RecipientRow) else r.reason for r in rows] == [
        GB,
        "invalid_number",
    ]
    with pytest.raises(ConfigError):
        rows_of(data, default_region="XX")


def test_unclosed_quote_is_named_in_the_detail() -> None:
    data = b'phone,name\n+306912345678,"Ann\n+306912345679,Bob\n'
    rows = rows_of(data, FileMapping(name="name"))
    assert rows[0].name == "Ann\n+306912345679,Bob"  # the quote swallowed the rest
    data = b'phone,name\n"+306912345678,Ann\n+306912345679,Bob\n'
    (row,) = rows_of(data, FileMapping(name="name"))
    assert row.reason == "invalid_format" and "quote left open" in row.detail


# --- mapping ------------------------------------------------------------------------------------


def test_missing_columns_are_all_named_with_the_headers_found() -> None:
    data = make_csv([["Mobile", "Name", "City"], [GR1, "a", "b"]])
    err = error_of(data, FileMapping(phone="phone", name="Name", labels=["Town", "City", "Zip"]))
    assert err.reason == "missing_column" and err.row == 1
    assert err.details == {
        "missing": ["phone", "Town", "Zip"],
        "headers": ["Mobile", "Name", "City"],
    }
    assert "'phone', 'Town', 'Zip' not found" in str(err)
    assert "'Mobile', 'Name', 'City'" in str(err)


def test_file_without_a_header_row_gets_a_hint() -> None:
    data = make_csv([[GR1, "Ann"], [GR2, "Bob"]])
    err = error_of(data)
    assert err.reason == "missing_column"
    assert "looks like data" in str(err) and "header row" in str(err)


def test_a_headerless_file_keeps_its_first_number() -> None:
    # Three numbers, no header, the phone column named by number: three recipients (the first
    # row was read as a header and its number silently lost).
    data = make_csv([[GR1], [GR2], [GR3]])
    f = open_recipient_file(data, mapping=FileMapping(phone=1))
    assert (f.has_header, f.header_row) == (False, None)
    assert [r.phone for r in recipients(f)] == [GR1, GR2, GR3]
    # By letter too, with the name and labels by letter (labels are called by their letter).
    data = make_xlsx([[GR1, "Ann", "Athens"], [GR2, "Bob", "Patras"]])
    f = open_recipient_file(data, mapping=FileMapping(phone="A", name="b", labels="*"))
    assert f.label_names == ("C",)
    assert list(f) == [
        RecipientRow(1, GR1, GR1, "Ann", {"C": "Athens"}),
        RecipientRow(2, GR2, GR2, "Bob", {"C": "Patras"}),
    ]
    # A column named by header text cannot be found in a file without one.
    err = error_of(make_csv([[GR1, "Ann"], [GR2, "Bob"]]), FileMapping(phone=1, name="name"))
    assert err.reason == "missing_column"
    assert "no header row (row 1 holds the number" in str(err) and "'name'" in str(err)


def test_header_says_whether_the_first_row_names_the_columns() -> None:
    # header=False: the first row is data whatever it holds (here an invalid number).
    rows = rows_of(make_csv([["12"], [GR2]]), FileMapping(phone=1, header=False))
    assert [type(r).__name__ for r in rows] == ["BadRow", "RecipientRow"]
    assert (rows[0].row, rows[0].reason) == (1, "invalid_format")
    # header=True: the first row is a header even when it holds a number.
    (row,) = rows_of(make_csv([[GR1], [GR2]]), FileMapping(phone=1, header=True))
    assert row.phone == GR2
    # Found by its text, a column is a header's, number or not.
    f = open_recipient_file(make_csv([["phone"], [GR1]]), mapping=FileMapping(phone=1))
    assert f.has_header and [r.phone for r in recipients(f)] == [GR1]


def test_columns_by_index_and_letter() -> None:
    data = make_csv([["Mobile", "Who", "City", "Extra"], [GR1, "Ann", "Athens", "x"]])
    (row,) = rows_of(data, FileMapping(phone=1, name="B", labels=["c", 4]))
    assert row == RecipientRow(2, GR1, GR1, "Ann", {"City": "Athens", "Extra": "x"})
    # A header text wins over a column letter.
    data = make_csv([["A", "phone"], ["x", GR1]])
    (row,) = rows_of(data, FileMapping(phone="phone", labels=["A"]))
    assert row.labels == {"A": "x"}
    details = error_of(make_csv([["phone"], [GR1]]), FileMapping(labels=[3])).details
    assert isinstance(details, dict) and details["missing"] == [3]
    assert error_of(make_csv([["phone"], [GR1]]), FileMapping(labels=["ZZ"])).reason == (
        "missing_column"
    )


def test_all_other_columns_become_labels() -> None:
    data = make_csv(
        [
            ["Name", "Phone", "Customer ID", "", "City"],
            ["Ann", GR1, "12345", "no header", "Athens"],
            ["Bob", GR2, "", "", ""],
        ]
    )
    f = open_recipient_file(data, mapping=FileMapping(name="name", labels="*"))
    assert f.label_names == ("Customer ID", "City")
    assert list(f) == [
        RecipientRow(2, GR1, GR1, "Ann", {"Customer ID": "12345", "City": "Athens"}),
        RecipientRow(3, GR2, GR2, "Bob", {}),  # empty cells: the template's fallbacks apply
    ]


def test_ambiguous_and_bad_mappings() -> None:
    data = make_csv([["phone", "City", "city "], [GR1, "a", "b"]])
    err = error_of(data, FileMapping(labels=["city"]))
    assert err.reason == "ambiguous_column" and "B and C" in str(err)
    err = error_of(data, FileMapping(labels="*"))
    assert err.reason == "ambiguous_column"
    (row,) = rows_of(data, FileMapping(labels=["B"]))  # by letter, one of them is fine
    assert row.labels == {"City": "a"}
    err = error_of(make_csv([["phone", ""], [GR1, "x"]]), FileMapping(labels=[2]))
    assert err.reason == "bad_mapping" and "no header" in str(err)
    for bad in (
        {"labels": "all"},
        {"phone": 0},
        {"phone": " "},
        {"name": True},
        {"labels": [1.5]},
    ):
        with pytest.raises(RecipientFileError) as info:
            FileMapping(**bad)
        assert info.value.reason == "bad_mapping"


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_numeric_phones_and_labels() -> None:
    data = make_xlsx(
        [
            ["Phone", "Name", "Customer ID", "Balance", "Joined", "Meeting", "VIP"],
            [
                306912345678,
                "Ann",
                12345,
                12.5,
                datetime.date(2024, 3, 1),
                datetime.datetime(2024, 3, 1, 9, 30),
                True,
            ],
            [306912345679.0, "Bob", 12346.0, 0.1, datetime.datetime(2024, 3, 2), None, False],
            ["+44 7400 123456", 7, "", "", "", "", ""],
        ]
    )
    f = open_recipient_file(data, filename="list.xlsx", mapping=FileMapping(name=2, labels="*"))
    assert (f.format, f.engine, f.sheet_name) == ("xlsx", "calamine", "Sheet1")
    assert list(f) == [
        RecipientRow(
            2,
            "306912345678",
            GR1,
            "Ann",
            {
                "Customer ID": "12345",
                "Balance": "12.5",
                "Joined": "2024-03-01",
                "Meeting": "2024-03-01 09:30",
                "VIP": "TRUE",
            },
        ),
        RecipientRow(
            3,
            "306912345679",
            GR2,
            "Bob",
            {"Customer ID": "12346", "Balance": "0.1", "Joined": "2024-03-02", "VIP": "FALSE"},
        ),
        RecipientRow(4, "+44 7400 123456", GB, "7", {}),
    ]


def test_xlsx_both_engines_agree_and_count_rows_from_the_sheet_top() -> None:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None  # a new workbook has one sheet
    ws["B3"], ws["C3"], ws["D3"] = "Phone", "Name", 2024  # header starts at B3
    ws["B4"], ws["C4"], ws["D4"] = 306912345678, "Ann", 1.0
    ws["B6"], ws["C6"] = "not a number", "Bob"  # row 5 blank
    ws["B7"], ws["D7"], ws["F7"] = 306912345679, datetime.time(10, 30), "beyond header"
    buf = io.BytesIO()
    book.save(buf)
    data = buf.getvalue()
    fast = open_sheet(data)
    slow = open_sheet(data, in_memory_max=0)
    assert (fast.engine, slow.engine) == ("calamine", "openpyxl")
    for sheet in (fast, slow):
        assert sheet.header_row == 3
        assert sheet.header[:4] == ["", "Phone", "Name", "2024"]
    mapping = FileMapping(name="name", labels=["2024"])
    rows = rows_of(data, mapping)
    assert rows == [
        RecipientRow(4, "306912345678", GR1, "Ann", {"2024": "1"}),
        BadRow(6, "not a number", "invalid_format", rows[1].detail),
        RecipientRow(7, "306912345679", GR2, None, {"2024": "10:30"}),
    ]

    def texts(sheet) -> list:
        off = sheet.col_offset
        return [
            (n, [cell_text(c) for c in ([None] * off + list(cells) + [None] * 6)[:6]])
            for n, cells in sheet.rows
            if any(cell_text(c) for c in cells)
        ]

    assert texts(fast) == texts(slow)


def test_xlsx_sheet_choice() -> None:
    data = make_xlsx([["phone"], [GR1]], title="Main", Hidden=("hidden", [["x"], ["y"]]))
    assert [r.phone for r in rows_of(data)] == [GR1]  # the hidden first sheet is skipped
    data = make_xlsx([["phone"], [GR1]], title="Main", Other=("visible", [["phone"], [GR2]]))
    assert [r.phone for r in rows_of(data)] == [GR2]  # the first visible sheet
    assert [r.phone for r in rows_of(data, FileMapping(sheet="main"))] == [GR1]
    assert [r.phone for r in rows_of(data, FileMapping(sheet=2))] == [GR1]
    err = error_of(data, FileMapping(sheet="Nope"))
    assert err.reason == "no_sheet" and "'Other', 'Main'" in str(err)


def test_empty_worksheet() -> None:
    assert error_of(make_xlsx([])).reason == "empty_file"


# --- files that cannot be read ------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n", b",,,\n , ,\n"])
def test_empty_files(data: bytes) -> None:
    assert error_of(data).reason == "empty_file"


def test_corrupt_and_foreign_files() -> None:
    good = make_xlsx([["phone"], [GR1]])
    err = error_of(good[: len(good) // 2])  # a truncated upload
    assert err.reason == "corrupt_xlsx" and "damaged" in str(err)
    err = error_of(b"phone\n+306912345678\n", filename="list.xlsx")
    assert err.reason == "corrupt_xlsx" and "list.xlsx" in str(err)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w/>")
    err = error_of(buf.getvalue())
    assert err.reason == "unknown_format" and "Word document" in str(err)
    assert "PDF" in str(error_of(b"%PDF-1.7\n...", filename="list.csv"))
    err = error_of(b"phone\x00\x01\x02\n")
    assert err.reason == "unknown_format" and "binary" in str(err)


def test_ole_files_legacy_and_password_protected() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    # An encrypted OOXML workbook is an OLE compound file with an "EncryptedPackage" stream
    # (checked against a real one made by msoffcrypto-tool: 10 KiB, too big to commit).
    encrypted = ole + "EncryptedPackage".encode("utf-16-le") + bytes(64)
    err = error_of(encrypted, filename="list.xlsx")
    assert err.reason == "corrupt_xlsx"  # named .xlsx, not a zip: the name is checked first
    err = error_of(encrypted)
    assert err.reason == "encrypted_xlsx" and "password" in str(err)
    err = error_of(ole + "Workbook".encode("utf-16-le"), filename="list.xls")
    assert err.reason == "legacy_xls" and ".xlsx or CSV" in str(err)


# --- streams, limits, summary ------------------------------------------------------------------


class OneWay(io.RawIOBase):
    """A stream that cannot seek, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_streams_seekable_or_not_and_left_open() -> None:
    rows = [["phone", "n"]] + [[f"+3069123{i:05d}", str(i)] for i in range(3000)]
    for data in (make_csv(rows), make_xlsx(rows)):
        stream = io.BytesIO(data)
        got = rows_of(stream, FileMapping(labels=["n"]))
        assert len(got) == 3000 and got[-1].labels == {"n": "2999"}
        assert not stream.closed
        # read_recipients reads any binary stream, raw ones too; its annotation says BinaryIO.
        got = rows_of(cast(BinaryIO, OneWay(data)), FileMapping(labels=["n"]))
        assert len(got) == 3000 and got[-1].row == 3001


def test_row_limit() -> None:
    data = make_csv([["phone"], [GR1], [], [GR2], ["bad"], [GR3]])
    assert len(rows_of(data, max_rows=4)) == 4  # blank rows do not count
    rows: list[RowResult] = []
    with pytest.raises(RecipientFileError) as info:
        rows.extend(read_recipients(data, mapping=FileMapping(), max_rows=2))
    assert info.value.reason == "too_many_rows" and info.value.row == 5
    assert "more than 2 rows" in str(info.value)
    assert [r.row for r in rows] == [2, 4]


def test_summary() -> None:
    data = make_csv([["phone"], [GR1], ["x"], [GR1], [""], ["y"], [GR2]])
    summary = summarize(read_recipients(data, mapping=FileMapping()), max_bad=2)
    assert (summary.rows, summary.good, summary.bad) == (5, 2, 3)
    assert summary.reasons == {"invalid_format": 2, "duplicate": 1}
    assert [r.row for r in summary.first_bad] == [3, 4]
    body = summary.as_dict()
    assert body["bad_rows"][1] == {
        "row": 4,
        "phone_raw": GR1,
        "reason": "duplicate",
        "detail": f"{GR1} is already on row 2",
    }
    assert body["bad_rows_truncated"] is True
    tally = FileSummary()
    good = list(tally.good_rows(read_recipients(data, mapping=FileMapping())))
    assert [r.phone for r in good] == [GR1, GR2] and tally.bad == 3


def test_cell_text() -> None:
    assert cell_text(12345.0) == "12345"
    assert cell_text(306948530920.0) == "306948530920"
    assert cell_text(1e16) == "10000000000000000"
    assert cell_text(19.99) == "19.99"
    assert cell_text(-3) == "-3"
    assert cell_text(None) == ""
    assert cell_text("  x ") == "x"
    assert cell_text(datetime.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05"
    assert cell_text(datetime.timedelta(hours=1, minutes=30)) == "1:30:00"


def test_close_early_and_twice() -> None:
    for data in (make_csv([["phone"], [GR1], [GR2]]), make_xlsx([["phone"], [GR1], [GR2]])):
        with open_recipient_file(data, mapping=FileMapping()) as f:
            first = next(iter(f))
            assert isinstance(first, RecipientRow) and first.phone == GR1
        f.close()
        assert list(f) == []
