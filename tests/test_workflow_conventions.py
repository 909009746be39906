"""Conventions every workflow keeps, checked on the source: each activity call shows a summary
in the Web UI and carries timeouts and a retry policy chosen for its counterpart."""

import ast
from pathlib import Path

WORKFLOWS = sorted((Path(__file__).parent.parent / "workflows").glob("*.py"))


def activity_calls():
    for path in WORKFLOWS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("execute_activity", "execute_activity_method"):
                yield path.name, node


def test_there_are_activity_calls_to_check():
    assert len(list(activity_calls())) >= 20


def test_every_activity_call_has_a_summary_and_the_options_of_its_counterpart():
    missing = []
    for name, call in activity_calls():
        keywords = {k.arg for k in call.keywords}
        options = [k.value for k in call.keywords if k.arg is None]  # **opts.ERP and the like
        if "summary" not in keywords:
            missing.append(f"{name}:{call.lineno} has no summary")
        if not any(isinstance(o, ast.Attribute) and isinstance(o.value, ast.Name) and o.value.id == "opts" for o in options):
            missing.append(f"{name}:{call.lineno} does not use workflows.activity_options")
    assert missing == []
