"""Logging set-up: plain text for a terminal, or one JSON object per line for a log shipper.

`[logging] format = "text" | "json"` (docs/configuration.md). Every line carries the time,
level, logger and message; a line logged while an API request is being served also carries
that request's id (`request_id`), so one grep finds everything a request caused. Fields given
with `extra={"fields": {...}}` (the request log, campaign lifecycle events) become JSON keys,
or `key=value` pairs after the message in text. Secrets are never passed to a logger: the
configuration masks them before it is logged (herald.config).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

# The id of the API request being served (set by herald.api.requests), "" outside requests.
request_id: ContextVar[str] = ContextVar("herald_request_id", default="")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", None) or {})
    rid = request_id.get()
    if rid and "request_id" not in fields:
        fields["request_id"] = rid
    return fields


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ..., <fields>}` on one line;
    a traceback goes in `exception`, as text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the record's fields appended as `key=value`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if not fields:
            return text
        head, newline, tail = text.partition("\n")  # keep a traceback below the fields
        pairs = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        return f"{head} {pairs}{newline}{tail}"


def _text_value(value: Any) -> str:
    text = str(value)
    return (
        json.dumps(text, ensure_ascii=False) if (not text or " " in text or '"' in text) else text
    )


def configure(level: str, fmt: LogFormat, stream: TextIO | None = None) -> None:
    """Send every herald log line (and uvicorn's, asyncio's) to `stream` (stderr) in `fmt`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own loggers propagate to the root: one format for every line. Its access log
    # is replaced by herald's request log (herald.api.requests).
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
