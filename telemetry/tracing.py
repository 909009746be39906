"""One trace per invoice: client → workflow → activity → HTTP call to the counterpart.

Temporal's TracingInterceptor on the client (it then applies to the client's workers too)
makes the StartWorkflow/RunWorkflow/StartActivity/RunActivity spans and carries the context
in Temporal headers; telemetry.http continues it into httpx. The provider is passed
explicitly rather than installed globally: OTel allows one global provider per process, and
tests need their own."""

import logging
import os

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

from settings import Settings
from telemetry import http

log = logging.getLogger(__name__)

_STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_provider: TracerProvider | None = None


def exporting(otlp_endpoint: str | None) -> bool:
    """Whether an endpoint is known: ours, or a standard variable the exporter reads itself."""
    return bool(otlp_endpoint or any(os.environ.get(name) for name in _STANDARD_ENDPOINTS))


def build_provider(otlp_endpoint: str | None) -> TracerProvider:
    """A provider that exports in batches over OTLP/HTTP when an endpoint is known, and
    exports nothing otherwise (the context still propagates)."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "finsync")}))
    if exporting(otlp_endpoint):
        # Imported here: the exporter pulls in protobuf and requests, useless when tracing is off.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # An explicit endpoint is the signal's full URL; the base one from the environment
        # gets /v1/traces appended by the exporter.
        exporter = (OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces") if otlp_endpoint
                    else OTLPSpanExporter())
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def interceptor(provider: TracerProvider) -> TracingInterceptor:
    # Workflow spans even for workflows started without a client span (CLI, schedules,
    # the payment run's updates), so every lifecycle has its trace.
    return TracingInterceptor(provider.get_tracer("finsync.temporal"), always_create_workflow_spans=True)


def configure(settings: Settings) -> list[TracingInterceptor]:
    """The client interceptors for these settings: none when tracing is off. When on, one
    provider per process, also handed to the httpx instrumentation of the adapters."""
    global _provider
    if not settings.otel_tracing:
        return []
    if _provider is None:
        _provider = build_provider(settings.otlp_endpoint)
        http.use(_provider)
        log.info("tracing on, OTLP export %s", "on" if exporting(settings.otlp_endpoint) else "off (no endpoint)")
    return [interceptor(_provider)]


def shutdown() -> None:
    """Flush spans still batched (the worker calls this on its way out)."""
    global _provider
    if _provider is not None:
        http.use(None)
        _provider.shutdown()
        _provider = None
