"""A person's decision as a workflow keeps it (architecture invariants 8 and 13): who decided, as
the identity provider verified it, and what the decision changed. Kept in the workflow's state and
shown by its status query; the treasury store's audit log takes them from there."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DecisionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    decision: str | None = Field(default=None, description="the decision's name, e.g. release, confirm_bank_details "
                                                           "(the lifecycle's AP decisions name it in `action`)")
    who: str = Field(description="the verified subject; for a history from before tokens, the name typed")
    verified_by: str | None = Field(default=None, description="jwt:<issuer>#<key id>; None: not verified (replay "
                                                              "of a history from before decision tokens)")
    token_id: str | None = Field(default=None, description="the token's jti: a token is used once per workflow")
    action: str = Field(description="what was decided, in words")
    before: str | None = None
    after: str | None = None
    at: datetime
