"""Recorded histories must replay on today's code: a change that would break running
workflows fails here (architecture notes, "Upgrades"). Lifecycle histories replay forever
(use workflow.patched); pinned workflow types may retire theirs with a new deployment version."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker import WORKFLOWS

ROOT = Path(__file__).parent / "histories"
HISTORIES = sorted(ROOT.glob("*.json"))
RETIRED = sorted((ROOT / "retired").glob("*/*.json"))
NEVER_RETIRED = {"InvoiceToPayment"}


def workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def test_histories_are_committed():
    assert len(HISTORIES) >= 6  # lifecycles (held, cancelled, unknown post, paid), a payment run, the bank inbox


def test_lifecycle_histories_are_never_retired():
    assert [p.name for p in RETIRED if workflow_type(p) in NEVER_RETIRED] == []


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path, client):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=client.data_converter)
    await replayer.replay_workflow(history)
