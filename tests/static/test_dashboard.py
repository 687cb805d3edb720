"""The sample Grafana dashboard only charts metrics the services really serve."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import meshkit.metrics
import services.campaigns.metrics
import services.consent.metrics
import services.gateway.observability

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
MODULES = (
    meshkit.metrics,
    services.gateway.observability,
    services.campaigns.metrics,
    services.consent.metrics,
)


def _served() -> set[str]:
    """Every sample name the mesh's metrics expose (counters' _total, histograms' _bucket...)."""
    services.campaigns.metrics.register_backlog(lambda: {})  # registered at start-up otherwise
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
    return names


def _queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_every_query_names_only_metrics_the_services_serve() -> None:
    served = _served()
    queries = _queries()
    assert len(queries) >= 10
    used = {name for query in queries for name in re.findall(r"\bcrm_\w+", query)}
    assert used, "no crm_ metric in the dashboard"
    assert used - served == set(), f"unknown metrics: {sorted(used - served)}"


def test_every_domain_metric_has_a_panel() -> None:
    charted = " ".join(_queries())
    for family in REGISTRY.collect():
        if family.name.startswith("crm_"):
            assert family.name in charted, f"{family.name} has no panel"


def test_panels_do_not_overlap_and_have_unique_ids() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in panels:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['title']} overlaps another"
                cells.add((x, y))
        assert grid["x"] + grid["w"] <= 24
