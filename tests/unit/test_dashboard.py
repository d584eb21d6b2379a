"""The shipped Grafana dashboard only queries metrics herald actually exports, and keeps the
processes apart: every per-process series is selected and grouped by instance, and the
database-wide gauges (the same value in every process) are taken once, with max."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from herald.metrics import Credit, Metrics

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "src" / "herald" / "etc" / "grafana-dashboard.json"
)
# Read from the database, identical in every herald process.
DATABASE_WIDE = {
    "herald_backlog_messages",
    "herald_oldest_due_seconds",
    "herald_callback_outbox_depth",
    "herald_live_nodes",
    "herald_account_credit_segments",
    "herald_account_credit_used_24h_segments",
}
METRIC = re.compile(r"\b((?:herald|process|python)_[a-z_0-9]+)(\{[^}]*\})?")


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_queried_metric_exists() -> None:
    m = Metrics("0.1.0")
    m.bind("a").submits["ok"] += 1
    m.bind("a").receipts["delivered"] += 1
    m.messages["sent"] += 1
    m.routes["r"] += 1
    m.api_request("/v1/campaigns", "GET", 200, 0.01)
    m.account_rate_share = lambda: {"acme": 10.0}
    m.account_bind_slots = lambda: {"acme": 1}
    m.credit = (Credit("shop", 10, 5),)
    exported: set[str] = set()
    for family in text_string_to_metric_families(m.exposition().decode()):
        exported.update(s.name for s in family.samples)
    queried = {match[0] for expr in queries() for match in METRIC.findall(expr)}
    assert queried, "the dashboard queries nothing"
    assert queried <= exported, sorted(queried - exported)
    assert {"herald_backlog_messages", "herald_callback_outbox_depth"} <= queried


def test_two_processes_never_collide() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = [v["name"] for v in dashboard["templating"]["list"]]
    assert "instance" in variables
    for expr in queries():
        for name, selector in METRIC.findall(expr):
            if name.removesuffix("_bucket").removesuffix("_total") in DATABASE_WIDE:
                assert "max(" in expr or "max by" in expr, expr
            else:
                assert 'instance=~"$instance"' in selector, expr
        for grouping in re.findall(r"(?:sum|avg|max) by \(([^)]*)\)", expr):
            labels = {label.strip() for label in grouping.split(",")}
            if "bind" in labels:
                assert "instance" in labels, expr
