"""Run the inbound e-invoice endpoint.

    python -m intake --port 8300        # then: mock-einvoice --buyer-url http://127.0.0.1:8300/invoices

Temporal connection from the same TEMPORAL_* environment as the worker and the CLI.
"""

import argparse
import asyncio
import logging
from pathlib import Path

import uvicorn

from intake.app import create_app
from intake.push_register import PushRegister
from intake.suppliers import DEFAULT_REGISTER, SupplierRegister


async def serve(host: str, port: int, register: SupplierRegister) -> None:
    from settings import get_settings
    from worker import connect

    settings = get_settings()
    client = await connect(settings)
    logging.info("e-invoice intake on http://%s:%d/invoices, task queue %s", host, port, settings.task_queue)
    app = create_app(client, settings.task_queue, register, PushRegister(settings.intake_db_url))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description="finsync inbound e-invoice endpoint (Peppol UBL push)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--register", type=Path, default=None,
                        help="JSON supplier register (default: FINSYNC_EINVOICE_REGISTER, else the embedded stack's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from settings import get_settings

    path = args.register or get_settings().einvoice_register
    register = SupplierRegister.from_json(path) if path else DEFAULT_REGISTER
    asyncio.run(serve(args.host, args.port, register))


if __name__ == "__main__":
    from cli.process_exit import run_main

    run_main(main)  # skips finalisation: see cli/process_exit.py
