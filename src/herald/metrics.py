"""Every herald metric, declared here, prefixed `herald_`.

Hot paths bump plain ints and bisect into plain bucket lists (tens of nanoseconds); a custom
collector turns them into Prometheus families only when /metrics is scraped. No `.labels()`
call happens per message. Label sets are bounded: bind, route, status class, state; never a
number or a campaign name.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from herald.states import MESSAGE

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)
FLUSH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Histogram:
    """A histogram kept in plain lists: `observe` is a bisect and two additions."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out


class BindStats:
    """Counters for one bind. The session and dispatcher bump these attributes directly."""

    __slots__ = (
        "name",
        "receipts",
        "reconnects",
        "segments_sent",
        "state",
        "submits",
        "throttle_events",
        "rate",
        "window_in_use",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.submits: defaultdict[str, int] = defaultdict(int)  # by status class
        self.segments_sent = 0
        self.throttle_events = 0
        self.reconnects = 0
        self.receipts: defaultdict[str, int] = defaultdict(int)  # by receipt state
        # Live values, read at scrape time from the session that owns them.
        self.rate: Callable[[], float] = lambda: 0.0
        self.window_in_use: Callable[[], int] = lambda: 0
        self.state: Callable[[], str] = lambda: "closed"


BIND_STATES = ("closed", "connecting", "bound", "unbinding", "refused")
# How a number opted out: a keyword reply (STOP) or an opt-out link; the blacklist's sources.
OPT_OUT_SOURCES = ("opt_out", "opt_out_link")


class Metrics:
    """The process's metrics. One instance, built by the daemon and handed to components."""

    def __init__(self) -> None:
        self.binds: dict[str, BindStats] = {}
        # Messages reaching each status; every status is exported from the start (at 0), so
        # a rate over one that has not happened yet is 0, not an absent series.
        self.messages: defaultdict[str, int] = defaultdict(int, dict.fromkeys(MESSAGE.states, 0))
        self.routes: defaultdict[str, int] = defaultdict(int)  # messages routed, by route
        self.expanded_recipients = 0
        self.expansion_seconds = 0.0
        self.receipt_latency = Histogram(LATENCY_BUCKETS)
        self.flush_seconds = Histogram(FLUSH_BUCKETS)
        self.flush_rows = Histogram(SIZE_BUCKETS)
        self.flush_failures = 0
        self.orphan_receipts = 0
        self.duplicate_receipts = 0
        self.unmatched_receipts = 0
        # Seconds the database has been unreachable (0 while it answers), read at scrape time.
        self.database_unreachable: Callable[[], float] = lambda: 0.0
        self.database_restarts = 0
        self.callbacks_delivered = 0
        self.callback_failures = 0
        self.callback_outbox_depth: Callable[[], int] = lambda: 0
        # The dispatcher's slots, read at scrape time: parts leased and not yet stored, and
        # how many it may lease (the bound windows, or dispatcher.max_in_flight).
        self.leased_parts: Callable[[], int] = lambda: 0
        self.lease_capacity: Callable[[], int] = lambda: 0
        # Queues (a batch's messages on one route) the fair share sees due now, and how long
        # the latest read of them took.
        self.due_queues: Callable[[], int] = lambda: 0
        self.due_queues_read_seconds: Callable[[], float] = lambda: 0.0
        # Tracked-link clicks recorded, and numbers that opted out, by how.
        self.link_clicks = 0
        self.opt_outs: dict[str, int] = dict.fromkeys(OPT_OUT_SOURCES, 0)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def bind(self, name: str) -> BindStats:
        stats = self.binds.get(name)
        if stats is None:
            stats = self.binds[name] = BindStats(name)
        return stats

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        binds = list(m.binds.values())
        yield _counter(
            "herald_submit_sm",
            "submit_sm responses by bind and status class",
            ["bind", "status_class"],
            ((b.name, cls, n) for b in binds for cls, n in sorted(b.submits.items())),
        )
        yield _counter(
            "herald_segments_sent",
            "segments accepted by the SMSC",
            ["bind"],
            ((b.name, b.segments_sent) for b in binds),
        )
        yield _counter(
            "herald_throttle_events",
            "ESME_RTHROTTLED/RMSGQFUL responses",
            ["bind"],
            ((b.name, b.throttle_events) for b in binds),
        )
        yield _counter(
            "herald_reconnects",
            "bind reconnect attempts",
            ["bind"],
            ((b.name, b.reconnects) for b in binds),
        )
        yield _counter(
            "herald_receipts",
            "delivery receipts by bind and state",
            ["bind", "state"],
            ((b.name, s, n) for b in binds for s, n in sorted(b.receipts.items())),
        )
        yield _gauge(
            "herald_bind_rate",
            "current submit rate limit, PDUs per second",
            ["bind"],
            ((b.name, b.rate()) for b in binds),
        )
        yield _gauge(
            "herald_window_in_use",
            "outstanding requests on the bind",
            ["bind"],
            ((b.name, b.window_in_use()) for b in binds),
        )
        states = {b.name: b.state() for b in binds}
        yield _gauge(
            "herald_bind_state",
            "1 for the bind's current state",
            ["bind", "state"],
            ((b.name, s, 1.0 if states[b.name] == s else 0.0) for b in binds for s in BIND_STATES),
        )
        yield _counter(
            "herald_messages",
            "messages reaching each status",
            ["status"],
            sorted(m.messages.items()),
        )
        yield _counter(
            "herald_routed_messages",
            "messages routed, by route",
            ["route"],
            sorted(m.routes.items()),
        )
        yield _counter(
            "herald_expanded_recipients",
            "recipients expanded into messages",
            [],
            [(m.expanded_recipients,)],
        )
        yield _counter(
            "herald_expansion_seconds",
            "time spent expanding campaigns",
            [],
            [(m.expansion_seconds,)],
        )
        yield _histogram(
            "herald_submit_to_receipt_seconds",
            "time from submit_sm to its final receipt",
            m.receipt_latency,
        )
        yield _histogram(
            "herald_db_flush_seconds", "latency of batched database writes", m.flush_seconds
        )
        yield _histogram("herald_db_flush_rows", "rows per batched database write", m.flush_rows)
        yield _counter(
            "herald_db_flush_failures",
            "batched writes that failed and were kept",
            [],
            [(m.flush_failures,)],
        )
        yield _counter(
            "herald_orphan_receipts",
            "receipts parked because no part waited for them (yet): most often their part's id "
            "was not stored yet",
            [],
            [(m.orphan_receipts,)],
        )
        yield _counter(
            "herald_duplicate_receipts",
            "receipts for a part that already had its final receipt (resent, or overtaken)",
            [],
            [(m.duplicate_receipts,)],
        )
        yield _counter(
            "herald_unmatched_receipts",
            "orphan receipts given up on after orphan_ttl_hours (each logged with its id)",
            [],
            [(m.unmatched_receipts,)],
        )
        yield _gauge(
            "herald_database_unreachable_seconds",
            "how long the database has not answered (0 while it does)",
            [],
            [(m.database_unreachable(),)],
        )
        yield _counter(
            "herald_database_restarts",
            "restarts of a crashed embedded PostgreSQL",
            [],
            [(m.database_restarts,)],
        )
        yield _counter(
            "herald_callbacks_delivered",
            "webhook deliveries that succeeded",
            [],
            [(m.callbacks_delivered,)],
        )
        yield _counter(
            "herald_callback_failures", "webhook attempts that failed", [], [(m.callback_failures,)]
        )
        yield _gauge(
            "herald_callback_outbox_depth",
            "webhooks waiting to be delivered",
            [],
            [(m.callback_outbox_depth(),)],
        )
        yield _counter("herald_link_clicks", "tracked-link clicks recorded", [], [(m.link_clicks,)])
        yield _counter(
            "herald_opt_outs",
            "opt-outs, by source: a keyword reply or an opt-out link",
            ["source"],
            sorted(m.opt_outs.items()),
        )
        yield _gauge(
            "herald_leased_parts",
            "parts leased by this process, not yet stored",
            [],
            [(m.leased_parts(),)],
        )
        yield _gauge(
            "herald_lease_capacity",
            "parts this process may lease at once",
            [],
            [(m.lease_capacity(),)],
        )
        yield _gauge(
            "herald_due_queues",
            "batches' queues (per route) with due messages, as this process's fair share sees them",
            [],
            [(m.due_queues(),)],
        )
        yield _gauge(
            "herald_due_queues_read_seconds",
            "how long the latest read of the due queues took (a probe or two per sending batch)",
            [],
            [(m.due_queues_read_seconds(),)],
        )


def _counter(name: str, doc: str, labels: list[str], rows: Iterable[tuple]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for *values, n in rows:
        family.add_metric(list(values), n)
    return family


def _gauge(name: str, doc: str, labels: list[str], rows: Iterable[tuple]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for *values, n in rows:
        family.add_metric(list(values), n)
    return family


def _histogram(name: str, doc: str, h: Histogram) -> Metric:
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], h.buckets(), sum_value=h.sum)
    return family
