"""Recipient files over HTTP: CSV and XLSX with bad rows reported by row number, the good rows
kept and sent with their labels; files and mappings that cannot work are invalid_file."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import Workbook

from tests.api.conftest import Api, Caller
from tests.api.test_api_auth import error

pytestmark = pytest.mark.usefixtures("counters_kept")


async def scheduled(api: Api, caller: Caller, name: str = "From a file") -> int:
    r = await caller.http.post(
        "/campaigns",
        json={
            "name": name,
            "sender": "Herald",
            "message": "Hi %Name%, code [~Code]",
            "fallback_values": {"code": "NONE"},
            "scheduled_at": (api.clock() + timedelta(days=1)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def upload(
    caller: Caller,
    campaign_id: int,
    filename: str,
    content: bytes,
    content_type: str = "text/csv",
    **form: Any,
) -> Any:
    return await caller.http.post(
        f"/campaigns/{campaign_id}/recipients/file",
        files={"file": (filename, content, content_type)},
        data=form,
    )


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "Customers"
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CSV = (
    b"Phone;Full name;Code;Notes\n"
    b"+306948530920;Eleni;A1;vip\n"
    b"not a number;Nikos;B2;\n"
    b";Nobody;C3;\n"
    b"0030 694 853 0920;Eleni again;D4;\n"
    b"306948530921;Giorgos;;\n"
)


async def test_csv_upload_keeps_good_rows_and_reports_bad_ones(api: Api) -> None:
    acme = await api.account()
    await acme.http.post("/blacklist", json={"phones": ["+306948530921"]})
    campaign = await scheduled(api, acme)
    r = await upload(
        acme,
        campaign,
        "customers.csv",
        CSV,
        phone_column="phone",
        name_column="FULL NAME",
        label_columns="Code",
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["format"], report["rows"], report["good"], report["bad"]) == ("csv", 5, 2, 3)
    assert report["labels"] == ["Code"]
    assert [(b["row"], b["reason"]) for b in report["bad_rows"]] == [
        (3, "invalid_format"),
        (4, "missing_phone"),
        (5, "duplicate"),
    ]
    assert "row 2" in report["bad_rows"][2]["detail"]
    assert report["blacklisted"] == ["+306948530921"] and report["file_rows"] == 2

    detail = (await acme.http.get(f"/campaigns/{campaign}")).json()
    assert detail["audience"]["file_rows"] == 2
    run = (await acme.http.post(f"/campaigns/{campaign}/run")).json()
    assert (run["count"], run["rejected_reasons"]) == (1, {"blacklisted": 1})
    messages = (
        await acme.http.get(f"/campaigns/{campaign}/messages", params={"status": "queued"})
    ).json()["items"]
    assert [m["text"] for m in messages] == ["Hi Eleni, code A1"]


async def test_xlsx_upload_with_every_other_column_as_labels(api: Api) -> None:
    acme = await api.account()
    campaign = await scheduled(api, acme)
    content = xlsx(
        [
            ["Name", "Mobile", "Code", "City"],
            ["Ann", 306948530920, "X1", "Athens"],
            ["Bob", "12", "X2", "Patras"],
            [None, None, None, None],  # a blank row: skipped, not reported
            ["Cleo", "+447400123456", None, "London"],  # empty Code: the fallback applies
        ]
    )
    r = await upload(
        acme,
        campaign,
        "customers.xlsx",
        content,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        phone_column="B",
        name_column="1",
        label_columns="*",
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["format"], report["sheet"], report["good"], report["bad"]) == (
        "xlsx",
        "Customers",
        2,
        1,
    )
    assert report["labels"] == ["Code", "City"]
    assert [(b["row"], b["reason"]) for b in report["bad_rows"]] == [(3, "invalid_format")]
    await acme.http.post(f"/campaigns/{campaign}/run")
    texts = sorted(
        m["text"] for m in (await acme.http.get(f"/campaigns/{campaign}/messages")).json()["items"]
    )
    assert texts == ["Hi Ann, code X1", "Hi Cleo, code NONE"]


async def test_a_headerless_number_file_keeps_every_number(api: Api) -> None:
    acme = await api.account()
    campaign = await scheduled(api, acme)
    numbers = b"+306948530920\n+306948530921\n+306948530922\n"
    r = await upload(acme, campaign, "numbers.txt", numbers, "text/plain", phone_column="1")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["header"], report["rows"], report["good"], report["file_rows"]) == (
        False,
        3,
        3,
        3,
    )
    # Without a column named by number the file needs a header, and herald says so.
    other = await scheduled(api, acme, "Second")
    err = error(
        await upload(acme, other, "numbers.txt", numbers, "text/plain"), 400, "invalid_file"
    )
    assert "Row 1 looks like data" in err["message"]
    # header=false reads the first row as data whatever it holds.
    r = await upload(acme, other, "n.csv", b"12\n+306948530921\n", phone_column="A", header="false")
    assert (r.json()["rows"], r.json()["good"], r.json()["bad_rows"][0]["row"]) == (2, 1, 1)


async def test_uploads_append_or_replace(api: Api) -> None:
    acme = await api.account()
    campaign = await scheduled(api, acme)
    one = b"phone\n+306948530920\n"
    two = b"phone\n+306948530921\n+306948530922\n"
    assert (await upload(acme, campaign, "a.csv", one)).json()["file_rows"] == 1
    assert (await upload(acme, campaign, "b.csv", two)).json()["file_rows"] == 3
    assert (await upload(acme, campaign, "b.csv", two, replace="true")).json()["file_rows"] == 2


async def test_files_that_cannot_work_are_invalid_file(api: Api) -> None:
    acme = await api.account()
    campaign = await scheduled(api, acme)
    err = error(
        await upload(acme, campaign, "bad.csv", b"phone\nnope\n\n12\n"), 400, "invalid_file"
    )
    assert [b["row"] for b in err["details"]["bad_rows"]] == [2, 4]
    err = error(
        await upload(acme, campaign, "x.csv", b"mobile,name\n+306948530920,A\n"),
        400,
        "invalid_file",
    )
    assert err["details"]["reason"] == "missing_column"
    assert err["details"]["headers"] == ["mobile", "name"]
    err = error(await upload(acme, campaign, "empty.csv", b""), 400, "invalid_file")
    assert err["details"]["reason"] == "empty_file"
    err = error(
        await upload(
            acme,
            campaign,
            "fake.xlsx",
            b"phone\n+306948530920\n",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        400,
        "invalid_file",
    )
    assert err["details"]["reason"] == "corrupt_xlsx"
    err = error(
        await upload(acme, campaign, "a.png", b"\x89PNG\r\n\x1a\nxxxx", "image/png"),
        400,
        "invalid_file",
    )
    assert err["details"]["reason"] == "unknown_format"
    assert (await acme.http.get(f"/campaigns/{campaign}")).json()["audience"]["file_rows"] == 0

    error(await upload(acme, 999, "a.csv", b"phone\n+306948530920\n"), 404, "campaign_not_found")
    running = (
        await acme.http.post(
            "/campaigns",
            json={"name": "Running", "sender": "Herald", "message": "Hi", "to": ["+306948530920"]},
        )
    ).json()
    err = error(
        await upload(acme, running["id"], "a.csv", b"phone\n+306948530921\n"),
        409,
        "campaign_not_scheduled",
    )
    assert err["details"] == {"status": "running"}
    r = await acme.http.post(f"/campaigns/{campaign}/recipients/file", data={"phone_column": "x"})
    error(r, 422, "invalid_request")


def test_a_column_is_a_number_only_in_ascii_digits() -> None:
    from herald.api.routes.files import _column

    assert (_column(" 3 "), _column("C"), _column("0"), _column("²6")) == (3, "C", "0", "²6")
