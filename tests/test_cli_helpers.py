"""The command line as a user runs it: a subprocess of `python -m cli` from the repository
root, and one smoke run of the whole embedded stack on free ports, twice on the same state
(the second run must resume the same lifecycles, not post or pay them again)."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli import state
from cli.processes import free_port, port_open
from tests.clock import business_today
from tests.helpers import TEST_CODEC_KEY, run_module
from tests.tryton_server import PASSWORD as TRYTON_PASSWORD
from tests.tryton_server import seeded_database

REPO = Path(__file__).resolve().parent.parent
SAMPLE = "samples/invoice-globex.json"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Ctrl-C, not a kill: `up` then stops what it started instead of orphaning it.
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"`cli {' '.join(args)}` did not finish in {timeout}s\n{out}\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_workflow_id_of_the_sample_invoice() -> None:
    result = run_cli("workflow-id", SAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "invoice-1710-1000013-GLX-2026-0417"


def test_float_money_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    body = json.loads((REPO / SAMPLE).read_text())
    body["gross_amount"] = 3932.5
    path = tmp_path / "float.json"
    path.write_text(json.dumps(body))
    result = run_cli("workflow-id", str(path))
    assert result.returncode == 2
    assert "decimal string" in result.stderr and "gross_amount" in result.stderr
    assert result.stdout == ""


def test_start_command_fails_on_an_existing_id_and_sends_the_file() -> None:
    result = run_cli("start-command", SAMPLE)
    assert result.returncode == 0, result.stderr
    args = shlex.split(result.stdout)
    assert args[:3] == ["temporal", "workflow", "start"]
    assert "--fail-existing" in args
    assert args[args.index("--workflow-id") + 1] == "invoice-1710-1000013-GLX-2026-0417"
    assert args[args.index("--id-reuse-policy") + 1] == "AllowDuplicateFailedOnly"  # a failed start can be corrected
    assert 'InvoiceId="1710-1000013-GLX-2026-0417"' in args and 'InvoiceStatus="RECEIVED"' in args
    facts = json.loads(args[args.index("--memo") + 1].removeprefix("invoice_facts="))
    assert facts["gross_amount"] == "3932.50" and facts["reference"] == "GLX-2026-0417"  # money as a string
    assert args[args.index("--static-summary") + 1] == "1000013 3932.50 EUR due 2026-12-20"
    assert json.loads(args[args.index("--input") + 1]) == json.loads((REPO / SAMPLE).read_text())


def test_the_stack_state_is_the_checkouts_wherever_the_command_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FINSYNC_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert state.state_dir() == REPO / ".finsync" and state.codec_key_file() == REPO / ".finsync" / "codec.key"
    monkeypatch.setenv("FINSYNC_STATE_DIR", "elsewhere")  # relative, as typed in a shell: to where it was typed
    assert state.state_dir() == tmp_path / "elsewhere"


def test_commands_find_the_stacks_codec_key_from_a_subdirectory(tmp_path: Path, temporal_address: str) -> None:
    stack = tmp_path / "state"
    stack.mkdir()
    (stack / "codec.key").write_text(TEST_CODEC_KEY + "\n")
    nothing = "WorkflowId = 'no-such-workflow'"
    found = run_module("cli", "exceptions", "--query", nothing, address=temporal_address, cwd=REPO / "samples",
                       env={"FINSYNC_STATE_DIR": str(stack), "FINSYNC_CODEC_KEY": None})
    missing = run_module("cli", "status", address=temporal_address, cwd=REPO / "samples",
                         env={"FINSYNC_STATE_DIR": str(tmp_path / "empty"), "FINSYNC_CODEC_KEY": None})
    assert (found.returncode, found.stdout.strip()) == (0, "no open exceptions"), found.stderr
    assert missing.returncode == 1 and f"{tmp_path / 'empty' / 'codec.key'}, which does not exist" in missing.stderr
    assert "make up" in missing.stderr and missing.stdout == ""


def _table(output: str) -> dict[str, tuple[str, ...]]:
    """invoice key -> (status, ERP document, attempt, EndToEndId, open exception, reason) from
    the last status table in the report (the reason, in words, is the rest of the line)."""
    rows = {}
    for line in output.rsplit("\nINVOICE ", 1)[1].splitlines()[1:]:
        cols = line.split(maxsplit=6)
        if len(cols) < 7 or not re.match(r"\d{4}-", cols[0]):
            break
        rows[cols[0]] = tuple(cols[1:])
    return rows


def _by_supplier(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, str]]:
    """supplier -> (status, reason) of the samples the smoke run awaits."""
    return {key.split("-")[1]: (cols[0], cols[5]) for key, cols in table.items() if key.split("-")[1] in EXPECTED}


# The sample runs pay all seven: GLOBEX and Umbrella (1710, pain.001), Quantum Components (1010,
# a NACHA file to its US account) and 2700001/2700002 (2710, Tryton) are paid, settled and cleared; INITECH's
# account is closed (AC04) and EURODIS's bank unknown (RC01), so both wait for AP.
EXPECTED = {"1000013": ("COMPLETED", "-"), "1000014": ("AWAITING_REMEDIATION", "AC04 account closed"),
            "1000015": ("AWAITING_REMEDIATION", "RC01 bank identifier incorrect"), "1000016": ("COMPLETED", "-"),
            "1000010": ("COMPLETED", "-"), "2700001": ("COMPLETED", "-"), "2700002": ("COMPLETED", "-")}
# Every sample is awaited: company code 2710's are booked in Tryton and cleared from its statement.
SHOWN: set[str] = set()


def test_up_runs_the_samples_through_a_payment_run_stops_everything_and_resumes(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    ports = {name: free_port() for name in ("TEMPORAL", "UI", "SAP", "BANK", "EINVOICE", "CODEC", "INTAKE", "RELAY",
                                            "TRYTON")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FINSYNC_"))}
    env.update({f"FINSYNC_{name}_PORT": str(port) for name, port in ports.items()})
    env["FINSYNC_STATE_DIR"] = str(tmp_path / "state")
    # The stack's Tryton starts from the tests' cached seeded database, not a new one (~45 s).
    year = business_today().year
    cache = Path(request.config.cache.mkdir("tryton")) if request.config.cache else tmp_path / "tryton-cache"
    cache.mkdir(exist_ok=True)
    env["FINSYNC_TRYTON_TEMPLATE_DB"] = str(seeded_database(cache, [year - 1, year, year + 1]))
    env["FINSYNC_TRYTON_TEMPLATE_PASSWORD"] = TRYTON_PASSWORD

    first = run_cli("up", "--exit-after-samples", env=env, timeout=90)
    assert first.returncode == 0, first.stdout + first.stderr
    started = re.findall(r"started\s+(invoice-\S+)", first.stdout)
    assert {i.split("-")[1] for i in started} == {"1710", "1010", "2710"} and len(started) == 7, first.stdout
    assert "created mock-bank account ACMEDE" in first.stdout and "created mock-bank account ACMEUS" in first.stdout
    assert first.stdout.count("payment-run-ACME started") == 1, first.stdout
    assert first.stdout.count("payment-run-ACMEUS started") == 1, first.stdout
    assert re.search(r"ACMEUS-\d{8}-1 \(ERP run U\d{4}1\): 1 payments sent, 1959.75 USD", first.stdout), first.stdout
    table = _table(first.stdout)
    assert _by_supplier(table) == EXPECTED, first.stdout
    assert {key.split("-")[1] for key in table} == EXPECTED.keys() | SHOWN, first.stdout
    pids = [int(p) for p in re.findall(r"pid (\d+)", first.stdout)]
    # 4 servers, the codec server, Tryton, the worker, intake and its signing relay: started, then stopped
    assert len(pids) == 9 * 2
    for pid in set(pids):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not [p for p in ports.values() if port_open(p)]

    second = run_cli("up", "--exit-after-samples", env=env, timeout=90)
    assert second.returncode == 0, second.stdout + second.stderr
    # The paid ones have ended; the two waiting for AP are the same lifecycles, resumed.
    resumed = re.findall(r"resumed\s+(invoice-\S+)", second.stdout)
    done = re.findall(r"already done\s+(invoice-\S+)", second.stdout)
    assert set(resumed + done) == set(started) and len(done) >= 3, second.stdout
    # No second payment run, no bank day advanced, the same states and ERP documents.
    assert "payment-run-ACME started" not in second.stdout and "payment-run-ACME: skipped" in second.stdout
    assert "payment-run-ACMEUS started" not in second.stdout and "payment-run-ACMEUS: skipped" in second.stdout
    assert "bank clock advanced" not in second.stdout and "bank clock   not advanced" in second.stdout
    awaited = {k: v for k, v in table.items() if k.split("-")[1] in EXPECTED}
    assert {k: v for k, v in _table(second.stdout).items() if k in awaited} == awaited
    assert not [p for p in ports.values() if port_open(p)]
