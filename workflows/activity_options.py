"""Timeouts, retries and outage SLAs per counterpart. Every activity call goes through
workflows.counterpart_calls.call with one of these: a failure that outlasts its outage SLA
opens an owned case that closes itself when the call succeeds (architecture invariant 12).
Retries never end on their own: only a named business refusal ends a call."""

from datetime import timedelta

from temporalio.common import RetryPolicy

from canonical.exceptions import ExceptionOwner
from workflows.counterpart_calls import Counterpart

OPS, TREASURY_OPS = ExceptionOwner.INTEGRATION_OPS, ExceptionOwner.TREASURY_OPS

# SAP: answers in ms when healthy; "no dialog work process" asks for 30 s (Retry-After).
# Start-to-close stays above the adapter's 30 s HTTP timeout, so a retry after a worker crash
# only looks SAP up once the crashed request has had time to finish: the lookup is conclusive.
# A maintenance window is an outage for integration ops, never a ticket per invoice for AP.
ERP = Counterpart(
    name="the ERP", case_type="ErpUnavailable", owner=OPS,
    start_to_close=timedelta(seconds=60), outage_sla=timedelta(minutes=30), settle_after_timeout=timedelta(minutes=3),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                      maximum_interval=timedelta(minutes=2)),
)

# The treasury store is a local database: fast, and a failure is a bug, a lock or a full disk.
TREASURY = Counterpart(
    name="the treasury store", case_type="TreasuryStoreUnavailable", owner=OPS,
    start_to_close=timedelta(seconds=15), outage_sla=timedelta(minutes=10),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)

# The bank takes seconds for a big file and holds one global lock: generous start-to-close.
# Retries resend the same bytes; a DUPL answer then means "already received". Treasury owns
# the bank channel and must know within the hour when a file cannot go out.
BANK = Counterpart(
    name="the bank", case_type="BankUnavailable", owner=TREASURY_OPS,
    start_to_close=timedelta(minutes=2), outage_sla=timedelta(hours=1),
    retry=RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                      maximum_interval=timedelta(minutes=5)),
)

# Updates and signals to many lifecycles through the Temporal client (reservations, and the
# outbox of bank answers, statement hints and bank-detail changes): heartbeats show progress,
# and a retry resumes with what is still unsent.
LIFECYCLE_CALLS = Counterpart(
    name="Temporal (calls to lifecycles)", case_type="LifecycleCallsFailing", owner=OPS,
    start_to_close=timedelta(minutes=10), heartbeat=timedelta(seconds=60), outage_sla=timedelta(minutes=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
)

# The worker's own configuration (controls): no I/O, so a failure means a worker without the
# activity (an old build) or a broken configuration: integration ops, within minutes. An attempt
# may wait behind the worker's own workflow tasks when hundreds of lifecycles start at once
# (measured at n=200: 8% of the start checks passed 10 s), so 30 s before it is tried again.
CONFIGURATION = Counterpart(
    name="the worker's configuration", case_type="WorkerMisconfigured", owner=OPS,
    start_to_close=timedelta(seconds=30), outage_sla=timedelta(minutes=10),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)

# Reading visibility for the supplier's other running lifecycles (the near-duplicate check
# before posting): one list call and a few memos when healthy.
LIFECYCLE_SEARCH = Counterpart(
    name="Temporal (the supplier's other lifecycles)", case_type="LifecycleCallsFailing", owner=OPS,
    start_to_close=timedelta(minutes=2), outage_sla=timedelta(minutes=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
)

# The near-duplicate check's two reads, the ERP's and the supplier's other lifecycles', as one
# activity (DuplicateSearch.possible_duplicates). An attempt makes both, so it may take as long as
# both may; both are integration ops' with a 30-minute SLA, retried as patiently as the ERP is. A
# transient failure carries the case type of the part that failed, so its outage case is the one
# that part's own call would open (architecture invariant 12). No settle window: nothing is written.
NEAR_DUPLICATE_SEARCH = Counterpart(
    name="the ERP and Temporal (near-duplicate search)", case_type="NearDuplicateSearchFailing", owner=OPS,
    start_to_close=ERP.start_to_close + LIFECYCLE_SEARCH.start_to_close, outage_sla=timedelta(minutes=30),
    retry=ERP.retry, parts=(ERP, LIFECYCLE_SEARCH),
)

# Reading the mailbox: quick when healthy; retried patiently, since messages wait for us.
BANK_INBOX = Counterpart(
    name="the bank's mailbox", case_type="BankUnavailable", owner=TREASURY_OPS,
    start_to_close=timedelta(minutes=2), outage_sla=timedelta(minutes=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=2)),
)

# Waiting for another run of the same paying account to finish: poll every 10 s; a run that
# holds the account for hours is treasury's to look at.
ACCOUNT_LOCK = Counterpart(
    name="the paying account's lock", case_type="PayingAccountBusy", owner=TREASURY_OPS,
    start_to_close=timedelta(seconds=30), outage_sla=timedelta(hours=6),
    retry=RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=1.0),
)

