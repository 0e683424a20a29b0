"""Amazon S3 and S3-compatible stores (s3fs).

Native checksums: a single-part ETag is the object's MD5 (computed by S3); a multipart ETag
(`<md5 of part md5s>-<parts>`) is kept as an etag only. The additional checksums (CRC32C,
CRC32, CRC64NVME, SHA1, SHA256) come back only on a HEAD with ``ChecksumMode=ENABLED``, which
`enrich` does; S3 computes or validates them server side, so their provenance is ``service``.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar

from fsspec.spec import AbstractFileSystem

from verifier import redact
from verifier.backends.base import Backend
from verifier.errors import StoreError
from verifier.model import Checksum, Entry
from verifier.settings import Destination

_MD5_ETAG = re.compile(r"^[0-9a-fA-F]{32}$")
# HEAD response field -> our algorithm name
_CHECKSUM_FIELDS = {
    "ChecksumCRC32C": "crc32c",
    "ChecksumCRC32": "crc32",
    "ChecksumCRC64NVME": "crc64nvme",
    "ChecksumSHA1": "sha1",
    "ChecksumSHA256": "sha256",
}
# S3 error codes -> (transient, what to do)
_CODES: dict[str, tuple[bool, str]] = {
    "AccessDenied": (False, "check that the credentials may list and read this bucket"),
    "AllAccessDisabled": (False, "access to this bucket is disabled"),
    "InvalidAccessKeyId": (False, "the access key is unknown to the store: check `key`"),
    "SignatureDoesNotMatch": (False, "the secret does not match the key: check `secret`"),
    "ExpiredToken": (False, "the session token has expired: refresh `token`"),
    "InvalidToken": (False, "the session token is invalid: check `token`"),
    "NoSuchBucket": (False, "the bucket does not exist: check the destination url"),
    "NoSuchKey": (False, "the object is gone"),
    "PermanentRedirect": (False, "the bucket is in another region: set options.region_name"),
    "AuthorizationHeaderMalformed": (False, "wrong region for this bucket: set options.region_name"),
    "SlowDown": (True, "the store is throttling requests; retry later or lower --jobs"),
    "Throttling": (True, "the store is throttling requests; retry later or lower --jobs"),
    "RequestTimeout": (True, "the store timed out; retry later"),
    "InternalError": (True, "the store had an internal error; retry later"),
    "ServiceUnavailable": (True, "the store is unavailable; retry later"),
}
_DEFAULT_TIMEOUT = 5.0  # seconds to connect; reads get at least 30
_DEFAULT_RETRIES = 2


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/folder/` -> ("bucket", "folder")."""
    rest = url.split("://", 1)[1] if "://" in url else url
    bucket, _, folder = rest.partition("/")
    return bucket, folder.strip("/")


