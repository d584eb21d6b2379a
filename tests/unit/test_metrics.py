"""Metrics: plain counters show up in the Prometheus exposition with bounded labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from herald.metrics import Backlog, Credit, Metrics, PoolUsage


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
    m = Metrics("1.2.3")
    m.bind("a").submits["ok"] += 1
    m.api_request("/v1/campaigns/{campaign_id}", "GET", 200, 0.01)
    m.account_rate_share = lambda: {"acme": 5.0}
    m.credit = (Credit("shop", 1, 2),)
    # route: a route name or an API route template; account: at most 1,000 accounts that
    # sent lately (herald.store.health); version: one.
    allowed = {"bind", "status_class", "state", "status", "route", "source", "le", "method"}
    allowed |= {"carrier_account", "account", "version"}
    standard = ("process_", "python_")  # prometheus-client's own collectors
    names = set()
    for family in text_string_to_metric_families(m.exposition().decode()):
        names.add(family.name)
        if family.name.startswith(standard):
            continue
        assert family.name.startswith("herald_"), family.name
        for s in family.samples:
            assert set(s.labels) <= allowed, (family.name, s.labels)
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= names


def test_build_backlog_pool_api_and_shares_are_exported() -> None:
    m = Metrics("1.2.3")
    m.backlog = Backlog(queued=120, deferred=30, oldest_due_seconds=4.5)
    m.pool = lambda: PoolUsage(in_use=3, idle=2, max_size=10)
    m.api_request("/v1/campaigns", "POST", 201, 0.02)
    m.api_request("/v1/campaigns", "POST", 201, 0.2)
    m.api_request("unmatched", "GET", 404, 0.001)
    m.account_rate_share = lambda: {"acme": 33.3}
    m.account_bind_slots = lambda: {"acme": 2}
    m.live_nodes = lambda: 3
    m.credit = (Credit("shop", 900, 5000),)
    m.pruned_messages = 7
    s = samples(m)
    assert s[("herald_build_info", (("version", "1.2.3"),))] == 1
    assert s[("herald_backlog_messages", (("status", "queued"),))] == 120
    assert s[("herald_backlog_messages", (("status", "deferred"),))] == 30
    assert s[("herald_oldest_due_seconds", ())] == 4.5
    assert s[("herald_db_pool_connections", (("state", "in_use"),))] == 3
    assert s[("herald_db_pool_max", ())] == 10
    post = (("method", "POST"), ("route", "/v1/campaigns"), ("status", "201"))
    assert s[("herald_api_requests_total", post)] == 2
    assert s[("herald_api_request_duration_seconds_count", post[:2])] == 2
    bucket = (("le", "0.025"), *post[:2])
    assert s[("herald_api_request_duration_seconds_bucket", bucket)] == 1
    assert s[("herald_carrier_account_rate", (("carrier_account", "acme"),))] == 33.3
    assert s[("herald_carrier_account_bind_slots", (("carrier_account", "acme"),))] == 2
    assert s[("herald_live_nodes", ())] == 3
    assert s[("herald_account_credit_segments", (("account", "shop"),))] == 900
    assert s[("herald_account_credit_used_24h_segments", (("account", "shop"),))] == 5000
    assert s[("herald_pruned_messages_total", ())] == 7
