"""Where the embedded stack keeps its state (`.finsync/`: codec key, treasury database,
reconciliation reports, SQLite files), found the same way by `up` and by the commands a person
runs in a second terminal, from any directory of the checkout."""

import os
from pathlib import Path

# The checkout this package was installed from (`pip install -e`), not the current directory:
# `python -m cli status` from samples/ or /tmp means the same stack as from the top.
CHECKOUT = Path(__file__).resolve().parent.parent
STATE_DIR_ENV = "FINSYNC_STATE_DIR"


def state_dir() -> Path:
    """FINSYNC_STATE_DIR if set (relative to the current directory, as a shell user means it),
    else the checkout's .finsync/."""
    named = os.environ.get(STATE_DIR_ENV)
    return Path(named).resolve() if named else CHECKOUT / ".finsync"


def codec_key_file() -> Path:
    return state_dir() / "codec.key"


def read_keys_file() -> Path:
    """The payload keys that only decrypt: the embedded stack's holds intake's key (its receipts)."""
    return state_dir() / "codec-read-keys"


def reports_dir() -> Path:
    """Where the worker writes reconciliation reports: FINSYNC_REPORT_DIR (the stack sets it for
    its worker), else the state's reports/."""
    named = os.environ.get("FINSYNC_REPORT_DIR")
    return Path(named).resolve() if named else state_dir() / "reports"


def treasury_db_url() -> str:
    return f"sqlite:///{state_dir() / 'treasury.db'}"


def no_key_message() -> str:
    """Why a command that reads workflow payloads can not start, and what to do."""
    where = codec_key_file()
    return (f"no payload encryption key: the embedded stack keeps it in {where}, which does not exist. "
            f"Start the stack with `make up` in {CHECKOUT} (it creates the key), name the stack's state with "
            f"{STATE_DIR_ENV}=<dir>, or set FINSYNC_CODEC_KEY_FILE / FINSYNC_CODEC_KEY for another deployment.")
