"""Bank details at rest and in texts (architecture invariant 9; issue 9 item 7): masked error
texts, the codec finding IBANs in free text and in failure messages, statement keys by account
id that still see the IBAN keys of before, keyed fingerprints that still match the bare ones,
the treasury SQLite file private, raw bank bodies purged after retention."""

import base64
import os
import stat
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from activities.errors import business_error
from adapters.database import treasury_engine
from adapters.payment_registers import PENDING, PaymentRegisters
from adapters.vendor_store import VendorStore
from canonical.bank import BankMessage, MessageKind
from canonical.masking import iban_tokens, mask_bank_details
from canonical.vendors import VendorBankAccount, VendorRecord, fingerprint, legacy_fingerprint
from codec.bank_details import ENCODING, BankDetailsCodec, data_converter
from tests.test_codec_server import codec_server, post, token

KEY = os.urandom(32)
IBAN = "NL91ABNA0417164300"


def test_masking_keeps_country_and_last_four_and_leaves_other_numbers():
    assert mask_bank_details(f"statement {IBAN}:00001 posted") == "statement NL**4300:00001 posted"
    assert mask_bank_details("pay to NL91 ABNA 0417 1643 00 today") == "pay to NL**4300 today"
    # schwifty quotes the BBAN it refuses; the caller's known values go whatever their form
    assert (mask_bank_details("Invalid BBAN structure: 'ABNA041716430Z' doesn't match '4!a10!n'")
            == "Invalid BBAN structure: '****430Z' doesn't match '4!a10!n'")
    assert mask_bank_details("account 0417164300 at bank 12345678") == "account ****4300 at bank 12345678"
    assert mask_bank_details("no ABNA0417 1643 00 here", "NL91 ABNA 0417 1643 00") == "no ****4300 here"
    kept = "ERP document 5100000123, 1190.00 EUR, digest 0a1b2c3d4e5f6a7b, IR-UQ-AB12CDEF0123456789AB"
    assert mask_bank_details(kept) == kept and iban_tokens(kept) == []


def test_business_errors_are_masked():
    err = business_error("InvalidBankAccount", f"account {IBAN}: bad", known=("ABNA041716430Z",))
    assert IBAN not in err.message and "NL**4300" in err.message


async def test_codec_encrypts_free_text_ibans_and_failure_messages_and_the_codec_server_reads_them(issuer):
    codec = BankDetailsCodec({"k1": KEY}, "k1")
    json = {"encoding": b"json/plain"}
    [free, plain] = await codec.encode([Payload(metadata=json, data=f'"posted {IBAN}:1"'.encode()),
                                        Payload(metadata=json, data=b'"ACME:00001"')])
    assert free.metadata["encoding"] == ENCODING and plain.data == b'"ACME:00001"'

    converter = data_converter(codec)
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"refused {IBAN}", type="X"), failure)
    raw = failure.SerializeToString()
    assert failure.message == "Encoded failure" and IBAN.encode() not in raw
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING  # the codec encrypted it
    body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode()
                                       for k, v in failure.encoded_attributes.metadata.items()},
                          "data": base64.b64encode(failure.encoded_attributes.data).decode()}]}
    async with codec_server(issuer, key=KEY) as url:  # what the Web UI asks the codec server
        [decoded] = (await post(url, "/decode", body, token(issuer))).json()["payloads"]
    assert IBAN in base64.b64decode(decoded["data"]).decode()
    again = Failure()
    again.CopyFrom(failure)
    error = await converter.decode_failure(again)
    assert isinstance(error, ApplicationError) and error.message == f"refused {IBAN}"


def test_statement_claimed_under_its_iban_key_is_not_claimed_again_under_the_account_id(store):
    registers = PaymentRegisters(store.engine)
    legacy, key = f"{IBAN}:00001", "ACME:00001"
    assert registers.claim_statement_posting(legacy, "bank-1:old") is None  # as the build before did
    assert registers.find_statement_posting(key, legacy) == (legacy, "bank-1:old", PENDING)
    # another message carrying the statement, with the new key: the old claim wins
    assert registers.claim_statement_posting(key, "bank-1:new", legacy) == ("bank-1:old", PENDING)
    assert registers.statement_posting(key) is None
    assert registers.claim_statement_posting("ACME:00002", "bank-1:new", f"{IBAN}:00002") is None


