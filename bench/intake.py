"""Benchmark: e-invoice intake, N pushed Peppol UBL invoices → lifecycles in RECEIVED.

Why: the endpoint parses, checks the EN 16931 rules and signal-with-starts one workflow per
push, synchronously (a 201 means the lifecycle is durably started). This says how many
pushes a second one intake process takes and how long a sender waits, on this box.

Everything is its own and stopped at the end: a Temporal dev server (in memory, or with
--sqlite the embedded stack's WAL/synchronous=off file), and the endpoint as it runs in
production, `python -m intake` in its own process (uvicorn, Temporal from TEMPORAL_ADDRESS,
a fresh intake key, every push signed as one sender), stopped by its PID. No worker polls the
task queue: RECEIVED is the workflow started, which is what intake does; what the lifecycle does next is measured by
bench/lifecycle_throughput.py.

    .venv/bin/python bench/intake.py [-n 500] [--concurrency 8] [--sqlite]

Phases: one at a time (uncontended latency), N at --concurrency in flight (throughput),
then the same N documents pushed again (the idempotent path: a signal to the existing
lifecycle, no new workflow). Latency: the sender's POST → 201, and POST → the workflow's
start time from describe (server clock; one machine, one clock).
"""

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from bench/

import httpx  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from lxml import etree  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from cli.processes import BIN, ManagedProcess, free_port  # noqa: E402
from codec.bank_details import data_converter, load_codec  # noqa: E402
from intake.signature import signed_headers  # noqa: E402
from intake.ubl import NS  # noqa: E402
from settings import Settings  # noqa: E402

VALID = ROOT / "tests" / "fixtures" / "ubl" / "valid.xml"
SENDER, SECRET = "bench-ap", base64.b64encode(os.urandom(32)).decode()  # intake takes signed pushes only


def documents(prefix: str, n: int) -> list[tuple[str, bytes]]:
    """N distinct invoices (number PREFIX-00001...), built before the clock starts."""
    root = etree.fromstring(VALID.read_bytes())
    out = []
    for i in range(1, n + 1):
        number = f"{prefix}-{i:05d}"
        for el in root.xpath("cbc:ID | cac:PaymentMeans/cbc:PaymentID", namespaces=NS):
            el.text = number
        out.append((f"invoice-1710-1000013-{number}", etree.tostring(root, xml_declaration=True, encoding="UTF-8")))
    return out


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile, in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dev_server_pid(port: str) -> int | None:
    """The SDK starts the dev server as our child and exposes no PID: find it in /proc (read only)."""
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) if entry.name.isdigit() else None
            if ppid == os.getpid() and port.encode() in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


async def push_all(http: httpx.AsyncClient, docs: list[tuple[str, bytes]], concurrency: int) -> tuple[list, float]:
    """[(workflow id, wall-clock send time, seconds to answer, status, body)], elapsed seconds."""
    gate = asyncio.Semaphore(concurrency)
    results: list = []

    async def one(wid: str, xml: bytes) -> None:
        async with gate:
            sent, t0 = time.time(), time.perf_counter()
            headers = {"content-type": "application/xml", **signed_headers(SENDER, SECRET, xml)}
            answer = await http.post("/invoices", content=xml, headers=headers)
            results.append((wid, sent, time.perf_counter() - t0, answer.status_code, answer.json()))

    began = time.perf_counter()
    await asyncio.gather(*(one(wid, xml) for wid, xml in docs))
    return results, time.perf_counter() - began


async def start_lags(client, results: list) -> list[float]:
    """POST → the workflow's start time (describe), for the pushes that started one."""
    gate = asyncio.Semaphore(20)

    async def lag(wid: str, sent: float) -> float:
        async with gate:
            described = await client.get_workflow_handle(wid).describe()
            return described.start_time.timestamp() - sent

    return await asyncio.gather(*(lag(wid, sent) for wid, sent, *_ in results))


