"""The recordings behind `python -m tests.record_histories` (the replay set): where histories
live (layout), what each recording runs against (stack), and the paths, by what they need
(lifecycles without a bank, payments through the bank, the pinned workflows)."""
