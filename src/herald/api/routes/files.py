"""Recipient files (CSV or XLSX, with a header row) for a scheduled campaign.

The file is parsed in a worker thread, a chunk of rows at a time, so a large spreadsheet
never holds up the event loop that also sends messages; the chunks are stored as they come,
in one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from itertools import islice
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, UploadFile
from pydantic import WithJsonSchema
from starlette.concurrency import run_in_threadpool

from herald.api.deps import CurrentAccount, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import MAX_ID, FileUploadOut
from herald.campaigns.recipient_files import (
    ALL_OTHER_COLUMNS,
    ColumnRef,
    FileMapping,
    RecipientFile,
    RowResult,
    open_recipient_file,
)
from herald.errors import RecipientFileError, RequestError

router = APIRouter(tags=["campaigns"])

# Its body may be larger than a JSON body: herald.api.guard gives it `api.max_upload_bytes`.
UPLOAD_PATH = "/campaigns/{campaign_id:int}/recipients/file"
MAX_FILE_ROWS = 1_000_000
CHUNK_ROWS = 5000

Column = Annotated[str, Form(min_length=1, max_length=200)]


def _column(ref: str) -> ColumnRef:
    """'3' is the third column; anything else a header text (or letters like 'C')."""
    ref = ref.strip()
    return int(ref) if ref.isdigit() and int(ref) > 0 else ref


async def _chunks(opened: RecipientFile) -> AsyncIterator[Sequence[RowResult]]:
    rows: Iterator[RowResult] = iter(opened)
    while chunk := await run_in_threadpool(lambda: list(islice(rows, CHUNK_ROWS))):
        yield chunk


def _close(opened: RecipientFile) -> None:
    # The rows close the workbook themselves when they end (or fail); closing it again
    # raises with some engines. Closing is best effort: the upload is done either way.
    with contextlib.suppress(Exception):
        opened.close()


@router.post(
    UPLOAD_PATH,
    response_model=FileUploadOut,
    responses=responses(400, 404, 409),
)
async def upload_recipients(
    campaign_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    account: CurrentAccount,
    services: ServicesDep,
    file: Annotated[
        UploadFile,
        File(description="CSV (any common encoding and delimiter) or XLSX, with a header row"),
    ],
    phone_column: Column = "phone",
    name_column: Annotated[str | None, Form(max_length=200)] = None,
    label_columns: Annotated[
        list[str] | None,
        Form(
            description="columns that become labels (repeat the field), or '*' for every "
            "other column"
        ),
    ] = None,
    sheet: Annotated[
        str | None, Form(max_length=200, description="XLSX worksheet name or number")
    ] = None,
    replace: Annotated[bool, Form(description="drop the rows of earlier files first")] = False,
    header: Annotated[
        bool | None,
        Form(
            description="whether the first row names the columns; absent: it does, unless the "
            "phone column is named by number or letter and holds a phone number on that row"
        ),
        # A form field is there or not: absent is the third answer, never a null.
        WithJsonSchema({"type": "boolean"}),
    ] = None,
) -> dict:
    """Add the rows of a recipient file to a scheduled campaign. Columns are named by
    header text (any case), number (1 = first) or letter; a file without a header row (see
    `header`) by number or letter only. Bad rows (invalid or duplicate
    numbers, empty phone cells, ...) are reported with their row numbers (the header is row
    1) and the good rows are kept; a file with no good row is `invalid_file`."""
    max_bytes = services.ctx.config.api.max_upload_bytes
    if file.size is not None and file.size > max_bytes:  # the guard stops larger requests
        raise RequestError(
            "invalid_file",
            f"the file is larger than {max_bytes} bytes",
            {"reason": "too_large", "max_bytes": max_bytes},
        )
    labels: Sequence[ColumnRef] | str = ()
    if label_columns == [ALL_OTHER_COLUMNS]:
        labels = ALL_OTHER_COLUMNS
    elif label_columns:
        labels = [_column(c) for c in label_columns if c.strip()]
    mobiles_only = await services.campaigns.mobiles_only(account.id, campaign_id)
    try:
        mapping = FileMapping(
            phone=_column(phone_column),
            name=_column(name_column) if name_column and name_column.strip() else None,
            labels=labels,
            sheet=_column(sheet) if sheet and sheet.strip() else None,
            header=header,
        )
        opened = await run_in_threadpool(
            open_recipient_file,
            file.file,
            filename=file.filename,
            content_type=file.content_type,
            mapping=mapping,
            default_region=services.ctx.config.campaigns.default_region,
            mobile_only=mobiles_only,
            max_rows=MAX_FILE_ROWS,
        )
    except RecipientFileError as exc:
        raise _invalid_file(exc) from None
    try:
        report = await services.campaigns.add_file(
            account.id, campaign_id, _chunks(opened), replace=replace
        )
    except RecipientFileError as exc:
        raise _invalid_file(exc) from None
    finally:
        _close(opened)
    return {
        **report,
        "format": opened.format,
        "header": opened.has_header,
        "sheet": opened.sheet_name,
        "labels": list(opened.label_names),
    }


def _invalid_file(exc: RecipientFileError) -> RequestError:
    details: dict[str, object] = {"reason": exc.reason, "row": exc.row}
    if isinstance(exc.details, dict):
        details.update(exc.details)
    return RequestError("invalid_file", str(exc), details)
