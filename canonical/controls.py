"""The controls a finance team sets for itself, read from the worker's configuration and never
from a caller's input (architecture invariant 8): a lifecycle or run records them once, at its
start, through `read_controls` (so a history replays with the controls it ran under)."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ControlPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    second_approval_above: Decimal = Field(
        default=Decimal("10000"), gt=0, description="gross (invoice currency) above which two distinct people approve")
    approval_limits: dict[str, Decimal | None] = Field(
        default_factory=lambda: {"ap-approver": Decimal("50000"), "ap-senior-approver": None},
        description="the highest gross each approving role may approve; None: no limit")
    ap_platform_trusted_up_to: Decimal = Field(
        default=Decimal("10000"), ge=0,
        description="a signed AP-platform approval suffices up to this gross; above it finsync's own approver "
                    "is needed as well")
    release_above: Decimal = Field(
        default=Decimal("100000"), ge=0,
        description="a payment run whose total is above this waits for a release by a treasury releaser "
                    "(every run, scheduled ones included)")
    bank_details_cooling_off_hours: float = Field(
        default=24, ge=0, description="after changed bank details are confirmed, payments to them wait this long")
