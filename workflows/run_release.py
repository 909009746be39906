"""Who requested a payment run, the release limit it applies, and its release: a mixin of
PaymentRun (architecture invariant 8).

- **The limit** is the worker's `release_above` control (FINSYNC_CONTROLS, recorded once through
  `read_controls`); a run request may only lower it, never raise or switch it off, and it holds
  for scheduled runs as for any other.
- **The requester** is never typed: a run a Temporal Schedule starts is requested by
  `schedule:<id>` (Temporal sets TemporalScheduledById on what its scheduler starts), a run a
  person starts carries their `request_run` token, verified once by a local activity so history
  keeps the verdict. A run with neither is refused before it selects anything.
- **The release** is a `release` update with a `release` token: a verified treasury releaser who
  approved none of the selected invoices (the approvers the lifecycles recorded, compared on
  subject strings) and did not request the run; a token is used once.

Runs recorded before this (no `run-controls-v1` marker) replay as they ran: the request's own
`release_above` and typed names."""

from decimal import Decimal

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.decision_checks import DecisionCheck, DecisionCheckActivities
    from canonical.decision_record import DecisionRecord
    from canonical.payment_run import PaymentRelease, PaymentRunRequest
    from identity.tokens import VerifiedPerson

from workflows import activity_options as opts
from workflows import decisions, patch_generation
from workflows.controls import read_controls
from workflows.counterpart_calls import call
from workflows.decision_audit import DecisionAudit
from workflows.outage_board import OutageBoard

RUN_CONTROLS_PATCH = "run-controls-v1"
SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")
REQUEST_REFUSED = "RunRequestRefused"


def _norm(who: str) -> str:
    return who.strip().casefold()


class RunRelease:
    _outages: OutageBoard  # the run's outage board (workflows/payment_run.py)
    _audit: DecisionAudit

    def _init_release(self) -> None:
        self._release_refused: dict[str, str] | None = None  # while awaiting release: who may not, and why
        self._release: PaymentRelease | None = None
        self._release_above: Decimal | None = None
        self._requested_by: str | None = None
        self._verified = False  # requester and releaser verified (runs with the run-controls-v1 marker)
        self._decisions: list[DecisionRecord] = []
        self._stage = "starting"

    async def _request_and_limit(self, req: PaymentRunRequest) -> None:
        """Before anything is selected: who asks for this run, and above what it waits for a release."""
        if not patch_generation.has(RUN_CONTROLS_PATCH):
            self._release_above, self._requested_by = req.release_above, req.requested_by or "treasury-schedule"
            return
        self._verified = True
        limit = (await read_controls(self._outages)).release_above
        if req.release_above is not None and req.release_above < limit:
            limit = req.release_above  # lowering it is the request's to ask; raising it is not
        self._release_above = limit
        self._requested_by = await self._requester(req)

    async def _requester(self, req: PaymentRunRequest) -> str:
        schedule = workflow.info().typed_search_attributes.get(SCHEDULED_BY)
        if schedule:
            return f"schedule:{schedule}"
        how = (f"python -m cli decision request_run --as <you> --workflow-id {workflow.info().workflow_id} "
               f"--set paying_account_id={req.paying_account_id} (the identity provider's token in production)")
        if not req.token:
            raise ApplicationError(f"a payment run started by a person needs their signed request_run token: {how}",
                                   type=REQUEST_REFUSED, non_retryable=True)
        check = DecisionCheck(token=req.token, workflow_id=workflow.info().workflow_id, decision="request_run",
                              now=workflow.now())
        try:  # the keys are the worker's configuration: a failure to check is that counterpart's outage
            person = await call(DecisionCheckActivities.verify_decision, check, summary="verify the run request",
                                via=opts.CONFIGURATION, outages=self._outages, result_type=VerifiedPerson)
        except ActivityError as err:
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause)
            raise ApplicationError(f"payment run request refused: {cause}; {how}", type=REQUEST_REFUSED,
                                   non_retryable=True) from None
        self._record(person, "request_run", f"requested run {req.paying_account_id}", after="requested")
        return person.subject

    def _refuse_release_by(self, approvers: list[str]) -> None:
        """From now on the run awaits its release: these people may not give it."""
        refused = {_norm(a): "approved invoices in this run" for a in approvers}
        if self._requested_by:
            refused[_norm(self._requested_by)] = "requested this run"
        self._release_refused = refused

    def _releaser(self) -> str:
        release = self._release
        assert release is not None  # called once the release arrived
        if release.token:
            return decisions.person(release.token).subject
        return release.released_by or "unnamed"  # a release recorded before tokens (replay only)

    @workflow.update
    def release(self, release: PaymentRelease) -> str:
        self._release = release
        if release.token:
            person = decisions.person(release.token)
            self._record(person, "release", f"released the run{': ' + release.note if release.note else ''}",
                         before="awaiting release", after="released")
        return f"released by {self._releaser()}"

    @release.validator
    def _validate_release(self, release: PaymentRelease) -> None:
        if self._release_refused is None or self._release is not None:
            raise ValueError(f"payment run is {self._stage}, not awaiting a release")
        if not release.token:
            raise ValueError("release needs a signed decision token: python -m cli decision release --as <you> "
                             f"--workflow-id {workflow.info().workflow_id}")
        person = decisions.verify(release.token, "release")
        if any(d.token_id == person.token_id for d in self._decisions):
            raise ValueError("this decision token was already used on this run; ask for a fresh one")
        why = self._release_refused.get(_norm(person.subject))
        if why:
            raise ValueError(f"{person.subject} {why} and can not release it (segregation of duties)")

    def _record(self, person: decisions.VerifiedPerson, decision: str, action: str, before: str | None = None,
                after: str | None = None) -> None:
        record = DecisionRecord(decision=decision, who=person.subject, verified_by=person.verified_by,
                                token_id=person.token_id, action=action, before=before, after=after, at=workflow.now())
        self._decisions.append(record)
        self._audit.add(record)  # into the audit log (workflows/decision_audit.py)
