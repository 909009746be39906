"""`python -m cli audit <invoice>` and `python -m cli audit verify`: the audit trail in the
treasury database (adapters/audit_log.py), read without Temporal, so it answers for lifecycles
long past the namespace's retention (architecture invariant 13)."""

import json

from adapters.audit_log import AuditLog
from canonical.audit import AuditEntry
from cli.commands import fail

VERIFY = "verify"
_COLUMNS = ("when", "kind", "action", "who", "how verified", "before -> after")
_FIRST = ("status", "state", "amount", "currency", "reason_code", "reason")


def run(target: str) -> int:
    import pydantic

    from adapters.database import sqlite_file, treasury_engine
    from settings import get_settings, settings_problem

    try:
        url = get_settings().treasury_db_url
    except pydantic.ValidationError as e:
        return fail(f"error: {settings_problem(e)}", 1)
    if (path := sqlite_file(url)) is not None and not path.exists():
        return fail(f"error: no treasury database at {path} (FINSYNC_TREASURY_DB_URL)", 1)
    log = AuditLog(treasury_engine(url))
    return verify(log) if target == VERIFY else trail(log, target)


def verify(log: AuditLog) -> int:
    check = log.verify()
    if check.intact:
        print(f"{check.entries} entries, chain intact (head: entry {check.head_seq}, sha256 {check.head_hash})")
        return 0
    return fail(f"audit chain broken at entry {check.broken_at}: {check.problem} "
                f"({check.entries} entries intact before it)", 1)


def trail(log: AuditLog, reference: str) -> int:
    entries = log.trail(reference)
    if not entries:
        return fail(f"no audit entries for {reference} (an invoice key, its workflow id, a payment file's "
                    "MsgId or an EndToEndId)", 1)
    print(render(entries))
    return 0


def render(entries: list[AuditEntry]) -> str:
    rows = [_COLUMNS] + [(e.occurred_at.strftime("%Y-%m-%d %H:%M:%S UTC"), e.kind.value, e.action, e.actor,
                          e.verified_by, f"{_state(e.before)} -> {_state(e.after)}") for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
    return "\n".join(lines)


def _state(text: str | None) -> str:
    if text is None:
        return "-"
    value = json.loads(text)
    if not isinstance(value, dict):
        return text
    first = [k for k in _FIRST if k in value]  # what a reader looks for, then the rest as stored (sorted)
    keys = first + [k for k in value if k not in first]
    return ", ".join(f"{k}={'-' if value[k] is None else value[k]}" for k in keys)
