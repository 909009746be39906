"""finsync's vendor store: the ERP's suppliers and their bank accounts as of the last sync, for
the AP side, plus the supplier delta token and the bank changes each sync detected.

On the treasury database (`VendorStore(treasury_store.engine)`). Accounts are kept masked
with a fingerprint, never as full IBANs (canonical/vendors.py says why that is enough).
Synchronous, like the treasury store: activities call it through `asyncio.to_thread`."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.database import ensure_schema
from canonical.vendors import BankDetailsChange, VendorBankAccount, VendorRecord

SUPPLIER_DELTA = "sap-suppliers"


class VendorRow(SQLModel, table=True):
    __tablename__ = "vendor"
    supplier_id: str = Field(primary_key=True)
    name: str
    is_blocked: bool = False
    vat_id: str | None = Field(default=None, index=True)
    deleted: bool = False  # SAP deleted the BP; kept so AP can still see whom it paid
    updated_at: datetime


class VendorBankAccountRow(SQLModel, table=True):
    __tablename__ = "vendor_bank_account"
    supplier_id: str = Field(primary_key=True)
    bank_account_id: str = Field(primary_key=True)
    country: str
    masked: str | None = None
    fingerprint: str | None = Field(default=None, index=True)
    has_iban: bool = False
    iban_valid: bool | None = None
    swift: str | None = None
    updated_at: datetime


class VendorSyncStateRow(SQLModel, table=True):
    __tablename__ = "vendor_sync_state"
    name: str = Field(primary_key=True)
    delta_token: str | None = None
    synced_at: datetime


class VendorBankChangeRow(SQLModel, table=True):
    """Each change under the sync that detected it: a retried sync finds its accounts already
    updated and would detect nothing, so it answers with what is logged under its key."""

    __tablename__ = "vendor_bank_change"
    id: int | None = Field(default=None, primary_key=True)
    sync_key: str = Field(index=True)
    supplier_id: str = Field(index=True)
    bank_account_id: str
    old_masked: str | None = None
    new_masked: str | None = None
    new_fingerprint: str | None = None
    changed_by: str | None = None  # from the ERP's records; None: it keeps no changer (an unknown person)
    detected_at: datetime


_TABLES: list[type[SQLModel]] = [VendorRow, VendorBankAccountRow, VendorSyncStateRow, VendorBankChangeRow]
_ACCOUNT_FIELDS = ("country", "masked", "fingerprint", "has_iban", "iban_valid", "swift")


class VendorStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        ensure_schema(engine)  # adapters/migrations

    def delta_token(self) -> str | None:
        with Session(self.engine) as session:
            state = session.get(VendorSyncStateRow, SUPPLIER_DELTA)
            return state.delta_token if state else None

    def apply(self, sync_key: str, suppliers: list[VendorRecord], deleted_ids: list[str],
              accounts: dict[str, list[VendorBankAccount]], vat_ids: dict[str, str] | None,
              next_token: str | None, now: datetime) -> tuple[int, list[BankDetailsChange]]:
        """One transaction: the suppliers SAP sent (a delta or all), the deletions, every
        supplier's full list of accounts, the new token. Returns how many suppliers changed
        and the bank changes of this sync. Accounts of a supplier first seen now are its
        baseline, not a change: the first sync must not hold every invoice in the system."""
        with Session(self.engine) as session:
            rows = {r.supplier_id: r for r in session.exec(select(VendorRow))}
            known = {sid for sid, r in rows.items() if not r.deleted}
            changed = 0
            for record in suppliers:
                values: dict[str, Any] = {"name": record.name, "is_blocked": record.is_blocked, "deleted": False}
                row = rows.get(record.supplier_id)
                if row is None:
                    row = rows[record.supplier_id] = VendorRow(supplier_id=record.supplier_id, updated_at=now, **values)
                elif all(getattr(row, k) == v for k, v in values.items()):
                    continue
                changed += 1
                row.sqlmodel_update({**values, "updated_at": now})
                session.add(row)
            for supplier_id in deleted_ids:
                if (row := rows.get(supplier_id)) is not None and not row.deleted:
                    row.sqlmodel_update({"deleted": True, "updated_at": now})
                    session.add(row)
            active = {sid for sid, r in rows.items() if not r.deleted}
            if vat_ids is not None:
                for supplier_id in active:
                    if rows[supplier_id].vat_id != vat_ids.get(supplier_id):
                        rows[supplier_id].sqlmodel_update({"vat_id": vat_ids.get(supplier_id), "updated_at": now})
                        session.add(rows[supplier_id])

            stored: dict[tuple[str, str], VendorBankAccountRow] = {
                (a.supplier_id, a.bank_account_id): a for a in session.exec(select(VendorBankAccountRow))}
            new: dict[tuple[str, str], VendorBankAccount] = {
                (sid, a.bank_account_id): a for sid in active for a in accounts.get(sid, [])}
            for key in sorted(stored.keys() | new.keys()):
                old_row, account = stored.get(key), new.get(key)
                old_fp, new_fp = (old_row.fingerprint if old_row else None), (account.fingerprint if account else None)
                # A stored fingerprint from before keying is the same account (canonical/vendors.py).
                same = old_fp == new_fp or (old_fp is not None and account is not None
                                            and old_fp == account.legacy_fingerprint)
                if key[0] in known and not same:
                    session.add(VendorBankChangeRow(sync_key=sync_key, supplier_id=key[0], bank_account_id=key[1],
                                                    old_masked=old_row.masked if old_row else None,
                                                    new_masked=account.masked if account else None,
                                                    new_fingerprint=new_fp,
                                                    changed_by=account.changed_by if account else None,
                                                    detected_at=now))
                if account is None:
                    session.delete(old_row)
                elif old_row is None:
                    session.add(VendorBankAccountRow(supplier_id=key[0], updated_at=now, **account.model_dump()))
                elif any(getattr(old_row, f) != getattr(account, f) for f in _ACCOUNT_FIELDS):
                    old_row.sqlmodel_update({**account.model_dump(), "updated_at": now})
                    session.add(old_row)

            state = (session.get(VendorSyncStateRow, SUPPLIER_DELTA)
                     or VendorSyncStateRow(name=SUPPLIER_DELTA, synced_at=now))
            state.sqlmodel_update({"delta_token": next_token, "synced_at": now})
            session.add(state)
            session.commit()
            return changed, self._changes(session, sync_key)

    @staticmethod
    def _changes(session: Session, sync_key: str) -> list[BankDetailsChange]:
        query = (select(VendorBankChangeRow).where(VendorBankChangeRow.sync_key == sync_key)
                 .order_by(col(VendorBankChangeRow.id)))
        # SQLite gives datetimes back without their zone; they were written in UTC.
        return [BankDetailsChange(**row.model_dump(include={"supplier_id", "bank_account_id", "old_masked",
                                                            "new_masked", "new_fingerprint", "changed_by"}),
                                  detected_at=row.detected_at.replace(tzinfo=row.detected_at.tzinfo or UTC))
                for row in session.exec(query)]

    def vendors(self, include_deleted: bool = False) -> list[VendorRecord]:
        query = select(VendorRow).order_by(col(VendorRow.supplier_id))
        if not include_deleted:
            query = query.where(VendorRow.deleted == False)  # noqa: E712 - SQL, not Python truth
        return self._records(query, select(VendorBankAccountRow))

    def vendor(self, supplier_id: str) -> VendorRecord | None:
        found = self._records(select(VendorRow).where(VendorRow.supplier_id == supplier_id),
                              select(VendorBankAccountRow).where(VendorBankAccountRow.supplier_id == supplier_id))
        return found[0] if found else None

    def stored_account(self, supplier_id: str, bank_account_id: str) -> tuple[str | None, str | None] | None:
        """(fingerprint, masked) of one known vendor's account, or None: what a payee check at
        reservation compares. One primary-key read: a run checks a thousand payees in seconds,
        and building the whole VendorRecord each time was a fifth of the worker's time."""
        query = (select(VendorBankAccountRow.fingerprint, VendorBankAccountRow.masked)
                 .join(VendorRow, col(VendorRow.supplier_id) == col(VendorBankAccountRow.supplier_id))
                 .where(VendorBankAccountRow.supplier_id == supplier_id,
                        VendorBankAccountRow.bank_account_id == bank_account_id))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return (row[0], row[1]) if row is not None else None

    def _records(self, vendor_query, account_query) -> list[VendorRecord]:
        with Session(self.engine) as session:
            accounts: dict[str, list[VendorBankAccount]] = {}
            for row in session.exec(account_query.order_by(col(VendorBankAccountRow.bank_account_id))):
                accounts.setdefault(row.supplier_id, []).append(
                    VendorBankAccount(**row.model_dump(include={"bank_account_id", *_ACCOUNT_FIELDS})))
            return [VendorRecord(supplier_id=v.supplier_id, name=v.name, is_blocked=v.is_blocked, vat_id=v.vat_id,
                                 bank_accounts=accounts.get(v.supplier_id, [])) for v in session.exec(vendor_query)]
