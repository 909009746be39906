"""The worker's Prometheus endpoint: the Temporal SDK runtime's own metrics (task slots,
schedule-to-start latencies, sticky cache; guide §3.8) and the finance metrics that
workflow code records through the same runtime (telemetry/finance.py).

Share of invoices needing a person, in PromQL:
    sum(finsync_invoices_needing_a_person_total) / sum(finsync_invoices_total)
Failure rate by lifecycle stage:
    sum by (stage) (finsync_lifecycle_exceptions_total) / sum by (stage) (finsync_lifecycle_stage_entered_total)
"""

from functools import lru_cache

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from telemetry.finance import record_drifts  # noqa: F401 - the reconciliation workflow's entry point

_HOUR, _DAY = 3600, 86400
# Default buckets stop at seconds; these metrics run to hours and days.
BUCKETS: dict[str, list[float]] = {
    "finsync_invoice_to_payment_cycle_seconds": [60, _HOUR, 6 * _HOUR, _DAY, 3 * _DAY, 7 * _DAY, 14 * _DAY, 30 * _DAY,
                                                 45 * _DAY, 60 * _DAY, 90 * _DAY],
    "finsync_exception_resolution_seconds": [60, 300, 900, _HOUR, 4 * _HOUR, 8 * _HOUR, _DAY, 2 * _DAY, 3 * _DAY,
                                             7 * _DAY, 14 * _DAY],
    "finsync_sync_latency_seconds": [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, _HOUR, 4 * _HOUR, _DAY],
    "finsync_cash_forecast_error_days": [0, 1, 2, 3, 5, 10, 30],
}


def prometheus_runtime(bind_address: str) -> Runtime:
    """A runtime serving /metrics on `bind_address` (host:port). Durations in seconds, the
    Prometheus base unit, so the finance histograms' `_seconds` names hold."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=bind_address, durations_as_seconds=True, histogram_bucket_overrides=BUCKETS)))


@lru_cache
def runtime_for(bind_address: str) -> Runtime:
    # One per address and process: a second runtime could not bind the same port.
    return prometheus_runtime(bind_address)
