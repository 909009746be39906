"""Timeouts and retries per counterpart. Each step also has a deadline: when it passes, the
lifecycle opens an exception case instead of retrying in silence (DESIGN invariant 7)."""

from datetime import timedelta

from temporalio.common import RetryPolicy

# SAP: answers in ms when healthy; "no dialog work process" asks for 30 s (Retry-After).
# Start-to-close stays above the adapter's 30 s HTTP timeout, so a retry after a worker crash
# only looks SAP up once the crashed request has had time to finish: the lookup is conclusive.
ERP = dict(
    start_to_close_timeout=timedelta(seconds=60),
    schedule_to_close_timeout=timedelta(minutes=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
    ),
)

# The treasury store is local SQLite: fast, and a failure is a bug or a full disk.
TREASURY = dict(
    start_to_close_timeout=timedelta(seconds=15),
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)

# The bank takes seconds for a big file and holds one global lock: generous start-to-close.
# Retries resend the same bytes; a DUPL answer then means "already received".
BANK = dict(
    start_to_close_timeout=timedelta(minutes=2),
    schedule_to_close_timeout=timedelta(hours=4),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=5)),
)

# Updates to many lifecycles through the Temporal client: heartbeats show progress.
LIFECYCLE_CALLS = dict(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
)

# Reading the mailbox: quick when healthy; retried patiently, since messages wait for us.
BANK_INBOX = dict(
    start_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=2)),
)

# Waiting for another run of the same paying account to finish: poll every 10 s, for hours.
ACCOUNT_LOCK = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=6),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=1.0),
)

# Posting a bank statement to the ERP: minutes for a big statement (the adapter waits up to
# 10 min for SAP's answer), never two posts (the register stops a retry after a lost answer).
ERP_STATEMENT = dict(
    start_to_close_timeout=timedelta(minutes=12),
    schedule_to_close_timeout=timedelta(hours=2),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=5)),
)

# The supplier's e-invoice access point: a response is small; an unreachable one is retried
# with backoff for a day and then given up (noted), never blocking payment.
EINVOICE = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(days=1),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=10)),
)
