"""Goods receipts on SAP: how much of each purchase-order item has been received, from the
material documents (API_MATERIAL_DOCUMENT_SRV, guides/mock-sap.md §4). Read only: finsync
never posts a goods receipt, the warehouse does.

Reads go through the given SapClient's own HTTP path (`_send`: one error mapping, one
connection policy), as adapters/sap_payments.py does, so a failure is the same
SapTransientError (retry) or SapBusinessError (a person) as every other SAP call.
"""

from decimal import Decimal

from adapters.sap import SapClient
from adapters.sap_odata import ODATA, literal

MATERIAL_DOCUMENT_SRV = f"{ODATA}/API_MATERIAL_DOCUMENT_SRV"

# Movement types that change the quantity received against a PO item, with their sign.
# 101 receipt / 102 its reversal; 105 release from GR-blocked stock / 106 its reversal;
# 122 return to the supplier / 123 its reversal. 103 (into GR-blocked stock) is not yet a
# receipt invoice verification may pay for, so it and every other movement count nothing.
RECEIPT_SIGN: dict[str, int] = {"101": 1, "102": -1, "105": 1, "106": -1, "122": -1, "123": 1}


def po_item_key(item: str) -> str:
    """SAP's EBELP is NUMC 5 ("00010"); invoices and even SAP's own material documents may
    carry it unpadded ("10"), so every comparison uses the padded form."""
    return item.strip().zfill(5)


class SapGoodsReceipts:
    def __init__(self, sap: SapClient):
        self._sap = sap

    async def received_quantities(self, po_number: str) -> dict[str, Decimal]:
        """Net quantity received per PO item (padded item number), in the entry unit of the
        material document. An item with no material document at all is absent from the
        answer, which is not the same as present with 0 (received, then reversed or
        returned): the caller matches the first two-way and refuses the second."""
        received: dict[str, Decimal] = {}
        for row in await self._items(po_number):
            item = po_item_key(row.get("PurchaseOrderItem") or "")
            sign = RECEIPT_SIGN.get(row.get("GoodsMovementType", ""), 0)
            received[item] = received.get(item, Decimal(0)) + sign * Decimal(row.get("QuantityInEntryUnit") or "0")
        return received

    async def _items(self, po_number: str) -> list[dict]:
        # Filtered by PO only: the mock stores PurchaseOrderItem as posted ("10" or "00010"),
        # so an item filter would miss receipts; items are normalised above instead.
        path = f"{MATERIAL_DOCUMENT_SRV}/A_MaterialDocumentItem"
        params = {
            "$filter": f"PurchaseOrder eq {literal(po_number)}",
            "$select": "PurchaseOrderItem,GoodsMovementType,QuantityInEntryUnit",
        }
        rows, _ = await self._sap.read_all(path, params)
        return rows
