"""The embedded stack's e-invoice intake as a deployment runs it (deploy/README.md, "E-invoice
intake"): with a payload key of its own, never the workers' (least privilege), and only signed
pushes from the senders in its senders file. mock-einvoice can not sign (it sends a bare POST),
so its pushes go through the signing relay (intake/signing_relay.py) as sender `mock-einvoice`.
The key and the secret are made once in the state directory, readable only by their owner."""

import sys
from pathlib import Path

from cli.processes import ManagedProcess
from codec.bank_details import generate_key_file
from intake.signature import generate_senders_file

EINVOICE_SENDER = "mock-einvoice"
INTAKE_KEY_ID = "finsync-intake-1"
# What the workers hold and intake must not (its child environment drops them): their payload
# keys and the local identity issuer's directory (it signs people's decisions).
WORKERS_KEYS = ("FINSYNC_CODEC_KEY", "FINSYNC_CODEC_KEY_FILE", "FINSYNC_CODEC_READ_KEYS_FILE",
                "FINSYNC_IDENTITY_DEV_DIR")


def intake_keys(state_dir: Path) -> dict[str, str]:
    """Intake's key, the workers' read-keys file holding it, and the senders file; intake's
    environment for them."""
    key, read_keys, senders = (state_dir / name for name in ("intake-codec.key", "codec-read-keys", "intake-senders"))
    generate_key_file(key)
    generate_senders_file(senders, EINVOICE_SENDER)
    line = f"{INTAKE_KEY_ID} {key.read_text().strip()}\n"
    if not read_keys.exists() or line not in read_keys.read_text():
        read_keys.write_text(f"# <key id> <base64 key>: keys that only decrypt (intake's receipts)\n{line}")
        read_keys.chmod(0o600)
    return {"FINSYNC_INTAKE_CODEC_KEY_FILE": str(key), "FINSYNC_INTAKE_CODEC_KEY_ID": INTAKE_KEY_ID,
            "FINSYNC_INTAKE_SENDERS_FILE": str(senders)}


def intake_processes(state_dir: Path, intake_port: int, relay_port: int, env: dict[str, str]
                     ) -> list[tuple[ManagedProcess, str]]:
    """(process, health URL): intake with only its own key, then the relay that signs for mock-einvoice."""
    logs, intake_url = state_dir / "logs", f"http://127.0.0.1:{intake_port}"
    own = intake_keys(state_dir)
    intake = ManagedProcess("intake", [sys.executable, "-m", "intake", "--port", str(intake_port)],
                            logs / "intake.log", {**{k: v for k, v in env.items() if k not in WORKERS_KEYS}, **own},
                            unset=WORKERS_KEYS)
    relay = ManagedProcess("einvoice-relay", [sys.executable, "-m", "intake.signing_relay", "--port", str(relay_port),
                                              "--to", f"{intake_url}/invoices", "--sender", EINVOICE_SENDER,
                                              "--senders-file", own["FINSYNC_INTAKE_SENDERS_FILE"]],
                           logs / "einvoice-relay.log", unset=WORKERS_KEYS)
    return [(intake, f"{intake_url}/health"), (relay, f"http://127.0.0.1:{relay_port}/health")]
