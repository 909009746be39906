"""The near-duplicate check before posting, a mixin of InvoiceToPayment (it shares the
lifecycle's state, cases and waits).

`DUP-9001` typed as `dup 9001` is another business key, so another lifecycle (architecture
invariant 1 keeps only exact keys apart). Before the post, the lifecycle asks the ERP and the
supplier's other running lifecycles for an invoice with the same amount and a reference equal
but for punctuation, leading zeros and case, or the same invoice date (canonical/duplicates.py,
activities/duplicate_search.py). A hit holds the invoice under a PossibleDuplicate case for
AP naming the other document; nothing is posted until someone confirms it is a different
invoice (`confirm_not_duplicate`, workflows/duplicate_confirmation.py) or cancels it.

So that the others find this one before it is posted, each lifecycle keeps its invoice facts
in its memo from the start. Both are new commands: lifecycles started before them never ask
(`workflow.patched`), and recorded histories replay unchanged. The hold does not continue as
new: it waits for one person, and a run continued later skips the check it already passed.
Since `near-duplicate-search-v1` both reads are one activity (`possible_duplicates`), each
read's outage still under its own counterpart's case (activity_options.NEAR_DUPLICATE_SEARCH).
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.duplicate_search import DuplicateSearch
    from activities.lifecycle_listing import FACTS_MEMO
    from canonical.duplicates import DuplicateFindings, InvoiceFacts, OtherInvoice

import workflows.activity_options as opts
from workflows import patch_generation
from workflows.ap_decisions import decider
from workflows.duplicate_confirmation import DuplicateConfirmation
from workflows.lifecycle_state import START_ATTRIBUTES_PATCH

FACTS_PATCH = "invoice-facts-memo-v1"
CHECK_PATCH = "near-duplicate-check-v1"
SEARCH_PATCH = "near-duplicate-search-v1"  # the ERP's and the lifecycles' reads as one activity
CASE_TYPE = "PossibleDuplicate"
_MAX_NAMED = 5  # other documents named in the case; the count says if there were more


class NearDuplicates(DuplicateConfirmation):
    def _init_near_duplicates(self) -> None:
        self._init_duplicate_confirmation()
        self._facts_shown: InvoiceFacts | None = None

    def _show_invoice_facts(self) -> None:
        """In the memo, for the other lifecycles' checks (activities/duplicate_search.py)."""
        facts = InvoiceFacts.of(self._state.invoice)
        if self._facts_shown is None and patch_generation.has(START_ATTRIBUTES_PATCH):
            self._facts_shown = _given_facts()  # the starter's, or the last run's: not written again if right
        if facts != self._facts_shown and patch_generation.has(FACTS_PATCH):
            workflow.upsert_memo({FACTS_MEMO: facts})
            self._facts_shown = facts

    async def _check_near_duplicates(self, passed_before: bool = False) -> None:
        """Hold until AP confirms the invoice is distinct, if the ERP or a running lifecycle
        has one like it. `passed_before`: a continued run held in the posting step."""
        if passed_before or not patch_generation.has(CHECK_PATCH):
            return
        self._show_invoice_facts()  # a correction may have changed the amount or the date
        found = await self._step(self._find_near_duplicates)  # a refused query: a case, then again
        if not found:
            return
        named = "; ".join(other.described() for other in found[:_MAX_NAMED])
        more = f" and {len(found) - _MAX_NAMED} more" if len(found) > _MAX_NAMED else ""
        self._open_case(CASE_TYPE, f"possibly the same invoice as {named}{more}: not posted until AP confirms "
                                   "it is a different invoice (confirm_not_duplicate) or cancels it", hold=True)
        assert self._cases.open is not None
        self._duplicate_case_id = self._cases.open.case_id
        await self._wait_for_person(lambda: self._not_duplicate is not None)
        confirmation = self._not_duplicate
        assert confirmation is not None  # `resolve` is refused on this case: only a confirmation ends it
        who = decider(confirmation.token, None)
        self._cases.close(who.subject, f"not a duplicate: {confirmation.note}")
        self._duplicate_case_id = self._not_duplicate = None
        self._state.resume(f"not a duplicate, confirmed by {who.subject}, verified {who.verified_by}: "
                           f"{confirmation.note}")

    async def _find_near_duplicates(self) -> list[OtherInvoice]:
        inv = self._state.invoice
        if patch_generation.has(SEARCH_PATCH):  # both reads in one activity
            findings: DuplicateFindings = await self._call(
                DuplicateSearch.possible_duplicates, inv, summary=f"look for near duplicates of {self._ref} "
                "in the ERP and among the supplier's running lifecycles", via=opts.NEAR_DUPLICATE_SEARCH,
                local=True)  # reads
            return findings.in_erp + findings.in_lifecycles
        found: list[OtherInvoice] = await self._call(
            DuplicateSearch.possible_duplicates_in_erp, inv, summary=f"look for near duplicates of {self._ref} "
            "in the ERP", via=opts.ERP)
        found += await self._call(
            DuplicateSearch.possible_duplicates_in_lifecycles, inv, summary=f"look for near duplicates of "
            f"{self._ref} among the supplier's running lifecycles", via=opts.LIFECYCLE_SEARCH)
        return found


def _given_facts() -> InvoiceFacts | None:
    """The facts memo the run started with. Anything but facts (a starter's typo) counts as none."""
    try:
        return workflow.memo_value(FACTS_MEMO, default=None, type_hint=InvoiceFacts)
    except Exception:  # noqa: BLE001 - whatever it holds, the lifecycle writes its own facts
        return None
