"""`run_main` ends a command with os._exit (temporalio/sdk-python#300): a script must still see
the command's own exit code and every line it printed, even into a pipe and without a newline."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(body: str) -> subprocess.CompletedProcess:
    script = "from cli.process_exit import run_main\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, text=True, capture_output=True, timeout=30)


@pytest.mark.parametrize("returned, code", [(0, 0), (3, 3), (None, 0)])
def test_the_command_exit_code_and_buffered_output_survive(returned, code) -> None:
    result = run(f"""
        import sys
        def main():
            print("table line 1"); print("last line, no newline", end="")
            print("a warning", file=sys.stderr, end="")
            return {returned!r}
        run_main(main)
        print("never reached")
        """)
    assert result.returncode == code
    assert result.stdout == "table line 1\nlast line, no newline"
    assert result.stderr == "a warning"


def test_usage_errors_and_crashes_keep_their_meaning() -> None:
    usage = run("""
        import argparse
        run_main(lambda: argparse.ArgumentParser(prog="x").parse_args(["--nope"]))
        """)
    assert usage.returncode == 2 and "unrecognized arguments: --nope" in usage.stderr
    message = run("run_main(lambda: exec('raise SystemExit(\"cannot start: port in use\")'))")
    assert message.returncode == 1 and message.stderr.strip() == "cannot start: port in use"
    crash = run("run_main(lambda: 1 / 0)")
    assert crash.returncode == 1 and "ZeroDivisionError" in crash.stderr
