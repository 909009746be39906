"""The Prometheus rules and the Grafana dashboard in deploy/ name only metrics the worker emits
(issue 11, item 8): every finsync_ metric is one telemetry/finance.py records (a histogram
with its _bucket/_sum/_count series), every temporal_ metric one the SDK's Prometheus exporter
serves, and every runbook an alert points to exists. No server: the files are parsed."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "finsync-rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "finsync.json"
METRIC = re.compile(r"\b((?:finsync|temporal)_[a-z0-9_]+)\b")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")

# What temporalio 1.35's core exporter served on /metrics for a worker running a workflow and an
# activity that failed once (scraped on the dev server, 2026-11-27, durations in seconds) ...
SDK_SEEN = {
    "temporal_activity_execution_failed", "temporal_activity_execution_latency",
    "temporal_activity_schedule_to_start_latency", "temporal_activity_succeed_endtoend_latency",
    "temporal_activity_task_received", "temporal_long_request", "temporal_long_request_latency",
    "temporal_num_pollers", "temporal_request", "temporal_request_latency", "temporal_sticky_cache_hit",
    "temporal_sticky_cache_size", "temporal_worker_start", "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used", "temporal_workflow_completed", "temporal_workflow_endtoend_latency",
    "temporal_workflow_task_execution_latency", "temporal_workflow_task_queue_poll_succeed",
    "temporal_workflow_task_replay_latency", "temporal_workflow_task_schedule_to_start_latency",
}
# ... and the ones its metric reference lists that appear only once the event happens.
SDK_ON_EVENT = {
    "temporal_workflow_failed", "temporal_workflow_canceled", "temporal_workflow_continue_as_new",
    "temporal_workflow_task_execution_failed", "temporal_workflow_task_queue_poll_empty",
    "temporal_activity_poll_no_task", "temporal_activity_execution_cancelled", "temporal_request_failure",
    "temporal_long_request_failure", "temporal_sticky_cache_miss", "temporal_sticky_cache_total_forced_eviction",
}
SDK_HISTOGRAMS = {n for n in SDK_SEEN if n.endswith("_latency")}


def finance_metrics() -> tuple[set[str], set[str]]:
    """(counters, histograms) that telemetry/finance.py records, with the finsync_ prefix."""
    source = (ROOT / "telemetry" / "finance.py").read_text()
    counters = {"finsync_" + n for n in re.findall(r'_count\("(\w+)"', source)}
    histograms = {"finsync_" + n for n in re.findall(r'_duration\("(\w+)"', source)}
    histograms |= {"finsync_" + n for n in re.findall(r'create_histogram\w*\(P \+ "(\w+)"', source)}
    return counters, histograms


def expressions() -> dict[str, list[str]]:
    rules = yaml.safe_load(RULES.read_text())
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    return {
        "rules": [r["expr"] for g in rules["groups"] for r in g["rules"]],
        "dashboard": [t["expr"] for p in panels for t in p.get("targets", [])],
    }


def known(name: str, counters: set[str], histograms: set[str]) -> bool:
    for suffix in HISTOGRAM_SERIES:
        if name.endswith(suffix) and name[:-len(suffix)] in histograms:
            return True
    return name in counters or (name in SDK_SEEN | SDK_ON_EVENT and name not in SDK_HISTOGRAMS)


def test_every_metric_in_the_rules_and_the_dashboard_is_emitted():
    counters, histograms = finance_metrics()
    assert len(counters) >= 7 and len(histograms) >= 4  # the parse found the module's metrics
    histograms |= SDK_HISTOGRAMS
    unknown = {f"{where}: {name}" for where, exprs in expressions().items() for e in exprs
               for name in METRIC.findall(e) if not known(name, counters, histograms)}
    assert unknown == set()


def test_the_dashboard_shows_every_finance_metric_and_the_worker():
    counters, histograms = finance_metrics()
    shown = " ".join(expressions()["dashboard"] + expressions()["rules"])
    missing = {m for m in counters | histograms if m not in shown}
    assert missing == set()
    for sdk in ("temporal_worker_task_slots_available", "temporal_workflow_task_schedule_to_start_latency",
                "temporal_activity_execution_failed"):
        assert sdk in shown


def test_alerts_are_complete_and_point_to_runbooks_that_exist():
    rules = yaml.safe_load(RULES.read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len({a["alert"] for a in alerts}) == len(alerts)
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning") and alert["annotations"]["summary"]
        runbook = alert["annotations"].get("runbook")
        assert runbook is None or (ROOT / runbook).is_file(), runbook
    linked = {a["annotations"].get("runbook") for a in alerts} - {None}
    assert {"deploy/runbooks/stuck-payment-run.md", "deploy/runbooks/stuck-bank-inbox.md"} <= linked
