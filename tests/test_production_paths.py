"""No mock-only endpoint on a production code path (issue 11, item 7).

What only a mock can answer (its inspection and control paths under `/_mock`) lives in
tests/harness/ and the demo stack's modules; production code does without it. mock-bank serves
the bank's real download channel and its camt.052 request under `/_mock`, but no production
module names even those: they are configuration (FINSYNC_BANK_DOWNLOAD_PATH,
FINSYNC_BANK_REPORT_REQUEST_PATH), which the embedded stack and the tests set from
cli/processes.py, the one place that starts mock-bank and names them.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ["adapters", "activities", "workflows", "canonical", "intake", "reports", "telemetry", "codec", "cli",
              "worker.py", "settings.py"]
HARNESS = "tests/harness/"
# The embedded demo stack (`make up`): it starts the mocks, waits for their health, moves
# mock-bank's clock, creates the US entity's NACHA account and prints the mocks' controls for a newcomer.
# Never the worker's path. cli/processes.py starts the mocks for the stack and the tests
# and names mock-bank's services.
DEMO = {"cli/stack.py", "cli/stack_accounts.py", "cli/samples.py", "cli/demo_bank_clock.py", "cli/processes.py"}
MOCK_LAUNCHER = "cli/processes.py"
BANK_SERVICES = {"/_mock/mailbox", "/_mock/accounts/{account}/report"}


def production_files() -> list[Path]:
    files: list[Path] = []
    for name in PRODUCTION:
        path = ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def test_only_the_harness_the_demo_and_the_bank_channel_name_mock_paths():
    offending = []
    for path in production_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(HARNESS) or rel in DEMO:
            continue
        offending += [f"{rel}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if "/_mock" in line]
    assert offending == [], "mock-only paths on a production code path: " + ", ".join(offending)


def test_the_mock_launcher_names_only_the_banks_own_services():
    """Its `/_mock` paths are what the stack and the tests configure as the bank's services."""
    tree = ast.parse((ROOT / MOCK_LAUNCHER).read_text())
    named = {node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/_mock")}
    assert named == BANK_SERVICES, named


def test_no_production_module_imports_the_harness():
    importers = []
    for path in production_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(HARNESS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            importers += [f"{rel} imports {n}" for n in names if n.startswith("tests.harness")]
    assert importers == []


def test_the_worker_and_the_cli_load_no_harness_adapter():
    """The wiring as it runs: importing the worker and the CLI pulls in no harness module."""
    probe = ("import sys, worker, cli.__main__; "
             "print(sorted(m for m in sys.modules if m.startswith('tests.harness')))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
