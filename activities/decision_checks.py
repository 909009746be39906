"""Verifying a decision token where an update validator can not: a payment run's request comes in
its start input, and workflow code re-runs on replay, where a rotated key set would give another
verdict. A local activity verifies it once and history keeps the verdict (architecture invariant 8)."""

from datetime import datetime

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from identity import keyring
from identity.people import DECISION_ROLES
from identity.tokens import DecisionRefused, VerifiedPerson, require_role, verify_decision_token

REFUSED = "DecisionRefused"


class DecisionCheck(BaseModel):
    token: str
    workflow_id: str
    decision: str
    now: datetime  # the workflow's clock when it asked, as validators use workflow.now()


class DecisionCheckActivities:
    @activity.defn
    async def verify_decision(self, check: DecisionCheck) -> VerifiedPerson:
        """The person behind the token, or a non-retryable DecisionRefused naming why."""
        trusted = keyring.installed()
        try:
            if trusted is None:
                raise DecisionRefused("this worker trusts no identity provider (FINSYNC_IDENTITY_JWKS_FILE): "
                                      "no decision can be verified")
            person = verify_decision_token(check.token, keyring=trusted, workflow_id=check.workflow_id,
                                           decision=check.decision, now=check.now)
            require_role(person, DECISION_ROLES[check.decision])
        except DecisionRefused as err:
            raise ApplicationError(str(err), type=REFUSED, non_retryable=True) from None
        return person
