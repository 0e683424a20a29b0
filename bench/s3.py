"""A moto S3 server of the benchmark's own, started on a free port and killed by its PID; the tree
is uploaded once per server (moto keeps objects in memory)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
KEY, SECRET = "bench-key", "bench-secret"  # moto without IAM: any credentials are accepted
BUCKET = "bench"


@dataclass
class Moto:
    endpoint: str
    key: str = KEY
    secret: str = SECRET

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(key=self.key, secret=self.secret, endpoint_url=self.endpoint, skip_instance_cache=True)

    def creds(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "key": self.key, "secret": self.secret}

    def rclone_env(self) -> dict[str, str | None]:
        return {
            "AWS_CA_BUNDLE": None,  # rclone's S3 client refuses a custom CA bundle with its own transport
            "RCLONE_CONFIG_MOTO_TYPE": "s3",
            "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
            "RCLONE_CONFIG_MOTO_ENDPOINT": self.endpoint,
            "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": self.key,
            "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": self.secret,
            "RCLONE_CONFIG_MOTO_REGION": "us-east-1",
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server(logdir: Path) -> Iterator[Moto]:
    exe = shutil.which("moto_server", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if not exe:
        raise SystemExit("moto_server is not installed: .venv/bin/pip install 'moto[server]' (make servers)")
    port = _free_port()
    log = (logdir / "moto.log").open("wb")
    proc = subprocess.Popen(
        [exe, "-H", HOST, "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        start_new_session=True,
    )
    endpoint = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"moto_server did not start; see {logdir / 'moto.log'}") from None
                time.sleep(0.1)
        yield Moto(endpoint)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def upload(moto: Moto, local_root: Path, prefix: str, jobs: int = 16) -> float:
    """Copy every file under ``local_root`` to s3://BUCKET/prefix/, keeping relative paths. Returns seconds."""
    import boto3

    t0 = time.monotonic()
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        aws_access_key_id=moto.key,
        aws_secret_access_key=moto.secret,
        region_name="us-east-1",
    )
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    files = [p for p in local_root.rglob("*") if p.is_file() and p.name != "tree.json"]

    def put(p: Path) -> None:
        key = f"{prefix}/{p.relative_to(local_root).as_posix()}"
        with p.open("rb") as f:  # one PUT per object: a single-part upload, so the ETag is the MD5
            s3.put_object(Bucket=BUCKET, Key=key, Body=f)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(put, files))
    return time.monotonic() - t0
