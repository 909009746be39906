"""What a lifecycle's start input claims about people, verified once (architecture invariant 8):
the submitter's `submission` token and the AP platform's signed approval. A local activity, so
the verdict is recorded in history and a replay with rotated keys decides the same; the keys
are the ones worker.py installed (the identity provider's, the AP platform's)."""

from temporalio import activity

from canonical.decisions import StartCheck, StartVerdict
from identity import ap_platform, keyring
from identity.people import DECISION_ROLES
from identity.tokens import DecisionRefused, require_role, verify_decision_token


class StartVerification:
    @activity.defn
    async def verify_start(self, check: StartCheck) -> StartVerdict:
        return verdict(check, decisions=keyring.installed(), platform=ap_platform.installed())


def verdict(check: StartCheck, *, decisions: keyring.Keyring | None,
            platform: keyring.Keyring | None) -> StartVerdict:
    inv, found = check.invoice, StartVerdict()
    if inv.submission:
        try:
            if decisions is None:
                raise DecisionRefused("this worker trusts no identity provider")
            person = verify_decision_token(inv.submission, keyring=decisions, workflow_id=check.workflow_id,
                                           decision="submit", now=check.now)
            require_role(person, DECISION_ROLES["submit"])
            found.submitter, found.submitter_verified_by = person.subject, person.verified_by
        except DecisionRefused as err:
            found.submission_refused = str(err)
    if inv.ap_platform_approval:
        try:
            if platform is None:
                raise DecisionRefused("this worker trusts no AP platform (FINSYNC_AP_PLATFORM_JWKS_FILE)")
            approval = ap_platform.verify_platform_approval(
                inv.ap_platform_approval, keyring=platform, workflow_id=check.workflow_id,
                gross_amount=inv.gross_amount, currency=inv.currency, bank_account_id=inv.bank_account_id,
                approved_by=inv.approved_by, now=check.now)
            if found.submitter is not None and found.submitter == approval.approver:
                raise DecisionRefused(f"{approval.approver} submitted the invoice and can not approve it (four eyes)")
            found.platform_approver, found.platform_verified_by = approval.approver, approval.verified_by
            found.platform_token_id = approval.token_id
            if found.submitter is None and approval.submitter is not None:
                found.submitter, found.submitter_verified_by = approval.submitter, approval.verified_by
        except DecisionRefused as err:
            found.platform_refused = str(err)
    elif inv.approved_by:
        found.platform_refused = "approved_by is not signed by the AP platform (ap_platform_approval)"
    return found
