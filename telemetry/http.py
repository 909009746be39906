"""Client spans for the adapters' HTTP calls, children of the current (activity) span, with
the W3C `traceparent` header injected so SAP, the bank and the e-invoicing partner can log
it. Adapters wrap each httpx client they build in `instrument`; it does nothing unless
tracing is on, so adapters stay free of Temporal and of tracing configuration."""

import httpx
from opentelemetry.trace import TracerProvider

_provider: TracerProvider | None = None


def use(provider: TracerProvider | None) -> None:
    """Instrument clients built from now on with `provider` (None: stop instrumenting)."""
    global _provider
    _provider = provider


def instrument(client: httpx.AsyncClient) -> httpx.AsyncClient:
    if _provider is None:
        return client
    # Imported only when on: the instrumentation is a sizeable import the default path skips.
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_provider)
    return client
