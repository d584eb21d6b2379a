"""The shipped Grafana dashboard only queries metrics herald actually exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from herald.metrics import Metrics

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "src" / "herald" / "etc" / "grafana-dashboard.json"
)


def test_every_queried_metric_exists() -> None:
    m = Metrics()
    m.bind("a").submits["ok"] += 1
    m.bind("a").receipts["delivered"] += 1
    m.messages["sent"] += 1
    m.routes["r"] += 1
    exported = set()
    for family in text_string_to_metric_families(m.exposition().decode()):
        exported.update(s.name for s in family.samples)
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(herald_[a-z_]+)", target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert queried <= exported, sorted(queried - exported)
