"""Payment-run activities: select, reserve, claim, build, register, submit, tell, give back.
Each is idempotent by the run key and hands the workflow keys and counts only: the detail
lives in the treasury store (adapters/payment_run_store.py), so neither a payload nor the
run's history grows with its size. Files are built once and kept; their sha256 in history
pins the bytes every retry sends (architecture invariant 3)."""

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities import audit_money
from activities.errors import business_error, transient_error
from activities.payment_files import PaymentFileInvalid, content_type, file_bytes
from activities.run_claims_and_recovery import CLAIM_CHUNK, SAMPLE, RunClaimsAndRecovery
from activities.run_lifecycle_calls import RunLifecycleCalls
from activities.sealed import seal, unseal
from adapters.audit_log import AuditLog
from adapters.bank import BankClient, BankOutcomeUnknown, BankRejectedFile, BankTransientError, SubmissionReceipt
from adapters.bank_file_drop import BankFileDrops
from adapters.erp_directory import ErpDirectory
from adapters.payment_registers import PaymentRegisters, PaymentRunAlreadyExecuted
from adapters.payment_run_store import (
    BUILT,
    CLAIMED,
    DROPPED,
    REFUSED,
    RESERVED,
    SENT,
    SUBMITTING,
    WITHDRAWN,
    PaymentRunStore,
    RunFileRow,
    RunHeaderRow,
    RunItemRow,
)
from adapters.treasury_store import TreasuryStore
from canonical.bank import PayingAccount, PaymentFile
from canonical.payment import PaymentRecord
from canonical.payment_run import (
    ErpClaimResult,
    ErpClaims,
    LifecycleNotice,
    NoticeResult,
    PaymentFileRef,
    PaymentFilesRequest,
    ReservationRequest,
    Reservations,
    ReservedPayment,
    RunSelection,
    SelectionRequest,
    UnsentRelease,
    UnsentReleaseResult,
)


