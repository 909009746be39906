"""The worker's liveness/readiness endpoint (telemetry/health.py) on a real `python worker.py`
against the session's dev server: ready once the server lists its pollers, probed the way a
container HEALTHCHECK does, and gone after a clean SIGTERM."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import httpx

from cli.processes import free_port
from tests.helpers import REPO, TEST_CODEC_KEY, assert_eventually


async def test_a_running_worker_is_live_and_ready_once_its_pollers_are_seen(temporal_address, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FINSYNC_"))}
    env.update({"TEMPORAL_ADDRESS": temporal_address, "FINSYNC_CODEC_KEY": TEST_CODEC_KEY,
                "FINSYNC_TASK_QUEUE": f"health-{uuid.uuid4().hex[:8]}", "FINSYNC_HEALTH_BIND": f"127.0.0.1:{port}",
                "FINSYNC_TREASURY_DB_URL": f"sqlite:///{tmp_path / 'treasury.db'}"})
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen([sys.executable, "worker.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            async def ready():
                try:
                    response = await http.get(f"{url}/readyz")
                except httpx.TransportError as err:  # not listening yet
                    raise AssertionError(f"no answer yet: {err}") from err
                assert response.status_code == 200, response.text
                return response.json()

            body = await assert_eventually(ready, timeout=40, interval=0.5)
            assert body["worker_running"] is True and body["task_queue"] == env["FINSYNC_TASK_QUEUE"]
            assert body["pollers"]["workflow"]["polling"] and body["pollers"]["activity"]["polling"], body
            assert body["identity"].startswith(f"{proc.pid}@")  # the server saw this process poll
            live = await http.get(f"{url}/livez")
            assert live.status_code == 200 and live.json()["status"] == "UP"
            assert (await http.get(f"{url}/nothing")).status_code == 404
        probe = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "telemetry.health", "probe",
                                                         f"{url}/readyz"], cwd=REPO, capture_output=True, timeout=30)
        assert probe.returncode == 0, probe.stderr
        proc.send_signal(signal.SIGTERM)  # graceful: nothing running, so it ends well inside the drain time
        assert await asyncio.to_thread(proc.wait, 40) == 0
        gone = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "telemetry.health", "probe",
                                                        f"{url}/livez"], cwd=REPO, capture_output=True, timeout=30)
        assert gone.returncode == 1 and b"unhealthy" in gone.stderr
    finally:
        if proc.poll() is None:
            proc.kill()  # only the worker this test started
            proc.wait()
        log.close()
