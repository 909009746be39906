"""Payment-run activities: select, reserve, claim, build, register and submit. Each is
idempotent by the run key, so a retry after a crash sends the same bytes once."""

import asyncio

from temporalio import activity
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.errors import business_error, transient_error
from adapters.bank import (BankClient, BankOutcomeUnknown, BankRejectedFile, BankTransientError, SubmissionReceipt,
                           file_message_id)
from adapters.iso20022.pain001 import PaymentFileInvalid, build_pain001, validate_pain001
from adapters.payment_registers import PaymentRegisters, PaymentRunAlreadyExecuted
from adapters.sap import SapBusinessError, SapClient, SapOutcomeUnknown, SapTransientError
from adapters.sap_payments import SapPayments
from adapters.treasury_store import TreasuryStore
from canonical.bank import PayingAccount, PaymentFile
from canonical.commands import PaymentRunInclusion
from canonical.payment import PaymentRecord
from canonical.payment_run import (DueInvoicesQuery, ErpClaimResult, ErpClaims, ReservationRequest, Reservations,
                                   ReservedPayment)
from canonical.treasury import ExpectedOutflow

# Reservations go to many lifecycles; a few at a time keeps the Temporal frontend calm.
_PARALLEL_RESERVATIONS = 16


class PaymentRunActivities:
    def __init__(self, client: Client, store: TreasuryStore, registers: PaymentRegisters, sap: SapClient,
                 bank: BankClient, paying_accounts: dict[str, PayingAccount]) -> None:
        self._client, self._store, self._registers = client, store, registers
        self._erp, self._bank, self._accounts = SapPayments(sap), bank, paying_accounts

    @activity.defn
    async def paying_account(self, account_id: str) -> PayingAccount:
        if account_id not in self._accounts:
            raise business_error("UnknownPayingAccount", f"no paying account {account_id}; known: {sorted(self._accounts)}")
        return self._accounts[account_id]

    @activity.defn
    async def acquire_paying_account(self, account_id: str) -> None:
        """Runs for one paying account never overlap, whoever started them (CLI or Schedule).
        Busy: retried until the other run ends. A holder that ended without releasing (e.g.
        terminated) is detected through Temporal and replaced."""
        me = activity.info().workflow_id
        holder = await asyncio.to_thread(self._registers.lock_holder, account_id)
        ended = None
        if holder and holder != me:
            try:
                described = await self._client.get_workflow_handle(holder).describe()
                ended = holder if described.status != WorkflowExecutionStatus.RUNNING else None
            except RPCError:
                ended = holder  # no such workflow any more
        if not await asyncio.to_thread(self._registers.acquire_account, account_id, me, ended):
            raise ApplicationError(f"payment run {holder} is still running for {account_id}", type="PayingAccountBusy",
                                   next_retry_delay=timedelta(seconds=10))

    @activity.defn
    async def release_paying_account(self, account_id: str) -> None:
        await asyncio.to_thread(self._registers.release_account, account_id, activity.info().workflow_id)

    @activity.defn
    async def register_payment_run(self, run_key: str) -> None:
        try:
            await asyncio.to_thread(self._registers.register_payment_run, run_key, activity.info().workflow_run_id)
        except PaymentRunAlreadyExecuted as e:
            raise business_error("PaymentRunAlreadyExecuted", str(e)) from e

    @activity.defn
    async def select_due_invoices(self, query: DueInvoicesQuery) -> list[ExpectedOutflow]:
        return await asyncio.to_thread(self._store.due_outflows, query.company_code, query.currency, query.due_by)

    @activity.defn
    async def reserve_invoices(self, request: ReservationRequest) -> Reservations:
        """Ask each lifecycle to join the run. A lifecycle that is held, cancelled or already in
        another run refuses; its answer is the truth, not the treasury store's row."""
        inclusion = PaymentRunInclusion(payment_run_id=request.payment_run_id, run_key=request.run_key,
                                        execution_date=request.execution_date)
        result, gate = Reservations(), asyncio.Semaphore(_PARALLEL_RESERVATIONS)

        async def reserve(key: str) -> None:
            async with gate:
                handle = self._client.get_workflow_handle(f"invoice-{key}")
                try:
                    result.reserved.append(await handle.execute_update(
                        "reserve_for_payment_run", inclusion, result_type=ReservedPayment))
                except WorkflowUpdateFailedError as e:
                    result.refused[key] = str(e.cause.message if hasattr(e.cause, "message") else e.cause)
                except RPCError as e:  # no such lifecycle, or it has ended
                    result.refused[key] = f"lifecycle not reachable: {e.message}"
                activity.heartbeat(len(result.reserved))

        await asyncio.gather(*(reserve(key) for key in request.invoice_keys))
        result.reserved.sort(key=lambda r: r.instruction.invoice_key)
        return result

    @activity.defn
    async def claim_in_erp(self, claims: ErpClaims) -> ErpClaimResult:
        result = ErpClaimResult()
        for doc in claims.documents:
            try:
                await self._erp.claim_for_payment_run(doc, claims.payment_run_id, claims.run_date)
            except (SapTransientError, SapOutcomeUnknown) as e:  # claiming again with the same run is harmless
                raise transient_error(f"ERP unavailable for the payment-run claim: {e}", getattr(e, "retry_after", None)) from e
            except SapBusinessError as e:
                result.refused[doc.invoice_document] = e.message
            activity.heartbeat(doc.invoice_document)
        return result

    @activity.defn
    async def register_payments(self, records: list[PaymentRecord]) -> None:
        # Before the file goes out, so every answer the bank sends can be matched.
        await asyncio.to_thread(self._registers.register_payments, records)

    @activity.defn
    async def build_payment_file(self, payment_file: PaymentFile) -> str:
        xml = build_pain001(payment_file)
        try:
            validate_pain001(xml)
        except PaymentFileInvalid as e:
            raise business_error("PaymentFileInvalid", "; ".join(e.findings[:10])) from e
        return xml.decode()

    @activity.defn
    async def submit_payment_file(self, xml: str) -> SubmissionReceipt:
        """Same bytes on every retry: the bank refuses a repeated MsgId (DUPL), which here
        means "already received" — the one way a resend after an unknown outcome is safe."""
        try:
            return await self._bank.submit_payment_file(xml.encode())
        except BankRejectedFile as e:
            # Recorded before anyone acts on it: the lifecycles check the bank's evidence
            # (this refusal) before paying again.
            message_id = file_message_id(xml.encode())
            if message_id and e.reason_code != "DUPL":
                await asyncio.to_thread(self._registers.record_file_refusal, message_id, e.reason_code,
                                        f"{e.reason_code}: {'; '.join(e.findings[:5])}")
            raise business_error("PaymentFileRefused", f"{e.reason_code}: {'; '.join(e.findings[:5])}", e.reason_code) from e
        except (BankTransientError, BankOutcomeUnknown) as e:
            raise transient_error(f"bank did not take the file yet: {e}", getattr(e, "retry_after", None)) from e
