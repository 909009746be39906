"""Printable views for people: the status report, the open exceptions table and the
reconciliation report. Plain text tables, free text last so the columns split on whitespace."""

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from canonical.reconciliation import ReconciliationReport


def format_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def duration(span: timedelta) -> str:
    """Two units at most, which is what a person reads in an age or an SLA: 3d 4h, 5h 12m, 42s."""
    seconds = int(abs(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def render_reconciliation(report: ReconciliationReport) -> str:
    healed = sum(1 for d in report.drifts if d.healed)
    lines = [(f"Reconciliation {report.company_code} / {report.paying_account_id} at {report.run_at:%Y-%m-%d %H:%M} "
              f"UTC ({report.workflow_id})"),
             "checked: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(report.checked.items())),
             f"{len(report.drifts)} drifts: {healed} healed, {len(report.drifts) - healed} for people"]
    if report.drifts:
        rows = [(d.kind.value, d.owner.value, "healed" if d.healed else "open", d.key,
                 f"{d.amount} {d.currency}" if d.amount is not None else "-", d.detail) for d in report.drifts]
        lines += ["", format_table(("KIND", "OWNER", "STATE", "KEY", "AMOUNT", "DETAIL"), rows)]
    if report.report_path:
        lines += ["", f"report: {report.report_path}"]
    return "\n".join(lines)


def load_reconciliation(path: Path) -> ReconciliationReport:
    return ReconciliationReport.model_validate(json.loads(path.read_text()))


def latest_reconciliation(directory: Path) -> Path | None:
    """The newest report file by modification time (names sort by date, not by time of day)."""
    files = sorted(directory.glob("reconciliation-*.json"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None
