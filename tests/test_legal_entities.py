"""Routing by legal entity (issue 12 item 2): the entities' configuration, the ERP directory,
run ids unique per paying account, the duplicate lookup per company code (against the real
mock-sap) and our Peppol party per company code."""

import json
from datetime import date

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.erp import ErpActivities
from activities.supplier_responses import SupplierResponseActivities
from adapters.einvoice import EInvoiceClient
from adapters.erp_directory import ErpDirectory, ErpNotConnected, UnknownCompanyCode
from adapters.erp_errors import ErpBusinessError, ErpOutcomeUnknown, ErpTransientError
from adapters.sap import SapClient
from adapters.sap_erp import SapErp
from adapters.sap_errors import SapBusinessError, SapOutcomeUnknown, SapTransientError
from canonical.bank import PayingAccount
from canonical.entities import SAMPLE_LEGAL_ENTITIES
from canonical.invoice_response import InvoiceResponse, ResponseCode
from canonical.payment_run import PaymentRunRequest
from canonical.status import ErpDocument
from canonical.validation import PostingOutcome
from settings import Settings
from tests.helpers import make_invoice, unique_ref
from workflows.payment_run import run_identity

ACME = {"account_id": "ACME", "name": "ACME", "iban": "NL41MOCK0000000001", "company_code": "1710", "currency": "EUR"}
AMRO = {**ACME, "account_id": "AMRO", "iban": "NL14MOCK0000000002"}


def entity(code: str, erp: str = "sap", accounts: list[str] | None = None) -> dict:
    return {"company_code": code, "name": f"ACME {code}", "country": "NL", "currency": "EUR", "erp": erp,
            "paying_account_ids": accounts or []}


def test_the_sample_routes_three_entities_on_two_erps():
    settings = Settings()
    assert {c: (e.erp, e.paying_account_ids) for c, e in settings.legal_entities.items()} == {
        "1710": ("sap", ["ACME"]), "1010": ("sap", ["ACMEUS"]), "2710": ("tryton", ["ACMEDE"])}
    assert settings.company_codes["2710"].currency == "EUR" and settings.company_codes["1010"].currency == "USD"


def test_entities_as_a_json_list_and_contradictions_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FINSYNC_PAYING_ACCOUNTS", f'{{"ACME": {PayingAccount(**ACME).model_dump_json()}}}')
    monkeypatch.setenv("FINSYNC_LEGAL_ENTITIES", json.dumps([entity("1710"), entity("2710", accounts=["ACME"])]))
    with pytest.raises(ValidationError, match="paying account ACME belongs to company code 1710, not 2710"):
        Settings()
    monkeypatch.setenv("FINSYNC_LEGAL_ENTITIES", json.dumps([entity("1710", accounts=["ACME"])]))
    assert list(Settings().legal_entities) == ["1710"]
    with pytest.raises(ValidationError, match="belongs to company code 1710, not 2710"):
        Settings(legal_entities={"1710": entity("1710", accounts=["ACME"]), "2710": entity("2710", accounts=["ACME"])})


def test_production_needs_its_own_entities():
    production = dict(environment="production", treasury_db_url="postgresql+psycopg://u@h/db")
    assert "FINSYNC_LEGAL_ENTITIES" in (Settings(**production).production_problem() or "")
    configured = Settings(**production, paying_accounts={"ACME": ACME},
                          legal_entities={"1710": entity("1710", accounts=["ACME"])})
    assert configured.production_problem() is None
    assert Settings().production_problem() is None  # development: the sample


def test_run_ids_are_unique_per_paying_account_whatever_their_names():
    with pytest.raises(ValidationError, match="share the run code 'A'"):
        Settings(paying_accounts={"ACME": ACME, "AMRO": AMRO})
    settings = Settings(paying_accounts={"ACME": ACME, "AMRO": {**AMRO, "run_code": "M"}})
    ids = {a: run_identity(PaymentRunRequest(paying_account_id=a, run_date=date(2026, 3, 2), run_number=1),
                           settings.paying_accounts[a])[1] for a in ("ACME", "AMRO")}
    assert ids == {"ACME": "A03021", "AMRO": "M03021"}
    # Without the account (runs before the patch): the first letter, as their histories recorded it.
    assert run_identity(PaymentRunRequest(paying_account_id="AMRO", run_date=date(2026, 3, 2)))[1] == "A03021"


