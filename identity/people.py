"""The roles a decision needs. A role is a claim the identity provider puts in the token, never
something the caller types: finsync only maps decisions to the roles allowed to take them."""

from typing import Final

AP_CLERK: Final = "ap-clerk"              # enters and corrects invoices, resolves AP cases
AP_APPROVER: Final = "ap-approver"        # approves or rejects invoices up to the role's limit
AP_SENIOR_APPROVER: Final = "ap-senior-approver"
TREASURY_OPS: Final = "treasury-ops"      # bank answers, hand-reported rejections, inbox problems
TREASURY_RELEASER: Final = "treasury-releaser"  # releases payment runs above `release_above`
MASTER_DATA: Final = "master-data"        # confirms changed bank details, resolves master-data cases
BUYER: Final = "buyer"                    # resolves PO-matching cases
# The codec server's roles (settings codec_decode_roles / codec_encode_roles default to these):
# reading bank details in the Web UI, and encrypting inputs sent from it. Never the same role.
BANK_DETAILS_READER: Final = "finsync-decode"
PAYLOAD_ENCODER: Final = "finsync-encode"

# Every decision a person takes on a workflow, and the roles that may take it.
DECISION_ROLES: Final[dict[str, frozenset[str]]] = {
    "approve": frozenset({AP_APPROVER, AP_SENIOR_APPROVER}),
    "reject": frozenset({AP_APPROVER, AP_SENIOR_APPROVER}),
    "cancel": frozenset({AP_CLERK, AP_APPROVER, AP_SENIOR_APPROVER}),
    "resolve": frozenset({AP_CLERK, AP_APPROVER, AP_SENIOR_APPROVER, TREASURY_OPS, MASTER_DATA, BUYER}),
    "confirm_not_duplicate": frozenset({AP_CLERK, AP_APPROVER, AP_SENIOR_APPROVER}),
    "confirm_bank_details": frozenset({MASTER_DATA}),
    "release": frozenset({TREASURY_RELEASER}),
    "request_run": frozenset({TREASURY_OPS, TREASURY_RELEASER}),
    "report_bank_rejection": frozenset({TREASURY_OPS}),
    "acknowledge_inbox_problems": frozenset({TREASURY_OPS}),
    "submit": frozenset({AP_CLERK, AP_APPROVER, AP_SENIOR_APPROVER}),
}

# The local development issuer's people (identity/dev_issuer.py): who a newcomer can act as
# under `make up`. A production identity provider has its own directory.
DEV_DIRECTORY: Final[dict[str, tuple[str, ...]]] = {
    "ap.alice": (AP_CLERK,),
    "ap.bob": (AP_APPROVER,),
    "ap.carol": (AP_APPROVER,),
    "ap.dave": (AP_SENIOR_APPROVER,),
    "treasury.tom": (TREASURY_OPS,),
    "treasury.rita": (TREASURY_RELEASER,),
    "treasury.rob": (TREASURY_RELEASER,),
    "md.mia": (MASTER_DATA,),
    "md.max": (MASTER_DATA,),
    "buyer.bea": (BUYER,),
    "ops.olivia": (BANK_DETAILS_READER,),  # `make up`'s Web UI user: reads bank details
    "ops.oscar": (BANK_DETAILS_READER, PAYLOAD_ENCODER),  # also sends inputs from the Web UI
}
