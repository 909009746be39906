"""Recorded histories must replay on today's code: a change that would break running
lifecycles fails here (use workflow.patched for intended changes, then re-record)."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_committed():
    assert len(HISTORIES) >= 6  # lifecycles (held, cancelled, unknown post, paid), a payment run, the bank inbox


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path, client):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=client.data_converter)
    await replayer.replay_workflow(history)