def test_a_bare_fingerprint_stored_before_is_the_same_account_and_is_rewritten_keyed(store):
    vendors, now = VendorStore(store.engine), datetime.now(UTC)
    record = VendorRecord(supplier_id="S1", name="One")
    before = VendorBankAccount(bank_account_id="0001", country="NL", masked="****4300",
                               fingerprint=legacy_fingerprint(IBAN), has_iban=True)
    vendors.apply("sync-1", [record], [], {"S1": [before]}, None, None, now)
    keyed = before.model_copy(update={"fingerprint": fingerprint(IBAN, b"k"), "legacy_fingerprint":
                                      legacy_fingerprint(IBAN)})
    assert vendors.apply("sync-2", [], [], {"S1": [keyed]}, None, None, now) == (0, [])
    assert vendors.vendor("S1").bank_accounts[0].fingerprint == fingerprint(IBAN, b"k") != legacy_fingerprint(IBAN)
    other = keyed.model_copy(update={"fingerprint": fingerprint("NL02ABNA0123456789", b"k"),
                                     "legacy_fingerprint": legacy_fingerprint("NL02ABNA0123456789")})
    assert [c.bank_account_id for c in vendors.apply("sync-3", [], [], {"S1": [other]}, None, None, now)[1]] == ["0001"]


def test_the_treasury_sqlite_file_is_private(tmp_path):
    loose = tmp_path / "old.db"
    loose.write_text("")
    loose.chmod(0o644)  # made before, world-readable
    for path in (tmp_path / "new" / "treasury.db", loose):
        engine = treasury_engine(f"sqlite:///{path}")
        with engine.connect():
            pass
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_raw_bank_bodies_are_purged_after_retention(store):
    registers = PaymentRegisters(store.engine)
    body = f"<Document><IBAN>{IBAN}</IBAN></Document>"
    registers.record_bank_messages([BankMessage(bank_message_id=m, kind=MessageKind.STATEMENT, body=body)
                                    for m in ("bank-1:a", "bank-1:b")])
    registers.mark_applied("bank-1:a")
    assert registers.purge_message_bodies(datetime.now(UTC) - timedelta(days=1)) == 0  # applied just now
    assert registers.purge_message_bodies(datetime.now(UTC) + timedelta(seconds=1)) == 1  # b is not applied
    assert registers.message("bank-1:a").body == "" and registers.message("bank-1:b").body == body
    assert [m.bank_message_id for m in registers.messages_since(datetime.now(UTC).date())] == ["bank-1:b"]
    registers.record_bank_messages([BankMessage(bank_message_id="bank-1:a", kind=MessageKind.STATEMENT, body=body)])
    assert registers.message("bank-1:a").body == ""  # still known: not recorded (nor acted on) again


def test_the_worker_log_masks_what_slipped_through():
    import io
    import logging

    from telemetry import log_masking

    out = io.StringIO()
    logger = logging.getLogger("finsync-log-masking-test")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.propagate = False
    log_masking.install(logger)
    try:
        try:
            raise ValueError(f"bank refused {IBAN}")
        except ValueError:
            logger.exception("posting %s failed", IBAN)
    finally:
        logger.removeHandler(handler)
    assert "NL**4300" in out.getvalue() and IBAN not in out.getvalue()


async def test_digests_of_refused_accounts_are_encrypted_like_the_accounts():
    """A bare hash of an IBAN can be brute-forced: a payload carrying the lifecycle's refused
    account digests (a continue-as-new snapshot, the status) is encrypted."""
    codec = BankDetailsCodec({"k1": KEY}, "k1")
    json = {"encoding": b"json/plain"}
    carried, empty = await codec.encode([Payload(metadata=json, data=b'{"rejected_accounts": ["3f2a9c"]}'),
                                         Payload(metadata=json, data=b'{"rejected_accounts": []}')])
    assert carried.metadata["encoding"] == ENCODING and b"3f2a9c" not in carried.data
    assert empty.data == b'{"rejected_accounts": []}'
