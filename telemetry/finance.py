"""The finance metrics, recorded from workflow code through the workflow's metric meter:
replay-safe (nothing is re-emitted when a worker replays a history), and exported by the
SDK runtime next to its own metrics (telemetry/metrics.py). Sandbox-safe: temporalio and
the canonical money table only.

A metric must never break a lifecycle: a recording error (a negative value raises in the
SDK) would fail the workflow task and retry it forever, so every helper swallows and logs."""

import functools
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from temporalio import activity, workflow
from temporalio.common import MetricMeter

with workflow.unsafe.imports_passed_through():
    from canonical.money import minor_units

P = "finsync_"
log = logging.getLogger(__name__)


def _meter() -> MetricMeter:
    if workflow.in_workflow():
        return workflow.metric_meter()
    # record_drifts may also be called from an activity; anywhere else it records nothing.
    return activity.metric_meter() if activity.in_activity() else MetricMeter.noop


def _never_raises(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - see the module docstring
            (workflow.logger if workflow.in_workflow() else log).warning("metric %s not recorded: %r", fn.__name__, err)
    return wrapper


def _count(name: str, attrs: dict[str, str] | None = None, value: int = 1) -> None:
    _meter().create_counter(P + name).add(value, attrs)


def _duration(name: str, elapsed: timedelta, attrs: dict[str, str] | None = None) -> None:
    # Clock skew between the workflow start and its first task can make tiny spans negative.
    _meter().create_histogram_timedelta(P + name, unit="duration").record(max(elapsed, timedelta(0)), attrs)


class LifecycleMetrics:
    """What one lifecycle's metrics remember: when each status was first entered. Plain
    workflow state, rebuilt identically on replay."""

    def __init__(self) -> None:
        self.first: dict[str, datetime] = {}
        self.started_at: datetime | None = None  # the first run's start, once the lifecycle continued as new

    @_never_raises
    def entered(self, status: str, amount: Decimal, currency: str) -> None:
        if status in self.first:  # a re-entry (after a hold or a new attempt) is not a new invoice or hop
            return
        now = self.first[status] = workflow.now()
        # Invoices reaching each stage: the denominator of the failure rate by stage.
        _count("lifecycle_stage_entered_total", {"stage": status})
        if status == "RECEIVED":
            _count("invoices_total")
        elif status == "POSTED" and "RECEIVED" in self.first:
            _duration("sync_latency_seconds", now - self.first["RECEIVED"], {"hop": "ap_to_erp"})
        elif status == "SCHEDULED" and "POSTED" in self.first:
            _duration("sync_latency_seconds", now - self.first["POSTED"], {"hop": "erp_to_treasury"})
            _count("cash_outflow_minor_units_total", {"kind": "expected", "currency": currency},
                   _minor(amount, currency))
        elif status == "COMPLETED":
            _duration("invoice_to_payment_cycle_seconds", now - (self.started_at or workflow.info().start_time))


@_never_raises
def exception_raised(stage: str, case_type: str, owner: str) -> None:
    """A case opened; `stage` is the lifecycle status when it happened."""
    _count("lifecycle_exceptions_total", {"stage": stage, "type": case_type, "owner": owner})


@_never_raises
def invoice_needs_a_person() -> None:
    """The invoice's first case: share = this / invoices_total."""
    _count("invoices_needing_a_person_total")


@_never_raises
def case_closed(case_type: str, owner: str, open_for: timedelta, resolved_by: str) -> None:
    # "finsync" closes cases whose awaited event happened; anyone else is a person.
    closed_by = "finsync" if resolved_by == "finsync" else "person"
    _duration("exception_resolution_seconds", open_for, {"owner": owner, "type": case_type, "closed_by": closed_by})


@_never_raises
def payment_settled(expected: date, actual: date, amount: Decimal, currency: str) -> None:
    """Cash forecast accuracy: the actual value date against the expected one (the due date
    the outflow was registered for). Histograms take no negatives: |days| plus a direction."""
    days = (actual - expected).days
    direction = "late" if days > 0 else "early" if days < 0 else "on_time"
    _meter().create_histogram(P + "cash_forecast_error_days", unit="d").record(abs(days), {"direction": direction,
                                                                                           "currency": currency})
    _count("cash_outflow_minor_units_total", {"kind": "actual", "currency": currency}, _minor(amount, currency))


@_never_raises
def record_drifts(found: int, healed: int, kind: str) -> None:
    """Reconciliation effort: drifts between ERP, AP and treasury found and healed by a run."""
    _count("reconciliation_drifts_found_total", {"kind": kind}, found)
    _count("reconciliation_drifts_healed_total", {"kind": kind}, healed)


def _minor(amount: Decimal, currency: str) -> int:
    # Counters take ints: money in minor units (cents), exact.
    return int(amount.scaleb(minor_units(currency)))
