"""Seed a Tryton database with finsync's second legal entity: `python -m cli.tryton_seed -c <trytond.conf> -d <db>`.

Company 2710 "ACME Retail GmbH" (DE, EUR) with a minimal chart of accounts (payable, expense,
bank, tax), fiscal years with monthly periods and a supplier-invoice sequence, our bank account
at a statement journal (the account finsync's bank statements for 2710 name), a payment journal
for finsync's payment runs, and three suppliers with German IBANs (mock-bank treats any valid IBAN
that is not one of its own accounts as "another bank", so payments to them settle).

Runs in-process against the database file through proteus (the seed is a development tool; the
adapter, adapters/tryton.py, speaks JSON-RPC only). Deterministic and idempotent: everything is
looked up by its code or name first, so a second run changes nothing.
"""

import argparse
import datetime as dt
import sys
from collections.abc import Iterable
from typing import Any

COMPANY_CODE = "2710"
COMPANY_NAME = "ACME Retail GmbH"
COMPANY_IBAN = "DE92500105170000002710"  # the paying account ACMEDE of the embedded stack's sample
COMPANY_BIC = "INGDDEFFXXX"
STATEMENT_JOURNAL = "ACMEDE"
PAYMENT_JOURNAL = "finsync payment runs"
INVOICE_PREFIX = f"SI{COMPANY_CODE}-"  # invoice numbers name the company: unique across companies
# code, name, IBAN, BIC, VAT id
SUPPLIERS = (
    ("2700001", "Rheinland Bürobedarf GmbH", "DE44100100100027000001", "PBNKDEFFXXX", "DE129273398"),
    ("2700002", "Hanse Logistik KG", "DE42200505500027000002", "HASPDEHHXXX", "DE136695976"),
    ("2700003", "Alpen Software AG", "DE79700500000027000003", "BYLADEMMXXX", None),
)


def default_years(today: dt.date | None = None) -> list[int]:
    """Last year, this year and next: a payment run near New Year books into both."""
    year = (today or dt.date.today()).year
    return [year - 1, year, year + 1]


def _one(model: Any, domain: list, **create: Any) -> Any:
    """The record matching `domain`, created from `create` when there is none."""
    found = model.find(domain, limit=1)
    if found:
        return found[0]
    record = model(**create)
    record.save()
    return record


def _currency(Model: Any) -> Any:
    Currency = Model.get("currency.currency")
    return _one(Currency, [("code", "=", "EUR")], name="Euro", code="EUR", symbol="€",
                rounding=__import__("decimal").Decimal("0.01"), digits=2)


def _country(Model: Any, code: str, name: str) -> Any:
    return _one(Model.get("country.country"), [("code", "=", code)], code=code, name=name)


def _party(Model: Any, code: str, name: str, country: Any) -> Any:
    Party = Model.get("party.party")
    found = Party.find([("code", "=", code)], limit=1)
    if found:
        return found[0]
    party = Party(code=code, name=name)
    address = party.addresses[0] if party.addresses else party.addresses.new()
    address.country = country
    party.save()
    return party


def _company(config: Any, Model: Any, party: Any, currency: Any) -> Any:
    Company = Model.get("company.company")
    found = Company.find([("party", "=", party.id)], limit=1)
    company = found[0] if found else Company(party=party, currency=currency, timezone="Europe/Berlin")
    if not found:
        company.save()
    User = Model.get("res.user")
    admin, = User.find([("login", "=", "admin")])
    if company not in admin.companies:
        admin.companies.append(Company(company.id))
        admin.company = company
        admin.save()
    config._context = User.get_preferences(True, {})
    return company


def _chart(Model: Any, Wizard: Any, company: Any) -> dict[str, Any]:
    Account = Model.get("account.account")
    if not Account.find([("company", "=", company.id), ("type.payable", "=", True)], limit=1):
        ModelData = Model.get("ir.model.data")
        template = Model.get("account.account.template")(
            ModelData.get_id("account.account_template_root_en", {}))
        wizard = Wizard("account.create_chart")
        wizard.execute("account")
        wizard.form.account_template = template
        wizard.form.company = company
        wizard.execute("create_account")
        accounts = _accounts(Account, company)
        wizard.form.account_payable = accounts["payable"]
        wizard.form.account_receivable = accounts["receivable"]
        wizard.form.category_account_expense = accounts["expense"]
        wizard.form.category_account_revenue = accounts["revenue"]
        wizard.execute("create_properties")
    return _accounts(Account, company)


# The chart template's codes for what finsync books: trade payables, services (the expense of a
# supplier invoice line), trade receivables, service revenue and cash (our bank account).
ACCOUNT_CODES = {"payable": "2.1.1", "expense": "5.1.3", "receivable": "1.2.1", "revenue": "4.1.2", "bank": "1.1.1"}
INPUT_VAT = ("1.2.4", "Input VAT")  # added beside 1.2.3: the template has no deductible input tax


