"""Charts as inline SVG, drawn on the server (pure: numbers in, markup out).

No chart library and no script: a chart is part of the page, readable without JavaScript,
printable, and described for screen readers (`role="img"` with a label, and the numbers in a
table beside it on the page). Colours pass 3:1 against white (WCAG 1.4.11 for graphics);
text stays dark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

# Message outcomes as the progress bar groups them.
DELIVERED = ("delivered",)
FAILED = ("failed", "rejected", "unknown")
STOPPED = ("stopped",)
PENDING = ("queued", "deferred", "sending", "sent")

COLOURS = {
    "delivered": "#1a7f37",
    "failed": "#c62828",
    "pending": "#6b7280",
    "stopped": "#8a6100",
    "sent": "#1f5fbf",
    "clicked": "#7b3fb5",
}


@dataclass(frozen=True)
class Outcome:
    """A campaign's messages in four groups, for its progress bar."""

    delivered: int
    failed: int
    pending: int
    stopped: int

    @classmethod
    def of(cls, messages: Mapping[str, int]) -> Outcome:
        def total(names: Sequence[str]) -> int:
            return sum(int(messages.get(n, 0)) for n in names)

        return cls(total(DELIVERED), total(FAILED), total(PENDING), total(STOPPED))

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.pending + self.stopped

    def describe(self) -> str:
        return f"{self.delivered} delivered, {self.failed} failed, {self.pending} pending" + (
            f", {self.stopped} stopped" if self.stopped else ""
        )


def progress_bar(outcome: Outcome, *, width: int = 160, height: int = 12) -> Markup:
    """A stacked bar: delivered, failed, stopped, pending, in proportion."""
    label = escape(outcome.describe())
    parts = []
    x = 0.0
    total = outcome.total
    for name, value in (
        ("delivered", outcome.delivered),
        ("failed", outcome.failed),
        ("stopped", outcome.stopped),
        ("pending", outcome.pending),
    ):
        if not total or not value:
            continue
        w = width * value / total
        parts.append(
            f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="{height}" '
            f'fill="{COLOURS[name]}" data-part="{name}"></rect>'
        )
        x += w
    return Markup(
        f'<svg class="bar" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" preserveAspectRatio="none">'
        f'<title>{label}</title><rect width="{width}" height="{height}" fill="#e5e7eb"></rect>'
        + "".join(parts)
        + "</svg>"
    )


def bar_chart(
    rows: Sequence[tuple[str, int]], *, title: str, colour: str = COLOURS["failed"]
) -> Markup:
    """Horizontal bars, biggest first as given: one row per (label, value)."""
    if not rows:
        return Markup("")
    # Narrow enough that a third of a laptop's page shows the text at about its own size.
    row_h, label_w, bar_w = 22, 170, 190
    biggest = max(v for _, v in rows) or 1
    height = row_h * len(rows)
    out = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {label_w + bar_w + 60} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = i * row_h
        w = bar_w * value / biggest
        short = label if len(label) <= 24 else label[:23] + "…"
        out.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.2f}" height="{row_h - 8}" '
            f'fill="{colour}"></rect>'
            f'<text x="{label_w + w + 6:.2f}" y="{y + 15}">{value}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


SERIES = ("sent", "delivered", "failed", "clicked")
MARKED_POINTS = 40  # timelines this short get a dot on every point


def timeline_chart(points: Sequence[Mapping[str, object]], *, title: str) -> Markup:
    """Messages sent, delivered, failed and clicked per interval: one line each."""
    if not points:
        return Markup("")
    w, h, left, bottom, top = 900, 260, 56, 30, 12
    plot_w, plot_h = w - left - 10, h - bottom - top
    peak = max(int(p.get(s, 0) or 0) for p in points for s in SERIES) or 1  # type: ignore[call-overload]
    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    out = [
        f'<svg class="chart timeline" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#374151"></line>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#374151"></line>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i in (0, n - 1) if n > 1 else (0,):
        at = points[i]["at"]
        text = at.strftime("%H:%M") if isinstance(at, datetime) else str(at)[11:16]
        anchor = "start" if i == 0 else "end"
        out.append(f'<text x="{x(i):.1f}" y="{h - 8}" text-anchor="{anchor}">{escape(text)}</text>')
    for series in SERIES:
        values = [int(p.get(series, 0) or 0) for p in points]  # type: ignore[call-overload]
        if not any(values):
            continue
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        out.append(
            f'<polyline fill="none" stroke="{COLOURS[series]}" stroke-width="2" '
            f'points="{path}" data-series="{series}"></polyline>'
        )
        if n <= MARKED_POINTS:  # a line of one point is invisible; a few are easier read as dots
            out.extend(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4" fill="{COLOURS[series]}"></circle>'
                for i, v in enumerate(values)
            )
    out.append("</svg>")
    return Markup("".join(out))
