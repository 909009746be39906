"""Peppol Invoice Responses to the supplier, against a real mock-einvoice: its supplier side sends
an invoice (recorded, as finsync's intake would have received it) and finsync, the buyer, answers
through the supplier's POST /responses."""

import dataclasses

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.supplier_responses import SupplierResponseActivities
from adapters.einvoice import EInvoiceClient, InvoiceResponseRefused, to_application_response
from canonical.invoice_response import InvoiceResponse, ResponseCode, allowed_next, response_id_for
from canonical.supplier_texts import NEW_INVOICE, NOT_ACCEPTED, UNKNOWN_ORDER
from cli.processes import BIN, ManagedProcess
from tests.harness.einvoice import LookupEInvoiceClient
from tests.intake_helpers import document, new_number
from tests.servers import running

C = ResponseCode


@pytest.fixture(scope="module")
def mock_url(tmp_path_factory) -> str:
    log = tmp_path_factory.mktemp("einvoice") / "mock-einvoice.log"
    start = lambda port, log_path: ManagedProcess(  # noqa: E731
        "mock-einvoice", [str(BIN / "mock-einvoice"), "--port", str(port), "-q"], log_path)
    with running(start, log) as url:
        yield url


async def sent_invoice(mock_url: str) -> str:
    """The supplier sends a fresh invoice (no --buyer-url: recorded, as if pushed to our intake)."""
    number = new_number()
    async with httpx.AsyncClient(base_url=mock_url, timeout=30) as mock:
        r = await mock.post("/_mock/sent", content=document("valid.xml", number),
                            headers={"Content-Type": "application/xml"})
        assert r.status_code == 201, r.text
    return number


def response(number: str, code: ResponseCode, **kw) -> InvoiceResponse:
    return InvoiceResponse(
        invoice_key=f"1710-1000013-{number}", document_id=number, supplier_endpoint="0088:4012345000009",
        supplier_name="Globex GmbH", buyer_endpoint="0088:8712345000011", buyer_name="ACME Europe B.V.",
        code=code, **kw)


async def supplier_side(mock_url: str, number: str) -> dict:
    async with httpx.AsyncClient(base_url=mock_url, timeout=30) as mock:
        sent = [d for d in (await mock.get("/_mock/sent")).json() if d["number"] == number]
        return (await mock.get(f"/_mock/sent/{sent[-1]['id']}")).json()


@pytest.fixture
async def client(mock_url):
    """The production client plus a look at what the supplier holds (the mock's /_mock paths)."""
    async with LookupEInvoiceClient(mock_url) as c:
        yield c


# -- the order, without a server ----------------------------------------------------------

def test_allowed_next_follows_peppol_order():
    assert allowed_next(None, C.AB) and not allowed_next(None, C.AP)
    assert allowed_next(C.AB, C.IP) and allowed_next(C.IP, C.UQ) and allowed_next(C.UQ, C.UQ)
    assert not allowed_next(C.UQ, C.IP) and not allowed_next(C.IP, C.IP)          # R012
    assert allowed_next(C.UQ, C.RE) and allowed_next(C.UQ, C.AP) and allowed_next(C.CA, C.AP)
    assert allowed_next(C.AP, C.PD) and not allowed_next(C.AP, C.UQ)              # R005
    assert not allowed_next(C.AB, C.PD) and not allowed_next(C.UQ, C.PD)          # PD only after AP
    assert not any(allowed_next(C.RE, c) or allowed_next(C.PD, c) for c in C)     # R004


def test_response_id_is_deterministic_per_status_change():
    a, b = response("X-1", C.AP), response("X-1", C.AP)
    assert a.response_id == b.response_id == response_id_for("1710-1000013-X-1", C.AP)
    assert response("X-1", C.PD).response_id != a.response_id
    assert response("X-1", C.UQ, occurrence=2).response_id != response("X-1", C.UQ).response_id
    with pytest.raises(ValueError):
        response("X-1", C.RE)  # a rejection needs a reason
    with pytest.raises(ValueError):
        response("X-1", C.AP, response_id="IR-made-up")


# -- against mock-einvoice ------------------------------------------------------------------

async def test_ab_ap_pd_in_order(mock_url, client):
    number = await sent_invoice(mock_url)
    acts = SupplierResponseActivities(client)
    env = ActivityEnvironment()
    for code in (C.AB, C.AP, C.PD):
        assert await env.run(acts.send_invoice_response, response(number, code)) == "sent"
    side = await supplier_side(mock_url, number)
    assert [(r["code"], r["ignored"]) for r in side["responses"]] == [("AB", ""), ("AP", ""), ("PD", "")]
    assert side["status"] == "PD"
    recorded = await client.recorded_responses(number)
    assert [r.response_id for r in recorded] == [response(number, c).response_id for c in (C.AB, C.AP, C.PD)]


async def test_same_ap_twice_is_one_response(mock_url, client):
    number = await sent_invoice(mock_url)
    acts, env = SupplierResponseActivities(client), ActivityEnvironment()
    assert await env.run(acts.send_invoice_response, response(number, C.AB)) == "sent"
    assert await env.run(acts.send_invoice_response, response(number, C.AP)) == "sent"
    assert await env.run(acts.send_invoice_response, response(number, C.AP, note="again")) == "already sent"
    side = await supplier_side(mock_url, number)
    assert [r["code"] for r in side["responses"]] == ["AB", "AP"]