class PaymentRunActivities(RunLifecycleCalls, RunClaimsAndRecovery):
    def __init__(self, client: Client, store: TreasuryStore, registers: PaymentRegisters, erps: ErpDirectory,
                 bank: BankClient | None, paying_accounts: dict[str, PayingAccount], *,
                 claim_chunk: int = CLAIM_CHUNK, audit: AuditLog | None = None) -> None:
        self._client, self._store, self._registers = client, store, registers
        self._audit = audit or AuditLog(store.engine)  # money movements outlive history (architecture invariant 13)
        self._bank, self._accounts = bank, paying_accounts
        self._file_drops = BankFileDrops(paying_accounts)  # accounts whose files go through a directory
        self._runs = PaymentRunStore(store.engine)
        self._erps, self._claim_chunk = erps, claim_chunk  # claims go to the ERP of the run's company code
        # The worker's payload codec seals bank details kept in the store (activities/sealed.py).
        self._codec = client.data_converter.payload_codec

    @activity.defn
    async def paying_account(self, account_id: str) -> PayingAccount:
        if account_id not in self._accounts:
            raise business_error("UnknownPayingAccount",
                                 f"no paying account {account_id}; known: {sorted(self._accounts)}")
        return self._accounts[account_id]

    @activity.defn
    async def acquire_paying_account(self, account_id: str) -> None:
        """Runs for one paying account never overlap, whoever started them (CLI or Schedule).
        Busy: retried until the other run ends. A holder that ended without releasing (e.g.
        terminated) is detected through Temporal and replaced."""
        me, _ = _caller()
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
        await asyncio.to_thread(self._registers.release_account, account_id, _caller()[0])

    @activity.defn
    async def register_payment_run(self, run_key: str) -> None:
        try:
            await asyncio.to_thread(self._registers.register_payment_run, run_key, _caller()[1])
        except PaymentRunAlreadyExecuted as e:
            raise business_error("PaymentRunAlreadyExecuted", str(e)) from e

    @activity.defn
    async def select_for_payment_run(self, request: SelectionRequest) -> RunSelection:
        """What is due, kept under the run key with who approved each invoice. Selecting
        commits nothing: no lifecycle is asked and no lock is taken before a release."""
        workflow_id, workflow_run_id = _caller()
        outflows = await asyncio.to_thread(self._store.due_outflows, request.company_code, request.currency,
                                           request.due_by)
        header = RunHeaderRow(run_key=request.run_key, workflow_id=workflow_id, workflow_run_id=workflow_run_id,
                              paying_account_id=request.paying_account_id, payment_run_id=request.payment_run_id,
                              run_date=request.run_date, selected_at=datetime.now(UTC))
        await asyncio.to_thread(self._runs.record_selection, header, outflows)  # a retry keeps the first selection
        count, total, approvers, unknown = await asyncio.to_thread(self._runs.selection, request.run_key)
        return RunSelection(invoices=count, total=total, approvers=sorted(approvers), approvers_unknown=unknown)

    @activity.defn
    async def reserve_invoices(self, request: ReservationRequest) -> Reservations:
        """Ask each selected lifecycle to join the run (activities/run_lifecycle_calls.py)."""
        await self._reserve_all(request, activity.heartbeat)
        counts = await asyncio.to_thread(self._runs.counts, request.run_key)
        return Reservations(reserved=counts[RESERVED], refused=counts[REFUSED], dropped=counts[DROPPED],
                            total=await asyncio.to_thread(self._runs.total, request.run_key, RESERVED),
                            refused_sample=await asyncio.to_thread(self._runs.reasons, request.run_key,
                                                                   (REFUSED, DROPPED), SAMPLE))

    @activity.defn
    async def claim_in_erp(self, claims: ErpClaims) -> ErpClaimResult:
        return await self._claim_all(claims, activity.heartbeat)

    @activity.defn
    async def build_payment_files(self, request: PaymentFilesRequest) -> list[PaymentFileRef]:
        """One pain.001 (or NACHA file) per `max_payments_per_file` claimed invoices, in invoice-key order,
        kept with its invoices in one transaction. A retry returns the files already kept and
        builds only the rest: a kept file is never rebuilt."""
        run_key = request.run_key
        while chunk := await asyncio.to_thread(self._runs.items, run_key, (CLAIMED,), request.max_payments_per_file):
            number = len(await asyncio.to_thread(self._runs.files, run_key)) + 1
            reserved = [ReservedPayment.model_validate_json(await unseal(self._codec, _sealed(i))) for i in chunk]
            message_id = f"FS-{run_key}-{number:02d}"
            payment_file = PaymentFile(message_id=message_id, payment_info_id=f"{message_id}-P",
                                       created_at=request.created_at,
                                       execution_date=request.execution_date, debtor=request.debtor,
                                       payments=[r.instruction for r in reserved])
            try:  # a pain.001, or a NACHA file for a NACHA account (activities/payment_files.py)
                xml = await file_bytes(payment_file, self._registers)
            except PaymentFileInvalid as e:
                raise business_error("PaymentFileInvalid", "; ".join(e.findings[:10])) from e
            records = [_record(r, run_key, payment_file).model_dump(mode="json") for r in reserved]
            now = datetime.now(UTC)
            total = sum((r.instruction.amount for r in reserved), Decimal(0))
            await asyncio.to_thread(self._runs.record_file, RunFileRow(
                message_id=message_id, run_key=run_key, number=number, sha256=hashlib.sha256(xml).hexdigest(),
                payments=len(reserved), total=str(total), sealed_xml=await seal(self._codec, xml),
                records=json.dumps(records), built_at=now, state_at=now,
            ), [i.invoice_key for i in chunk])
            activity.heartbeat({"files": number})
        return [PaymentFileRef(message_id=f.message_id, number=f.number, sha256=f.sha256, payments=f.payments,
                               total=Decimal(f.total)) for f in await asyncio.to_thread(self._runs.files, run_key)
                if f.state != WITHDRAWN]

    @activity.defn
    async def submit_payment_file(self, ref: PaymentFileRef) -> SubmissionReceipt:
        """The kept bytes, checked against the hash in history, marked SUBMITTING (so a
        recovery never frees them) and registered before they leave, then sent. Same bytes on
        every retry: the bank refuses a repeated MsgId (DUPL), which here means "already received"."""
        row = await asyncio.to_thread(self._runs.file, ref.message_id)
        xml = await unseal(self._codec, row.sealed_xml) if row else b""
        if row is None or hashlib.sha256(xml).hexdigest() != ref.sha256:
            raise business_error("PaymentFileAltered",
                                 f"{ref.message_id} in the treasury store is not the file the run "
                                 "built (sha256 differs): nothing sent")
        state = await asyncio.to_thread(self._runs.set_file_state, ref.message_id, (BUILT, SUBMITTING), SUBMITTING)
        if state == WITHDRAWN:
            raise business_error("PaymentFileWithdrawn",
                                 f"{ref.message_id} was withdrawn and its invoices freed: not sent")
        if state == REFUSED:
            raise business_error("PaymentFileRefused", row.reason or "refused", (row.reason or "FF01")[:4])
        if state == SENT:
            return SubmissionReceipt(message_id=ref.message_id, duplicate=True)
        # Registered before the bytes leave, so every answer the bank sends can be matched;
        # only now, so a file withdrawn unsent is in no register (its invoices are free again).
        records = [PaymentRecord.model_validate(r) for r in json.loads(row.records)]
        await asyncio.to_thread(self._registers.register_payments, records)
        try:
            receipt = await self._send(row, xml)
        except BankRejectedFile as e:
            reason = f"{e.reason_code}: {'; '.join(e.findings[:5])}"
            if e.reason_code != "DUPL":
                # Recorded before anyone acts on it: the lifecycles check the bank's evidence
                # (this refusal) before paying again.
                await asyncio.to_thread(self._registers.record_file_refusal, ref.message_id, e.reason_code, reason)
                await asyncio.to_thread(self._audit.append, audit_money.payment_file_refused(
                    ref.message_id, records, e.reason_code, reason))
            await asyncio.to_thread(self._runs.set_file_state, ref.message_id, (SUBMITTING,), REFUSED, reason)
            raise business_error("PaymentFileRefused", reason, e.reason_code) from e
        except (BankTransientError, BankOutcomeUnknown) as e:
            raise transient_error(f"bank did not take the file yet: {e}", getattr(e, "retry_after", None)) from e
        # Before SENT: a crash in between resends (the bank answers DUPL) and appends again,
        # which finds the entries there; after SENT nothing would write them.
        await asyncio.to_thread(self._audit.append, audit_money.payment_file_sent(ref, records, xml, receipt.duplicate))
        await asyncio.to_thread(self._runs.set_file_state, ref.message_id, (SUBMITTING,), SENT)
        return receipt

    async def _send(self, row: RunFileRow, xml: bytes) -> SubmissionReceipt:
        """Through the paying account's channel: its drop directory (named by the file's key), or HTTP."""
        header = await asyncio.to_thread(self._runs.header, row.run_key)
        drop = self._file_drops.drop_for(header.paying_account_id) if header else None
        if drop is not None:
            return await drop.submit_payment_file(row.message_id, xml)
        assert self._bank is not None, "this worker has no bank client to send payment files with"
        return await self._bank.submit_payment_file(xml, content_type(xml))

    @activity.defn
    async def tell_lifecycles(self, notice: LifecycleNotice) -> NoticeResult:
        return await self._tell_notice(notice, activity.heartbeat)

    @activity.defn
    async def release_unsent(self, request: UnsentRelease) -> UnsentReleaseResult:
        return await self.give_back_unsent(request, activity.heartbeat)


def _caller() -> tuple[str, str]:
    """The workflow id and run id of the payment run calling: only workflows run these."""
    info = activity.info()
    assert info.workflow_id is not None and info.workflow_run_id is not None, "not called by a workflow"
    return info.workflow_id, info.workflow_run_id


def _sealed(item: RunItemRow) -> bytes:
    assert item.reservation is not None, f"{item.invoice_key} is claimed without a reservation"
    return item.reservation


def _record(r: ReservedPayment, run_key: str, payment_file: PaymentFile) -> PaymentRecord:
    i = r.instruction
    return PaymentRecord(end_to_end_id=i.end_to_end_id, invoice_key=i.invoice_key, workflow_id=r.workflow_id,
                         run_key=run_key,
                         message_id=payment_file.message_id, payment_info_id=payment_file.payment_info_id,
                         attempt=i.attempt,
                         amount=i.amount, currency=i.currency, remittance_reference=i.remittance_reference,
                         accounting_document=r.erp_document.accounting_document)
