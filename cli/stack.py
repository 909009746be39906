"""`python -m cli up`: the embedded stack (DESIGN.md) on loopback, with its state in one
directory so a second `up` resumes the same lifecycles instead of starting over.

Only processes started here are stopped here, each by its PID, worker first (so it stops
polling before the server it polls goes away). A port already taken stops `up` before it
starts anything: the owner of that port is somebody else's, and is never touched.
"""

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client

from cli import codec_token, cycle, demo_bank_clock, samples, stack_accounts, stack_samples, state, tryton_stack
from cli.processes import BIN, MOCK_BANK_CHANNEL_ENV, ManagedProcess, port_open
from cli.stack_intake import intake_keys, intake_processes
from cli.stack_probes import StackError, check_alive, http_ok, ready, temporal_ready, worker_polling
from codec.bank_details import generate_key_file
from identity.dev_issuer import ensure_dev_issuer
from reports.status_report import open_store, report_text
from settings import Settings
from worker import connect
from workflows import search_attributes as sa

REPO = Path(__file__).resolve().parent.parent


# What listens where: (environment variable, default). Fixed defaults keep bookmarks and the
# printed commands stable; tests set them all to free ports.
PORTS = {"temporal": ("FINSYNC_TEMPORAL_PORT", 7233), "web-ui": ("FINSYNC_UI_PORT", 8233),
         "mock-sap": ("FINSYNC_SAP_PORT", 8000), "mock-bank": ("FINSYNC_BANK_PORT", 8090),
         "mock-einvoice": ("FINSYNC_EINVOICE_PORT", 8100), "codec-server": ("FINSYNC_CODEC_PORT", 8234),
         "intake": ("FINSYNC_INTAKE_PORT", 8300), "einvoice-relay": ("FINSYNC_RELAY_PORT", 8301),
         "tryton": ("FINSYNC_TRYTON_PORT", 8400)}


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    port: dict[str, int]

    @classmethod
    def from_env(cls) -> "StackConfig":
        # The checkout's .finsync/ wherever `up` is started, where `status` will look (cli.state).
        return cls(state.state_dir(),
                   {name: int(os.environ.get(var, default)) for name, (var, default) in PORTS.items()})

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port['temporal']}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port['web-ui']}/namespaces/default/workflows"

    @property
    def sap_url(self) -> str:
        return f"http://127.0.0.1:{self.port['mock-sap']}"

    @property
    def bank_url(self) -> str:
        return f"http://127.0.0.1:{self.port['mock-bank']}"


