"""Metrics: plain counters show up in the Prometheus exposition with bounded labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from herald.metrics import Metrics


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counters_gauges_and_histograms_are_exported() -> None:
    m = Metrics()
    b = m.bind("carrier-a")
    b.submits["ok"] += 3
    b.submits["throttled"] += 1
    b.segments_sent += 3
    b.receipts["delivered"] += 2
    b.rate = lambda: 42.5
    b.window_in_use = lambda: 7
    b.state = lambda: "bound"
    m.messages["delivered"] += 2
    m.receipt_latency.observe(0.3)
    m.receipt_latency.observe(4000)
    m.flush_rows.observe(500)
    m.leased_parts, m.lease_capacity = (lambda: 150), (lambda: 400)
    s = samples(m)
    assert s[("herald_submit_sm_total", (("bind", "carrier-a"), ("status_class", "ok")))] == 3
    assert s[("herald_segments_sent_total", (("bind", "carrier-a"),))] == 3
    assert s[("herald_receipts_total", (("bind", "carrier-a"), ("state", "delivered")))] == 2
    assert s[("herald_bind_rate", (("bind", "carrier-a"),))] == 42.5
    assert s[("herald_window_in_use", (("bind", "carrier-a"),))] == 7
    assert s[("herald_bind_state", (("bind", "carrier-a"), ("state", "bound")))] == 1
    assert s[("herald_bind_state", (("bind", "carrier-a"), ("state", "closed")))] == 0
    assert s[("herald_messages_total", (("status", "delivered"),))] == 2
    assert s[("herald_submit_to_receipt_seconds_bucket", (("le", "0.5"),))] == 1
    assert s[("herald_submit_to_receipt_seconds_bucket", (("le", "+Inf"),))] == 2
    assert s[("herald_submit_to_receipt_seconds_count", ())] == 2
    assert s[("herald_db_flush_rows_sum", ())] == 500
    assert (s[("herald_leased_parts", ())], s[("herald_lease_capacity", ())]) == (150, 400)


def test_every_metric_is_prefixed_and_labels_are_bounded() -> None:
    m = Metrics()
    m.bind("a").submits["ok"] += 1
    allowed = {"bind", "status_class", "state", "status", "route", "source", "le"}
    for family in text_string_to_metric_families(m.exposition().decode()):
        assert family.name.startswith("herald_"), family.name
        for s in family.samples:
            assert set(s.labels) <= allowed, (family.name, s.labels)
