"""Key rotation (docs/architecture.md, "Bank details"): workers read every configured key and
encrypt with the active one, so histories written under key 1 stay readable once key 2 is
active. Configuration first, then a lifecycle that lives through a rotation on the dev
server, then the whole replay set read with the rotated keyring."""

import base64
import json
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from canonical.commands import PaymentRunInclusion
from canonical.invoice import Invoice
from canonical.payment_run import ReservedPayment
from codec.bank_details import KEY_ID_METADATA, CodecKeyError, data_converter, load_codec
from settings import Settings
from tests.clock import business_today
from tests.helpers import TEST_CODEC_KEY, invoice_json, new_worker, wait_for_status
from tests.recordings import layout
from worker import history_replayer

pytestmark = pytest.mark.clock_independent

NEXT_KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch):
    for name in ("FINSYNC_CODEC_KEY", "FINSYNC_CODEC_KEY_FILE", "FINSYNC_CODEC_KEY_ID", "FINSYNC_CODEC_READ_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)


def read_keys(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "read.keys"
    path.write_text(text)
    return path


def rolled_out(tmp_path: Path) -> Settings:
    """Step 1: every process reads the next key; the first one still encrypts."""
    return Settings(codec_key=TEST_CODEC_KEY,
                    codec_read_keys_file=read_keys(tmp_path, f"# next key, rolling out\nfinsync-2 {NEXT_KEY}\n"))


def rotated(tmp_path: Path) -> Settings:
    """Step 2: the next key encrypts; the first one only reads, kept as long as its histories."""
    return Settings(codec_key=NEXT_KEY, codec_key_id="finsync-2",
                    codec_read_keys_file=read_keys(tmp_path, f"finsync-1 {TEST_CODEC_KEY}  # retired 2026-11-27\n"))


def key_ids(history) -> set[str]:
    """The key ids of every encrypted payload anywhere in the history (inputs, results, updates)."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            key_id = node.get("metadata", {}).get(KEY_ID_METADATA) if isinstance(node.get("metadata"), dict) else None
            if key_id:
                found.add(base64.b64decode(key_id).decode())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history.to_json()))
    return found


def test_read_keys_decrypt_and_the_active_key_encrypts(tmp_path):
    codec = load_codec(rotated(tmp_path))
    assert codec.active_key_id == "finsync-2"
    assert sorted(codec._ciphers) == ["finsync-1", "finsync-2"]


@pytest.mark.parametrize(("text", "expected"), [
    ("finsync-1\n", "expected '<key id> <base64 key>'"),
    (f"finsync-1 {NEXT_KEY}\nfinsync-1 {NEXT_KEY}\n", "appears twice"),
    ("finsync-1 bm90IGEga2V5\n", "line 1 decodes to 9 bytes"),
    (f"finsync-2 {NEXT_KEY}\n", "a key id must name one key forever"),
], ids=["no-key", "key-twice", "short-key", "id-renamed"])  # not the random key: test ids agree across processes
def test_a_bad_read_keys_file_is_refused_without_echoing_keys(tmp_path, text, expected):
    settings = Settings(codec_key=base64.b64encode(os.urandom(32)).decode(), codec_key_id="finsync-2",
                        codec_read_keys_file=read_keys(tmp_path, text))
    with pytest.raises(CodecKeyError, match=expected) as caught:
        load_codec(settings)
    assert NEXT_KEY not in str(caught.value)


def test_an_empty_read_keys_file_adds_nothing(tmp_path):
    settings = Settings(codec_key=TEST_CODEC_KEY, codec_read_keys_file=read_keys(tmp_path, "# none retired yet\n"))
    assert sorted(load_codec(settings)._ciphers) == ["finsync-1"]


async def test_a_lifecycle_lives_through_a_rotation(client, temporal_address, sap_server, store, tmp_path):
    """Validated under finsync-1 (the supplier's bank accounts in history), replayed by a worker
    that also reads the next key, reserved for a run by one that encrypts with it: one history,
    both key ids, every payload readable."""
    invoice = Invoice.model_validate(invoice_json(ref=f"ROT-{uuid.uuid4().hex[:8]}"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow("InvoiceToPayment", invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        queue = worker.task_queue
    for settings in (rolled_out(tmp_path), rotated(tmp_path)):
        other = await Client.connect(temporal_address, namespace=client.namespace,
                                     data_converter=data_converter(load_codec(settings)))
        async with new_worker(other, sap_server, store, task_queue=queue):
            mine = other.get_workflow_handle(invoice.workflow_id)
            await mine.query("status")  # a new worker: the whole history is read again
            if settings.codec_key_id == "finsync-2":
                reserved = await mine.execute_update("reserve_for_payment_run", PaymentRunInclusion(
                    payment_run_id="A11230", run_key="ACME-ROTATION-1", execution_date=business_today()),
                    result_type=ReservedPayment)
                await mine.terminate("test done")
    assert reserved.instruction.creditor_iban[:2].isalpha() and reserved.instruction.creditor_iban[2:].isalnum()
    assert key_ids(await handle.fetch_history()) == {"finsync-1", "finsync-2"}


async def test_the_replay_set_reads_with_the_rotated_keyring(tmp_path):
    replayer = history_replayer(data_converter(load_codec(rotated(tmp_path))))
    paths = layout.histories(layout.CURRENT)
    assert paths
    for path in paths:
        await replayer.replay_workflow(layout.load(path))
