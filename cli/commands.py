"""`workflow-id`, `start-command` and `status`: small helpers around the canonical invoice and
the running lifecycles, so nobody derives a workflow id or a start command by hand."""

import json
import os
import shlex
import sys
from pathlib import Path

import pydantic

from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from cli.samples import WORKFLOW_TYPE, summary
from workflows.lifecycle_start import start_attributes, start_memo

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """An invoice file that can not become a canonical invoice; the message says why."""


def load_invoice(path: str) -> tuple[Invoice, str]:
    """The validated invoice and the file's text."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise BadInput(f"cannot read {path}: {err.strerror}") from None
    try:
        return Invoice.model_validate_json(text), text
    except pydantic.ValidationError as err:
        # pydantic names the field and the rule (e.g. "money must be a decimal string").
        raise BadInput(f"{path} is not a valid canonical invoice:\n{err}") from None


def workflow_id(path: str) -> str:
    return load_invoice(path)[0].workflow_id


def start_command(path: str, task_queue: str = "finsync") -> str:
    """The `temporal workflow start` line for an invoice file, quoted for a POSIX shell.

    `--fail-existing` is essential: without it the CLI answers a start on an id already in
    use (running, or closed and not reusable) with exit code 0 and the existing run's id,
    whatever the reuse/conflict policy says, so a script can not tell "started" from
    "was already there" (guides/temporal.md §1.4).

    `AllowDuplicateFailedOnly`: an invoice whose start failed (input that is not a valid
    invoice fails the workflow at once) can be started again, corrected, under its one id (the
    workflow refuses any other); a running or completed lifecycle, paid or cancelled, is never
    started twice. Terminated counts as failed for Temporal: cancel a lifecycle, don't terminate it."""
    inv, text = load_invoice(path)
    # The file as written, on one line. Amounts in a valid invoice are strings, so the JSON
    # round trip keeps them exactly as the sender wrote them.
    body = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    args = [
        "temporal", "workflow", "start",
        "--task-queue", task_queue,
        "--type", WORKFLOW_TYPE,
        "--workflow-id", inv.workflow_id,
        "--id-reuse-policy", "AllowDuplicateFailedOnly",
        "--fail-existing",
        "--static-summary", summary(inv),
        # Set at start so `workflow list --query` finds the invoice before its first task runs, and
        # its first task has none of it to write (workflows/lifecycle_start.py): it checks them and
        # writes only what differs.
        *(flag for pair in start_attributes(inv) for flag in ("--search-attribute",
                                                              f"{pair.key.name}={json.dumps(pair.value)}")),
        *(flag for key, value in start_memo(inv).items() for flag in ("--memo", f"{key}={value.model_dump_json()}")),
        "--input", body,
    ]
    return " ".join(shlex.quote(a) for a in args)


# -- status table -------------------------------------------------------------------------
# The free-text reason last, so the columns before it split on whitespace.
_HEADER = ("INVOICE", "STATUS", "ERP DOCUMENT", "ATTEMPT", "END-TO-END ID", "OPEN EXCEPTION", "REASON")


def status_row(view: InvoiceLifecycleStatus) -> tuple[str, ...]:
    doc = view.erp_document
    case = view.open_exception
    attempt = view.payment_attempts[-1] if view.payment_attempts else None
    return (
        view.invoice_key,
        view.status.value,
        f"{doc.invoice_document}/{doc.fiscal_year}" if doc else "-",
        f"{attempt.attempt}:{attempt.outcome}" if attempt else "-",
        attempt.end_to_end_id if attempt else "-",
        f"{case.owner.value}/{case.type}" if case else "-",
        attempt.reason if attempt and attempt.reason else "-",
    )


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [_HEADER, *rows])


async def status(extra_query: str = "") -> int:
    """Every InvoiceToPayment lifecycle, from visibility a page at a time and the treasury
    store for its payment detail (reports/status_table.py): no lifecycle is queried, so it
    stays quick at tens of thousands and needs no worker."""
    # Imported here: the worker module pulls in every workflow and adapter, which
    # `workflow-id` and `start-command` do not need.
    from reports.status_report import open_store
    from reports.status_table import render, status_rows
    from settings import get_settings
    from worker import connect

    settings = get_settings()
    client = await connect(settings)
    store = open_store(settings)
    engine = getattr(store, "engine", None)  # no treasury database here: visibility alone
    print(render(await status_rows(client, engine, extra_query)))
    if engine is None:
        print(f"(no payment detail: the treasury store could not be opened: {getattr(store, 'error', '?')})")
    return 0


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(message, file=sys.stderr)
    return code


async def resolve(args) -> int:
    """`python -m cli resolve`: see cli/bulk_resolve.py."""
    from cli.bulk_resolve import NoTokens, print_outcomes, resolve_many, token_source
    from cli.decision import identity_dev_dir
    from identity.configured import IdentityNotConfigured
    from identity.dev_issuer import UnknownPerson
    from settings import get_settings
    from worker import connect

    try:
        tokens = token_source(environment=os.environ.get("FINSYNC_ENVIRONMENT", "development"),
                              resolved_by=args.resolved_by, token_file=args.token_file, dev_dir=identity_dev_dir())
    except (NoTokens, IdentityNotConfigured, UnknownPerson, OSError, ValueError) as err:
        return fail(f"error: {err}")
    client = await connect(get_settings())
    outcomes = await resolve_many(client, args.query, tokens, args.resolution, case_type=args.case_type,
                                  dry_run=args.dry_run)
    return print_outcomes(outcomes)


def migrate() -> int:
    """`python -m cli migrate`: the treasury database to the newest schema revision. A worker's
    store does the same when it opens the database; this is for doing it ahead of a roll-out."""
    import pydantic
    from sqlalchemy.engine import make_url

    from adapters.database import current_revision, head_revision, treasury_engine, upgrade
    from settings import get_settings, settings_problem

    try:
        url = get_settings().treasury_db_url
    except pydantic.ValidationError as e:
        return fail(f"error: {settings_problem(e)}", 1)
    engine = treasury_engine(url)
    upgrade(engine)
    with engine.connect() as connection:
        revision = current_revision(connection)
    print(f"treasury store {make_url(url).render_as_string(hide_password=True)} at revision {revision} "
          f"(newest {head_revision()})")
    return 0
