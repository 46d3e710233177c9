"""The Prometheus metric families of one node, built from plain numbers at scrape time.

Label values are bounded: message types come from ``protocol.messages`` (the
codec refuses others) and rejection reasons from the error codes in the
code, so no input can grow the number of series.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

#: Gauges read from one value of the scrape: (metric name, help, key).
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("grid_gossip_lag_seconds",
     "Age of the oldest live entry in this node's view: how old the stalest news it counts is", "gossip_lag_s"),
    ("grid_view_digest_agreement_ratio",
     "Share of live nodes whose last published view digest equals this node's (1: all see the same grid)",
     "digest_agreement"),
    ("grid_price_eur_per_mwh", "Market clearing price computed from this node's view", "price"),
    ("grid_carbon_intensity_grams_per_kwh", "Grid carbon intensity from this node's view, gCO2/kWh",
     "carbon_intensity"),
    ("grid_net_watts", "Grid net output (production - consumption of live nodes) as this node sees it", "gridnet_w"),
    ("grid_node_net_watts", "This node's own net output (production - consumption)", "net_w"),
    ("grid_node_production_watts", "This node's own production", "production_w"),
    ("grid_node_consumption_watts", "This node's own published consumption (after curtailment)", "consumption_w"),
    ("grid_node_incarnation", "This node's incarnation (bumped at every start)", "incarnation"),
    ("grid_siblings", "Nodes directly linked to this node", "siblings"),
    ("grid_requests_in_flight", "Requests to /messaging and /meter/readings being handled now", "in_flight"),
    ("grid_requests_in_flight_limit", "Most requests handled at once; more are shed with 503", "in_flight_limit"),
)  # fmt: skip

#: The statuses of nodes in the view, in the order they are exposed.
NODE_STATUSES = ("live", "stale", "left")


def build(received: Mapping[str, int], rejected: Mapping[str, int], scrape: Mapping[str, Any] | None) -> list[Metric]:
    """Every family; with ``scrape`` None only the names (for the registry's clash check)."""
    values = scrape or {}
    inbound = [([t, "http"], n) for t, n in sorted(received.items())]
    inbound += [([t, "memory"], n) for t, n in sorted(values.get("delivered", {}).items())]
    families: list[Metric] = [
        _counter("grid_messages_received", "Envelopes this node received, by msgType and transport",
                 ["msg_type", "transport"], inbound),
        _counter("grid_messages_sent", "Envelopes this node handed to its transport, by msgType",
                 ["msg_type"], _rows(values.get("sent", {}))),
        _counter("grid_delivery_failures", "Envelopes this node could not deliver (after retries), by msgType",
                 ["msg_type"], _rows(values.get("failed", {}))),
        _counter("grid_requests_rejected", "Requests answered with an error, by error code",
                 ["reason"], _rows(rejected)),
    ]  # fmt: skip
    nodes = GaugeMetricFamily("grid_nodes", "Nodes in this node's view, by status", labels=["status"])
    for status in NODE_STATUSES if scrape else ():
        nodes.add_metric([status], values["nodes"][status])
    families.append(nodes)
    families += [_gauge(name, doc, values.get(key)) for name, doc, key in GAUGES]
    info = InfoMetricFamily("grid_node", "This node's identity", labels=["id", "name", "kind", "address"])
    if scrape:
        node = values["node"]
        info.add_metric([node["id"], node["name"], node["kind"], node["address"]], {})
    families.append(info)
    return families


def _rows(counts: Mapping[str, int]) -> list[tuple[list[str], int]]:
    return [([key], n) for key, n in sorted(counts.items())]


def _counter(name: str, doc: str, labels: list[str], rows: Iterable[tuple[list[str], int]]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, value in rows:
        family.add_metric(label_values, value)
    return family


def _gauge(name: str, doc: str, value: float | None) -> Metric:
    return GaugeMetricFamily(name, doc) if value is None else GaugeMetricFamily(name, doc, value=value)
