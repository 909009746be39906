"""Vendor master data as finsync keeps it for the AP side, and what a sync of it reports.

Nothing here carries a full IBAN: a bank account is kept as its masked form (last 4) plus a
fingerprint (HMAC-SHA256 under finsync's fingerprint key of the normalised IBAN, or of bank
number + account number where the country has no IBAN), enough to tell "same account" from
"changed account" and to find two suppliers sharing one. So these models can sit in workflow
history, summaries and the Web UI in plain text. Keyed, because an IBAN's search space is
small: a bare hash could be reversed by testing guesses, a keyed one only by whoever also holds
the key (FINSYNC_FINGERPRINT_KEY). Fingerprints written before were bare sha256s
(`legacy_fingerprint`): a sync compares against both and rewrites the old ones."""

import hashlib
import hmac
from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def normalise_account(value: str) -> str:
    return "".join(value.split()).upper()


def mask(value: str | None) -> str | None:
    """The only form an account number takes outside the ERP and the vendor store."""
    return f"****{normalise_account(value)[-4:]}" if value else None


def keyed_fingerprint(value: str, key: bytes) -> str:
    return hmac.new(key, normalise_account(value).encode(), hashlib.sha256).hexdigest()


def fingerprint(value: str, key: bytes) -> str:
    """The account's comparison key (see the module's doc)."""
    return keyed_fingerprint(value, key)


def legacy_fingerprint(value: str) -> str:
    """What the vendor store kept before fingerprints were keyed: compared, never written."""
    return hashlib.sha256(normalise_account(value).encode()).hexdigest()


class VendorBankAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bank_account_id: str
    country: str = ""
    masked: str | None = None  # None: SAP holds neither an IBAN nor an account number
    fingerprint: str | None = None
    # The bare sha256 of before, so a stored one still matches; never kept or shown.
    legacy_fingerprint: str | None = Field(default=None, exclude=True, repr=False)
    has_iban: bool = False
    iban_valid: bool | None = None  # None: no IBAN to check (e.g. a US account number)
    swift: str | None = None  # not named "bic": the codec would encrypt a payload holding one
    # Who last changed the account, where the ERP's own records say (None: it keeps no changer).
    # Kept with a change the sync detects, never compared as account data.
    changed_by: str | None = Field(default=None, exclude=True)


class VendorRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    supplier_id: str
    name: str
    is_blocked: bool = False
    vat_id: str | None = None
    bank_accounts: list[VendorBankAccount] = []


class VendorIssueKind(StrEnum):
    INVALID_IBAN = "INVALID_IBAN"
    INVALID_BIC = "INVALID_BIC"
    DUPLICATE_IBAN = "DUPLICATE_IBAN"
    DUPLICATE_VAT_ID = "DUPLICATE_VAT_ID"


class VendorIssue(BaseModel):
    """A master-data exception: owner master-data, shown on the sync run (ExceptionType
    VendorMasterData). `detail` is masked; it is read by people in the Web UI."""

    kind: VendorIssueKind
    supplier_ids: list[str]
    bank_account_id: str | None = None
    detail: str


class BankDetailsChange(BaseModel):
    """An account of a known supplier is new, points elsewhere, or is gone (new_masked None).
    Sent as the `bank_details_changed` signal to the supplier's running lifecycles."""

    schema_version: Literal[1] = 1
    supplier_id: str
    bank_account_id: str
    old_masked: str | None
    new_masked: str | None
    detected_at: datetime
    changed_by: str | None = Field(default=None,
                                   description="who changed them, from the ERP's own records; None: the ERP keeps "
                                               "no changer, so an unknown person did (master data confirms either way)")
    new_fingerprint: str | None = Field(default=None, description="the new account's comparison key: a payment "
                                                                  "reserved to it after the confirmation goes on")


class VendorAccountCheck(BaseModel):
    """Is the account about to be paid still the one the vendor store knows? (At reservation.)
    `payee_iban` makes the codec encrypt the payload; the answer carries no account."""

    supplier_id: str
    bank_account_id: str
    payee_iban: str


class VendorAccountVerdict(BaseModel):
    known: bool = Field(description="the vendor store holds this account (a sync has seen it)")
    matches: bool = Field(description="its fingerprint is the account about to be paid (True when not known)")
    account_fingerprint: str = Field(description="the comparison key of the account about to be paid")
    store_masked: str | None = None


class BankChangeNotice(BaseModel):
    """Bank changes of one sync, to be told to the suppliers' running lifecycles."""

    batch_key: str = Field(description="the treasury store's outbox batch: one per sync run")
    changes: list[BankDetailsChange]


class VendorSyncRequest(BaseModel):
    schema_version: Literal[1] = 1
    full: bool = Field(default=False, description="ignore the stored delta token and read every supplier")


class VendorSyncResult(BaseModel):
    schema_version: Literal[1] = 1
    suppliers_read: int = 0
    supplier_ids_read: list[str] = Field(default=[], description="the first 200, for people and tests")
    suppliers_changed: int = 0
    suppliers_deleted: int = 0
    bank_accounts_read: int = 0
    delta_token_used: str | None = None  # None: a full read
    delta_refused: bool = False  # SAP refused the stored token, so this run read in full
    vat_ids_offered: bool = False  # mock-sap serves no A_BusinessPartnerTaxNumber
    issues: list[VendorIssue] = []
    bank_changes: list[BankDetailsChange] = []
    lifecycles_signalled: list[str] = Field(default=[], description="the first 200, for people and tests")
    signals_sent: int = 0
    signal_failures: list[str] = []


def find_duplicates(records: list[VendorRecord]) -> list[VendorIssue]:
    """Two suppliers paid into one account, or registered under one VAT id: one of them is
    probably a duplicate (or a fraud), and paying both would pay the same party twice."""
    by_iban: dict[str, set[str]] = defaultdict(set)
    masked: dict[str, str] = {}
    by_vat: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for account in record.bank_accounts:
            if account.has_iban and account.fingerprint:
                by_iban[account.fingerprint].add(record.supplier_id)
                masked[account.fingerprint] = account.masked or ""
        if record.vat_id:
            by_vat[normalise_account(record.vat_id)].add(record.supplier_id)
    issues = [
        VendorIssue(kind=VendorIssueKind.DUPLICATE_IBAN, supplier_ids=sorted(ids),
                    detail=f"IBAN {masked[fp]} is a bank account of {len(ids)} suppliers: {', '.join(sorted(ids))}")
        for fp, ids in by_iban.items() if len(ids) > 1
    ]
    issues += [
        VendorIssue(kind=VendorIssueKind.DUPLICATE_VAT_ID, supplier_ids=sorted(ids),
                    detail=f"VAT id {vat} is registered on {len(ids)} suppliers: {', '.join(sorted(ids))}")
        for vat, ids in by_vat.items() if len(ids) > 1
    ]
    return sorted(issues, key=lambda i: (i.kind, i.supplier_ids))
