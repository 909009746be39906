"""The committed JSON Schemas are the published contract: a model change must update them."""

from decimal import Decimal

from canonical import schema
from canonical.invoice import Invoice
from tests.helpers import invoice_json


def test_committed_schemas_match_the_models():
    assert schema.stale() == [], "run: python -m canonical.schema"


def test_money_is_a_string_in_the_schema_and_on_the_wire():
    money = schema.rendered()["Invoice.json"]
    assert '"type": "number"' not in money
    invoice = Invoice.model_validate(invoice_json(net_amount="1000.0", tax_amount="190", gross_amount="1190.0"))
    assert invoice.gross_amount == Decimal("1190.00")
    dumped = invoice.model_dump(mode="json")
    assert (dumped["net_amount"], dumped["tax_amount"], dumped["gross_amount"]) == ("1000.00", "190.00", "1190.00")


def test_minor_units_keep_scale_per_currency():
    yen = Invoice.model_validate(invoice_json(currency="JPY", net_amount="1000", tax_amount="100", gross_amount="1100",
                                              lines=[{"line_no": 1, "description": "x", "net_amount": "1000"}]))
    assert yen.model_dump(mode="json")["gross_amount"] == "1100"
