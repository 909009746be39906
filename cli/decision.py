"""`python -m cli decision <decision> --as <person> --workflow-id <id> [--set field=value ...]`:
prints the JSON input of a decision update, carrying a token from the embedded stack's local
issuer, for `temporal workflow update execute --input "$(...)"`. In production the identity
provider issues the token; this command refuses there (identity/configured.py)."""

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from cli import state
from identity.configured import IdentityNotConfigured, development_issuer
from identity.dev_issuer import UnknownPerson
from identity.people import DECISION_ROLES, DEV_DIRECTORY


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    people = ", ".join(f"{who} ({'/'.join(roles)})" for who, roles in DEV_DIRECTORY.items())
    p = sub.add_parser("decision", help="print a decision update's input with a development token (embedded stack)",
                       epilog=f"people of the development issuer: {people}")
    p.add_argument("decision", choices=sorted(DECISION_ROLES), help="the update the token is for")
    p.add_argument("--as", dest="subject", required=True, help="who decides (a person of the development issuer)")
    p.add_argument("--workflow-id", required=True, help="the workflow the decision is for (the token is bound to it)")
    p.add_argument("--set", dest="fields", action="append", default=[], metavar="FIELD=VALUE",
                   help="a field of the update's input, e.g. --set note='checked with the buyer' (repeatable)")
    p.add_argument("--json", dest="extra", default="{}", help="more fields as a JSON object (nested values)")


def identity_dev_dir() -> Path:
    named = os.environ.get("FINSYNC_IDENTITY_DEV_DIR")
    return Path(named).resolve() if named else state.state_dir() / "identity"


def run(args: argparse.Namespace) -> int:
    try:
        issuer = development_issuer(environment=os.environ.get("FINSYNC_ENVIRONMENT", "development"),
                                    dev_dir=identity_dev_dir())
        token = issuer.issue(args.subject, workflow_id=args.workflow_id, decision=args.decision,
                             now=datetime.now(UTC))
        body = json.loads(args.extra)
        if not isinstance(body, dict):
            raise ValueError("--json must be a JSON object")
        for item in args.fields:
            field, sep, value = item.partition("=")
            if not sep or not field:
                raise ValueError(f"--set {item!r}: write FIELD=VALUE")
            body[field] = value
    except (IdentityNotConfigured, UnknownPerson, ValueError) as err:
        print(f"error: {err}", flush=True)
        return 2
    print(json.dumps({**body, "token": token}))
    return 0
