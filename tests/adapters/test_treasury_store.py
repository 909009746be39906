"""Treasury store against a real SQLite file and a real PostgreSQL server (the `treasury_url`
fixture): what treasury reads must add up exactly, on either."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from adapters.treasury_store import OutflowNotFound, TreasuryStore
from canonical.treasury import ExpectedOutflow, OutflowState

DUE = date(2025, 3, 31)


def outflow(ref: str, amount: str = "1050.10", value_date: date = DUE, company_code: str = "1710") -> ExpectedOutflow:
    return ExpectedOutflow(
        invoice_key=f"{company_code}-100042-{ref}", company_code=company_code, supplier_id="100042",
        currency="EUR", amount=amount, value_date=value_date,
    )


@pytest.fixture
def url(treasury_url):
    return treasury_url


@pytest.fixture
def store(url):
    return TreasuryStore(url)


def row_count(store: TreasuryStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("select count(*) from treasury_outflow")).scalar_one()


def test_upsert_is_idempotent(store):
    first = store.upsert_expected_outflow(outflow("INV1"))
    second = store.upsert_expected_outflow(outflow("INV1"))
    assert first == second == store.get_outflow("1710-100042-INV1")
    assert second.amount == Decimal("1050.10")
    assert row_count(store) == 1


def test_upsert_updates_changed_amount_and_value_date(store):
    store.upsert_expected_outflow(outflow("INV1"))
    changed = store.upsert_expected_outflow(outflow("INV1", amount="990.00", value_date=date(2025, 4, 15)))
    assert (changed.amount, changed.value_date) == (Decimal("990.00"), date(2025, 4, 15))
    assert store.get_outflow("1710-100042-INV1") == changed
    assert row_count(store) == 1


def test_amount_is_stored_as_text_not_float(store):
    store.upsert_expected_outflow(outflow("INV1", amount="0.1"))
    with store.engine.connect() as conn:
        # SQLite's typeof, PostgreSQL's pg_typeof: the column holds the text we wrote.
        type_of = "typeof(amount)" if store.engine.dialect.name == "sqlite" else "pg_typeof(amount)::text"
        stored = conn.execute(text(f"select amount, {type_of} from treasury_outflow")).one()
    assert tuple(stored) in {("0.10", "text"), ("0.10", "character varying")}


def test_get_missing_outflow_is_none(store):
    assert store.get_outflow("1710-100042-NOPE") is None


def test_withdrawn_outflow_leaves_the_cash_position(store):
    store.upsert_expected_outflow(outflow("INV1", amount="100.00"))
    store.upsert_expected_outflow(outflow("INV2", amount="50.00"))
    store.withdraw_outflow("1710-100042-INV2")
    store.withdraw_outflow("1710-100042-NEVER-EXISTED")  # no-op
    assert store.get_outflow("1710-100042-INV2").state is OutflowState.WITHDRAWN
    [position] = store.cash_positions()
    assert (position.expected_outflow, position.invoices) == (Decimal("100.00"), 1)


def test_only_withdrawn_outflows_give_no_position(store):
    store.upsert_expected_outflow(outflow("INV1"))
    store.withdraw_outflow("1710-100042-INV1")
    assert store.cash_positions() == []


def test_positions_sum_exactly(store):
    for ref in ("A", "B", "C"):
        store.upsert_expected_outflow(outflow(ref, amount="0.10"))
    [position] = store.cash_positions()
    assert position.expected_outflow == Decimal("0.30")
    assert position.model_dump(mode="json")["expected_outflow"] == "0.30"
    assert position.model_dump(mode="json")["actual_outflow"] == "0.00"
    assert position.invoices == 3


def test_positions_are_grouped_sorted_and_filtered(store):
    store.upsert_expected_outflow(outflow("LATE", value_date=date(2025, 4, 30)))
    store.upsert_expected_outflow(outflow("EARLY", value_date=date(2025, 3, 1)))
    store.upsert_expected_outflow(outflow("US", company_code="1010"))
    positions = store.cash_positions()
    assert [(p.company_code, p.value_date) for p in positions] == [
        ("1010", DUE), ("1710", date(2025, 3, 1)), ("1710", date(2025, 4, 30)),
    ]
    assert [p.company_code for p in store.cash_positions("1710")] == ["1710", "1710"]


def test_mark_actual_moves_expected_to_actual(store):
    store.upsert_expected_outflow(outflow("INV1", amount="100.00"))
    store.upsert_expected_outflow(outflow("INV2", amount="40.00"))
    store.mark_actual("1710-100042-INV1", DUE, Decimal("100.00"))
    [position] = store.cash_positions()
    assert (position.expected_outflow, position.actual_outflow, position.invoices) == (
        Decimal("40.00"), Decimal("100.00"), 2,
    )
    assert store.get_outflow("1710-100042-INV1").state is OutflowState.ACTUAL


def test_mark_actual_books_on_the_bank_value_date(store):
    store.upsert_expected_outflow(outflow("INV1", amount="100.00"))
    store.mark_actual("1710-100042-INV1", date(2025, 4, 2), Decimal("99.50"))
    [position] = store.cash_positions()
    assert (position.value_date, position.expected_outflow, position.actual_outflow) == (
        date(2025, 4, 2), Decimal("0.00"), Decimal("99.50"),
    )


def test_mark_actual_for_unknown_invoice_is_refused(store):
    with pytest.raises(OutflowNotFound, match="1710-100042-GHOST"):
        store.mark_actual("1710-100042-GHOST", DUE, Decimal("1.00"))


def test_a_batch_of_bank_debits_books_what_it_finds_and_names_it(store):
    store.upsert_expected_outflow(outflow("INV1", amount="100.00"))
    store.upsert_expected_outflow(outflow("INV2", amount="40.00"))
    moved = store.mark_actual_booked([("1710-100042-INV1", date(2025, 4, 2), Decimal("99.5")),
                                      ("1710-100042-GHOST", date(2025, 4, 2), Decimal("1.00"))])
    assert moved == {"1710-100042-INV1"}  # the ghost is left to its lifecycle
    booked = store.get_outflow("1710-100042-INV1")
    assert (booked.state, booked.value_date, booked.amount) == (OutflowState.ACTUAL, date(2025, 4, 2), Decimal("99.50"))
    assert store.get_outflow("1710-100042-INV2").state is OutflowState.EXPECTED


def test_two_stores_on_one_database_share_rows(url):
    worker, cli = TreasuryStore(url), TreasuryStore(url)
    worker.upsert_expected_outflow(outflow("INV1", amount="10.00"))
    cli.upsert_expected_outflow(outflow("INV2", amount="5.00"))
    assert cli.get_outflow("1710-100042-INV1") is not None
    assert worker.get_outflow("1710-100042-INV2") is not None
    assert cli.cash_positions()[0].expected_outflow == Decimal("15.00")
    if worker.engine.dialect.name == "sqlite":
        with worker.engine.connect() as conn:
            assert conn.execute(text("pragma journal_mode")).scalar_one() == "wal"


def test_from_settings_uses_the_configured_url(url):
    from settings import Settings

    store = TreasuryStore.from_settings(Settings(treasury_db_url=url))
    store.upsert_expected_outflow(outflow("INV1"))
    assert TreasuryStore(url).get_outflow("1710-100042-INV1") is not None
