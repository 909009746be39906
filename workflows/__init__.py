"""Workflows: deterministic orchestration only. No I/O, time from workflow.now()."""
