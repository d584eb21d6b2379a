"""Recipient files uploaded through the console: read them as the API's upload does
(herald.campaigns.recipient_files, a chunk of rows at a time in a worker thread, so a large
sheet never holds up the event loop that also sends), either to count them before a
campaign is confirmed or to store them into it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool

from herald.campaigns.recipient_files import (
    ALL_OTHER_COLUMNS,
    ColumnRef,
    FileMapping,
    FileSummary,
    RecipientFile,
    RecipientRow,
    RowResult,
    open_recipient_file,
)
from herald.errors import RecipientFileError, RequestError

MAX_FILE_ROWS = 1_000_000  # as POST /v1/campaigns/{id}/recipients/file
CHUNK_ROWS = 5000


def column(ref: str) -> ColumnRef:
    """'3' is the third column; anything else a header text (or letters like 'C')."""
    ref = ref.strip()
    return int(ref) if ref.isdigit() and int(ref) > 0 else ref


@dataclass(frozen=True)
class Upload:
    """A file from a console form, with how its columns map."""

    file: BinaryIO
    filename: str | None
    content_type: str | None
    phone_column: str = "phone"
    name_column: str = ""
    label_columns: str = ALL_OTHER_COLUMNS  # comma separated, or '*'
    sheet: str = ""

    def mapping(self) -> FileMapping:
        labels: Sequence[ColumnRef] | str = ALL_OTHER_COLUMNS
        if self.label_columns.strip() != ALL_OTHER_COLUMNS:
            labels = [column(c) for c in self.label_columns.split(",") if c.strip()]
        return FileMapping(
            phone=column(self.phone_column or "phone"),
            name=column(self.name_column) if self.name_column.strip() else None,
            labels=labels,
            sheet=column(self.sheet) if self.sheet.strip() else None,
        )


def invalid_file(exc: RecipientFileError) -> RequestError:
    details: dict[str, object] = {"reason": exc.reason, "row": exc.row}
    if isinstance(exc.details, dict):
        details.update(exc.details)
    return RequestError("invalid_file", str(exc), details)


async def open_upload(upload: Upload, *, region: str | None, mobiles_only: bool) -> RecipientFile:
    upload.file.seek(0)
    try:
        return await run_in_threadpool(
            open_recipient_file,
            upload.file,
            filename=upload.filename,
            content_type=upload.content_type,
            mapping=upload.mapping(),
            default_region=region,
            mobile_only=mobiles_only,
            max_rows=MAX_FILE_ROWS,
        )
    except RecipientFileError as exc:
        raise invalid_file(exc) from None


async def chunks(opened: RecipientFile) -> AsyncIterator[Sequence[RowResult]]:
    rows: Iterator[RowResult] = iter(opened)
    while chunk := await run_in_threadpool(lambda: list(islice(rows, CHUNK_ROWS))):
        yield chunk


def close(opened: RecipientFile) -> None:
    # The rows close the workbook when they end; closing again raises with some engines.
    with contextlib.suppress(Exception):
        opened.close()


async def summarize_upload(
    upload: Upload, *, region: str | None, mobiles_only: bool
) -> dict[str, Any]:
    """What the file holds, without storing it: good and bad rows (the first 100 bad ones
    listed), the format and the label names."""
    opened = await open_upload(upload, region=region, mobiles_only=mobiles_only)
    summary = FileSummary(max_bad=100)
    try:
        async for chunk in chunks(opened):
            for result in chunk:
                summary.add(result)
    except RecipientFileError as exc:
        raise invalid_file(exc) from None
    finally:
        close(opened)
    return {
        **summary.as_dict(),
        "format": opened.format,
        "sheet": opened.sheet_name,
        "labels": list(opened.label_names),
    }


async def recipient_rows(
    upload: Upload, *, region: str | None, limit: int
) -> tuple[list[RecipientRow], FileSummary]:
    """The good rows of a contacts file (at most `limit`: more is invalid_file), and the
    summary with the bad ones."""
    opened = await open_upload(upload, region=region, mobiles_only=False)
    summary = FileSummary(max_bad=100)
    good: list[RecipientRow] = []
    try:
        async for chunk in chunks(opened):
            good.extend(summary.good_rows(chunk))
            if len(good) > limit:
                raise RequestError(
                    "invalid_file",
                    f"the file has more than {limit} contacts: import it in parts",
                    {"reason": "too_many_rows", "max_rows": limit},
                )
    except RecipientFileError as exc:
        raise invalid_file(exc) from None
    finally:
        close(opened)
    return good, summary
