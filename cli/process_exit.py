"""Ending a process that used a Temporal client, without interpreter finalisation.

The SDK's Rust core keeps Tokio threads that can call back into Python while CPython is
finalising; now and then that aborts the process with "PyGILState_Release: thread state
... must be current when releasing" (SIGABRT, exit 134) *after* the command did its work
(temporalio/sdk-python#300, open). We measured it at about 1 run in 40 of
`python -m reports.exceptions_table`, and CI saw it. A script would read that as failure.

So every command that opened a client ends here: the work is done and every file we wrote
is closed, so flush what is buffered and leave with the real exit code, skipping teardown.
Only `__main__` blocks call this; code imported by tests returns normally.
"""

import logging
import os
import sys
import traceback
from typing import NoReturn


def exit_now(code: int | None) -> NoReturn:
    """`sys.exit(code)` for a process whose Temporal client threads may still be alive."""
    logging.shutdown()  # flushes handlers, e.g. a log file
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed pipe or stream: nothing left to save
            pass
    os._exit(code or 0)


def run_main(main) -> NoReturn:
    """Run a `main() -> int` entry point, keeping `sys.exit`'s meaning for errors and Ctrl-C."""
    try:
        code = main()
    except SystemExit as done:  # argparse's --help / usage errors, explicit exits
        code = done.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception:  # noqa: BLE001 - the traceback Python would print, then its exit code
        traceback.print_exc()
        code = 1
    exit_now(code)
