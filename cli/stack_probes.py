"""Is a process of the embedded stack up? Probes `up` polls while it starts each one
(cli/stack.py), without blocking its loop, so Ctrl-C during start-up is handled at once."""

import asyncio
import time

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from cli.processes import ManagedProcess, port_open


class StackError(Exception):
    """Why the stack can not run; printed as is, with exit code 1."""


def check_alive(procs: list[ManagedProcess]) -> None:
    for p in procs:
        if p.proc is not None and p.proc.poll() is not None:
            raise StackError(f"{p.name} (pid {p.pid}) exited unexpectedly with code {p.proc.returncode}; "
                             f"see {p.log_path}")


async def ready(proc: ManagedProcess, probe, timeout: float = 60.0) -> None:
    """Poll `probe` without blocking the loop, so Ctrl-C during startup is handled at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive([proc])
        if await probe():
            return
        await asyncio.sleep(0.1)
    raise StackError(f"{proc.name} not ready after {timeout:.0f}s; see {proc.log_path}")


async def http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0) as http:
            return (await http.get(url)).status_code < 500
    except httpx.HTTPError:
        return False


async def temporal_ready(address: str, ports: tuple[int, ...]) -> bool:
    # An open port is not yet a server that answers: connect and see the namespace.
    if not all(port_open(port) for port in ports):
        return False
    try:
        client = await Client.connect(address)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
        return True
    except Exception:  # noqa: BLE001 - still starting: ask again
        return False


async def worker_polling(client: Client, task_queue: str, pid: int) -> bool:
    """This worker process, not one from an earlier run (the server remembers pollers for a
    while), polls the task queue: the SDK's default identity is `<pid>@<host>`."""
    try:
        resp = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    except RPCError:
        return False
    return any(p.identity.startswith(f"{pid}@") for p in resp.pollers)