# Posting a bank statement to the ERP: minutes for a big statement (the adapter waits up to
# 10 min for SAP's answer), never two posts (the register stops a retry after a lost answer).
# The activity heartbeats while SAP works: a worker that dies mid-post is noticed within 30 s
# and its retry (after 10 s) asks the ERP what became of the post, instead of waiting 12 minutes.
# It runs in its own StatementPost workflow, so an ERP outage here never holds up the inbox.
ERP_STATEMENT = Counterpart(
    name="the ERP (bank statement)", case_type="ErpUnavailable", owner=OPS,
    start_to_close=timedelta(minutes=12), heartbeat=timedelta(seconds=30), outage_sla=timedelta(hours=2),
    retry=RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2.0,
                      maximum_interval=timedelta(minutes=5)),
)

# The supplier's e-invoice access point: a response is small; an unreachable one is retried
# with backoff and never blocks payment (answers are sent from a queue beside the lifecycle).
EINVOICE = Counterpart(
    name="the e-invoicing access point", case_type="EInvoicingUnavailable", owner=OPS,
    start_to_close=timedelta(seconds=30), outage_sla=timedelta(days=1), settle_after_timeout=timedelta(minutes=1),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                      maximum_interval=timedelta(minutes=10)),
)

# A payment run's bulk steps resume from the treasury store after any failure, so a healthy
# round may run long (50,000 invoices: minutes) while a lost worker shows within a heartbeat.
# Their outage SLA is the schedule-to-close of one round, so it sits above a healthy round:
# a slow but moving run opens no case.

# Claims in the ERP, a $batch chunk per heartbeat (one SAP request lasts ≤ 30 s, the adapter's
# timeout; a chunk written one by one after a refused changeset heartbeats per invoice).
ERP_RUN_CLAIMS = Counterpart(
    name="the ERP (payment-run claims)", case_type="ErpUnavailable", owner=OPS,
    start_to_close=timedelta(hours=1), heartbeat=timedelta(minutes=2), outage_sla=timedelta(hours=2),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                      maximum_interval=timedelta(minutes=2)),
)

# Reservations and signals to every lifecycle of a run: a chunk of 250 per heartbeat.
RUN_LIFECYCLE_CALLS = Counterpart(
    name="Temporal (a payment run's calls to lifecycles)", case_type="LifecycleCallsFailing", owner=OPS,
    start_to_close=timedelta(hours=1), heartbeat=timedelta(minutes=1), outage_sla=timedelta(hours=2),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
)

# Selecting into and building files from the treasury store: local, seconds per file.
TREASURY_RUN_DETAIL = Counterpart(
    name="the treasury store (payment-run detail)", case_type="TreasuryStoreUnavailable", owner=OPS,
    start_to_close=timedelta(minutes=30), heartbeat=timedelta(minutes=1), outage_sla=timedelta(hours=1),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)
