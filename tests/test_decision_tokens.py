"""Decision tokens (identity/tokens.py): what a forger, a replayer or a wrong role gets."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from identity.dev_issuer import ephemeral_dev_issuer
from identity.people import DECISION_ROLES
from identity.tokens import DecisionRefused, require_role, unverified_person, verify_decision_token

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WF = "invoice-1710-1000013-T-1"


def verify(issuer, token, *, wf=WF, decision="approve", now=NOW):
    return verify_decision_token(token, keyring=issuer.keyring(), workflow_id=wf, decision=decision, now=now)


def test_a_valid_token_names_the_person_and_roles(issuer):
    person = verify(issuer, issuer.issue("ap.bob", workflow_id=WF, decision="approve", now=NOW))
    assert (person.subject, person.roles, person.decision) == ("ap.bob", ("ap-approver",), "approve")
    assert person.verified_by.startswith("jwt:finsync-dev-issuer#test-")
    require_role(person, DECISION_ROLES["approve"])


@pytest.mark.parametrize("wf,decision,now,why", [
    ("invoice-1710-1000013-OTHER", "approve", NOW, "not 'invoice-1710-1000013-OTHER'"),
    (WF, "release", NOW, "not 'release'"),
    (WF, "approve", NOW + timedelta(minutes=11), "expired"),
    (WF, "approve", NOW - timedelta(minutes=5), "issued in the future"),
])
def test_a_token_is_bound_to_its_workflow_decision_and_time(issuer, wf, decision, now, why):
    token = issuer.issue("ap.bob", workflow_id=WF, decision="approve", now=NOW)
    with pytest.raises(DecisionRefused, match=why):
        verify(issuer, token, wf=wf, decision=decision, now=now)


def test_a_forged_token_is_refused(issuer):
    forger = ephemeral_dev_issuer()
    with pytest.raises(DecisionRefused, match="not one this worker trusts"):
        verify(issuer, forger.issue("ap.bob", workflow_id=WF, decision="approve", now=NOW))
    # the trusted key id on a token signed by another key: the signature gives it away
    forged = jwt.encode({**jwt.decode(issuer.issue("ap.bob", workflow_id=WF, decision="approve", now=NOW),
                                      options={"verify_signature": False}), "sub": "ap.dave"},
                        forger.key, algorithm="EdDSA", headers={"kid": issuer.key_id})
    with pytest.raises(DecisionRefused, match="Signature verification failed"):
        verify(issuer, forged)
    unsigned = jwt.encode({"sub": "ap.bob"}, key=None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(DecisionRefused):
        verify(issuer, unsigned)


def test_a_long_lived_token_is_refused(issuer):
    token = issuer.issue("ap.bob", workflow_id=WF, decision="approve", now=NOW, lifetime=timedelta(days=1))
    with pytest.raises(DecisionRefused, match="longer than"):
        verify(issuer, token)


def test_a_token_without_the_role_is_refused(issuer):
    person = verify(issuer, issuer.issue("ap.alice", workflow_id=WF, decision="approve", now=NOW))
    with pytest.raises(DecisionRefused, match="needs one of the roles ap-approver, ap-senior-approver"):
        require_role(person, DECISION_ROLES["approve"])


def test_a_handler_reads_the_verified_claims_without_keys(issuer):
    token = issuer.issue("md.mia", workflow_id=WF, decision="confirm_bank_details", now=NOW)
    assert unverified_person(token) == verify(issuer, token, decision="confirm_bank_details")
