"""How the campaign commands show API answers to a person: rich tables and short lines.

Tables go to stdout, progress and notes to stderr. Colours only on a terminal (rich's own
detection; NO_COLOR is honoured); `--json` output never comes through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from herald.cli.client import ApiError, shorten
from herald.states import MESSAGE

MESSAGE_STATUSES = MESSAGE.states  # in display order
FINAL_STATUSES = tuple(s for s in MESSAGE.states if s in MESSAGE.final)
SHOWN = 5  # invalid numbers, bad rows, problems listed before "... and N more"


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


# --- errors -------------------------------------------------------------------------------------


def error_text(err: ApiError) -> str:
    """`code (HTTP n): message`, then the details that add to the message, shortened."""
    lines = [f"{err.code} (HTTP {err.status}): {err.message}"]
    lines += [f"  {line}" for line in _detail_lines(err.details, err.message)]
    return "\n".join(lines)


def _detail_lines(details: Any, message: str) -> list[str]:
    if details is None:
        return []
    if isinstance(details, list) and all(isinstance(d, dict) and "location" in d for d in details):
        problems = [f"{d['location']}: {d.get('message', '')}" for d in details]
        return [] if len(problems) == 1 and problems[0] in message else _more(problems)
    if not isinstance(details, dict):
        return [shorten(details)]
    lines: list[str] = []
    rest = dict(details)
    if invalid := rest.pop("invalid_numbers", None):
        lines += invalid_number_lines(invalid)
    if bad_rows := rest.pop("bad_rows", None):
        lines += bad_row_lines(bad_rows, rest.get("bad", len(bad_rows)))
        for counted in ("rows", "good", "bad", "reasons", "bad_rows_truncated"):
            rest.pop(counted, None)  # the message counts them
    if errors := rest.pop("errors", None):
        lines += _more([shorten(e, 120) for e in errors])
    rest = {k: v for k, v in rest.items() if not _said(v, message)}
    if rest:
        lines.append(shorten(rest))
    return lines


def _said(value: Any, message: str) -> bool:
    """Whether a detail adds nothing to the message: empty, or every item already in it."""
    if value in (None, [], {}):
        return True
    items = value if isinstance(value, list) else [value]
    return all(isinstance(v, str | int) and str(v) in message for v in items)


def _more(lines: list[str], total: int | None = None) -> list[str]:
    total = len(lines) if total is None else total
    shown = lines[:SHOWN]
    if total > len(shown):
        shown.append(f"... and {total - len(shown)} more")
    return shown


def invalid_number_lines(invalid: Iterable[Mapping[str, Any]]) -> list[str]:
    return _more(
        [
            f"{n.get('source', 'number')}[{n.get('index', '?')}] {n.get('phone')!r}: "
            f"{n.get('reason') or 'invalid'}"
            for n in invalid
        ]
    )


def bad_row_lines(rows: Iterable[Mapping[str, Any]], total: int | None = None) -> list[str]:
    # `detail` names the cell and the reason: "'+3069': invalid_format (too short)"
    return _more(
        [
            f"row {r['row']}: " + (r.get("detail") or f"{r.get('phone_raw')!r}: {r['reason']}")
            for r in rows
        ],
        total,
    )


# --- campaigns ----------------------------------------------------------------------------------


def intake_lines(intake: Mapping[str, Any] | None, *, ignored: bool = False) -> list[str]:
    if not intake:
        return []
    lines = []
    if invalid := intake.get("invalid_numbers"):
        fate = "skipped" if ignored else "rejected at each run"
        lines.append(f"{len(invalid)} invalid number(s), {fate}:")
        lines += ["  " + line for line in invalid_number_lines(invalid)]
    if blacklisted := intake.get("blacklisted"):
        lines.append(
            f"{len(blacklisted)} blacklisted: "
            + ", ".join(blacklisted[:SHOWN])
            + (" ..." if len(blacklisted) > SHOWN else "")
        )
    if intake.get("duplicates"):
        lines.append(f"{intake['duplicates']} duplicate number(s) left out")
    return lines


def file_lines(name: str, report: Mapping[str, Any]) -> list[str]:
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(report.get("reasons", {}).items()))
    lines = [
        f"{name}: {report['rows']} row(s) read, {report['good']} good, "
        f"{report['bad']} bad" + (f" ({reasons})" if reasons else "")
    ]
    if report.get("bad_rows"):
        lines.append("bad rows (the header is row 1):")
        lines += ["  " + line for line in bad_row_lines(report["bad_rows"], report["bad"])]
    if blacklisted := report.get("blacklisted"):
        lines.append(f"{len(blacklisted)} blacklisted number(s) will be rejected at the run")
    return lines


def run_line(campaign_id: int, run: Mapping[str, Any]) -> str:
    extra = [f"{run['segments']} segment(s)", f"{run['credit_used']} credit used"]
    if run.get("deferred"):
        extra.append(f"{run['deferred']} deferred by quiet hours")
    if run.get("rejected"):
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(run.get("rejected_reasons", {}).items()))
        extra.append(f"{run['rejected']} rejected" + (f" ({reasons})" if reasons else ""))
    if run.get("skipped"):
        extra.append(f"{run['skipped']} skipped")
    return (
        f"campaign {campaign_id}: run {run['number']} started, batch {run['batch_id']}, "
        f"{run['count']} message(s) queued ({', '.join(extra)})"
    )


def campaign_view(detail: Mapping[str, Any]) -> RenderableType:
    """The campaign, its audience, its progress counters and its batches."""
    about = _Rows()
    about.add_row("campaign", f"{detail['id']} {detail['name']!r}")
    about.add_row("status", str(detail["status"]))
    if reason := detail.get("stop_reason"):
        stopped = when(detail.get("stopped_at")) or "?"
        about.add_row("stopped", f"{stopped}: {reason['code']} ({reason['message']})")
    about.add_row("sender", str(detail["sender"]))
    about.add_row("message", str(detail["message"]))
    if detail.get("fallback_values"):
        about.add_row(
            "fallbacks", ", ".join(f"{k}={v}" for k, v in detail["fallback_values"].items())
        )
    about.add_row("next run", next_run(detail))
    flags = [f for f in ("flash", "transcode") if detail.get(f)]
    quiet = ", ".join(f"{w['from']}-{w['to']}" for w in detail.get("quiet_hours", []))
    flags.append(
        f"quiet hours {quiet}" if detail.get("respect_quiet_hours") else "quiet hours ignored"
    )
    if detail.get("ignore_invalid_numbers"):
        flags.append("invalid numbers ignored")
    if detail.get("mobiles_only"):
        flags.append("mobiles only")
    about.add_row("options", ", ".join(flags))
    for key in ("callback", "campaign_callback"):
        if detail.get(key):
            about.add_row(key.replace("_", " "), str(detail[key]))
    if detail.get("reminder"):
        reminder = detail["reminder"]
        about.add_row(
            "reminder", f"{', '.join(reminder['numbers'])}, {reminder['minutes_before']} min before"
        )
    audience = detail.get("audience") or {}
    if audience:
        about.add_row(
            "audience",
            (
                f"{audience['numbers']} number(s), {audience['recipients']} recipient(s), "
                f"{audience['file_rows']} file row(s), contacts {audience['contacts'] or '-'}, "
                f"groups {audience['groups'] or '-'}"
            ),
        )
    parts: list[RenderableType] = [about.table]
    if "progress" in detail:
        parts.append(progress_table(detail["progress"]["messages"], detail["progress"]["segments"]))
        if waiting := deferred_lines(detail["progress"].get("deferred") or []):
            parts.append(Text("\n".join(waiting)))
    if detail.get("batches"):
        parts.append(batches_table(detail["batches"]))
    return Group(*parts)


# Why deferred messages wait, for a person.
WAITS = {
    "quiet_hours": "quiet hours at the destination",
    "no_bind": "no bind of their route is up",
}


def deferred_lines(groups: Iterable[Mapping[str, Any]]) -> list[str]:
    """'deferred: 3 message(s) for quiet hours at the destination, until ...'."""
    lines = []
    for g in groups:
        why = WAITS.get(g["reason"], f"a retry after {g['reason']}")
        first, last = when(g["next_at"]), when(g["last_at"])
        until = f"until {first}" if first == last else f"from {first} to {last}"
        lines.append(f"deferred: {g['messages']} message(s) for {why}, {until}")
    return lines


def next_run(detail: Mapping[str, Any]) -> str:
    """When the campaign runs by itself next: only a scheduled one does, once."""
    at = when(detail.get("scheduled_at"))
    if detail["status"] == "scheduled":
        return at or f"none: it waits for `herald campaign run {detail['id']}`"
    return f"none: it runs again only when asked (`herald campaign run {detail['id']}`)"


class _Rows:
    """A two-column grid of name and value; values are plain text, never markup."""

    def __init__(self) -> None:
        self.table = Table.grid(padding=(0, 2))
        self.table.add_column(style="bold")
        self.table.add_column(overflow="fold")

    def add_row(self, name: str, value: str) -> None:
        self.table.add_row(name, Text(value))


def _cells(*values: object) -> list[Text]:
    """Table cells from API values (names, texts): shown as they are, never as markup."""
    return [Text(str(v)) for v in values]


def progress_table(
    messages: Mapping[str, int], segments: Mapping[str, int] | None = None, title: str = "progress"
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("status")
    table.add_column("messages", justify="right")
    if segments is not None:
        table.add_column("segments", justify="right")
    for status in ("expected", *MESSAGE_STATUSES):
        if status != "expected" and not messages.get(status) and status not in FINAL_STATUSES:
            continue
        row = [status, str(messages.get(status, 0))]
        if segments is not None:
            row.append(str(segments.get(status, 0)))
        table.add_row(*row)
    return table


def batches_table(batches: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(title="runs", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("run", "right"),
        ("batch", "right"),
        ("status", "left"),
        ("messages", "right"),
        ("segments", "right"),
        ("credit", "right"),
        ("started", "left"),
        ("finished", "left"),
        ("description", "left"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for b in batches:
        table.add_row(
            *_cells(
                b["number"],
                b["id"],
                b["status"],
                b["messages_expected"],
                b["segments_expected"],
                b["credit_used"],
                when(b.get("started_at")) or "-",
                when(b.get("finished_at")) or "-",
                b.get("description") or "",
            )
        )
    return table


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
        return when(value) or value
    return str(value)


def rows_table(
    rows: Iterable[Mapping[str, Any]], columns: Iterable[str], title: str | None = None
) -> Table:
    """API objects as rows, the given fields as columns (names with '_' as spaces)."""
    columns = list(columns)
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name.replace("_", " "))
    for row in rows:
        table.add_row(*(Text(_value(row.get(name))) for name in columns))
    return table


def page_table(page: Mapping[str, Any], columns: Iterable[str], noun: str) -> Table:
    """One page of a list answer, with where it is in the whole."""
    table = rows_table(page["items"], columns)
    table.caption = f"page {page['page']} of {max(page['pages'], 1)}, {page['total']} {noun}"
    table.caption_justify = "left"
    return table


def messages_table(page: Mapping[str, Any]) -> Table:
    table = Table(
        caption=f"page {page['page']} of {max(page['pages'], 1)}, {page['total']} message(s)",
        caption_justify="left",
    )
    for name, justify in (
        ("id", "right"),
        ("batch", "right"),
        ("phone", "left"),
        ("status", "left"),
        ("reason", "left"),
        ("parts", "right"),
        ("bind", "left"),
        ("sent", "left"),
        ("done", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in page["items"]:
        delivered = sum(1 for p in m["parts"] if p["state"] == "delivered")
        status = m["status"]
        if status == "deferred":
            status += f" until {when(m.get('not_before'))}"
        table.add_row(
            *_cells(
                m["id"],
                m["batch_id"],
                m["phone"],
                status,
                m.get("reason") or "",
                f"{delivered}/{m['part_count']} delivered" if m["parts"] else "-",
                m.get("bind") or "-",
                when(m.get("sent_at")) or "-",
                when(m.get("done_at")) or "-",
            )
        )
    return table


def list_table(page: Mapping[str, Any]) -> Table:
    table = Table(
        caption=f"page {page['page']} of {max(page['pages'], 1)}, {page['total']} campaign(s)",
        caption_justify="left",
    )
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("id", "right"),
        ("name", "left"),
        ("status", "left"),
        ("sender", "left"),
        ("scheduled", "left"),
        ("created", "left"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for c in page["items"]:
        table.add_row(
            *_cells(
                c["id"],
                c["name"],
                c["status"],
                c["sender"],
                when(c.get("scheduled_at")) or "-",
                when(c.get("created_at")) or "-",
            )
        )
    return table


def when(value: str | None) -> str | None:
    """'2030-05-01T09:00:00.123456+00:00' -> '2030-05-01 09:00:00+00:00'."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).isoformat(sep=" ", timespec="seconds")
    except ValueError:
        return value