def _environment(cfg: StackConfig) -> dict[str, str]:
    """One environment for the worker child and this process's own client, so both use the
    stack's codec key and server. Settings meant for a real deployment are dropped: the
    embedded stack is plaintext on loopback, and a second key source would make load_codec
    refuse to start (it will not guess between two keys)."""
    dropped = [k for k in ("FINSYNC_CODEC_KEY", "FINSYNC_INTAKE_CODEC_KEY", "FINSYNC_SAP_USER",
                           "FINSYNC_SAP_PASSWORD", "FINSYNC_BANK_USER", "FINSYNC_BANK_PASSWORD", "TEMPORAL_TLS_CERT",
                           "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
                           "TEMPORAL_API_KEY")
               if os.environ.pop(k, None) is not None]
    if dropped:
        print(f"note: the embedded stack ignores {', '.join(dropped)} from your environment")
    env = {"TEMPORAL_ADDRESS": cfg.address, "TEMPORAL_NAMESPACE": "default",
           "FINSYNC_SAP_URL": cfg.sap_url, "FINSYNC_BANK_URL": cfg.bank_url, **MOCK_BANK_CHANNEL_ENV,
           "FINSYNC_EINVOICE_URL": f"http://127.0.0.1:{cfg.port['mock-einvoice']}",
           "FINSYNC_TREASURY_DB_URL": f"sqlite:///{cfg.state_dir / 'treasury.db'}",
           "FINSYNC_INTAKE_DB_URL": f"sqlite:///{cfg.state_dir / 'intake.db'}",
           "FINSYNC_REPORT_DIR": str(cfg.state_dir / "reports"),
           "FINSYNC_CODEC_KEY_FILE": str(cfg.state_dir / "codec.key"),
           # Intake's key, to read the e-invoice receipts intake encrypts under it (cli/stack_intake.py).
           "FINSYNC_CODEC_READ_KEYS_FILE": str(cfg.state_dir / "codec-read-keys"), "PYTHONUNBUFFERED": "1",
           # the local issuer whose keys the worker trusts and `python -m cli decision` signs with
           "FINSYNC_IDENTITY_DEV_DIR": str(cfg.state_dir / "identity"),
           # The second ERP (company 2710): Tryton on its own SQLite database (cli/tryton_stack.py).
           "FINSYNC_TRYTON_URL": f"http://127.0.0.1:{cfg.port['tryton']}",
           "FINSYNC_TRYTON_DATABASE": tryton_stack.DATABASE, "FINSYNC_TRYTON_USER": "admin",
           "FINSYNC_TRYTON_PASSWORD": tryton_stack.admin_password(cfg.state_dir / "tryton"),
           # One worker build serves every lifecycle here, so the batched bank answers are safe
           # (README, "Clearing from the statement post, and bank answers in one signal").
           "FINSYNC_LIFECYCLE_BANK_STATUS_LISTS": "true"}
    os.environ.update(env)
    return env


def _servers(cfg: StackConfig) -> list[tuple[ManagedProcess, str | None]]:
    """(process, health URL; None for Temporal) for everything but the worker."""
    logs, db = cfg.state_dir / "logs", cfg.state_dir
    temporal = [str(BIN / "temporal"), "server", "start-dev", "--ip", "127.0.0.1",
                "--port", str(cfg.port["temporal"]), "--ui-port", str(cfg.port["web-ui"]),
                "--db-filename", str(db / "temporal.db"),
                # WAL + synchronous=off: ~3x the default SQLite throughput, still survives a restart.
                "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off", "--log-level", "error"]
    for flag in sa.cli_flags():
        temporal += ["--search-attribute", flag]
    # The Web UI asks the codec server to decrypt bank details for whoever looks (loopback only).
    codec_port, ui = cfg.port["codec-server"], cfg.port["web-ui"]
    temporal += ["--ui-codec-endpoint", f"http://127.0.0.1:{codec_port}"]
    codec_server = [sys.executable, "-m", "codec.server", "--port", str(codec_port),
                    "--ui-origin", f"http://127.0.0.1:{ui}", "--ui-origin", f"http://localhost:{ui}"]
    # It trusts the local issuer's tokens (FINSYNC_IDENTITY_DEV_DIR), also in the endpoint's path:
    # the dev server's UI has no sign-in whose token it could forward (cli/codec_token.py).
    codec_env = {"FINSYNC_CODEC_TOKEN_IN_PATH": "true"}

    def mock(name: str, *extra: str) -> tuple[ManagedProcess, str]:
        port = cfg.port[name]
        args = [str(BIN / name), "--port", str(port), *extra, "-q"]
        return ManagedProcess(name, args, logs / f"{name}.log"), f"http://127.0.0.1:{port}/_mock/health"

    tryton_dir = db / "tryton"
    tryton = tryton_stack.tryton_process(tryton_dir / "trytond.conf", logs / "tryton.log")
    return [(ManagedProcess("temporal", temporal, logs / "temporal.log"), None),
            mock("mock-sap", "--db", str(db / "sap.db")),
            # Its host-to-host directories too, for a paying account on the file-drop channel (README).
            mock("mock-bank", "--db", str(db / "bank.db"), *demo_bank_clock.bank_clock_arg(cfg.state_dir),
                 "--drop-dir", str(db / "bank-drop"), "--pickup-dir", str(db / "bank-pickup")),
            # The supplier side pushes its e-invoices to finsync's intake endpoint, as a Peppol access
            # point would, through the relay that signs them (mock-einvoice can not).
            mock("mock-einvoice", "--buyer-url", f"http://127.0.0.1:{cfg.port['einvoice-relay']}/invoices"),
            (ManagedProcess("codec-server", codec_server, logs / "codec-server.log", codec_env),
             f"http://127.0.0.1:{codec_port}/health"),
            (tryton, f"http://127.0.0.1:{cfg.port['tryton']}/")]


