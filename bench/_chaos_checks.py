"""What the chaos harness believes: the counterparts' own records, not finsync's. SAP's posted
invoices per reference, mock-bank's booked payments per invoice, SAP's cleared items, and
the lifecycles by state from Temporal's visibility, including those neither COMPLETED nor
carrying an owned case (an unowned stall)."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_chaos_checks.py: a helper of bench/chaos.py, nothing to measure")
    sys.exit(0)

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import httpx
from temporalio.client import Client

from _invoices import sap_cleared_items, sap_our_invoices
from canonical.status import InvoiceStatus

SI_POST = {"match": "A_SupplierInvoice$", "method": "POST"}


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)

    def fail_if(self, condition: bool, text: str) -> None:
        if condition:
            self.failures.append(text)


async def sap_faults(sap_url: str, stop: asyncio.Event, every: int = 10, slow_posts: int = 5) -> None:
    """About one in `every` of SAP's invoice posts answers 503 (no dialog work process), and a
    few take longer than the worker waits (the POST lands, the answer is lost). mock-sap's fault
    rules are counted, not random: 503 rules are armed as SAP takes invoices, so that they make
    one post in `every`, a few at a time."""
    async with httpx.AsyncClient(base_url=sap_url, timeout=30) as http:
        for _ in range(slow_posts):
            await http.post("/_mock/faults", json={**SI_POST, "scenario": "slow", "count": 1})
        armed = 0
        while not stop.is_set():
            taken = (await http.get("/_mock/state")).json().get("A_SupplierInvoice", 0)
            rules = (await http.get("/_mock/faults")).json()
            pending = [r for r in (rules if isinstance(rules, list) else rules.get("results", []))
                       if r.get("status") == 503]
            for _ in range(min(taken // (every - 1) - armed, 3 - len(pending))):
                await http.post("/_mock/faults", json={**SI_POST, "status": 503, "count": 1,
                                                       "message": "No dialog work process available"})
                armed += 1
            try:
                await asyncio.wait_for(stop.wait(), 0.3)
            except TimeoutError:
                pass
        await http.delete("/_mock/faults")


async def sap_post_answers(sap_url: str, lost_after_ms: int) -> Counter:
    """What the faults really did to SAP's invoice POSTs: HTTP status, and answers slower than
    the worker waits (posted, answer lost)."""
    async with httpx.AsyncClient(base_url=sap_url, timeout=60) as http:
        rows = (await http.get("/_mock/requests", params={"limit": 10_000_000})).raise_for_status().json()["results"]
    posts = [r for r in rows if r["method"] == "POST" and r["path"].endswith("A_SupplierInvoice")]
    answers = Counter(str(r["status"]) for r in posts)
    answers["answer lost"] = sum(1 for r in posts if r.get("duration_ms", 0) >= lost_after_ms)
    return answers


async def bank_payments(bank_url: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=bank_url, timeout=120) as http:
        body = (await http.get("/_mock/payments", params={"limit": 1_000_000})).raise_for_status().json()
    return body if isinstance(body, list) else body.get("payments", body.get("results", []))


async def states(client: Client, task_queue: str) -> dict[str, int]:
    base = f'WorkflowType="InvoiceToPayment" AND TaskQueue="{task_queue}"'
    counts = {s.value: (await client.count_workflows(f'{base} AND InvoiceStatus="{s.value}"')).count
              for s in InvoiceStatus}
    counts = {k: v for k, v in counts.items() if v}
    counts["(unowned, not COMPLETED)"] = (await client.count_workflows(
        f'{base} AND ExecutionStatus="Running" AND ExceptionOwner IS NULL')).count
    counts["(not running, not COMPLETED)"] = (await client.count_workflows(
        f'{base} AND ExecutionStatus!="Running" AND InvoiceStatus!="COMPLETED"')).count
    return counts


async def judge(client: Client, task_queue: str, sap_url: str, bank_url: str, prefix: str, keys: list[str],
                v: Verdict) -> None:
    posted = Counter(r["SupplierInvoiceIDByInvcgParty"] for r in await sap_our_invoices(sap_url, prefix))
    expected = set(keys)  # invoice keys: <company>-<supplier>-<reference>
    refs = {k.split("-", 2)[2] for k in expected}
    twice = sorted(r for r, c in posted.items() if c > 1)
    missing = sorted(refs - set(posted))
    v.say(f"SAP postings: {len(posted)} references posted, {len(twice)} posted twice, {len(missing)} never posted")
    v.fail_if(bool(twice), f"SAP holds {len(twice)} references twice, e.g. {twice[:3]}")
    v.fail_if(bool(missing), f"{len(missing)} invoices never reached SAP, e.g. {missing[:3]}")

    booked = Counter(p["end_to_end_id"].rsplit("/", 1)[0] for p in await bank_payments(bank_url)
                     if p.get("booked_at") and p.get("end_to_end_id", "").split("-", 2)[-1].startswith(prefix))
    paid_twice = sorted(k for k, c in booked.items() if c > 1)
    unpaid = sorted(set(expected) - set(booked))
    v.say(f"bank payments: {sum(booked.values())} booked for {len(booked)} invoices, {len(paid_twice)} invoices paid "
          f"more than once, {len(unpaid)} not paid")
    v.fail_if(bool(paid_twice), f"{len(paid_twice)} invoices paid twice at the bank, e.g. {paid_twice[:3]}")

    cleared = len(await sap_cleared_items(sap_url))
    v.say(f"SAP items cleared: {cleared}")
    counts = await states(client, task_queue)
    v.say("lifecycles: " + ", ".join(f"{k} {c}" for k, c in counts.items()))
    stalled = counts.get("(unowned, not COMPLETED)", 0)
    v.fail_if(stalled > 0, f"{stalled} lifecycles neither COMPLETED nor carrying an owned case")
    v.fail_if(counts.get("(not running, not COMPLETED)", 0) > 0, "lifecycles ended without completing")
    base = f'WorkflowType="InvoiceToPayment" AND TaskQueue="{task_queue}"'
    total = (await client.count_workflows(base)).count
    v.fail_if(total != len(keys), f"{len(keys)} invoices started, {total} lifecycles exist")
    completed = {w.id.removeprefix("invoice-")
                 async for w in client.list_workflows(f'{base} AND InvoiceStatus="COMPLETED"')}
    unpaid_completed = sorted(completed - set(booked))
    v.fail_if(bool(unpaid_completed),
              f"{len(unpaid_completed)} COMPLETED without a booked payment: {unpaid_completed[:3]}")