async def test_pd_before_ap_refused_by_allowed_next(mock_url, client):
    number = await sent_invoice(mock_url)
    acts, env = SupplierResponseActivities(client), ActivityEnvironment()
    await env.run(acts.send_invoice_response, response(number, C.AB))
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.send_invoice_response, response(number, C.PD))
    assert err.value.type == "InvoiceResponseRefused" and err.value.non_retryable
    assert "OUT-OF-ORDER" in str(err.value)
    assert [r["code"] for r in (await supplier_side(mock_url, number))["responses"]] == ["AB"]


async def test_mock_supplier_does_not_refuse_pd_after_ab_but_flags_real_peppol_breaks(mock_url, client):
    """Which side checks what: Peppol itself allows PD after AB (only finsync's allowed_next
    refuses it), and the supplier side never answers 409 — it keeps an out-of-order response
    flagged `ignored` (here AP after PD: OP-BR111-R004), which the adapter reports as refused."""
    number = await sent_invoice(mock_url)
    await client.post_response(to_application_response(response(number, C.AB)))
    pd = await client.post_response(to_application_response(response(number, C.PD)))
    assert pd.ignored == ""  # the mock took PD straight after AB
    with pytest.raises(InvoiceResponseRefused) as err:
        await client.post_response(to_application_response(response(number, C.AP)))
    assert err.value.reason == "OP-BR111-R004"
    side = await supplier_side(mock_url, number)
    assert side["status"] == "PD" and [r["ignored"] for r in side["responses"]] == ["", "", "OP-BR111-R004"]


async def test_re_with_reason_codes_recorded(mock_url, client):
    number = await sent_invoice(mock_url)
    acts, env = SupplierResponseActivities(client), ActivityEnvironment()
    await env.run(acts.send_invoice_response, response(number, C.AB))
    # Only reviewed texts reach the supplier (canonical/supplier_texts.py): an internal one is replaced.
    re = response(number, C.RE, reasons=[UNKNOWN_ORDER, ("OTH", "duplicate of GLX-0001, says ap.anna")],
                  actions=[NEW_INVOICE, ("PIN", "ask anna")], note="refused by finsync")
    assert await env.run(acts.send_invoice_response, re) == "sent"
    side = await supplier_side(mock_url, number)
    assert side["status"] == "RE"
    answer_id = side["responses"][-1]["id"]
    async with httpx.AsyncClient(base_url=mock_url) as mock:
        xml = (await mock.get(f"/_mock/answers/{answer_id}")).content
    import mockeinvoice
    read, report = mockeinvoice.validate_response(xml)
    assert report.verdict == "valid" and read.id == re.response_id
    assert [(s.reason_code, s.list_id, s.reason) for s in read.statuses] == [
        ("REF", "OPStatusReason", UNKNOWN_ORDER[1]),
        ("OTH", "OPStatusReason", NOT_ACCEPTED[1]),
        ("NIN", "OPStatusAction", NEW_INVOICE[1])]
    assert b"anna" not in xml and b"refused by finsync" not in xml
    # nothing after RE
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.send_invoice_response, response(number, C.AP))
    assert err.value.type == "InvoiceResponseRefused"


async def test_resend_after_crash_is_one_response(mock_url, client):
    """Posted in the ERP, AP sent, worker dies before the activity completes: Temporal runs the
    activity again with the same input. The lookup finds the AP by its response_id."""
    number = await sent_invoice(mock_url)
    acts, env = SupplierResponseActivities(client), ActivityEnvironment()
    await env.run(acts.send_invoice_response, response(number, C.AB))
    ap = response(number, C.AP)
    # The first attempt's POST reached the supplier; its completion was lost with the worker.
    await client.post_response(to_application_response(ap))
    async with LookupEInvoiceClient(mock_url) as fresh:  # a new worker, a new client
        answer = await ActivityEnvironment().run(SupplierResponseActivities(fresh).send_invoice_response, ap)
        assert answer == "already sent"
    assert await env.run(acts.send_invoice_response, ap) == "already sent"
    assert [r["code"] for r in (await supplier_side(mock_url, number))["responses"]] == ["AB", "AP"]


async def test_without_a_lookup_a_resend_is_judged_by_the_suppliers_answer(mock_url):
    """Production has no look at what the supplier holds: a retry (attempt 2) whose first
    attempt arrived is flagged out of order by the supplier, which means "already sent"; the
    same flag on a first attempt is a refusal."""
    number = await sent_invoice(mock_url)
    async with EInvoiceClient(mock_url) as plain:
        assert await plain.send(response(number, C.AB)) == "sent"
        ap = response(number, C.AP)
        await plain.post_response(to_application_response(ap))  # arrived; its answer was lost
        retry = ActivityEnvironment()
        retry.info = dataclasses.replace(retry.info, attempt=2)
        assert await retry.run(SupplierResponseActivities(plain).send_invoice_response, ap) == "already sent"
        with pytest.raises(InvoiceResponseRefused) as refused:
            await plain.send(response(number, C.IP))  # nothing but PD after AP
        assert refused.value.reason == "OP-BR111-R005"
    side = await supplier_side(mock_url, number)
    assert side["status"] == "AP" and [r["code"] for r in side["responses"] if not r["ignored"]] == ["AB", "AP"]


async def test_unknown_invoice_refused_and_unreachable_is_retryable(mock_url, client):
    acts, env = SupplierResponseActivities(client), ActivityEnvironment()
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.send_invoice_response, response("NEVER-SENT-1", C.AB))
    assert err.value.type == "InvoiceResponseRefused" and "NO-SUCH-INVOICE" in str(err.value)
    async with EInvoiceClient("http://127.0.0.1:9") as dead:
        with pytest.raises(ApplicationError) as err:
            await env.run(SupplierResponseActivities(dead).send_invoice_response, response("X-2", C.AB))
    assert err.value.type == "CounterpartUnavailable" and not err.value.non_retryable
