"""Where recorded histories live, and how a new recording replaces the one before it
(docs/architecture.md, "Upgrades of running workflows"):

    tests/histories/current/               every current path, written by `python -m tests.record_histories`
    tests/histories/archive/<generation>/  lifecycle histories of earlier generations: replayed forever
    tests/histories/retired/<generation>/  pinned types' histories of earlier generations: kept, not replayed

A generation is named for the commit that committed it: its date and short sha (20261127-5cb2761).
Lifecycles live for months and move to the newest build, so every history they ever wrote must
replay; the pinned types finish on the build that started them, so theirs only retire."""

import json
import shutil
import subprocess
from pathlib import Path

from temporalio.client import WorkflowHistory

ROOT = Path(__file__).resolve().parent.parent / "histories"
CURRENT = ROOT / "current"
ARCHIVE = ROOT / "archive"
RETIRED = ROOT / "retired"
LIFECYCLE_TYPES = {"InvoiceToPayment"}  # every other workflow type is pinned to its build


def workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def histories(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def generation_of(folder: Path) -> str:
    """Date and short sha of the last commit that touched `folder`: the generation its files belong to."""
    return _git("log", "-1", "--format=%cd-%h", "--date=format:%Y%m%d", "--", str(folder)).strip()


def committed(folder: Path) -> set[str]:
    """Names of the files in `folder` exactly as the last commit has them. Outside a git checkout:
    none (nothing there was ever replayed by CI)."""
    try:
        in_head = _git("ls-tree", "--name-only", "HEAD", f"{folder}/").split()
        changed = _git("diff", "--name-only", "HEAD", "--", str(folder)).split()
    except (OSError, subprocess.SubprocessError):
        return set()
    return {Path(name).name for name in in_head} - {Path(name).name for name in changed}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True).stdout


def rotate() -> list[str]:
    """Before current/ is rewritten: its committed histories (the generation CI replayed, and
    production may have run) go, lifecycles to archive/<generation>/, pinned types to
    retired/<generation>/. A file there as no commit has it is a recording made since and never
    committed, so never replayed by CI nor run in production: it is replaced, not archived.
    Returns what was done, for the log."""
    files = histories(CURRENT)
    kept = committed(CURRENT) if files else set()
    generation = generation_of(CURRENT) if kept else ""
    done = []
    for path in files:
        if path.name not in kept:
            path.unlink()
            done.append(f"replaced {path.name} (never committed)")
            continue
        target = (ARCHIVE if workflow_type(path) in LIFECYCLE_TYPES else RETIRED) / generation
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target / path.name)
        done.append(f"moved {path.name} to {target.relative_to(ROOT)}/")
    return done


def write(name: str, history: WorkflowHistory) -> int:
    """current/<name>.json, indented as the histories were always kept (readable diffs). The
    workflow id goes beside the events: the file is named for its path, and a lifecycle replays
    only under its own id (it checks the id against the invoice's business key)."""
    CURRENT.mkdir(parents=True, exist_ok=True)
    body = {"workflowId": history.workflow_id, **json.loads(history.to_json())}
    (CURRENT / f"{name}.json").write_text(json.dumps(body, indent=1) + "\n")
    return len(history.events)


def load(path: Path) -> WorkflowHistory:
    """A kept history as the Replayer takes it. Files written before the id was kept beside the
    events are named for their workflow id."""
    body = json.loads(path.read_text())
    return WorkflowHistory.from_json(body.pop("workflowId", path.stem), body)