class S3Backend(Backend):
    type = "s3"
    # a single-part ETag is the MD5; botocore sends a CRC32 with every upload, which S3 keeps
    offered_checksums = frozenset({("md5", "service"), ("crc32", "service")})
    default_jobs = 8
    flat_listing = True
    schemes: ClassVar[tuple[str, ...]] = ("s3://", "s3a://")

    @classmethod
    def validate(cls, dest: Destination) -> None:
        if not dest.url or not dest.url.startswith(cls.schemes):
            raise ValueError(f"{dest.url!r}: use s3://bucket/folder")
        bucket, _ = split_url(dest.url)
        if not bucket:
            raise ValueError(f"{dest.url!r}: the bucket name is missing; use s3://bucket/folder")

    def make_filesystem(self) -> AbstractFileSystem:
        opts = dict(self.dest.options)
        timeout = float(opts.pop("timeout", _DEFAULT_TIMEOUT))
        retries = int(opts.pop("retries", _DEFAULT_RETRIES))
        client_kwargs = dict(opts.pop("client_kwargs", None) or {})
        config_kwargs = dict(opts.pop("config_kwargs", None) or {})
        region = opts.pop("region_name", None)
        if region:
            # through botocore's Config, not client_kwargs: s3fs reads a region in
            # client_kwargs as a bucket LocationConstraint, which S3-compatible stores refuse
            config_kwargs.setdefault("region_name", region)
        config_kwargs.setdefault("connect_timeout", timeout)
        config_kwargs.setdefault("read_timeout", max(timeout, 30.0))
        config_kwargs.setdefault("retries", {"max_attempts": retries + 1, "mode": "standard"})
        kwargs: dict[str, Any] = {**opts, **self.dest.secrets}
        import s3fs  # here, not at module level: its import (aiobotocore, aiohttp) costs ~0.5 s
        # that `status`, `sql` and `restore-plan` never need

        fs = s3fs.S3FileSystem(
            client_kwargs=client_kwargs, config_kwargs=config_kwargs, skip_instance_cache=True, **kwargs
        )
        # s3fs has its own retry loop (attempts) on top of botocore's: one retry, for errors
        # botocore does not retry itself, like a read cut short
        fs.retries = 2 if retries else 1
        return fs

    def root(self) -> str:
        assert self.dest.url
        bucket, folder = split_url(self.dest.url)
        return f"{bucket}/{folder}" if folder else bucket

    def uri(self, path: str) -> str:
        return "s3://" + path.lstrip("/")

    def display_url(self) -> str:
        return self.uri(self.root())

    def native_checksums(self, info: dict[str, Any]) -> tuple[Checksum, ...]:
        out = []
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        if _MD5_ETAG.match(etag):
            out.append(Checksum("md5", etag.lower(), "service"))
        out.extend(_head_checksums(info))
        return tuple(out)

    def enrich(self, entry: Entry) -> Entry:
        if entry.is_dir:
            return entry
        fs = self.fs
        bucket, key, _ = fs.split_path(entry.path)  # type: ignore[attr-defined]
        try:
            head = fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - every client error becomes a StoreError
            raise self.classify(exc) from None
        have = {c.algo for c in entry.checksums}
        extra = tuple(c for c in _head_checksums(head) if c.algo not in have)
        if not extra:
            return entry
        return Entry(
            path=entry.path,
            name=entry.name,
            is_dir=False,
            size=entry.size,
            modified_at=entry.modified_at,
            etag=entry.etag,
            checksums=entry.checksums + extra,
        )

    def classify(self, exc: BaseException) -> StoreError:
        where = self.display_url()
        code, status = _error_code(exc)
        if code in _CODES:
            transient, advice = _CODES[code]
            kind = "" if transient or code.startswith("NoSuch") else "access denied, "
            return _error(f"s3 {where}: {kind}{code}: {advice}", exc, transient)
        if status is not None and (status >= 500 or status in (408, 429)):
            return _error(f"s3 {where}: HTTP {status} from the store; retry later", exc, True)
        if isinstance(exc, PermissionError) or status in (401, 403):
            return _error(f"s3 {where}: access denied: check the credentials and the bucket policy", exc, False)
        if isinstance(exc, FileNotFoundError) or status == 404:
            return _error(f"s3 {where}: not found: check the bucket and folder in the url", exc, False)
        name = type(exc).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return _error(
                f"s3 {where}: no credentials: set secrets.key and secrets.secret, an AWS "
                "profile or the AWS_* environment",
                exc,
                False,
            )
        if name in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
            "ProxyConnectionError",
        ) or isinstance(exc, TimeoutError | ConnectionError):
            return _error(
                f"s3 {where}: cannot reach the endpoint ({name}); check endpoint_url and the network, then retry",
                exc,
                True,
            )
        if name == "SSLError":
            return _error(f"s3 {where}: TLS failure: check the endpoint's certificate", exc, False)
        return super().classify(exc)


def _head_checksums(head: dict[str, Any]) -> list[Checksum]:
    out = []
    for field, algo in _CHECKSUM_FIELDS.items():
        value = head.get(field)
        # a composite (multipart) checksum reads `<b64>-<parts>`: it is a checksum of part
        # checksums, not comparable with one computed over the whole object
        if not isinstance(value, str) or "-" in value or head.get("ChecksumType") == "COMPOSITE":
            continue
        try:
            out.append(Checksum(algo, base64.b64decode(value, validate=True).hex(), "service"))
        except ValueError:
            continue
    return out


def _error_code(exc: BaseException) -> tuple[str | None, int | None]:
    """The S3 error code and HTTP status behind `exc` or the botocore error that caused it."""
    for e in (exc, exc.__cause__, exc.__context__):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            err = response.get("Error") or {}
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            return err.get("Code"), int(status) if status else None
    return None, None


def _error(message: str, exc: BaseException, transient: bool) -> StoreError:
    return StoreError(redact.scrub(f"{message} [{type(exc).__name__}: {exc}]"), transient=transient)
