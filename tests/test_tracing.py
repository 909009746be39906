"""One trace per invoice: the client's StartWorkflow, the workflow, each activity and each HTTP
call the activity makes to SAP share one trace id, and SAP receives the trace context in a
`traceparent` header. Real dev server and mock-sap; spans kept in memory."""

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from telemetry import http as traced_http
from telemetry import tracing
from tests.harness.bank import HarnessBankClient
from tests.helpers import make_invoice, new_worker, wait_for_status
from workflows.invoice_lifecycle import InvoiceToPayment


@pytest.fixture
def provider():
    """A provider of this test's own, passed explicitly (the process-wide global can be set
    only once), handed to the adapters' httpx instrumentation for this test only."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced_http.use(tracer_provider)
    yield tracer_provider, exporter
    traced_http.use(None)
    tracer_provider.shutdown()


async def test_one_trace_from_workflow_through_activity_to_sap(env: WorkflowEnvironment, sap_server, store, provider):
    tracer_provider, exporter = provider
    client = await Client.connect(env.client.service_client.config.target_host, namespace=env.client.namespace,
                                  data_converter=env.client.data_converter,
                                  interceptors=[tracing.interceptor(tracer_provider)])
    invoice = make_invoice()
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")

    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    names = ["StartWorkflow:InvoiceToPayment", "RunWorkflow:InvoiceToPayment",
             "StartActivity:post_supplier_invoice", "RunActivity:post_supplier_invoice"]
    for name in names:
        assert name in by_name, sorted(by_name)
    run_activity = by_name["RunActivity:post_supplier_invoice"]
    posts = [s for s in spans if s.kind == SpanKind.CLIENT and _method(s) == "POST" and "A_SupplierInvoice" in _url(s)]
    assert len(posts) == 1, [(s.name, _method(s), _url(s)) for s in spans if s.kind == SpanKind.CLIENT]
    [post] = posts
    trace_id = by_name[names[0]].context.trace_id
    assert {by_name[n].context.trace_id for n in names} | {post.context.trace_id} == {trace_id}
    assert post.parent is not None and post.parent.span_id == run_activity.context.span_id
    assert run_activity.parent.span_id == by_name["StartActivity:post_supplier_invoice"].context.span_id

    # SAP got the context: the POST it logged carries a traceparent naming this trace.
    async with httpx.AsyncClient(base_url=sap_server) as control:
        logged = (await control.get("/_mock/requests", params={"limit": 200, "verbose": 1})).json()["results"]
    trace_hex = f"{trace_id:032x}"
    ours = [r for r in logged if trace_hex in _header(r, "traceparent")]
    assert any(r["method"] == "POST" and r["path"].endswith("A_SupplierInvoice") for r in ours), \
        [(r["method"], r["path"]) for r in ours]
    # The POST's header names the HTTP span itself as parent (flags: sampled, and random id).
    span_hex = f"{post.context.span_id:016x}"
    assert any(_header(r, "traceparent").startswith(f"00-{trace_hex}-{span_hex}-") for r in ours)


async def test_bank_calls_carry_the_trace_and_nothing_when_tracing_is_off(provider):
    tracer_provider, exporter = provider
    sent: list[str | None] = []

    def bank(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("traceparent"))
        return httpx.Response(404)

    async with HarnessBankClient("http://bank.test", transport=httpx.MockTransport(bank)) as client:
        with tracer_provider.get_tracer("test").start_as_current_span("RunActivity:submit_payment_file") as parent:
            assert await client.payments_for("E2E-1") == []
    traced_http.use(None)  # tracing off: clients built now are left alone
    async with HarnessBankClient("http://bank.test", transport=httpx.MockTransport(bank)) as client:
        assert await client.payments_for("E2E-1") == []
    assert sent[0].startswith(f"00-{parent.get_span_context().trace_id:032x}-") and sent[1] is None
    [call] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert call.parent.span_id == parent.get_span_context().span_id


def _method(span: ReadableSpan) -> str | None:
    attrs = span.attributes or {}
    return attrs.get("http.request.method") or attrs.get("http.method")


def _url(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    return str(attrs.get("url.full") or attrs.get("http.url") or "")


def _header(row: dict, name: str) -> str:
    return next((str(v) for k, v in (row.get("headers") or {}).items() if k.lower() == name), "")
