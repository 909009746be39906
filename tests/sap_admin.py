"""Direct calls to mock-sap for arranging and checking tests: master data, faults, and the
ERP's own record of posted invoices (the truth we assert "exactly once" against)."""

import httpx

from canonical.keys import normalise_reference
from tests.clock import business_today

ODATA = "/sap/opu/odata/sap"
BP = f"{ODATA}/API_BUSINESS_PARTNER_SRV"
SI = f"{ODATA}/API_SUPPLIERINVOICE_PROCESS_SRV"


async def _write(sap_url: str, method: str, path: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sap_url, headers={"Accept": "application/json"}) as http:
        fetched = await http.get(path.rsplit("/", 1)[0] + "/", headers={"X-CSRF-Token": "Fetch"})
        token = fetched.headers["x-csrf-token"]
        response = await http.request(method, path, json=body, headers={"X-CSRF-Token": token})
    response.raise_for_status()
    return response


async def invoices_in_erp(sap_url: str, supplier_id: str, reference: str) -> list[dict]:
    flt = f"InvoicingParty eq '{supplier_id}' and SupplierInvoiceIDByInvcgParty eq '{normalise_reference(reference)}'"
    async with httpx.AsyncClient(base_url=sap_url) as http:
        response = await http.get(f"{SI}/A_SupplierInvoice", params={"$filter": flt, "$format": "json"})
    response.raise_for_status()
    return response.json()["d"]["results"]


async def references_of(sap_url: str, supplier_id: str) -> list[str]:
    """Every reference SAP holds for the supplier, once per posted invoice (duplicates show)."""
    async with httpx.AsyncClient(base_url=sap_url, timeout=60) as http:
        response = await http.get(f"{SI}/A_SupplierInvoice", params={
            "$filter": f"InvoicingParty eq '{supplier_id}'", "$select": "SupplierInvoiceIDByInvcgParty",
            "$top": "1000000", "$format": "json"})
    response.raise_for_status()
    return [r["SupplierInvoiceIDByInvcgParty"] for r in response.json()["d"]["results"]]


async def get_invoice(sap_url: str, invoice_document: str, fiscal_year: str) -> dict:
    async with httpx.AsyncClient(base_url=sap_url) as http:
        response = await http.get(
            f"{SI}/A_SupplierInvoice(SupplierInvoice='{invoice_document}',FiscalYear='{fiscal_year}')",
            params={"$format": "json"}
        )
    response.raise_for_status()
    return response.json()["d"]


async def clear_by_hand(sap_url: str, doc, company_code: str = "1710") -> None:
    """mock-sap's test shortcut (guide §6): the item cleared without any bank statement, as an
    accountant clearing it by hand would leave it."""
    async with httpx.AsyncClient(base_url=sap_url) as http:
        (await http.patch("/_mock/open-items", json={
            "AccountingDocument": doc.accounting_document, "CompanyCode": company_code, "FiscalYear": doc.fiscal_year,
            "AccountingDocumentItem": "000001", "ClearingAccountingDocument": "0199999999",
            "ClearingDate": business_today().isoformat()})).raise_for_status()


async def set_supplier_blocked(sap_url: str, supplier_id: str, blocked: bool) -> None:
    await _write(sap_url, "PATCH", f"{BP}/A_BusinessPartner('{supplier_id}')", {"BusinessPartnerIsBlocked": blocked})


async def create_supplier(sap_url: str, supplier_id: str, name: str) -> None:
    await _write(sap_url, "POST", f"{BP}/A_BusinessPartner", {
        "BusinessPartner": supplier_id, "Supplier": supplier_id, "BusinessPartnerFullName": name,
        "BusinessPartnerCategory": "2", "BusinessPartnerGrouping": "BP02",
    })


async def add_bank_account(sap_url: str, supplier_id: str, bank_id: str, iban: str, bic: str) -> None:
    await _write(sap_url, "POST", f"{BP}/A_BusinessPartnerBank", {
        "BusinessPartner": supplier_id, "BankIdentification": bank_id, "BankCountryKey": iban[:2], "IBAN": iban,
        "SWIFTCode": bic,
    })


async def add_us_bank_account(sap_url: str, supplier_id: str, bank_id: str, routing: str, account: str) -> None:
    """A US account as SAP keeps one: no IBAN, the ABA routing number in BankNumber."""
    await _write(sap_url, "POST", f"{BP}/A_BusinessPartnerBank", {
        "BusinessPartner": supplier_id, "BankIdentification": bank_id, "BankCountryKey": "US", "BankNumber": routing,
        "BankAccount": account,
    })


async def add_bank_account_if_missing(sap_url: str, supplier_id: str, bank_id: str, iban: str, bic: str) -> None:
    async with httpx.AsyncClient(base_url=sap_url) as http:
        found = await http.get(
            f"{BP}/A_BusinessPartnerBank(BusinessPartner='{supplier_id}',BankIdentification='{bank_id}')",
            params={"$format": "json"})
    if found.status_code == 404:
        await add_bank_account(sap_url, supplier_id, bank_id, iban, bic)


async def add_fault(sap_url: str, rule: dict) -> None:
    async with httpx.AsyncClient(base_url=sap_url) as http:
        (await http.post("/_mock/faults", json=rule)).raise_for_status()


async def clear_faults(sap_url: str) -> None:
    async with httpx.AsyncClient(base_url=sap_url) as http:
        (await http.delete("/_mock/faults")).raise_for_status()


def iban_with_valid_checksum(country: str, bban: str) -> str:
    """An IBAN whose mod-97 check digits are right whatever its length: SAP only checks those."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


async def finsta_idocs(sap_url: str) -> list[dict]:
    """Every bank statement IDoc the ERP received (mock-sap's control endpoint)."""
    async with httpx.AsyncClient(base_url=sap_url) as http:
        response = await http.get("/_mock/idocs", params={"mestyp": "FINSTA", "limit": 1000})
    response.raise_for_status()
    body = response.json()
    return body["results"]
