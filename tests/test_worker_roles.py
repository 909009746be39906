"""A worker's roles come from configuration (FINSYNC_WORKER_ROLES) and each is one task queue
by kind of work; roles given the same queue name share one Worker, since every worker polling a
queue must know every workflow type sent to it."""

import pytest
from pydantic import ValidationError

from adapters.bank import BankClient
from adapters.einvoice import EInvoiceClient
from adapters.sap import SapClient
from settings import Settings
from worker import WORKFLOWS, build_workers


def test_roles_are_read_from_configuration():
    assert Settings().roles() == ["lifecycles", "payments", "back-office"]
    assert Settings(worker_roles="back-office, lifecycles").roles() == ["lifecycles", "back-office"]
    with pytest.raises(ValidationError, match="FINSYNC_WORKER_ROLES='payment'"):
        Settings(worker_roles="payment")


async def test_one_worker_per_queue_of_its_roles(client, store):
    nowhere = "http://127.0.0.1:9"
    async with SapClient(nowhere) as sap, BankClient(nowhere) as bank, EInvoiceClient(nowhere) as einvoice:
        split = build_workers(client, Settings(worker_roles="payments,back-office"), sap, store, bank, einvoice)
        assert [w.task_queue for w in split] == ["finsync-payments", "finsync-back-office"]
        one = build_workers(client, Settings(payments_task_queue="finsync", back_office_task_queue="finsync"),
                            sap, store, bank, einvoice)
        assert [w.task_queue for w in one] == ["finsync"]
        # The SDK has no public list of a Worker's workflow types: its registry is keyed by type name.
        assert set(one[0]._workflow_worker._workflows) == {w.__name__ for w in WORKFLOWS}  # type: ignore[union-attr]
