"""Intake's buyers are the legal entities' Peppol endpoints (canonical/entities.py), not a list of
its own: an e-invoice to 2710's endpoint becomes a 2710 invoice, a register file that says
otherwise stops intake at start, and two entities can not share one endpoint."""

import json

import pytest
from lxml import etree

from canonical.entities import SAMPLE_LEGAL_ENTITIES
from cli.processes import free_port
from intake import mapping, ubl
from intake.suppliers import DEFAULT_REGISTER, SupplierRegister, buyers_of
from tests.helpers import run_module
from tests.intake_helpers import document

SUPPLIERS = {"0088:4012345000009": {"supplier_id": "1000013", "name": "Globex GmbH"}}


def addressed_to(endpoint: str) -> ubl.UblInvoice:
    scheme, _, ident = endpoint.partition(":")
    root = etree.fromstring(document("valid.xml"))
    [buyer] = root.xpath("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", namespaces=ubl.NS)
    buyer.set("schemeID", scheme)
    buyer.text = ident
    return ubl.read(ubl.parse(etree.tostring(root)))


def test_the_stacks_buyers_are_the_sample_entities_endpoints():
    assert DEFAULT_REGISTER.buyers == {"0088:8712345000011": "1710", "0060:123456789": "1010",
                                       "9930:DE123456789": "2710"}
    assert DEFAULT_REGISTER.company_code(" 9930:de123456789 ") == "2710"  # Peppol ids ignore case


def test_an_e_invoice_is_booked_by_the_entity_whose_endpoint_it_names():
    to_2710, _ = mapping.to_canonical(addressed_to("9930:DE123456789"), DEFAULT_REGISTER)
    to_1710, _ = mapping.to_canonical(addressed_to("0088:8712345000011"), DEFAULT_REGISTER)
    assert to_2710 is not None and to_1710 is not None
    assert (to_2710.company_code, to_1710.company_code) == ("2710", "1710")
    # An endpoint no entity has is refused, never guessed.
    nobody, findings = mapping.to_canonical(addressed_to("0088:8712345000028"), DEFAULT_REGISTER)
    assert nobody is None and [f.code for f in findings] == ["FS-UNKNOWN-BUYER"]


def test_a_register_files_buyers_must_be_what_the_entities_say():
    agreeing = SupplierRegister.model_validate({"suppliers": SUPPLIERS, "buyers": {"0088:8712345000011": "1710"}})
    assert agreeing.with_buyers_of(SAMPLE_LEGAL_ENTITIES).buyers == DEFAULT_REGISTER.buyers
    moved = SupplierRegister.model_validate({"suppliers": SUPPLIERS, "buyers": {"0088:8712345000011": "2710"}})
    with pytest.raises(ValueError, match="as company code 2710, but it is company code 1710's Peppol endpoint"):
        moved.with_buyers_of(SAMPLE_LEGAL_ENTITIES)
    unknown = SupplierRegister.model_validate({"suppliers": SUPPLIERS, "buyers": {"0088:1": "1710"}})
    with pytest.raises(ValueError, match="no legal entity has that Peppol endpoint"):
        unknown.with_buyers_of(SAMPLE_LEGAL_ENTITIES)


def test_two_entities_with_one_endpoint_are_refused_and_one_without_is_no_buyer():
    twin = SAMPLE_LEGAL_ENTITIES["2710"].model_copy(update={"peppol_endpoint": "0088:8712345000011"})
    with pytest.raises(ValueError, match="company codes 1710 and 2710 share the Peppol endpoint"):
        buyers_of({**SAMPLE_LEGAL_ENTITIES, "2710": twin})
    silent = SAMPLE_LEGAL_ENTITIES["1010"].model_copy(update={"peppol_endpoint": ""})
    assert "1010" not in buyers_of({**SAMPLE_LEGAL_ENTITIES, "1010": silent}).values()


def test_intake_refuses_to_start_on_a_register_that_contradicts_the_entities(tmp_path):
    register = tmp_path / "suppliers.json"
    register.write_text(json.dumps({"suppliers": SUPPLIERS, "buyers": {"0088:8712345000011": "2710"}}))
    done = run_module("intake", "--port", str(free_port()), "--register", str(register), address="127.0.0.1:9")
    assert done.returncode == 2, done.stderr
    assert "intake can not start: the supplier register names buyer 0088:8712345000011 as company code 2710" \
        in done.stderr
