"""`python -m cli payment-run recover <run key> --by <person>`: give a payment run's invoices
back to their lifecycles when the run is no longer running (terminated, failed, timed out)
and never sent them, so the next run can pay them.

Never a second payment: an invoice whose file may have reached the bank (its submission
started and no answer was recorded) is kept and named; the bank's own answer (pain.002,
statement) decides it, through the bank inbox. The same code as the run's own give-back
(activities/run_claims_and_recovery.py): files not yet sent are withdrawn first (so no retry
of the old run can still send them), this run's ERP claims are released, each lifecycle is
told `released_from_payment_run`, and the treasury store records who recovered the run.
Running it again is harmless."""

import sys

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

EXIT_UNKNOWN_RUN, EXIT_STILL_RUNNING, EXIT_KEPT_SOME = 2, 3, 4


async def run_status(client: Client, workflow_id: str, run_id: str) -> WorkflowExecutionStatus | None:
    """The run's status in Temporal; None when Temporal no longer knows it (retention)."""
    try:
        return (await client.get_workflow_handle(workflow_id, run_id=run_id).describe()).status
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def recover(run_key: str, by: str, reason: str) -> int:
    from activities.payment_run import PaymentRunActivities
    from adapters.erp_connections import connected_erps
    from adapters.payment_registers import PaymentRegisters
    from adapters.payment_run_store import PaymentRunStore
    from adapters.treasury_store import TreasuryStore
    from canonical.payment_run import UnsentRelease
    from settings import get_settings
    from worker import connect

    settings = get_settings()
    store = TreasuryStore.from_settings(settings)
    header = PaymentRunStore(store.engine).header(run_key)
    if header is None:
        print(f"error: no payment run {run_key} in the treasury store ({settings.treasury_db_url})", file=sys.stderr)
        return EXIT_UNKNOWN_RUN
    client = await connect(settings)
    status = await run_status(client, header.workflow_id, header.workflow_run_id)
    if status == WorkflowExecutionStatus.RUNNING:
        print(f"refused: payment run {run_key} ({header.workflow_id}) is still running. Cancel it (it gives back what "
              "it has not sent) or terminate it, then recover it.", file=sys.stderr)
        return EXIT_STILL_RUNNING
    async with connected_erps(settings) as erps:  # the run's claims are in its company code's ERP
        runs = PaymentRunActivities(client, store, PaymentRegisters(store.engine), erps, None, settings.paying_accounts)
        try:
            result = await runs.give_back_unsent(UnsentRelease(run_key=run_key, requested_by=by, reason=reason),
                                                 progress=lambda _: None)
        except ApplicationError as e:
            print(f"error: {e.message}; nothing more was changed. Run the command again once the cause is fixed.",
                  file=sys.stderr)
            return 1
    state = status.name.lower() if status else "unknown to Temporal"
    print(f"payment run {run_key} ({state}): {result.freed} invoices given back to their lifecycles, "
          f"{result.claims_released} ERP claims of run {header.payment_run_id} released"
          + (f", {result.told_sent} told they are in a file the bank took" if result.told_sent else ""))
    for invoice_key, why in sorted(result.refused.items()):
        print(f"  kept {invoice_key}: {why}")
    return EXIT_KEPT_SOME if result.refused else 0
