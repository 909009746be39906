"""Telemetry for the worker, all off by default: traces (tracing.py, http.py), the SDK
runtime's Prometheus endpoint (metrics.py) and the finance metrics recorded from workflow
code (finance.py). Switched on by FINSYNC_OTEL_TRACING, FINSYNC_OTLP_ENDPOINT and
FINSYNC_METRICS_BIND (settings.py)."""
