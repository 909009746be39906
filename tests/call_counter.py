"""Counts the calls a Temporal client makes to the workflow service while installed: what the
reports' at-scale tests assert on (visibility lists and counts grow with pages and owners, a
query to a lifecycle with the lifecycles)."""

from collections import Counter

from temporalio.client import Client

COUNTED = ("list_workflow_executions", "count_workflow_executions", "query_workflow")


class CallCounter:
    def __init__(self, client: Client) -> None:
        self.service, self.calls = client.workflow_service, Counter[str]()
        self._originals: dict = {}

    def __enter__(self) -> "CallCounter":
        for name in COUNTED:
            original = self._originals[name] = getattr(self.service, name)

            async def counted(*args, _name=name, _original=original, **kwargs):
                self.calls[_name] += 1
                return await _original(*args, **kwargs)
            setattr(self.service, name, counted)
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._originals.items():
            setattr(self.service, name, original)