def _accounts(Account: Any, company: Any) -> dict[str, Any]:
    found = {}
    for kind, code in ACCOUNT_CODES.items():
        found[kind], = Account.find([("company", "=", company.id), ("code", "=", code)], limit=1)
    code, name = INPUT_VAT
    vat = Account.find([("company", "=", company.id), ("code", "=", code)], limit=1)
    if not vat:
        sibling, = Account.find([("company", "=", company.id), ("code", "=", "1.2.3")], limit=1)
        vat = [Account(name=name, code=code, company=company, parent=sibling.parent, type=sibling.type)]
        vat[0].save()
    found["tax"] = vat[0]
    return found


def _fiscal_years(Model: Any, company: Any, years: Iterable[int]) -> None:
    FiscalYear = Model.get("account.fiscalyear")
    SequenceStrict = Model.get("ir.sequence.strict")
    SequenceType = Model.get("ir.sequence.type")
    move_type, = SequenceType.find([("name", "=", "Account Move")], limit=1)
    invoice_type, = SequenceType.find([("name", "=", "Invoice")], limit=1)
    for year in years:
        name = str(year)  # what ErpDocument.fiscal_year shows
        if FiscalYear.find([("company", "=", company.id), ("name", "=", name)], limit=1):
            continue
        move_sequence = SequenceStrict(name=f"{COMPANY_CODE} {year} moves", sequence_type=move_type, company=company)
        move_sequence.save()
        invoice_sequence = SequenceStrict(name=f"{COMPANY_CODE} {year} invoices", sequence_type=invoice_type,
                                          company=company, prefix=f"{INVOICE_PREFIX}{year}-", padding=5)
        invoice_sequence.save()
        fiscal_year = FiscalYear(name=name, company=company, start_date=dt.date(year, 1, 1),
                                 end_date=dt.date(year, 12, 31), move_sequence=move_sequence)
        sequences = fiscal_year.invoice_sequences[0] if fiscal_year.invoice_sequences \
            else fiscal_year.invoice_sequences.new()
        for kind in ("out_invoice", "in_invoice", "out_credit_note", "in_credit_note"):
            setattr(sequences, f"{kind}_sequence", invoice_sequence)
        fiscal_year.save()
        fiscal_year.click("create_period")


def _bank_account(Model: Any, owner: Any, iban: str, bic: str, currency: Any) -> Any:
    Account, Number = Model.get("bank.account"), Model.get("bank.account.number")
    found = Number.find([("type", "=", "iban"), ("number_compact", "=", iban)], limit=1)
    if found:
        return found[0].account
    Bank, Party = Model.get("bank"), Model.get("party.party")
    bank = Bank.find([("bic", "=", bic)], limit=1)
    if not bank:
        bank_party = Party(name=f"Bank {bic}")
        bank_party.save()
        bank = [Bank(party=bank_party, bic=bic)]
        bank[0].save()
    account = Account(bank=bank[0], currency=currency)
    account.owners.append(Party(owner.id))
    account.numbers.new(type="iban", number=iban)
    account.save()
    return account


def seed(database: str, config_file: str, years: Iterable[int]) -> None:
    from proteus import Model, Wizard
    from proteus import config as proteus_config

    config = proteus_config.set_trytond(database, config_file=config_file)
    currency = _currency(Model)
    germany = _country(Model, "DE", "Germany")
    company = _company(config, Model, _party(Model, COMPANY_CODE, COMPANY_NAME, germany), currency)
    accounts = _chart(Model, Wizard, company)
    _fiscal_years(Model, company, years)
    our_account = _bank_account(Model, company.party, COMPANY_IBAN, COMPANY_BIC, currency)
    Journal = Model.get("account.journal")
    statement_journal, = Journal.find([("type", "=", "statement")], limit=1) or [
        Journal(name="Statement", code="STA", type="statement")]
    if statement_journal.id is None or statement_journal.id < 0:
        statement_journal.save()
    # Validation by amount: finsync posts the lines it can attribute to our invoices, and their
    # sum is what Tryton checks (the bank's balances are checked by finsync before it posts).
    _one(Model.get("account.statement.journal"), [("name", "=", STATEMENT_JOURNAL), ("company", "=", company.id)],
         name=STATEMENT_JOURNAL, journal=statement_journal, currency=currency, company=company,
         validation="amount", bank_account=our_account, account=accounts["bank"])
    _one(Model.get("account.payment.journal"), [("name", "=", PAYMENT_JOURNAL), ("company", "=", company.id)],
         name=PAYMENT_JOURNAL, currency=currency, company=company, process_method="manual")
    for code, name, iban, bic, vat in SUPPLIERS:
        supplier = _party(Model, code, name, germany)
        if vat and not supplier.identifiers:
            supplier.identifiers.new(type="eu_vat", code=vat)
            supplier.save()
        _bank_account(Model, supplier, iban, bic, currency)
    print(f"seeded {database}: company {COMPANY_CODE} {COMPANY_NAME}, fiscal years {', '.join(map(str, years))}, "
          f"{len(SUPPLIERS)} suppliers", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.tryton_seed", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="the trytond configuration file")
    parser.add_argument("-d", "--database", required=True, help="the database name (SQLite: the file's stem)")
    parser.add_argument("--year", type=int, action="append", dest="years",
                        help="a fiscal year to open (repeatable; default: last, this and next year)")
    args = parser.parse_args(argv)
    seed(args.database, args.config, args.years or default_years())
    return 0


if __name__ == "__main__":
    sys.exit(main())
