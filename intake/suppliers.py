"""Which Peppol participant is which ERP supplier, and which buyer endpoint is which company code.

A pushed invoice names its parties by Peppol endpoint id (`cbc:EndpointID/@schemeID`, e.g.
`0088:4012345000009`, a GLN); the ERP knows them by supplier number and company code. The
register is the only bridge: an endpoint it does not hold is refused (FS-UNKNOWN-SUPPLIER,
FS-UNKNOWN-BUYER) rather than guessed from a name or VAT number, because a wrong guess pays
the wrong supplier. Production loads the suppliers from JSON (`FINSYNC_EINVOICE_REGISTER` or
`python -m intake --register FILE`), kept by master-data owners; the buyers are the legal
entities' Peppol endpoints (FINSYNC_LEGAL_ENTITIES), the one configuration of company codes.
"""

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from canonical.entities import SAMPLE_LEGAL_ENTITIES, LegalEntity


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
    # Set from the legal entities (`with_buyers_of`); a register file may still list them, as
    # files did before the entities named their endpoints, but only as the entities do.
    buyers: dict[str, str] = Field(default_factory=dict, description="buyer endpoint → company code")

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

    def with_buyers_of(self, entities: Mapping[str, LegalEntity]) -> "SupplierRegister":
        """This register with the legal entities' Peppol endpoints as its buyers. A buyer the
        register itself lists must be an entity's endpoint for the same company code: a
        contradiction is refused (ValueError) rather than one of the two picked."""
        derived = buyers_of(entities)
        for endpoint, code in self.buyers.items():
            entity = self._lookup(derived, endpoint)
            if entity != code:
                raise ValueError(f"the supplier register names buyer {endpoint} as company code {code}, but "
                                 + (f"it is company code {entity}'s Peppol endpoint" if entity else
                                    "no legal entity has that Peppol endpoint") + " (FINSYNC_LEGAL_ENTITIES)")
        return self.model_copy(update={"buyers": derived})


def buyers_of(entities: Mapping[str, LegalEntity]) -> dict[str, str]:
    """Peppol endpoint → company code of every legal entity that has one; two entities with one
    endpoint are refused (ValueError): an invoice to it could be booked by either."""
    buyers: dict[str, str] = {}
    seen: dict[str, str] = {}
    for code, entity in sorted(entities.items()):
        if not entity.peppol_endpoint:
            continue
        key = endpoint_key(entity.peppol_endpoint)
        if key in seen:
            raise ValueError(f"company codes {seen[key]} and {code} share the Peppol endpoint {entity.peppol_endpoint}")
        seen[key] = code
        buyers[entity.peppol_endpoint] = code
    return buyers


# The embedded stack's register: mock-sap's banked suppliers 1000013–1000016 (Globex is
# mock-einvoice's default seller; GLNs with valid check digits, so Peppol's own endpoint rules
# pass) and, as buyers, the sample legal entities (ACME Europe B.V., 1710, among them).
DEFAULT_REGISTER = SupplierRegister(
    suppliers={
        "0088:4012345000009": RegisteredSupplier(supplier_id="1000013", name="Globex GmbH"),
        "0088:4012345000016": RegisteredSupplier(supplier_id="1000014", name="Initech"),
        "0088:4012345000023": RegisteredSupplier(supplier_id="1000015", name="Eurodis"),
        "0088:4012345000030": RegisteredSupplier(supplier_id="1000016", name="Umbrella Logistics"),
    },
).with_buyers_of(SAMPLE_LEGAL_ENTITIES)
