"""How LifecycleDeliveries groups one lifecycle's queued signals: with bank_status_lists, the
bank's answers queued one after another go as one bank_statuses signal in their order; hints,
and anything queued between answers, keep their place; without it every signal goes alone."""

from activities.lifecycle_delivery import LifecycleDeliveries, _as_one
from adapters.lifecycle_outbox import QueuedSignal


def _queued(seq: int, signal: str, argument: dict | None = None, batch: str = "msg-1") -> QueuedSignal:
    return QueuedSignal(workflow_id="invoice-1710-1000013-A1", signal=signal, argument=argument,
                        batch_key=batch, seq=seq, hint=signal == "statement_posted")


def _sent(delivery: LifecycleDeliveries, items: list[QueuedSignal]) -> list[tuple[str, list[int]]]:
    return [(_as_one(group).signal, [i.seq for i in group]) for group in delivery._in_signals(items)]


ITEMS = [_queued(1, "bank_status", {"status": "accepted", "end_to_end_id": "E/1"}),
         _queued(1, "bank_status", {"status": "settled", "end_to_end_id": "E/1"}, batch="msg-2"),
         _queued(2, "statement_posted"),
         _queued(3, "bank_status", {"status": "returned", "end_to_end_id": "E/1"})]


def test_answers_in_a_row_go_as_one_signal_in_their_order():
    lists = LifecycleDeliveries(client=None, outbox=None, bank_status_lists=True)  # type: ignore[arg-type]
    assert _sent(lists, ITEMS) == [("bank_statuses", [1, 1]), ("statement_posted", [2]), ("bank_status", [3])]
    [first, *_] = lists._in_signals(ITEMS)
    assert _as_one(first).argument == {"reports": [ITEMS[0].argument, ITEMS[1].argument]}


def test_without_lists_every_signal_goes_alone():
    plain = LifecycleDeliveries(client=None, outbox=None)  # type: ignore[arg-type]
    assert _sent(plain, ITEMS) == [("bank_status", [1]), ("bank_status", [1]), ("statement_posted", [2]),
                                   ("bank_status", [3])]
