"""Which Peppol participant is which ERP supplier, and which buyer endpoint is which company code.

A pushed invoice names its parties by Peppol endpoint id (`cbc:EndpointID/@schemeID`, e.g.
`0088:4012345000009`, a GLN); the ERP knows them by supplier number and company code. The
register is the only bridge: an endpoint it does not hold is refused (FS-UNKNOWN-SUPPLIER,
FS-UNKNOWN-BUYER) rather than guessed from a name or VAT number, because a wrong guess pays
the wrong supplier. Production loads it from JSON (`FINSYNC_EINVOICE_REGISTER` or
`python -m intake --register FILE`), kept by master-data owners.
"""

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RegisteredSupplier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    supplier_id: str = Field(pattern=r"^[0-9A-Z]{1,10}$")
    name: str
    # Used only when the invoice has no due date (BT-9): Peppol allows free-text terms
    # (BT-20), which finsync does not parse into days.
    net_days: int = Field(default=30, ge=0, le=365)


def endpoint_key(endpoint: str) -> str:
    """`0088:4012345000009`; scheme and id compared without case or surrounding spaces
    (Peppol participant ids are case-insensitive)."""
    scheme, _, ident = endpoint.partition(":")
    return f"{scheme.strip()}:{ident.strip()}".lower()


class SupplierRegister(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    suppliers: dict[str, RegisteredSupplier]
    buyers: dict[str, str] = Field(description="buyer endpoint → company code")

    def supplier(self, endpoint: str | None) -> RegisteredSupplier | None:
        return self._lookup(self.suppliers, endpoint)

    def company_code(self, endpoint: str | None) -> str | None:
        return self._lookup(self.buyers, endpoint)

    @staticmethod
    def _lookup(table: dict, endpoint: str | None):
        if not endpoint:
            return None
        wanted = endpoint_key(endpoint)
        return next((v for k, v in table.items() if endpoint_key(k) == wanted), None)

    @classmethod
    def from_json(cls, path: Path) -> "SupplierRegister":
        return cls.model_validate(json.loads(Path(path).read_text()))


# The embedded stack's register: mock-sap's banked suppliers 1000013–1000016 (Globex is
# mock-einvoice's default seller) and ACME Europe B.V. (company code 1710) as the buyer.
# GLNs with valid check digits, so Peppol's own endpoint rules pass.
DEFAULT_REGISTER = SupplierRegister(
    suppliers={
        "0088:4012345000009": RegisteredSupplier(supplier_id="1000013", name="Globex GmbH"),
        "0088:4012345000016": RegisteredSupplier(supplier_id="1000014", name="Initech"),
        "0088:4012345000023": RegisteredSupplier(supplier_id="1000015", name="Eurodis"),
        "0088:4012345000030": RegisteredSupplier(supplier_id="1000016", name="Umbrella Logistics"),
    },
    buyers={"0088:8712345000011": "1710"},
)
