"""deploy/'s artefacts can not be built or pulled here, so this checks what can be checked: the
files parse, every FINSYNC_*/TEMPORAL_* variable they give a finsync process is one settings.py
reads (a typo there is a setting silently ignored), every secret file name maps to one, every
entry point they name exists and starts, and the grace periods outlast the worker's drain."""

import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from pydantic import AliasChoices

from settings import SECRETS_DIR_VARIABLE, Settings
from tests.helpers import REPO
from worker import DRAIN_TIMEOUT

DEPLOY = REPO / "deploy"
OURS = ("FINSYNC_", "TEMPORAL_")


def settings_variables() -> set[str]:
    """Every variable settings.py reads: prefixed field names, or a field's own alias(es)."""
    names = {SECRETS_DIR_VARIABLE}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str)}
        else:
            names.add(f"{Settings.model_config['env_prefix']}{name}".upper())
    return names


def unknown(variables) -> set[str]:
    return {v for v in variables if v.startswith(OURS)} - settings_variables()


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def finsync_services() -> dict[str, dict]:
    return {name: s for name, s in compose()["services"].items() if str(s.get("image", "")).startswith("finsync:")}


def k8s_documents() -> list[dict]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def k8s_containers() -> list[dict]:
    pods = [d["spec"]["template"]["spec"] for d in k8s_documents() if d["kind"] in ("Deployment", "Job")]
    return [c for pod in pods for c in pod.get("initContainers", []) + pod["containers"]]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    return [(line.split()[0].upper(), line.split(maxsplit=1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def modules_named(command: str) -> set[str]:
    return set(re.findall(r"python -m ([\w.]+)", command))


def test_settings_variables_are_what_settings_reads(monkeypatch: pytest.MonkeyPatch):
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "FINSYNC_SAP_URL", "FINSYNC_HEALTH_BIND"} \
        <= settings_variables()
    monkeypatch.setenv("FINSYNC_SAP_URL", "http://sap.example")  # the naming rule, checked on one of them
    assert Settings().sap_url == "http://sap.example"


def test_compose_sets_only_variables_settings_reads_and_names_real_entry_points():
    services = finsync_services()
    assert {"worker", "intake", "codec-server", "finsync-setup"} <= services.keys()
    for name, service in services.items():
        environment = service.get("environment", {})
        assert not unknown(environment), name
        # A secret file is read as the variable it is named after, or is a file a *_FILE names.
        for secret in service.get("secrets", []):
            named = secret.upper() in settings_variables()
            pointed_at = f"/run/secrets/{secret}" in environment.values()
            assert named != pointed_at, (name, secret)  # both: the value twice (the codec refuses)
        command = service.get("command") or []
        if service.get("entrypoint") is None:  # the image's `python -m`: the first word is a module
            assert command, name
            modules = {command[0]}
        else:
            modules = modules_named(" ".join(command))
        modules |= modules_named(" ".join(service.get("healthcheck", {}).get("test", [])))
        for module in modules:
            assert (REPO / module.replace(".", "/")).with_suffix(".py").exists() or (REPO / module).is_dir(), module
    assert services["worker"]["deploy"]["replicas"] == 2
    grace = services["worker"]["stop_grace_period"]
    assert int(grace.removesuffix("s")) > DRAIN_TIMEOUT.total_seconds()
    scripts = re.findall(r"/opt/finsync/share/deploy/([\w-]+\.sh)", " ".join(services["finsync-setup"]["command"]))
    assert scripts == ["namespace.sh", "search-attributes.sh"]
    assert set(compose()["secrets"]) >= {s for svc in services.values() for s in svc.get("secrets", [])}
    # Temporal with PostgreSQL, its UI pointed at the codec server, the treasury's own PostgreSQL.
    everything = compose()["services"]
    assert everything["temporal"]["environment"]["DB"] == "postgres12"
    assert everything["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith(":8234")
    assert everything["treasury-db"]["image"].startswith("postgres:")


def resolved(value: str) -> str:
    """Compose interpolation as an operator's .env would fill it: defaults, or a placeholder."""
    return re.sub(r"\$\{(\w+)(:-([^}]*)|:\?[^}]*)?\}", lambda m: m.group(3) or "set-by-operator", value)


@pytest.mark.parametrize("service", ["worker", "codec-server", "intake"])
def test_compose_environment_and_secret_files_load(service, tmp_path, monkeypatch: pytest.MonkeyPatch):
    """What a container of the service sees: its environment, and its secret files (made as
    deploy/secrets/init.sh makes them) under /run/secrets, here a temporary directory."""
    import os

    from codec.bank_details import load_codec
    from settings import load_settings

    env = dict(finsync_services()[service]["environment"])
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    # A copy: the script writes next to itself, and deploy/secrets/ may hold someone's real files.
    script = tmp_path / "init.sh"
    script.write_text((DEPLOY / "secrets" / "init.sh").read_text())
    init = subprocess.run(["sh", str(script)], capture_output=True, text=True,
                          env={**os.environ, "FINSYNC_SAP_PASSWORD": "sap-pw", "FINSYNC_BANK_PASSWORD": "bank-pw",
                               "FINSYNC_TRYTON_PASSWORD": "tryton-pw"})
    assert init.returncode == 0, init.stderr
    for key, value in env.items():
        monkeypatch.setenv(key, resolved(str(value)).replace("/run/secrets", str(tmp_path)))
    if "FINSYNC_PAYING_ACCOUNTS" in env:
        monkeypatch.setenv("FINSYNC_PAYING_ACCOUNTS", '{"ACME": {"account_id": "ACME", "name": "ACME", '
                           '"iban": "NL41MOCK0000000001", "bic": "MOCKNL2A", "company_code": "1710", '
                           '"currency": "EUR"}}')
    if "FINSYNC_LEGAL_ENTITIES" in env:
        monkeypatch.setenv("FINSYNC_LEGAL_ENTITIES", '[{"company_code": "1710", "name": "ACME", "country": "NL", '
                           '"currency": "EUR", "erp": "sap", "paying_account_ids": ["ACME"]}]')
    settings = load_settings()
    if service == "intake":  # its own key only, which the workers' read-keys file holds (least privilege)
        from codec.bank_details import CodecKeyMissing, load_intake_codec, read_only_keys
        from intake.signature import Senders

        with pytest.raises(CodecKeyMissing):
            load_codec(settings)
        assert load_intake_codec(settings).active_key_id == "finsync-intake-1"
        assert "finsync-intake-1" in read_only_keys(tmp_path / "finsync-codec-read-keys")
        assert settings.intake_senders_file is not None
        Senders.from_file(settings.intake_senders_file).secret_of("einvoice-ap")
        return
    assert load_codec(settings).active_key_id == "finsync-1"
    if service == "worker":
        assert settings.production_problem() is None  # its legal entities are configured
        assert settings.treasury_db_url.startswith("postgresql+psycopg://finsync:")
        assert settings.sap_password is not None and settings.sap_password.get_secret_value() == "sap-pw"
        assert settings.tryton_password is not None and settings.tryton_password.get_secret_value() == "tryton-pw"
        assert settings.health_bind == "0.0.0.0:8081"
    else:
        # The identity provider's tokens, not a shared secret, open the codec server.
        assert settings.identity_issuer and settings.identity_jwks_file is not None
        assert settings.codec_audience == "finsync-codec" and settings.codec_decode_roles == {"finsync-decode"}


def test_kubernetes_sets_only_variables_settings_reads_and_outlasts_the_drain():
    docs = k8s_documents()
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert not unknown(config)
    # A file a *_FILE/_PATH names inside the secrets directory must not be named like a variable:
    # settings.py would read it twice (the codec refuses a key from both places).
    secrets_dir = config[SECRETS_DIR_VARIABLE]
    in_dir = [v.rpartition("/")[2] for v in config.values() if v.startswith(f"{secrets_dir}/")]
    assert in_dir and not {name.upper() for name in in_dir} & settings_variables()
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    release = [lit.split("=")[0] for gen in kustomization["configMapGenerator"] for lit in gen["literals"]]
    assert release == ["FINSYNC_BUILD_ID"] and not unknown(release)
    assert set(kustomization["resources"]) | {"scaling.yaml", "kustomization.yaml"} == \
        {p.name for p in (DEPLOY / "k8s").glob("*.yaml")}
    for container in k8s_containers():
        assert not unknown(e["name"] for e in container.get("env", []))
        args = container.get("args", [])
        modules = {args[0]} if "command" not in container else modules_named(" ".join(args))
        for module in modules:
            assert (REPO / f"{module}.py").exists() or (REPO / module.replace(".", "/")).exists(), module
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > DRAIN_TIMEOUT.total_seconds()
    assert pod["securityContext"]["runAsNonRoot"] is True and deployment["spec"]["replicas"] >= 2
    worker = pod["containers"][0]
    assert worker["resources"]["requests"] and worker["resources"]["limits"]
    health_port = int(config["FINSYNC_HEALTH_BIND"].rpartition(":")[2])
    assert {p["name"]: p["containerPort"] for p in worker["ports"]}["health"] == health_port
    assert (worker["livenessProbe"]["httpGet"]["path"], worker["readinessProbe"]["httpGet"]["path"]) == \
        ("/livez", "/readyz")
    scaler = next(d for d in docs if d["kind"] == "ScaledObject")
    trigger = scaler["spec"]["triggers"][0]
    assert trigger["type"] == "temporal" and scaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (trigger["metadata"]["taskQueue"], trigger["metadata"]["namespace"]) == \
        (config["FINSYNC_TASK_QUEUE"], config["TEMPORAL_NAMESPACE"])


def test_kubernetes_configuration_loads_and_names_tryton_where_an_entity_books_there(monkeypatch: pytest.MonkeyPatch):
    import os

    from settings import load_settings

    config = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")["data"]
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    for key in ("FINSYNC_ENVIRONMENT", "FINSYNC_LEGAL_ENTITIES", "FINSYNC_PAYING_ACCOUNTS", "FINSYNC_TRYTON_URL",
                "FINSYNC_TRYTON_USER", "FINSYNC_TRYTON_DATABASE"):
        monkeypatch.setenv(key, config[key])
    monkeypatch.setenv("FINSYNC_TREASURY_DB_URL", "postgresql+psycopg://finsync@treasury-db/treasury")  # a secret file
    settings = load_settings()
    on_tryton = [code for code, entity in settings.legal_entities.items() if entity.erp == "tryton"]
    assert on_tryton == ["2710"] and settings.tryton_url and settings.production_problem() is None
    # Its password is a secret file, never the ConfigMap; the README's `kubectl create secret` makes it.
    assert "FINSYNC_TRYTON_PASSWORD" not in config
    assert "--from-literal=finsync_tryton_password=" in (DEPLOY / "README.md").read_text()
    worker_secrets = finsync_services()["worker"]["secrets"]
    assert "finsync_tryton_password" in worker_secrets and "FINSYNC_TRYTON_URL" in compose()["x-finsync-env"]


def test_dockerfile_is_multi_stage_non_root_and_copies_every_package():
    lines = dockerfile()
    stages = [args for op, args in lines if op == "FROM"]
    assert len(stages) >= 2 and all(" AS " in s.upper() for s in stages)
    final = lines[max(i for i, (op, _) in enumerate(lines) if op == "FROM"):]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    instructions = dict(final)
    assert instructions["ENTRYPOINT"] == '["python", "-m"]' and instructions["CMD"] == '["worker"]'
    assert "telemetry.health" in instructions["HEALTHCHECK"]
    assert not unknown(re.findall(r"(\w+)=", " ".join(args for op, args in lines if op == "ENV")))
    copied = {src for op, args in lines if op == "COPY" and "--from" not in args for src in args.split()[:-1]}
    assert all((REPO / src).exists() for src in copied), copied
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = {p.split(".")[0] for p in setuptools["packages"]} | {f"{m}.py" for m in setuptools["py-modules"]}
    assert wanted <= copied | {"worker.py", "settings.py"} and "worker.py settings.py ./" in " ".join(
        args for op, args in lines if op == "COPY")


def test_shell_scripts_parse():
    for script in [*DEPLOY.glob("*.sh"), DEPLOY / "secrets" / "init.sh"]:
        assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0, script


def test_every_entry_point_starts():
    commands = [["worker", "--help"], ["intake", "--help"], ["codec.server", "--help"], ["cli", "schedules", "--help"],
                ["telemetry.health"]]

    def run(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(len(commands)) as pool:
        done = list(pool.map(run, commands))
    for args, result in zip(commands, done, strict=True):
        expected = 2 if args == ["telemetry.health"] else 0  # the probe without a URL prints its usage
        assert result.returncode == expected, (args, result.stderr)
    assert "--check" in done[0].stdout


async def test_namespace_script_creates_then_updates_retention(temporal_address: str):
    import asyncio
    import os

    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    from cli.processes import BIN

    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    env.update(TEMPORAL=str(BIN / "temporal"), TEMPORAL_ADDRESS=temporal_address, TEMPORAL_NAMESPACE="finsync-ns")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(DEPLOY / "namespace.sh"), *args], env=env, capture_output=True, text=True,
                              timeout=60)

    created = await asyncio.to_thread(run, "--retention", "45d")
    assert created.returncode == 0 and created.stdout.startswith("created  namespace finsync-ns"), created.stderr
    for _ in range(40):  # a namespace just created is updatable once the server's cache has it (~10 s)
        updated = await asyncio.to_thread(run, "--retention", "90d")
        if "not found" not in updated.stderr:
            break
        await asyncio.sleep(0.5)
    assert updated.returncode == 0 and updated.stdout.startswith("updated  namespace finsync-ns"), updated.stderr
    client = await Client.connect(temporal_address, namespace="finsync-ns")
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="finsync-ns"))
    assert described.config.workflow_execution_retention_ttl.ToTimedelta().days == 90
