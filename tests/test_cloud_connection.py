"""Temporal Cloud (and a TLS cluster) from configuration alone: the TEMPORAL_* variables, or their
files in FINSYNC_SECRETS_DIR, become Client.connect's TLS options (worker.connect_options), built
without connecting. What Cloud would then do with them can not be tested here."""

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.client import TLSConfig

from settings import load_settings
from worker import connect_options

CLOUD = {"TEMPORAL_ADDRESS": "finsync-prod.a1b2c.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "finsync-prod.a1b2c"}
CLOUD_OPTIONS = {"target_host": CLOUD["TEMPORAL_ADDRESS"], "namespace": CLOUD["TEMPORAL_NAMESPACE"]}


def certificate_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed client certificate and its key, as a Cloud namespace's CA would issue one."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith(("TEMPORAL_", "FINSYNC_")):
            monkeypatch.delenv(name)
    return monkeypatch


def options_from(env: pytest.MonkeyPatch, **variables: str) -> dict:
    for name, value in {**CLOUD, **variables}.items():
        env.setenv(name, value)
    return connect_options(load_settings())


def test_mtls_reads_the_cli_variables_into_a_client_certificate(clean_env, tmp_path):
    cert, key = certificate_pair(tmp_path, "finsync-worker")
    options = options_from(clean_env, TEMPORAL_TLS_CLIENT_CERT_PATH=str(cert), TEMPORAL_TLS_CLIENT_KEY_PATH=str(key))
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == cert.read_bytes() and tls.client_private_key == key.read_bytes()
    assert tls.server_root_ca_cert is None and tls.domain is None  # Cloud: the system's roots, the address's name
    assert options["api_key"] is None
    assert (options["target_host"], options["namespace"]) == (CLOUD["TEMPORAL_ADDRESS"], CLOUD["TEMPORAL_NAMESPACE"])


def test_the_older_variable_names_still_work_and_the_cli_names_win(clean_env, tmp_path):
    cert, key = certificate_pair(tmp_path, "new")
    old_cert, old_key = certificate_pair(tmp_path, "old")
    only_old = options_from(clean_env, TEMPORAL_TLS_CERT=str(old_cert), TEMPORAL_TLS_KEY=str(old_key))
    assert only_old["tls"].client_cert == old_cert.read_bytes()
    both = options_from(clean_env, TEMPORAL_TLS_CLIENT_CERT_PATH=str(cert), TEMPORAL_TLS_CLIENT_KEY_PATH=str(key))
    assert both["tls"].client_cert == cert.read_bytes() and both["tls"].client_private_key == key.read_bytes()


def test_a_private_ca_and_server_name_for_a_self_hosted_cluster(clean_env, tmp_path):
    cert, key = certificate_pair(tmp_path, "worker")
    ca, _ = certificate_pair(tmp_path, "cluster-ca")
    options = options_from(clean_env, TEMPORAL_TLS_CLIENT_CERT_PATH=str(cert), TEMPORAL_TLS_CLIENT_KEY_PATH=str(key),
                           TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(ca), TEMPORAL_TLS_SERVER_NAME="frontend.temporal")
    assert options["tls"].server_root_ca_cert == ca.read_bytes() and options["tls"].domain == "frontend.temporal"
    clean_env.delenv("TEMPORAL_TLS_CLIENT_CERT_PATH")
    clean_env.delenv("TEMPORAL_TLS_CLIENT_KEY_PATH")
    server_tls_only = options_from(clean_env)
    assert server_tls_only["tls"].client_cert is None and server_tls_only["tls"].server_root_ca_cert == ca.read_bytes()


def test_an_api_key_turns_tls_on_and_travels_as_the_api_key(clean_env):
    options = options_from(clean_env, TEMPORAL_API_KEY="tmprl-api-key-for-tests")
    assert options["tls"] is True and options["api_key"] == "tmprl-api-key-for-tests"
    clean_env.delenv("TEMPORAL_API_KEY")
    assert options_from(clean_env, TEMPORAL_TLS="true") == {**CLOUD_OPTIONS, "tls": True, "api_key": None}


def test_an_api_key_from_a_secret_file(clean_env, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "temporal_api_key").write_text("key-from-a-mounted-secret")
    options = options_from(clean_env, FINSYNC_SECRETS_DIR=str(secrets))
    assert options["tls"] is True and options["api_key"] == "key-from-a-mounted-secret"
    # A variable that is set wins over the file.
    assert options_from(clean_env, TEMPORAL_API_KEY="from-env")["api_key"] == "from-env"


def test_plaintext_without_any_tls_setting_and_contradictions_refused(clean_env, tmp_path):
    assert options_from(clean_env, TEMPORAL_ADDRESS="127.0.0.1:7233")["tls"] is False
    cert, key = certificate_pair(tmp_path, "worker")
    with pytest.raises(ValueError, match="TEMPORAL_TLS_CLIENT_KEY_PATH"):
        options_from(clean_env, TEMPORAL_TLS_CLIENT_CERT_PATH=str(cert))
    clean_env.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(key))
    with pytest.raises(ValueError, match="TEMPORAL_TLS=false"):
        options_from(clean_env, TEMPORAL_TLS="false")
