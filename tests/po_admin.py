"""Direct calls to mock-sap for purchase-order tests: read a PO as SAP stores it and post
goods receipts the way the warehouse would (finsync itself never posts one)."""

from decimal import Decimal

import httpx

ODATA = "/sap/opu/odata/sap"
PO = f"{ODATA}/API_PURCHASEORDER_PROCESS_SRV"
MD = f"{ODATA}/API_MATERIAL_DOCUMENT_SRV"


async def purchase_order(sap_url: str, po_number: str) -> dict:
    async with httpx.AsyncClient(base_url=sap_url) as http:
        response = await http.get(f"{PO}/A_PurchaseOrder('{po_number}')",
                                  params={"$expand": "to_PurchaseOrderItem", "$format": "json"})
    response.raise_for_status()
    return response.json()["d"]


async def post_goods_receipt(sap_url: str, po_number: str, po_item: str, quantity: Decimal, *,
                             movement_type: str = "101", delivery_note: str = "DN-TEST") -> str:
    """One material document for one PO item (movement 101 = receipt, 102 = its reversal);
    returns its number. `po_item` is sent as written ("30" or "00030"): SAP's own documents
    may carry it unpadded. mock-sap checks nothing against the PO and de-duplicates nothing."""
    item = next(row for row in (await purchase_order(sap_url, po_number))["to_PurchaseOrderItem"]["results"]
                if row["PurchaseOrderItem"] == po_item.zfill(5))
    body = {"ReferenceDocument": delivery_note, "to_MaterialDocumentItem": [{
        "PurchaseOrder": po_number, "PurchaseOrderItem": po_item, "Material": item["Material"],
        "Plant": item["Plant"], "QuantityInEntryUnit": f"{quantity:f}", "EntryUnit": item["PurchaseOrderQuantityUnit"],
        "GoodsMovementType": movement_type,
    }]}
    async with httpx.AsyncClient(base_url=sap_url, headers={"Accept": "application/json"}) as http:
        token = (await http.get(f"{MD}/", headers={"X-CSRF-Token": "Fetch"})).headers["x-csrf-token"]
        response = await http.post(f"{MD}/A_MaterialDocumentHeader", json=body, headers={"X-CSRF-Token": token})
    response.raise_for_status()
    return response.json()["d"]["MaterialDocument"]


async def received_quantity(sap_url: str, po_number: str, po_item: str) -> Decimal:
    """Net received so far (101 minus 102), read independently of the adapter under test."""
    async with httpx.AsyncClient(base_url=sap_url) as http:
        response = await http.get(f"{MD}/A_MaterialDocumentItem",
                                  params={"$filter": f"PurchaseOrder eq '{po_number}'", "$format": "json"})
    response.raise_for_status()
    sign = {"101": 1, "102": -1}
    return sum((sign.get(row["GoodsMovementType"], 0) * Decimal(row["QuantityInEntryUnit"])
                for row in response.json()["d"]["results"] if row["PurchaseOrderItem"].zfill(5) == po_item.zfill(5)),
               Decimal(0))
