"""Verified decisions inside workflows (architecture invariant 8). An update's validator calls
`verify` with the decision token from its input: the signature, issuer, audience, expiry (against
`workflow.now()`), the workflow and decision it is bound to and the role are checked there, so a
refusal reaches the caller at once and leaves nothing in history. Validators do not run on replay;
handlers read the already-verified claims with `person`, which is pure parsing, so a history
replays the same whatever keys the replaying worker holds."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.decisions import StartVerification
    from activities.start_checks import StartChecks
    from canonical.decisions import StartAdmission, StartCheck, StartVerdict
    from identity import keyring
    from identity.people import DECISION_ROLES
    from identity.tokens import (
        DecisionRefused,
        VerifiedPerson,
        require_role,
        unverified_person,
        verify_decision_token,
    )

from workflows import activity_options as opts
from workflows.counterpart_calls import OutageListener, call


def verify(token: str | None, decision: str) -> VerifiedPerson:
    """The person taking `decision` on this workflow, or ValueError (the update is refused)."""
    trusted = keyring.installed()
    if trusted is None:
        raise DecisionRefused("this worker trusts no identity provider (FINSYNC_IDENTITY_JWKS_FILE): "
                              "no decision can be verified")
    person = verify_decision_token(token or "", keyring=trusted, workflow_id=workflow.info().workflow_id,
                                   decision=decision, now=workflow.now())
    require_role(person, DECISION_ROLES[decision])
    return person


def person(token: str) -> VerifiedPerson:
    """In a handler: who the validator verified (replay-safe)."""
    return unverified_person(token)


async def verify_start(check: StartCheck, outages: OutageListener) -> StartVerdict:
    """The verdict on a start input's submission token and AP-platform approval, recorded in
    history (an activity result): keys rotated before a replay can not change what happened.
    The keys are the worker's configuration, so a failure is that counterpart's outage."""
    return await call(StartVerification.verify_start, check, summary="verify the start input's signatures",
                      via=opts.CONFIGURATION, outages=outages, result_type=StartVerdict)


async def admit_invoice(check: StartCheck, outages: OutageListener) -> StartAdmission:
    """`read_controls` and `verify_start` in one call (`admit-invoice-v1`): both are the worker's
    configuration (same options, same outage case), and neither answer decides the other's call."""
    return await call(StartChecks.admit_invoice, check, summary="controls and the start input's signatures",
                      via=opts.CONFIGURATION, outages=outages, result_type=StartAdmission)


__all__ = ["DecisionRefused", "VerifiedPerson", "admit_invoice", "person", "verify", "verify_start"]
