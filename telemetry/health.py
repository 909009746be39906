"""The worker's liveness and readiness over HTTP (FINSYNC_HEALTH_BIND, e.g. "0.0.0.0:8081"), for
Kubernetes probes and compose healthchecks. Off unless set; only the worker process binds it.

    GET /livez   200 while every Worker of the process runs (one per task queue of its roles;
                 started, not shut down, not failed): a restart can only help when this fails.
    GET /readyz  200 when live AND Temporal lists this process polling each of its task queues,
                 for workflow tasks and for activity tasks, within POLLER_FRESH_SECONDS.

What is real here: the Python SDK exposes no poller state of its own (a Worker has `is_running`
and `is_shutdown`, nothing about its polls), so readiness asks the server what it sees
(DescribeTaskQueue: pollers by identity and last access). That is the state that matters (is this
process picking up tasks?), at the cost of one RPC per probe, cached for CACHE_SECONDS. A
Temporal outage makes every worker unready, never un-live: restarting workers can not fix it.

    python -m telemetry.health probe http://127.0.0.1:8081/readyz   # exit 0/1, for HEALTHCHECK
"""

import asyncio
import json
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.worker import Worker

# A poll is a long poll of up to ~70 s and the server stamps its start: a healthy worker's last
# access can be that old, so anything fresher than this counts as polling.
POLLER_FRESH_SECONDS = 90.0
CACHE_SECONDS = 5.0
QUEUE_TYPES = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}


class WorkerHealth:
    def __init__(self, workers: Sequence[Worker]):
        self.workers = list(workers)
        # Worker identity defaults to the client's ("<pid>@<host>"); the server lists pollers by it.
        first = self.workers[0]
        self.identity = first.config().get("identity") or first.client.identity
        self._cached: tuple[float, dict[str, Any]] | None = None

    def live(self) -> dict[str, Any]:
        return {"worker_running": all(w.is_running for w in self.workers),
                "worker_shutdown": any(w.is_shutdown for w in self.workers),
                "task_queue": self.workers[0].task_queue, "task_queues": [w.task_queue for w in self.workers],
                "identity": self.identity}

    async def pollers(self) -> dict[str, Any]:
        """Per task queue type (`workflow`, `activity` for the first queue; `<queue>/<type>` for the
        others): the age in seconds of this process's last poll the server saw, or None."""
        if self._cached and time.monotonic() - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        ages = {}
        for number, worker in enumerate(self.workers):
            client = worker.client
            for name, queue_type in QUEUE_TYPES.items():
                response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                    namespace=client.namespace, task_queue=TaskQueue(name=worker.task_queue),
                    task_queue_type=queue_type), timeout=timedelta(seconds=3))
                ours = [p for p in response.pollers if p.identity == self.identity]
                key = name if number == 0 else f"{worker.task_queue}/{name}"
                ages[key] = round(min(time.time() - p.last_access_time.ToDatetime().timestamp() for p in ours), 1) \
                    if ours else None
        self._cached = (time.monotonic(), ages)
        return ages

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        body = self.live()
        if not body["worker_running"]:
            return False, body
        try:
            ages = await self.pollers()
        except Exception as err:  # noqa: BLE001 - any failure to ask the server means "not known to poll"
            return False, {**body, "pollers": None, "error": f"{type(err).__name__}: {err}"[:200]}
        body["pollers"] = {name: {"last_poll_seconds_ago": age, "polling": age is not None and
                                  age < POLLER_FRESH_SECONDS} for name, age in ages.items()}
        return all(p["polling"] for p in body["pollers"].values()), body


async def _answer(health: WorkerHealth, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request_line = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1").split()
        path = request_line[1] if len(request_line) > 1 else ""
        if path == "/livez":
            body = health.live()
            ok = body["worker_running"]
        elif path == "/readyz":
            ok, body = await health.ready()
        else:
            ok, body = False, {"error": "GET /livez or /readyz"}
        status = "200 OK" if ok else ("503 Service Unavailable" if path in ("/livez", "/readyz") else "404 Not Found")
        data = json.dumps({"status": "UP" if ok else "DOWN", **body}).encode()
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + data)
        await writer.drain()
    except (TimeoutError, ConnectionError):  # a probe that hung up or never spoke: nothing to answer
        pass
    finally:
        writer.close()


@asynccontextmanager
async def serving(bind: str | None, workers: Sequence[Worker]) -> AsyncIterator[WorkerHealth | None]:
    """The endpoint for as long as the block runs; nothing when `bind` is None."""
    if not bind:
        yield None
        return
    host, _, port = bind.rpartition(":")
    health = WorkerHealth(workers)
    server = await asyncio.start_server(lambda r, w: _answer(health, r, w), host or "0.0.0.0", int(port))
    try:
        yield health
    finally:
        server.close()
        await server.wait_closed()


def probe(url: str, timeout: float = 5.0) -> int:
    """0 when `url` answers 200; for a container HEALTHCHECK (the slim image has no curl)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            print(response.read().decode())
            return 0
    except Exception as err:  # noqa: BLE001 - any failure is "unhealthy", with its reason printed
        print(f"unhealthy: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "probe":
        print("usage: python -m telemetry.health probe URL", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(probe(sys.argv[2]))
