"""Google Cloud Storage (gcsfs).

Native checksums: `crc32c` on every object and `md5Hash` except on composite objects, both
computed by the service (provenance ``service``); the JSON API gives them base64-encoded.

gcsfs retries a failed request six times with waits of 1, 2, 4, 8 and 16 s; a dead endpoint
would take a minute to report. `BoundedGCSFileSystem` retries less and faster.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

# Before gcsfs is imported: otherwise every bucket call first waits ~60 s on a gRPC
# "hierarchical namespace" probe that emulators (and most buckets) do not serve.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import aiohttp
from fsspec.spec import AbstractFileSystem
from gcsfs import GCSFileSystem
from gcsfs.retry import HttpError, is_retriable

from verifier import redact
from verifier.backends.base import Backend
from verifier.errors import StoreError
from verifier.model import Checksum
from verifier.settings import Destination

DEFAULT_TIMEOUT = 5.0  # seconds to connect; reads get at least 60
DEFAULT_RETRIES = 2
_RAW_REQUEST = GCSFileSystem._request.__wrapped__  # gcsfs's request without its retry decorator


class BoundedGCSFileSystem(GCSFileSystem):
    """gcsfs with a bounded number of quick retries; an auth failure (401) is not retried."""

    def __init__(self, *args: Any, max_retries: int = DEFAULT_RETRIES, **kwargs: Any) -> None:
        self.max_retries = max_retries
        super().__init__(*args, **kwargs)

    async def _request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                return await _RAW_REQUEST(self, method, path, *args, **kwargs)
            except Exception as exc:
                if attempt >= self.max_retries or not _retriable(exc):
                    raise
            await asyncio.sleep(min(0.25 * 2**attempt, 2.0))
        raise AssertionError("unreachable")


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, HttpError) and exc.code in (401, 403):
        return False
    return bool(is_retriable(exc))


class GCSBackend(Backend):
    type = "gcs"
    offered_checksums = frozenset({("md5", "service"), ("crc32c", "service")})
    default_jobs = 8
    flat_listing = True

    @classmethod
    def validate(cls, dest: Destination) -> None:
        if not dest.url or not dest.url.startswith(("gs://", "gcs://")):
            raise ValueError(f"{dest.url!r}: use gs://bucket/folder")
        if not dest.url.split("://", 1)[1].split("/")[0]:
            raise ValueError(f"{dest.url!r}: the bucket name is missing; use gs://bucket/folder")
        token = dest.secrets.get("token")
        if token and not os.path.exists(token):
            raise ValueError("secrets.token: the service-account JSON file it names does not exist")

    def make_filesystem(self) -> AbstractFileSystem:
        opts = dict(self.dest.options)
        timeout = float(opts.pop("timeout", DEFAULT_TIMEOUT))
        retries = int(opts.pop("retries", DEFAULT_RETRIES))
        opts.setdefault(
            "requests_timeout",
            aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=max(timeout, 60.0)),
        )
        kwargs: dict[str, Any] = {**opts, **self.dest.secrets}
        return BoundedGCSFileSystem(max_retries=retries, skip_instance_cache=True, **kwargs)

    def root(self) -> str:
        assert self.dest.url
        rest = self.dest.url.split("://", 1)[1].strip("/")
        return rest

    def uri(self, path: str) -> str:
        return "gs://" + path.lstrip("/")

    def display_url(self) -> str:
        return self.uri(self.root())

    def native_checksums(self, info: dict[str, Any]) -> tuple[Checksum, ...]:
        out = []
        for field, algo in (("crc32c", "crc32c"), ("md5Hash", "md5")):
            value = info.get(field)
            if isinstance(value, str) and value:
                try:
                    out.append(Checksum(algo, base64.b64decode(value, validate=True).hex(), "service"))
                except ValueError:
                    continue
        return tuple(out)

    def classify(self, exc: BaseException) -> StoreError:
        where = f"gcs {self.display_url()}"

        def err(msg: str, transient: bool) -> StoreError:
            return StoreError(redact.scrub(f"{where}: {msg}"), transient=transient)

        chain = [e for e in (exc, exc.__cause__, exc.__context__) if e is not None]
        names = {type(e).__name__ for e in chain}
        if names & {"RefreshError", "DefaultCredentialsError", "NonRetryableError"} or (
            isinstance(exc, HttpError) and exc.code == 401
        ):
            return err(
                "the credentials were refused: check secrets.token (a service-account JSON file) or "
                'use options.token = "anon" for a public bucket',
                False,
            )
        if isinstance(exc, HttpError):
            code = exc.code or 0
            if code >= 500 or code in (408, 429):
                return err(f"HTTP {code} from the store; retry later", True)
            if code == 403:
                return err("access denied: the account needs storage.objects.list and .get", False)
            return err(f"HTTP {code}: {exc.message}", False)
        if isinstance(exc, PermissionError) or (isinstance(exc, OSError) and str(exc).startswith("Forbidden")):
            return err("access denied: the account needs storage.objects.list and .get", False)
        if isinstance(exc, FileNotFoundError):
            return err(f"not found: check the bucket and folder in the url [{exc}]", False)
        if isinstance(exc, aiohttp.ClientConnectionError | TimeoutError | ConnectionError):
            return err(
                f"cannot reach the endpoint ({type(exc).__name__}); check endpoint_url and the network, then retry",
                True,
            )
        if isinstance(exc, aiohttp.ClientResponseError):
            return err(f"HTTP {exc.status}", exc.status >= 500 or exc.status == 429)
        return super().classify(exc)
