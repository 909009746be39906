"""Verified decisions inside workflows (architecture invariant 8). An update's validator calls
`verify` with the decision token from its input: the signature, issuer, audience, expiry (against
`workflow.now()`), the workflow and decision it is bound to and the role are checked there, so a
refusal reaches the caller at once and leaves nothing in history. Validators do not run on replay;
handlers read the already-verified claims with `person`, which is pure parsing, so a history
replays the same whatever keys the replaying worker holds."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.decisions import StartVerification
    from canonical.decisions import StartCheck, StartVerdict
    from identity import keyring
    from identity.people import DECISION_ROLES
    from identity.tokens import (
        DecisionRefused,
        VerifiedPerson,
        require_role,
        unverified_person,
        verify_decision_token,
    )


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



async def verify_start(check: StartCheck) -> StartVerdict:
    """The verdict on a start input's submission token and AP-platform approval, recorded in
    history (a local activity): keys rotated before a replay can not change what happened."""
    # Local and in-process like read_controls (workflows/controls.py): no counterpart outage
    # case applies (invariant 12 covers I/O); retrying fixes a broken worker once it is replaced.
    return await workflow.execute_local_activity_method(
        StartVerification.verify_start, check, start_to_close_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)))


__all__ = ["DecisionRefused", "VerifiedPerson", "person", "verify", "verify_start"]
