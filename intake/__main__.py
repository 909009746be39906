"""Run the inbound e-invoice endpoint.

    python -m intake --port 8300        # then the sending access point pushes, signed, to /invoices

Temporal connection from the same TEMPORAL_* environment as the worker and the CLI, but the
payload codec is intake's own (FINSYNC_INTAKE_CODEC_KEY_FILE): intake never holds the workers'
key. Only the senders in FINSYNC_INTAKE_SENDERS_FILE may push (intake/signature.py). mock-einvoice
can not sign: `python -m intake.signing_relay` signs for it (the embedded stack runs one).
"""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import uvicorn

from intake.app import create_app
from intake.boundary import Boundary
from intake.push_register import PushRegister
from intake.suppliers import DEFAULT_REGISTER, SupplierRegister


async def serve(host: str, port: int, register: SupplierRegister) -> None:
    from codec.bank_details import load_intake_codec
    from settings import get_settings
    from worker import connect

    settings = get_settings()
    if settings.codec_key is not None or settings.codec_key_file is not None:
        # Least privilege: the key that reads every worker's history has no business here.
        logging.warning("FINSYNC_CODEC_KEY/_FILE is set for intake and ignored: intake encrypts with its own key "
                        "(%s); remove the workers' key from its environment", settings.intake_codec_key_id)
    boundary = Boundary.from_settings(settings)  # refuses to start without senders: fail closed
    client = await connect(settings, codec=load_intake_codec(settings))
    logging.info("e-invoice intake on http://%s:%d/invoices, task queue %s, payload key %s, senders %s", host, port,
                 settings.task_queue, settings.intake_codec_key_id, boundary.senders)
    app = create_app(client, settings.task_queue, register, PushRegister(settings.intake_db_url), boundary=boundary)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description="finsync inbound e-invoice endpoint (Peppol UBL push, signed)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--register", type=Path, default=None,
                        help="JSON supplier register (default: FINSYNC_EINVOICE_REGISTER, else the embedded stack's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from codec.bank_details import CodecKeyError
    from intake.signature import SendersFileError
    from settings import get_settings

    settings = get_settings()
    path = args.register or settings.einvoice_register
    try:
        # Buyers are the legal entities' Peppol endpoints, whatever the register file says of them.
        register = (SupplierRegister.from_json(path) if path else DEFAULT_REGISTER).with_buyers_of(
            settings.legal_entities)
    except ValueError as err:  # a register that contradicts the legal entities (or is no register)
        print(f"intake can not start: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    try:
        asyncio.run(serve(args.host, args.port, register))
    except (SendersFileError, CodecKeyError) as err:  # say what to set, never a traceback (or a secret)
        print(f"intake can not start: {err}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    from cli.process_exit import run_main

    run_main(main)  # skips finalisation: see cli/process_exit.py
