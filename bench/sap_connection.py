"""Benchmark: SAP calls over one persistent (keep-alive) connection vs a fresh connection per request.

Why: the mock SAP guide reports ~45 ms per request on persistent connections (Nagle/delayed-ACK
on the server's split writes) against a few ms with a fresh connection. settings.sap_keepalive
is chosen from this measurement. Starts its own mock-sap on a free loopback port, runs each
pattern for a bounded time, prints a table, stops the server by PID.

    .venv/bin/python bench/sap_connection.py [--seconds 3]
"""

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

SAP_CLIENT = {"sap-client": "100", "Accept": "application/json"}
BP = "/sap/opu/odata/sap/API_BUSINESS_PARTNER_SRV/A_BusinessPartner('1000013')"
SI_SRV = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV"

# (label, keep-alive pool size, extra headers). "fresh + close" is what SapClient does with
# keepalive=False; "fresh, pool only" shows whether the pool limit alone is enough.
CONNECTIONS = [
    ("keep-alive", None, {}),
    ("fresh + Connection: close", 0, {"Connection": "close"}),
    ("fresh, pool limit only", 0, {}),
]


def start_mock_sap() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mock_sap = Path(sys.executable).parent / "mock-sap"
    proc = subprocess.Popen(
        [str(mock_sap), "--port", str(port), "--clock", "2026-10-01T09:00", "-q", "--no-request-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mock-sap exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/_mock/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("mock-sap did not come up")


def invoice_body() -> dict:
    return {
        "CompanyCode": "1710",
        "InvoicingParty": "1000013",
        "SupplierInvoiceIDByInvcgParty": "B" + uuid.uuid4().hex[:12].upper(),
        "DocumentDate": "2026-09-20T00:00:00",
        "InvoiceGrossAmount": "1190.00",
        "DocumentCurrency": "EUR",
        "PaymentTerms": "NT30",
    }


async def run_pattern(
    url: str, request: str, keepalive_pool: int | None, headers: dict, seconds: float
) -> tuple[list[float], float]:
    limits = httpx.Limits(max_keepalive_connections=keepalive_pool)
    async with httpx.AsyncClient(base_url=url, headers={**SAP_CLIENT, **headers}, limits=limits, timeout=10) as http:
        token = (await http.get(f"{SI_SRV}/", headers={"X-CSRF-Token": "Fetch"})).headers["x-csrf-token"]
        latencies = []
        begun = time.perf_counter()
        deadline = begun + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if request == "GET":
                response = await http.get(BP)
            else:
                response = await http.post(f"{SI_SRV}/A_SupplierInvoice", json=invoice_body(),
                                           headers={"X-CSRF-Token": token})
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
        return latencies, time.perf_counter() - begun


async def main(seconds: float) -> None:
    proc, url = start_mock_sap()
    try:
        print(f"mock-sap pid {proc.pid} at {url}; {seconds:g} s per pattern, 1 sequential client\n")
        print(f"{'request':<28}{'connection':<28}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}")
        rates: dict[tuple[str, str], float] = {}
        for request, label in (("GET", "GET single BP"), ("POST", "POST A_SupplierInvoice")):
            for connection, pool, headers in CONNECTIONS:
                latencies, elapsed = await run_pattern(url, request, pool, headers, seconds)
                rate = len(latencies) / elapsed
                rates[request, connection] = rate
                p50 = statistics.median(latencies) * 1000
                p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
                print(f"{label:<28}{connection:<28}{len(latencies):>9}{rate:>9.1f}{p50:>9.1f}{p95:>9.1f}")
        print()
        for request in ("GET", "POST"):
            for connection, _, _ in CONNECTIONS[1:]:
                ratio = rates[request, connection] / rates[request, "keep-alive"]
                print(f"{request}: '{connection}' is {ratio:.1f}x the rate of keep-alive")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    asyncio.run(main(parser.parse_args().seconds))
