"""`python -m cli up|status|exceptions|report|resolve|decision|codec-token|payment-run recover|migrate|audit|
schedules|workflow-id|start-command`, from any directory of the checkout (the embedded stack's state is found by
cli.state)."""

import argparse
import asyncio
import os
from pathlib import Path

from cli import codec_token, commands, decision, schedules, state
from cli.process_exit import run_main


def _local_defaults() -> bool:
    """Let `status`, `exceptions` and `report` reach the embedded stack without exports: its
    address, its codec key and its treasury database, unless the environment names others (a
    real deployment always does). False when no codec key is set and the stack has none."""
    if "TEMPORAL_ADDRESS" not in os.environ and "FINSYNC_TEMPORAL_PORT" in os.environ:
        os.environ["TEMPORAL_ADDRESS"] = f"127.0.0.1:{os.environ['FINSYNC_TEMPORAL_PORT']}"
    if "FINSYNC_SECRETS_DIR" not in os.environ:  # a deployment's URL may be a secret file: never shadow it
        os.environ.setdefault("FINSYNC_TREASURY_DB_URL", state.treasury_db_url())
    if {"FINSYNC_CODEC_KEY", "FINSYNC_CODEC_KEY_FILE"} & os.environ.keys():
        return True
    if not state.codec_key_file().exists():
        return False
    os.environ["FINSYNC_CODEC_KEY_FILE"] = str(state.codec_key_file())
    if state.read_keys_file().exists():  # intake's key: e-invoice receipts in history are under it
        os.environ.setdefault("FINSYNC_CODEC_READ_KEYS_FILE", str(state.read_keys_file()))
    return True


def _narrowed(query: str, company: str | None) -> str:
    """The visibility query of `--query` narrowed to one company code's lifecycles (CompanyCode)."""
    if not company:
        return query
    return f'CompanyCode="{company}"' + (f" AND ({query})" if query else "")


