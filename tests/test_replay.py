"""Recorded histories must replay on today's code: a change that would break running
workflows fails here (docs/architecture.md, "Upgrades of running workflows"). Replayed: every
history in tests/histories/current/ (one per current path, written by
`python -m tests.record_histories`) and every lifecycle history in archive/<generation>/, which
replay forever, so a lifecycle change needs `workflow.patched`. Not replayed: retired/, the
pinned types' histories of earlier generations, whose runs finished on the build that started
them (tests/recordings/layout.py). No server: the Replayer needs only the workflows and the
codec (the fixed test key the histories were recorded with). Each replays twice: with the
worker's own runner, and in the SDK's sandbox (worker.history_replayer)."""

import pytest
from temporalio.worker import Replayer

from codec.bank_details import data_converter, load_codec
from settings import Settings
from tests.helpers import TEST_CODEC_KEY
from tests.record_histories import PATHS
from tests.recordings import layout
from worker import WORKFLOWS, history_replayer

CURRENT = layout.histories(layout.CURRENT)
ARCHIVED = sorted(layout.ARCHIVE.glob("*/*.json"))
RETIRED = sorted(layout.RETIRED.glob("*/*.json"))
REPLAYED = CURRENT + ARCHIVED


def name(path) -> str:
    return str(path.relative_to(layout.ROOT).with_suffix(""))


def test_current_holds_exactly_the_paths_the_script_records():
    assert sorted(p.stem for p in CURRENT) == sorted(PATHS)


def test_every_workflow_type_the_worker_registers_has_a_current_history():
    registered = {w.__temporal_workflow_definition.name for w in WORKFLOWS}
    assert registered - {layout.workflow_type(p) for p in CURRENT} == set()


def test_the_archive_keeps_lifecycles_and_never_retires_them():
    # A pinned type in archive/ would be replayed against code its runs never meet; a lifecycle
    # in retired/ would stop being replayed while runs like it may still be waiting.
    assert [name(p) for p in ARCHIVED if layout.workflow_type(p) not in layout.LIFECYCLE_TYPES] == []
    assert [name(p) for p in RETIRED if layout.workflow_type(p) in layout.LIFECYCLE_TYPES] == []


@pytest.fixture(scope="module", params=["worker-runner", "sdk-sandbox"])
def replayer(request) -> Replayer:
    """Each history twice: as the worker runs it (unsandboxed), and in the SDK's sandbox, where
    every module of workflows/ is loaded inside it and a clock read or I/O on the path fails."""
    converter = data_converter(load_codec(Settings(codec_key=TEST_CODEC_KEY)))
    return history_replayer(converter, sandboxed=request.param == "sdk-sandbox")


@pytest.mark.parametrize("path", REPLAYED, ids=name)
async def test_history_replays(path, replayer: Replayer):
    await replayer.replay_workflow(layout.load(path))
