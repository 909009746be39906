"""Conventions every workflow keeps, checked on the source: each activity call goes through
the case machinery (workflows/counterpart_calls.call), shows a summary in the Web UI and names
the counterpart whose timeouts, retries and outage SLA it uses (workflows/activity_options)."""

import ast
from pathlib import Path

WORKFLOWS = sorted((Path(__file__).parent.parent / "workflows").glob("*.py"))
MACHINERY = "counterpart_calls.py"


def calls_named(*names: str):
    for path in WORKFLOWS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in names:
                    yield path.name, node


def test_there_are_activity_calls_to_check():
    assert len(list(calls_named("call", "_call"))) >= 20


def test_no_workflow_schedules_an_activity_around_the_case_machinery():
    direct = [f"{name}:{node.lineno}" for name, node in calls_named("execute_activity", "execute_activity_method",
                                                                    "start_activity", "start_activity_method",
                                                                    "execute_local_activity", "start_local_activity",
                                                                    "execute_local_activity_method",
                                                                    "start_local_activity_method")
              if name != MACHINERY]
    assert direct == []


def test_every_activity_call_has_a_summary_and_the_options_of_its_counterpart():
    missing = []
    for name, node in calls_named("call", "_call"):
        if name == MACHINERY or (isinstance(node.func, ast.Attribute) and node.func.attr == "_call"
                                 and not node.args):
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        if "summary" not in keywords:
            missing.append(f"{name}:{node.lineno} has no summary")
        via = keywords.get("via")
        from_options = isinstance(via, ast.Attribute) and isinstance(via.value, ast.Name) and via.value.id == "opts"
        passed_on = isinstance(via, ast.Name) and via.id == "via"  # a workflow's own _call wrapper
        if not (from_options or passed_on):
            missing.append(f"{name}:{node.lineno} does not name a counterpart from workflows.activity_options")
    assert missing == []