def report(name: str, results: list, elapsed: float, lags: list[float] | None, cpu: list[float]) -> None:
    answered = [r[2] for r in results]
    accepted = sum(1 for r in results if r[3] == 201)
    line = (f"{name:<26}{len(results):>5}{accepted / elapsed:>11.1f}{pct(answered, 50):>9.1f}{pct(answered, 95):>9.1f}"
            f"{max(answered) * 1000:>9.1f}")
    line += f"{pct(lags, 50):>10.1f}{pct(lags, 95):>9.1f}" if lags else f"{'-':>10}{'-':>9}"
    print(line + "".join(f"{1000 * c / len(results):>9.2f}" for c in cpu))


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:5].upper()
    tmp = tempfile.TemporaryDirectory(prefix="finsync-bench-intake-")
    settings = Settings(codec_key=base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
                        task_queue=f"bench-intake-{uuid.uuid4()}")
    server_args: dict = {}
    if args.sqlite:
        server_args = dict(dev_server_database_filename=str(Path(tmp.name) / "temporal.db"),
                           dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma",
                                                  "synchronous=off"])
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
                                                dev_server_log_level="error",
                                                data_converter=data_converter(load_codec(settings)), **server_args)
    temporal_pid = dev_server_pid(env.client.service_client.config.target_host.rsplit(":", 1)[1])
    port = free_port()
    senders = Path(tmp.name) / "senders"
    senders.write_text(f"{SENDER} {SECRET}\n")
    # As deployed: intake's own key, the sender's secret, a rate limit far above what is measured.
    intake = ManagedProcess("intake", [sys.executable, "-m", "intake", "--port", str(port)],
                            Path(tmp.name) / "intake.log", env={
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host, "PYTHONPATH": str(ROOT),
        "FINSYNC_INTAKE_CODEC_KEY": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
        "FINSYNC_INTAKE_SENDERS_FILE": str(senders), "FINSYNC_INTAKE_RATE_PER_SECOND": "100000",
        "FINSYNC_INTAKE_RATE_BURST": "100000", "FINSYNC_TASK_QUEUE": settings.task_queue})
    failures: list[str] = []
    try:
        intake.start()
        intake.wait_http(f"http://127.0.0.1:{port}/health")
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
            await push_all(http, documents(f"W{run}", 20), 1)  # warm-up: imports, connections, caches
            print(f"dev server ({'SQLite WAL' if args.sqlite else 'in memory'}); intake pid {intake.pid} on :{port}; "
                  f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
                  f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
            print(f"\n{'':<26}{'n':>5}{'accepted/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
                  f"{'start p50':>10}{'p95':>9}{'cpu/push: intake':>18}{'temporal':>9}{'bench':>9}")
            phases = [("one at a time", documents(f"S{run}", args.sequential), 1, True),
                      (f"{args.n} at {args.concurrency} in flight", documents(f"B{run}", args.n), args.concurrency,
                       True)]
            phases.append((f"same {args.n} pushed again", phases[1][1], args.concurrency, False))
            for name, docs, concurrency, new in phases:
                cpu0 = [cpu_seconds(intake.pid), cpu_seconds(temporal_pid) if temporal_pid else float("nan"),
                        time.process_time()]
                results, elapsed = await push_all(http, docs, concurrency)
                cpu1 = [cpu_seconds(intake.pid), cpu_seconds(temporal_pid) if temporal_pid else float("nan"),
                        time.process_time()]
                cpu = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
                lags = await start_lags(env.client, results) if new else None
                report(name, results, elapsed, lags, cpu)
                wrong = [r for r in results if r[3] != 201 or r[4].get("started") is not new]
                if wrong:
                    failures.append(f"{name}: {len(wrong)} answers not 201 with started={new}, e.g. {wrong[0][3:]}")
        print("  (p50/p95/max: POST → 201 at the sender; start: POST → workflow start time; "
              "cpu ms per push: the intake\n   process, the dev server, this process sending)")
        expected = 20 + args.sequential + args.n
        count = (await env.client.count_workflows(f"TaskQueue = '{settings.task_queue}'")).count
        for _ in range(50):
            if count == expected:
                break
            await asyncio.sleep(0.1)
            count = (await env.client.count_workflows(f"TaskQueue = '{settings.task_queue}'")).count
        print(f"lifecycles on the task queue: {count} for {expected} distinct invoices (re-pushes start none)")
        if count != expected:
            failures.append(f"{count} workflows for {expected} distinct invoices")
    finally:
        intake.stop()
        await env.shutdown()
        tmp.cleanup()
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="pushes in flight (50: same rate, the queueing shows as latency)")
    parser.add_argument("--sequential", type=int, default=100, help="pushes in the one-at-a-time phase")
    parser.add_argument("--sqlite", action="store_true", help="the embedded stack's SQLite (WAL, synchronous=off)")
    sys.exit(asyncio.run(main(parser.parse_args())))
