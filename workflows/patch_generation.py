"""Patches by generation: a run started on today's code records ONE patch marker for all of them.

Every `workflow.patched(id)` that returns True in a fresh run writes a `core_patch` marker and
the SDK core adds a `TemporalChangeVersion` search-attribute upsert beside it, a billable action.
A lifecycle passed through seven such patches, so seven of each per invoice. `has(id)` asks for
the generation first: a run that records GENERATION takes every patch in it as applied and
records nothing for the single ids. A history from before has no GENERATION marker, so
`workflow.patched(GENERATION)` is False on replay and each id is asked on its own, exactly as that
history was written (architecture invariant 10).

Both answers are memoised by the SDK per run (one marker at most, on first use; a continued run is
a new run and records it again). GENERATION is always asked before any of its ids, so a run can
not see a single id False and then the generation True. Not for queries or update validators
(read-only: the SDK refuses `patched` there), and no `deprecate_patch`: ids leave `MEMBERS` only
when no history without the generation marker is left to replay.

The rule for a future change: a new patch id never joins a released generation (a run recorded
with it did not have the change); it is asked with plain `workflow.patched`, a marker per run,
or a new generation is cut that lists it and every member before it, and is asked first
(docs/architecture.md, "Upgrades of running workflows"). Generations so far:

- `patch-generation-1` (2026-11-27): the patches listed in GENERATION_1.
- `patch-generation-2` (2026-11-27): those and `local-activities-v1`. A history with the first
  generation's marker has no second one: `patched(GENERATION)` is False there, the first is asked.
- `patch-generation-3` (2026-11-28): those, `start-attributes-v1` and
  `inbox-books-actual-outflow-v1`. Asked in the same way: a
  history with an older generation's marker is asked for that generation next.
"""

from temporalio import workflow

GENERATION = "patch-generation-3"
GENERATION_2 = "patch-generation-2"
GENERATION_1 = "patch-generation-1"

# Every patch that existed when GENERATION_1 was cut (2026-11-27), all workflow types together.
MEMBERS_1 = frozenset({
    # InvoiceToPayment and its mixins
    "approvals-v1",
    "verified-decisions-v1",
    "admit-invoice-v1",  # cut with the generation, as search-attributes-per-task-v1 (not released yet)
    "continue-as-new-v1",
    "decision-audit-v1",  # also BankInbox and PaymentRun (workflows/decision_audit.py)
    "case-sla-search-attributes-v1",
    "search-attributes-per-task-v1",  # cut with the generation: no history has one without the other
    "invoice-facts-memo-v1",
    "near-duplicate-check-v1",
    "near-duplicate-search-v1",  # cut with the generation, as search-attributes-per-task-v1 (not released yet)
    "operator-inputs-v1",
    "payee-account-check-v1",
    "reserve-account-check-v1",
    "bank-cooling-off-v1",
    "bank-evidence-v1",
    "clearing-hint-before-read",
    "clearing-from-statement-post-answer",  # cut with the generation, as search-attributes-per-task-v1
    "einvoice-refusals-v1",
    "one-armed-deadline-v1",  # cut with the generation, as search-attributes-per-task-v1
    # PaymentRun
    "erp-run-code-per-account-v1",
    "run-controls-v1",
})

# The second generation: the first's members and the patches cut with it (not released before).
MEMBERS_2 = MEMBERS_1 | {
    "local-activities-v1",  # reads and keyed treasury writes of a lifecycle as local activities
}

# The third: the second's members and the patches cut with it.
MEMBERS = MEMBERS_2 | {
    "start-attributes-v1",  # what the starter already shows (search attributes, facts memo) is not sent again
    "inbox-books-actual-outflow-v1",  # the bank inbox makes a settlement's outflow actual, not each lifecycle
}


def has(patch_id: str) -> bool:
    """`workflow.patched(patch_id)` for a patch of this generation, at most one marker per run."""
    if patch_id not in MEMBERS:
        # A later patch asked through the generation would read True in runs recorded before it.
        raise ValueError(f"patch {patch_id!r} is not in {GENERATION}: ask workflow.patched for it")
    if workflow.patched(GENERATION):
        return True
    if patch_id not in MEMBERS_2:
        return False  # cut with GENERATION: no history without its marker has this change
    if workflow.patched(GENERATION_2):
        return True
    if patch_id not in MEMBERS_1:
        return False  # cut with GENERATION_2
    return workflow.patched(GENERATION_1) or workflow.patched(patch_id)
