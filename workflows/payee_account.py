"""Which account is paid, checked twice against master data, a mixin of InvoiceToPayment
(architecture invariants 8 and 9):

- **The e-invoice's payee account** (its PayeeFinancialAccount, `einvoice_received`) is compared
  with the ERP's account for the supplier in the validation against master data, by fingerprint
  (activities/master_data.py). A difference holds the invoice under a PayeeAccountMismatch case
  for master data, whose text names the accounts masked (country + last four); the invoice is
  never paid to the e-invoice's account, and not to the ERP's either until the case is resolved.
  A document arriving after validation is compared before any run may reserve the invoice; one
  arriving while a payment is in flight is compared before any further attempt.
- **At reservation** the account about to be paid is checked against the vendor store's
  fingerprint of it (what the last vendor sync saw): a difference means the ERP's account changed
  since and nobody confirmed it. The reservation is refused and the invoice held as for a
  bank-detail change (BankDetailsChanged, confirmed by master data, then validated again).
- **Cooling-off**: after confirmed bank details, no run reserves the invoice for the worker's
  `bank_details_cooling_off_hours` (FINSYNC_CONTROLS), read once when a confirmation needs it.

Each behind its own `workflow.patched`, so histories from before replay unchanged."""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.vendor_sync import VendorSyncActivities
    from canonical.controls import ControlPolicy
    from canonical.einvoice import EInvoiceReceipt
    from canonical.validation import PayeeClaim, ValidatedInvoice
    from canonical.vendors import BankDetailsChange, VendorAccountCheck, mask

import workflows.activity_options as opts
from workflows import patch_generation
from workflows.controls import read_controls
from workflows.lifecycle_parts import LifecycleParts

PAYEE_PATCH = "payee-account-check-v1"
RESERVE_CHECK_PATCH = "reserve-account-check-v1"
COOLING_OFF_PATCH = "bank-cooling-off-v1"
MISMATCH_CASE = "PayeeAccountMismatch"
_MAX_CLAIMS = 20  # e-invoice documents are bounded at intake; this bounds the state besides


class PayeeAccount(LifecycleParts):
    def _init_payee(self) -> None:
        self._payee_claims: list[PayeeClaim] = []  # e-invoice payee accounts not yet compared
        self._cooling_off_until: datetime | None = None
        self._confirmed_accounts: list[str] = []  # fingerprints master data confirmed (a lagging store)
        self._lifecycle_controls: ControlPolicy | None = None

    # -- the e-invoice's payee account ---------------------------------------------------------
    def _take_payee_claim(self, receipt: EInvoiceReceipt) -> None:
        if not receipt.payee_iban or not patch_generation.has(PAYEE_PATCH):
            return
        if any(c.payee_iban == receipt.payee_iban for c in self._payee_claims):
            return
        if len(self._payee_claims) >= _MAX_CLAIMS:  # not dropped unseen: master data hears of it
            self._state.note(f"e-invoice {receipt.document_id} names yet another payee account (more than "
                             f"{_MAX_CLAIMS} pending): not compared; master data checks the supplier's documents")
            return
        self._payee_claims.append(PayeeClaim(document_id=receipt.document_id, payee_iban=receipt.payee_iban))
        if self._validated is not None:
            self._state.note(f"e-invoice {receipt.document_id} names a payee account: compared with the ERP's "
                             "before any further payment")

    def _payee_claims_pending(self) -> bool:
        return bool(self._payee_claims) and self._validated is not None

    async def _validate(self) -> ValidatedInvoice:
        """Validation against master data, with the e-invoices' payee accounts compared. Those
        compared are settled: agreeing ones by the ERP, differing ones by the case that opens."""
        claims = list(self._payee_claims)
        inv = self._state.invoice
        validated: ValidatedInvoice = await self._call(
            ErpActivities.validate_invoice_against_master_data, inv, *([claims] if claims else []),
            summary=f"validate {inv.supplier_invoice_ref} ({inv.gross_amount} {inv.currency}) against ERP master data"
                    + (f" and {len(claims)} e-invoice payee account(s)" if claims else ""), via=opts.ERP,
            local=True)  # a read
        del self._payee_claims[:len(claims)]
        if validated.payee_mismatch:
            raise ApplicationError(validated.payee_mismatch, type=MISMATCH_CASE, non_retryable=True)
        return validated

    # -- at reservation ------------------------------------------------------------------------
    async def _account_refusal(self) -> str | None:
        """Why the account about to be paid may not be paid now (it changed since the vendor
        sync saw it and nobody confirmed it), or None. Holds the invoice when it refuses."""
        if not patch_generation.has(RESERVE_CHECK_PATCH):
            return None
        validated, inv = self._validated, self._state.invoice
        assert validated is not None  # reservable means validated
        account = validated.bank_account
        # An account without IBAN (a US payee paid by ACH) is known to the vendor store by its bank
        # number and account number (activities/vendor_sync.py check_account).
        payee = account.iban or " ".join(filter(None, [account.bank_number, account.account_number]))
        verdict = await self._call(
            VendorSyncActivities.check_vendor_account,
            VendorAccountCheck(supplier_id=inv.supplier_id, bank_account_id=account.bank_account_id,
                               payee_iban=payee),
            summary=f"is {account.masked()} still the account the vendor master knows?", via=opts.TREASURY,
            local=True)  # a read
        if verdict.matches or verdict.account_fingerprint in self._confirmed_accounts:
            return None
        self._bank_details_changed(BankDetailsChange(
            supplier_id=inv.supplier_id, bank_account_id=account.bank_account_id, old_masked=verdict.store_masked,
            new_masked=mask(account.iban or account.account_number or ""), detected_at=workflow.now(),
            new_fingerprint=verdict.account_fingerprint))
        return (f"{inv.key}: the account about to be paid ({account.masked()}) is not the one the vendor master "
                f"holds ({verdict.store_masked}): held until master data confirms it")

    # -- cooling-off ---------------------------------------------------------------------------
    async def _start_cooling_off(self, confirmed: list[BankDetailsChange]) -> None:
        self._confirmed_accounts += [c.new_fingerprint for c in confirmed if c.new_fingerprint]
        if not patch_generation.has(COOLING_OFF_PATCH):
            return
        if self._lifecycle_controls is None:
            self._lifecycle_controls = await read_controls()
        hours = self._lifecycle_controls.bank_details_cooling_off_hours
        if hours > 0:
            self._cooling_off_until = workflow.now() + timedelta(hours=hours)
            self._state.note(f"cooling-off after the bank-detail change: no payment before "
                             f"{self._cooling_off_until.isoformat()} ({hours:g} h)")

    def _cooling_off_refusal(self) -> str | None:
        until = self._cooling_off_until
        if until is not None and workflow.now() < until:
            return (f"{self._state.invoice.key}: the supplier's bank details were confirmed recently; no payment "
                    f"before {until.isoformat()} (cooling-off)")
        return None
