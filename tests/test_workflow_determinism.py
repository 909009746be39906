"""Workflow code is deterministic, checked on the source (architecture invariant 10).

The worker runs workflows without the SDK's sandbox (worker.WORKFLOW_RUNNER, README "Worker
capacity"), whose instances and per-payload hand-offs cost ~30% of the worker's CPU. Two checks
stand in for it: every recorded history replays in the sandbox (tests/test_replay.py), and, for
code no recorded path reaches, every module under workflows/ is read here: no clock,
randomness, I/O, threads or counterpart clients; no `hash()` (salted per process, so a replay on
another worker differs); no module state a run could change for the next."""

import ast
from pathlib import Path

WORKFLOWS = sorted((Path(__file__).parent.parent / "workflows").glob("*.py"))

# Whole modules a workflow has no business importing: time, chance, the process, the network.
FORBIDDEN_IMPORTS = {"random", "secrets", "uuid", "time", "os", "socket", "subprocess", "threading",
                     "multiprocessing", "concurrent", "httpx", "requests", "sqlalchemy", "sqlmodel", "adapters"}
# datetime.now() and friends: the time comes from workflow.now().
CLOCK_CALLS = {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp"}
CLOCK_OWNERS = {"datetime", "date"}
BUILTIN_IO = {"open", "input", "hash", "breakpoint"}
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "clear", "remove",
            "discard", "__setitem__"}
MUTABLE_FACTORIES = {"list", "dict", "set", "defaultdict", "OrderedDict", "Counter", "deque"}


def _module_mutables(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        targets, value = ([node.target], node.value) if isinstance(node, ast.AnnAssign) else (
            (node.targets, node.value) if isinstance(node, ast.Assign) else ([], None))
        factory = getattr(value.func, "id", getattr(value.func, "attr", "")) if isinstance(value, ast.Call) else ""
        mutable = factory in MUTABLE_FACTORIES or isinstance(
            value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp))
        if mutable:
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _owner(node: ast.expr) -> str:
    """`datetime` for `datetime.now` and for `dt.datetime.now`."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def problems_in(source: str, name: str = "<source>") -> list[str]:
    tree = ast.parse(source)
    found: list[str] = []
    mutables = _module_mutables(tree)
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_IMPORTS]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FORBIDDEN_IMPORTS:
            found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Global):
            found.append(f"{where} writes module state (global {', '.join(node.names)})")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in BUILTIN_IO:
                found.append(f"{where} calls {func.id}()")
            elif isinstance(func, ast.Attribute) and func.attr in CLOCK_CALLS and _owner(func.value) in CLOCK_OWNERS:
                found.append(f"{where} reads the clock ({_owner(func.value)}.{func.attr}); use workflow.now()")
            elif (isinstance(func, ast.Attribute) and func.attr in MUTATORS and isinstance(func.value, ast.Name)
                  and func.value.id in mutables):
                found.append(f"{where} changes module state ({func.value.id}.{func.attr})")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            found += [f"{where} changes module state ({t.value.id}[...])" for t in targets
                      if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in mutables]
    return found


def test_there_are_workflow_modules_to_check():
    assert len(WORKFLOWS) >= 30
    assert any(p.name == "invoice_lifecycle.py" for p in WORKFLOWS)


def test_workflow_code_has_no_clock_chance_io_or_shared_state():
    found = [problem for path in WORKFLOWS for problem in problems_in(path.read_text(), path.name)]
    assert found == []


def test_the_check_refuses_each_kind_it_names():
    bad = """
import datetime as dt
import random
from datetime import datetime
from adapters.sap import SapClient
SEEN = {}
CACHE: list = []

def step(key):
    global LAST
    SEEN[key] = datetime.now()
    CACHE.append(key)
    return open("x").read(), hash(key), random.random()

def later():
    return dt.date.today()
"""
    found = "\n".join(problems_in(bad))
    for expected in ("imports random", "imports from adapters.sap", "global LAST", "reads the clock (datetime.now)",
                     "reads the clock (date.today)",
                     "SEEN[...]", "CACHE.append", "calls open()", "calls hash()"):
        assert expected in found


def test_constants_and_workflow_time_pass():
    good = """
from datetime import datetime, timedelta
from temporalio import workflow
LIMITS = {"a": 1}

def step(values):
    local = {}
    local["x"] = workflow.now() + timedelta(days=LIMITS["a"])
    values.append(datetime.fromisoformat("2026-01-01"))
    return local
"""
    assert problems_in(good) == []