def test_sap_errors_are_the_erp_ports_errors():
    assert isinstance(SapTransientError("busy", retry_after=2.0), ErpTransientError)
    assert isinstance(SapOutcomeUnknown("lost"), ErpOutcomeUnknown)
    refused = SapBusinessError(400, "X/1", "no")
    assert isinstance(refused, ErpBusinessError) and refused.message == "no" and str(refused) == "SAP 400 X/1: no"


async def test_the_directory_routes_companies_documents_and_accounts():
    settings = Settings()
    async with SapClient("http://127.0.0.1:9") as sap:
        erps = ErpDirectory({"sap": SapErp(sap)}, settings.legal_entities, settings.paying_accounts)
        assert erps.for_company("1710").kind == erps.for_paying_account("ACMEUS").kind == "sap"
        assert erps.for_document(ErpDocument(invoice_document="5100000001")).name == "sap"  # an old document: SAP's
        with pytest.raises(ErpNotConnected, match="'tryton' is not connected"):
            erps.for_company("2710")  # never rerouted to another ERP
        with pytest.raises(UnknownCompanyCode, match="9999 is no legal entity"):
            erps.for_company("9999")
        with pytest.raises(ErpNotConnected):
            erps.for_document(ErpDocument(invoice_document="7", erp="tryton"))


async def test_the_duplicate_lookup_is_per_company_code(sap_server: str):
    """One supplier, one reference, two of our company codes on one SAP: two documents, each
    found again by its own company's retry; neither is the other's duplicate."""
    settings = Settings(sap_url=sap_server)
    ref = unique_ref("DUP")
    async with SapErp.from_settings(settings) as erp:
        acts = ErpActivities(ErpDirectory({"sap": erp}, settings.legal_entities, settings.paying_accounts))
        env = ActivityEnvironment()
        europe = make_invoice(ref=ref)
        americas = make_invoice(ref=ref, company_code="1010")
        first = await env.run(acts.post_supplier_invoice, europe)
        second = await env.run(acts.post_supplier_invoice, americas)
        assert (first.outcome, second.outcome) == (PostingOutcome.POSTED, PostingOutcome.POSTED)
        assert first.posted.erp_document != second.posted.erp_document
        assert (first.posted.company_code, second.posted.company_code) == ("1710", "1010")
        again = await env.run(acts.post_supplier_invoice, americas)
        assert again.outcome == PostingOutcome.ALREADY_POSTED
        assert again.posted.erp_document == second.posted.erp_document and again.posted.erp_document.erp == "sap"


def _answer(company_code: str, buyer: str = "") -> InvoiceResponse:
    return InvoiceResponse(invoice_key=f"{company_code}-1000013-X1", document_id="X1", supplier_endpoint="0088:1",
                           code=ResponseCode.AB, supplier_name="Globex", company_code=company_code,
                           buyer_endpoint=buyer)


async def test_our_peppol_party_is_the_company_codes_never_another_entitys():
    acts = SupplierResponseActivities(EInvoiceClient("http://127.0.0.1:9"), SAMPLE_LEGAL_ENTITIES)
    assert acts._with_buyer(_answer("2710")).buyer_endpoint == SAMPLE_LEGAL_ENTITIES["2710"].peppol_endpoint
    assert acts._with_buyer(_answer("1710")).buyer_name == "ACME Europe B.V."
    assert acts._with_buyer(_answer("9999", "0088:7")).buyer_endpoint == "0088:7"  # named by an older build
    with pytest.raises(ApplicationError, match="9999 has no Peppol endpoint") as refused:
        await ActivityEnvironment().run(acts.send_invoice_response, _answer("9999"))
    assert refused.value.type == "NoBuyerParty" and refused.value.non_retryable