async def _start(cfg: StackConfig, procs: list[ManagedProcess]) -> tuple[Client, Settings]:
    env = _environment(cfg)
    key = cfg.state_dir / "codec.key"
    if (cfg.state_dir / "temporal.db").exists() and not key.exists():
        # A new key could not read the bank details already encrypted in those histories.
        raise StackError(f"{key} is missing but {cfg.state_dir} holds histories encrypted with it: "
                         f"restore the key, or remove {cfg.state_dir} to start afresh")
    generate_key_file(key)  # once; an existing key is kept
    ensure_dev_issuer(cfg.state_dir / "identity")  # once, before the codec server and the worker read it
    intake_keys(cfg.state_dir)  # before the worker starts: it reads intake's key
    (cfg.state_dir / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if tryton_stack.needs_preparing(cfg.state_dir / "tryton"):
        print("  tryton: creating and seeding its database (once, about a minute)", flush=True)
    await asyncio.to_thread(tryton_stack.prepare, cfg.state_dir / "tryton", cfg.port["tryton"],
                            env["FINSYNC_TRYTON_PASSWORD"], cfg.state_dir / "logs" / "tryton-setup.log")
    servers = _servers(cfg)
    for proc, _ in servers:
        procs.append(proc.start())
        print(f"  {proc.name:14} pid {proc.pid:<7} log {proc.log_path}", flush=True)
    temporal_ports = (cfg.port["temporal"], cfg.port["web-ui"])
    await asyncio.gather(*(ready(p, (lambda: temporal_ready(cfg.address, temporal_ports)) if t is None
                                 else (lambda t=t: http_ok(t))) for p, t in servers))
    settings = Settings()  # read now: _environment() has just set what it reads
    # Our paying accounts that mock-bank's seed lacks (the sample's ACMEUS and ACMEDE).
    for account_id in await stack_accounts.ensure_bank_accounts(cfg.bank_url, settings.paying_accounts):
        account = settings.paying_accounts[account_id]
        print(f"  created mock-bank account {account_id} ({account.bank_format}, {account.currency}) for company code "
              f"{account.company_code}", flush=True)
    client = await connect(settings)
    worker = ManagedProcess("worker", [sys.executable, str(REPO / "worker.py")], cfg.state_dir / "logs" / "worker.log",
                            env)
    procs.append(worker.start())
    print(f"  {'worker':14} pid {worker.pid:<7} log {worker.log_path}", flush=True)
    await ready(worker, lambda: worker_polling(client, settings.task_queue, worker.pid))
    # After Temporal is up: intake starts lifecycles by signal-with-start.
    for proc, health in intake_processes(cfg.state_dir, cfg.port["intake"], cfg.port["einvoice-relay"], env):
        procs.append(proc.start())
        print(f"  {proc.name:14} pid {proc.pid:<7} log {proc.log_path}", flush=True)
        await ready(proc, lambda health=health: http_ok(health))
    print(f"stack up in {time.monotonic() - t0:.1f}s (state in {cfg.state_dir})", flush=True)
    return client, settings


async def _run(cfg: StackConfig, with_samples: bool, exit_after: bool) -> int:
    procs: list[ManagedProcess] = []
    main, loop, received = asyncio.current_task(), asyncio.get_running_loop(), []
    assert main is not None  # run by asyncio.run

    def stop(name: str) -> None:
        received.append(name)
        main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        client, settings = await _start(cfg, procs)
        payments = settings.payments_task_queue  # the inbox and the runs
        ok = True
        if with_samples:
            dev_dir = Path(os.environ["FINSYNC_IDENTITY_DEV_DIR"])  # the worker trusts its issuers' keys
            done = await stack_samples.run_samples(client, settings, cfg.sap_url, cfg.bank_url, cfg.state_dir,
                                                   dev_dir, lambda: check_alive(procs))
            views, ok = done.views, done.ok
            await _print_report(client)
            # `status` finds the codec key in .finsync/ by itself; another state dir must be named.
            named = "" if cfg.state_dir == state.CHECKOUT / ".finsync" else f"FINSYNC_STATE_DIR={cfg.state_dir} "
            samples.print_guide(cfg.address, cfg.ui_url, cfg.bank_url, REPO, named, payments, views,
                                f"http://127.0.0.1:{cfg.port['mock-einvoice']}")
        else:
            await cycle.start_inbox(client, payments)
        print(codec_token.web_ui_guide(cfg.state_dir, cfg.port["codec-server"]), flush=True)
        if exit_after:
            return 0 if ok else 1
        print("\nrunning; Ctrl-C stops everything started here", flush=True)
        while True:
            check_alive(procs)
            await asyncio.sleep(0.5)
    except asyncio.CancelledError:
        if not received:
            raise
        print(f"\n{received[0]}: stopping", flush=True)
        return 0
    except StackError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    except httpx.HTTPError as err:  # a mock that answered the health check but not the cycle's calls
        print(f"error: {err.request.method} {err.request.url}: {err}; see {cfg.state_dir / 'logs'}", file=sys.stderr,
              flush=True)
        return 1
    finally:
        bank = next((p for p in procs if p.name == "mock-bank" and not p.exited()), None)
        if bank is not None:
            try:  # where the bank's clock stands, so the next `up` starts it there (demo_bank_clock.save_bank_clock)
                demo_bank_clock.save_bank_clock(cfg.bank_url, cfg.state_dir)
            except Exception as err:  # noqa: BLE001 - stopping matters more
                print(f"  note: could not save mock-bank's clock: {err}", flush=True)
        for proc in reversed(procs):  # worker first; it gets its graceful-shutdown time
            if proc.exited():
                print(f"  {proc.name} (pid {proc.pid}) had already exited", flush=True)
                continue
            proc.stop(timeout=35.0 if proc.name == "worker" else 15.0)
            print(f"  stopped {proc.name} (pid {proc.pid})", flush=True)


async def _print_report(client: Client) -> None:
    """Where everything stands, as finance asks it: states, open cases, cycle time, cash. A
    report that fails is an error line, never the end of the stack it reports on."""
    try:
        text = await report_text(client, open_store(Settings()))
    except Exception as err:  # noqa: BLE001 - the stack is up and useful without the report
        print(f"\nstatus report failed ({type(err).__name__}: {err}); the stack keeps running, "
              "try `python -m cli report` again", file=sys.stderr, flush=True)
        return
    print("\n" + text, flush=True)


def up(with_samples: bool = True, exit_after: bool = False) -> int:
    cfg = StackConfig.from_env()
    taken = [f"{port} ({name}, {PORTS[name][0]})" for name, port in cfg.port.items() if port_open(port)]
    if taken:
        print(f"cannot start: port already in use: {', '.join(taken)}.\nIs another `make up` running? "
              "Stop it, or choose other ports with the variables named.", file=sys.stderr)
        return 1
    print(f"starting the embedded stack (Temporal {cfg.address}, Web UI :{cfg.port['web-ui']})", flush=True)
    return asyncio.run(_run(cfg, with_samples, exit_after))
