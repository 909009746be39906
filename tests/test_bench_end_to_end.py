"""Issue 10's end-to-end benchmark as a correctness net, not a timing: `bench/end_to_end.py`
at a small N spread over two booking days (two payment runs, two statements: the way the
5,000-invoice figure is measured), on its own servers, must pass every check of the payment cycle
(N paid once at the bank, each run paying its day's invoices only, N cleared in SAP, N
COMPLETED, no trouble state) and print its accounting. A change that
breaks the bench, or the cycle it drives, fails here instead of rotting until someone measures.
No wall time is asserted: CI's two shared cores say nothing about speed (bench/README.md)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import clock

# The bank's calendar decides when the payments are booked: run under the weekend clock too.
pytestmark = pytest.mark.clock_sensitive

ROOT = Path(__file__).resolve().parents[1]
N, DAYS = 20, 2


def test_end_to_end_bench_pays_and_clears_every_invoice_once():
    env = {**os.environ, clock.ENV: clock.profile().name}
    done = subprocess.run([sys.executable, "bench/end_to_end.py", "-n", str(N), "--days", str(DAYS),
                           "--timeout", "420"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "FAIL" not in done.stdout, out[-4000:]
    # The accounting ran over every workflow's history and found this run's lifecycles.
    actions = re.search(r"([\d.]+) billable actions", done.stdout)
    assert actions is not None, out[-4000:]
    assert float(actions.group(1)) > 0
    assert "END TO END" in done.stdout, out[-4000:]
    # One run a day, each paying its own day's invoices (verify() fails the bench otherwise).
    runs = re.findall(r"run ACME-\d{8}-(\d) summary: paid (\d+)", done.stdout)
    assert runs == [(str(day), str(N // DAYS)) for day in range(1, DAYS + 1)], out[-4000:]
