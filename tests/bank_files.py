"""Payment files finsync did not make, for tests of answers nobody asked for."""

from datetime import UTC, datetime
from decimal import Decimal

from adapters.iso20022.pain001 import build_pain001
from canonical.bank import PaymentFile
from canonical.payment import PaymentInstruction
from settings import DEFAULT_PAYING_ACCOUNTS
from tests.clock import business_today


def foreign_payment_file() -> bytes:
    payment = PaymentInstruction(invoice_key="NOT-OURS", attempt=1, end_to_end_id="SOMEONE-ELSE-1",
                                 amount=Decimal("5.00"),
                                 currency="EUR", requested_execution_date=business_today(), creditor_name="Elsewhere",
                                 creditor_iban="DE89370400440532013000", remittance_reference="X-1")
    return build_pain001(PaymentFile(message_id="FOREIGN-FILE-1", payment_info_id="FOREIGN-FILE-1-P",
                                     created_at=datetime.now(UTC), execution_date=business_today(),
                                     debtor=DEFAULT_PAYING_ACCOUNTS["ACME"], payments=[payment]))
