"""The samples of `up` across the hybrid estate (demo tooling, never the worker's path): the
counterparts' sample master data, a lifecycle per sample of a configured legal entity, one
sample payment run per paying account that pays a sample, the bank's days until the awaited
samples have their outcome, and the check of those outcomes (cli/samples.py, `Sample.expected`).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHandle

from cli import cycle, samples, stack_accounts
from cli.commands import format_table, status_row
from identity.ap_platform import ensure_dev_platform
from identity.dev_issuer import ensure_dev_issuer
from settings import Settings
from workflows.payment_run import payment_run_workflow_id

SAMPLES_TIMEOUT = 60.0


@dataclass(frozen=True)
class SampleCycle:
    views: cycle.Views
    ok: bool  # every awaited sample reached its expected outcome (and every sample run ended)
    inbox: WorkflowHandle


def configured(settings: Settings) -> list[samples.Sample]:
    """The samples of the configured legal entities that have a paying account (an environment
    naming its own entities keeps only theirs)."""
    entities = settings.legal_entities
    chosen = [s for s in samples.SAMPLES if s.company_code in entities and entities[s.company_code].paying_account_ids]
    left = sorted({s.company_code for s in samples.SAMPLES} - {s.company_code for s in chosen})
    if left:
        print(f"  note: no samples for company codes {', '.join(left)}: not legal entities with a paying account "
              "in this configuration", flush=True)
    return chosen


async def prepare_master_data(sap_url: str) -> None:
    """What the samples need in mock-sap beyond its seed: INITECH's second account (the guide's
    `resolve`) and the US supplier's account a NACHA file can pay."""
    if await cycle.ensure_remediation_account(sap_url):
        print(f"  added bank account {cycle.REMEDIATION_ACCOUNT} ({cycle.REMEDIATION_IBAN}) of supplier "
              f"{cycle.REMEDIATION_SUPPLIER} in mock-sap, for the remediation example", flush=True)
    if await stack_accounts.ensure_us_supplier_account(sap_url):
        print(f"  added US bank account {stack_accounts.US_BANK_ACCOUNT} (ABA {stack_accounts.US_ROUTING}) of supplier "
              f"{stack_accounts.US_SUPPLIER} in mock-sap, for the NACHA sample of company code 1010", flush=True)


async def run_samples(client: Client, settings: Settings, sap_url: str, bank_url: str, state_dir: Path,
                      dev_dir: Path, check_alive: Callable[[], None]) -> SampleCycle:
    await prepare_master_data(sap_url)
    chosen = configured(settings)
    invoices = samples.sample_invoices(platform=ensure_dev_platform(dev_dir), samples=chosen)
    handles = await samples.start_samples(client, settings.task_queue, invoices)
    awaited = {inv.workflow_id for inv, s in zip(invoices, chosen, strict=True) if s.expected is not None}
    shown = sorted(set(handles) - awaited)
    if shown:
        print(f"  shown, not awaited by this run (no expected outcome in cli/samples.py): {', '.join(shown)}",
              flush=True)
    t0 = time.monotonic()
    views, ok = await samples.wait_settled(handles, SAMPLES_TIMEOUT, check_alive, approver=ensure_dev_issuer(dev_dir),
                                           awaited=awaited)
    print(f"\nsamples {'settled' if ok else 'NOT settled'} in {time.monotonic() - t0:.1f}s\n"
          + format_table([status_row(v) for v in views.values() if v]), flush=True)
    inbox = await cycle.start_inbox(client, settings.payments_task_queue)
    if not ok:
        return SampleCycle(views, False, inbox)
    t0 = time.monotonic()
    # Each sample's run is its company's first paying account's.
    by_account: dict[str, cycle.Views] = {}
    for inv in invoices:
        account = settings.legal_entities[inv.company_code].paying_account_ids[0]
        by_account.setdefault(account, {})[inv.workflow_id] = views.get(inv.workflow_id)
    runs = await cycle.start_sample_runs(client, settings.payments_task_queue, bank_url, by_account)
    summaries = [await cycle.await_run(run, check_alive) for run in runs]
    done = [s.run_key for s in summaries if s is not None]
    # A sample run that failed fails the smoke run when it was to pay an awaited sample.
    failed = [run.id for run, summary in zip(runs, summaries, strict=True) if summary is None
              and any(i in awaited for a, v in by_account.items() if run.id == payment_run_workflow_id(a) for i in v)]
    first = f"after payment runs {', '.join(done)} (the bank's answers through the inbox)" if done else None
    views, ok = await cycle.drive_to_outcome(handles, awaited, bank_url, state_dir, inbox, check_alive, first)
    problems = samples.outcome_problems(chosen, views)
    for problem in problems:
        print(f"  unexpected: {problem}", flush=True)
    ok = ok and not problems and not failed
    print(f"\npayment cycle {'done' if ok else 'NOT done'} in {time.monotonic() - t0:.1f}s", flush=True)
    return SampleCycle(views, ok, inbox)