def _company_code(value: str) -> str:
    # Letters and digits only: it goes into a visibility query.
    if not (value.isascii() and value.isalnum() and len(value) <= 10):
        raise argparse.ArgumentTypeError(f"{value!r} is no company code (letters and digits, at most 10)")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli", description="finsync command line")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the embedded stack (Temporal dev server, mocks, worker, bank inbox) and the "
                                   "samples through one payment run until Ctrl-C")
    up.add_argument("--no-samples", action="store_true",
                    help="do not start the sample invoice lifecycles and their payment run")
    up.add_argument("--exit-after-samples", action="store_true",
                    help="stop everything and exit once the samples are paid (COMPLETED) or wait for AP (smoke runs)")
    status = sub.add_parser("status", help="status table of every InvoiceToPayment lifecycle (visibility and the "
                                           "treasury store, a page at a time; no lifecycle is queried)")
    status.add_argument("--query", default="", help="extra visibility query, e.g. InvoiceStatus=\"ON_HOLD\"")
    exceptions = sub.add_parser("exceptions", help="open exception cases with age and SLA state")
    exceptions.add_argument("--owner", help="ap-remediation, treasury-ops, master-data or buyer")
    exceptions.add_argument("--query", default="", help="extra visibility query, e.g. CompanyCode=\"1710\"")
    exceptions.add_argument("--reasons", action="store_true",
                            help="ask each lifecycle for its case's reason (one query per case)")
    report = sub.add_parser("report", help="status report: states, open exceptions, cycle time, today's cash position")
    report.add_argument("--query", default="", help="extra visibility query, e.g. CompanyCode=\"1710\"")
    report.add_argument("--reconciliation", nargs="?", const="", metavar="REPORT.json",
                        help="print a reconciliation report (the newest saved one without a path)")
    for command in (status, exceptions, report):
        command.add_argument("--company", type=_company_code, metavar="CODE",
                             help="only this company code's lifecycles (and, for report, its cash position); "
                                  "default every company")
    resolve = sub.add_parser("resolve", help="resolve the open case of every running lifecycle a visibility query "
                                             "finds, through each one's `resolve` update")
    resolve.add_argument("--query", required=True, help='e.g. ExceptionOwner="ap-remediation" AND ExceptionType="X"')
    resolve.add_argument("--as", dest="resolved_by",
                         help="who resolves: development signs a decision token per lifecycle for this person")
    resolve.add_argument("--token-file", type=Path,
                         help="JSON object of workflow id -> `resolve` decision token from the identity provider "
                              "(production: required; finsync never signs there)")
    resolve.add_argument("--resolution", required=True, help="what was done, in words")
    resolve.add_argument("--case-type", help="only cases of this type (e.g. NotPostableInErp)")
    resolve.add_argument("--dry-run", action="store_true", help="list what would be resolved, change nothing")
    run = sub.add_parser("payment-run", help="payment-run operations").add_subparsers(dest="action", required=True)
    recover = run.add_parser("recover", help="give the invoices of a run that is no longer running and never sent "
                                             "them back to their lifecycles (never what may be at the bank)")
    recover.add_argument("run_key", help="e.g. ACME-20261127-1 (the run's summary and its store rows name it)")
    recover.add_argument("--by", required=True, help="who recovers it (kept in the treasury store)")
    recover.add_argument("--reason", default="run ended without sending its files", help="why, in words")
    sub.add_parser("migrate", help="bring the treasury database (FINSYNC_TREASURY_DB_URL) to the newest schema "
                                   "revision; a worker does it too when it opens the store")
    audit = sub.add_parser("audit", help="an invoice's audit trail (decisions and money movements) from the treasury "
                                         "database, or `audit verify`: walk the hash chain (exit 1 if broken)")
    audit.add_argument("target", metavar="INVOICE|verify",
                       help="an invoice key or its workflow id (a payment file's MsgId, an EndToEndId), or verify")
    schedules.add_parser(sub)
    decision.add_parser(sub)
    codec_token.add_parser(sub)
    for name, text in (("workflow-id", "print the workflow id derived from an invoice file"),
                       ("start-command", "print the `temporal workflow start` command for an invoice file")):
        sub.add_parser(name, help=text).add_argument("invoice", help="canonical invoice JSON file")
    args = parser.parse_args(argv)

    if args.command == "up":
        from cli.stack import up as run_up  # imports the worker's modules; only `up` needs them

        return run_up(with_samples=not args.no_samples, exit_after=args.exit_after_samples)
    if args.command == "decision":  # needs no Temporal: it signs with the local issuer's key
        return decision.run(args)
    if args.command == "codec-token":  # the same: the local issuer signs the codec server's access token
        return codec_token.run(args)
    if args.command == "migrate":
        os.environ.setdefault("FINSYNC_TREASURY_DB_URL", state.treasury_db_url())
        return commands.migrate()
    if args.command == "audit":  # the treasury database only: no Temporal, no codec key
        if "FINSYNC_SECRETS_DIR" not in os.environ:
            os.environ.setdefault("FINSYNC_TREASURY_DB_URL", state.treasury_db_url())
        from cli.audit import run as run_audit

        return run_audit(args.target)
    if args.command == "payment-run":
        if not _local_defaults():
            return commands.fail(f"error: {state.no_key_message()}", 1)
        from cli.payment_run import recover as run_recover

        return asyncio.run(run_recover(args.run_key, args.by, args.reason))
    if args.command == "schedules":
        if args.action != "show" and not _local_defaults():
            return commands.fail(f"error: {state.no_key_message()}", 1)
        return asyncio.run(schedules.run(args))
    if args.command == "report" and args.reconciliation is not None:  # a file: no Temporal, no key
        from reports.status_report import main as run_report

        return run_report(["--reconciliation", args.reconciliation])
    if args.command in ("status", "exceptions", "report", "resolve"):
        if not _local_defaults():
            return commands.fail(f"error: {state.no_key_message()}", 1)
        from temporalio.service import RPCError

        from codec.bank_details import CodecKeyError

        try:
            if args.command == "exceptions":
                from reports.exceptions_table import main as run_exceptions

                return run_exceptions([*(["--owner", args.owner] if args.owner else []),
                                       "--query", _narrowed(args.query, args.company),
                                       *(["--reasons"] if args.reasons else [])])
            if args.command == "report":
                from reports.status_report import main as run_report

                return run_report(["--query", args.query, *(["--company", args.company] if args.company else [])])
            if args.command == "resolve":
                return asyncio.run(commands.resolve(args))
            return asyncio.run(commands.status(_narrowed(args.query, args.company)))
        except CodecKeyError as err:
            return commands.fail(f"error: {err}", 1)
        except OSError as err:  # e.g. an unreadable TLS certificate (the codec key file is a CodecKeyError)
            return commands.fail(f"error: {err}", 1)
        except RuntimeError as err:  # the SDK's "failed client connect"
            address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
            return commands.fail(f"error: cannot reach Temporal at {address}: {err}", 1)
        except RPCError as err:  # connected, then the server refused or went away (e.g. the stack stopped)
            address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
            return commands.fail(f"error: Temporal at {address} answered {err.status.name}: {err}", 1)
    try:
        if args.command == "workflow-id":
            print(commands.workflow_id(args.invoice))
        else:
            print(commands.start_command(args.invoice))
    except commands.BadInput as err:
        return commands.fail(str(err))
    return 0


if __name__ == "__main__":
    run_main(main)  # skips finalisation: see cli/process_exit.py
