"""Azure Blob Storage and ADLS Gen2 (adlfs, Blob API), and the client the DLZ backend shares.

Native checksums: `Content-MD5`, present when the uploader sent it (single-shot uploads),
usually absent for block uploads. The service stores it as given, so its provenance is
``client``: a claim to check against the bytes, not a proof.

adlfs builds its Azure SDK client without retry or timeout settings, and the SDK's defaults
retry a dead endpoint for about 90 s; `AzureFileSystem` builds the client itself, bounded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlsplit

from adlfs import AzureBlobFileSystem
from azure.storage.blob.aio import BlobServiceClient
from fsspec.spec import AbstractFileSystem

from verifier import redact
from verifier.backends.base import Backend
from verifier.errors import StoreError
from verifier.model import Checksum
from verifier.settings import Destination

DEFAULT_TIMEOUT = 5.0  # seconds to connect; reads get at least 30
DEFAULT_RETRIES = 2
SECRET_KEYS = ("connection_string", "account_key", "sas_token", "client_id", "client_secret", "tenant_id")

# Azure storage error codes -> (transient, what to do)
_DENIED = "access denied: "
_CODES: dict[str, tuple[bool, str]] = {
    "AuthenticationFailed": (
        False,
        _DENIED + "the key or SAS was refused; check the secrets and that a SAS has not expired",
    ),
    "AuthorizationFailure": (
        False,
        _DENIED + "the key or SAS was refused, or may not read here; check the "
        "secrets, the SAS permissions (read, list), its expiry and the network rules",
    ),
    "AuthorizationPermissionMismatch": (False, _DENIED + "the credential lacks permission; grant read and list"),
    "AuthorizationResourceTypeMismatch": (False, _DENIED + "the SAS is for another resource type; use a container SAS"),
    "InvalidAuthenticationInfo": (False, _DENIED + "the credential is malformed; check the secrets"),
    "ContainerNotFound": (False, "the container does not exist: check the destination url"),
    "ResourceNotFound": (False, "not found: check the destination url"),
    "BlobNotFound": (False, "the blob is gone"),
    "AccountIsDisabled": (False, "the storage account is disabled"),
    "ServerBusy": (True, "the store is throttling requests; retry later or lower --jobs"),
    "OperationTimedOut": (True, "the store timed out; retry later"),
    "InternalError": (True, "the store had an internal error; retry later"),
}


class AzureFileSystem(AzureBlobFileSystem):
    """adlfs with a bounded SDK client (retries, backoff, timeouts) and `http://` emulator hosts."""

    def __init__(self, *args: Any, client_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._client_options = dict(client_options or {})
        super().__init__(*args, **kwargs)

    def do_connect(self) -> None:
        opts = {"user_agent": "verifier", **self._client_options}
        try:
            if self.connection_string is not None:
                self.service_client = BlobServiceClient.from_connection_string(self.connection_string, **opts)
                return
            if self.account_name is None:
                raise ValueError("set options.account_name, or secrets.connection_string")
            host = getattr(self, "account_host", None) or f"{self.account_name}.blob.core.windows.net"
            self.account_url = host if "://" in host else f"https://{host}"
            credential: Any = self.credential
            if credential is None and self.account_key:
                credential = {"account_name": self.account_name, "account_key": self.account_key}
            url = self.account_url
            if credential is None and self.sas_token:
                url += self.sas_token if self.sas_token.startswith("?") else "?" + self.sas_token
            self.service_client = BlobServiceClient(account_url=url, credential=credential, **opts)
        except ValueError:
            raise
        except Exception as exc:
            raise ValueError(f"cannot set up the Azure client: {type(exc).__name__}") from exc


def client_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split our `timeout`/`retries` options into SDK client settings; return (client, rest)."""
    rest = dict(options)
    timeout = float(rest.pop("timeout", DEFAULT_TIMEOUT))
    retries = int(rest.pop("retries", DEFAULT_RETRIES))
    client = {
        "retry_total": retries,
        "retry_connect": retries,
        "retry_read": retries,
        "retry_status": retries,
        # waits ~1.5 s, then ~2.3 s (the SDK default starts at 15 s)
        "initial_backoff": 0,
        "increment_base": 1.5,
        "random_jitter_range": 0.3,
        "connection_timeout": timeout,
        "read_timeout": max(timeout, 30.0),
    }
    client.update(rest.pop("client_options", None) or {})
    return client, rest


def make_azure_fs(options: dict[str, Any], secrets: dict[str, str], **fixed: Any) -> AzureFileSystem:
    client, rest = client_options(options)
    kwargs: dict[str, Any] = {**rest, **fixed, **secrets}
    return AzureFileSystem(client_options=client, skip_instance_cache=True, **kwargs)


def content_md5(info: dict[str, Any]) -> tuple[Checksum, ...]:
    settings = info.get("content_settings")
    md5 = settings.get("content_md5") if isinstance(settings, dict) else getattr(settings, "content_md5", None)
    if md5 is None:
        md5 = info.get("content_md5")
    if not md5:
        return ()
    return (Checksum("md5", bytes(md5).hex(), "client"),)


def classify_azure(exc: BaseException, where: str) -> StoreError | None:
    """A StoreError for an Azure SDK/adlfs error, or None when `exc` is not one of them."""
    from azure.core import exceptions as az

    def err(msg: str, transient: bool) -> StoreError:
        return StoreError(redact.scrub(f"{where}: {msg}"), transient=transient)

    cause = exc
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, az.AzureError):
            cause = e
            break
    if isinstance(cause, az.ServiceRequestError | az.ServiceResponseError):
        return err(
            f"cannot reach the endpoint ({type(cause).__name__}); check the url/account_host and the "
            "network, then retry",
            True,
        )
    if isinstance(cause, az.HttpResponseError):
        status = cause.status_code or 0
        raw_code = getattr(cause, "error_code", None) or getattr(cause, "reason", "") or ""
        code = str(getattr(raw_code, "value", raw_code))  # the SDK gives a StorageErrorCode enum
        label = f"{code} (HTTP {status})" if code else f"HTTP {status}"
        if code in _CODES:
            transient, advice = _CODES[code]
            return err(f"{label}: {advice}", transient)
        if status >= 500 or status in (408, 429):
            return err(f"{label}: the store failed; retry later", True)
        if status in (401, 403) or isinstance(cause, az.ClientAuthenticationError):
            return err(f"{label}: access denied: check the credentials (key, SAS and its permissions)", False)
        if status == 404:
            return err(f"{label}: not found: check the container and folder in the url", False)
        return err(f"{label}: request refused", False)
    if isinstance(cause, az.ClientAuthenticationError):
        return err("authentication failed: check client_id, client_secret and tenant_id", False)
    if isinstance(cause, az.AzureError):
        return err(f"{type(cause).__name__}: {cause.message}", False)
    if isinstance(exc, PermissionError):
        return err(f"access denied: check the credentials [{exc}]", False)
    if isinstance(exc, FileNotFoundError):
        return err(f"not found: check the container and folder in the url [{exc}]", False)
    if isinstance(exc, ValueError) and "Azure client" in str(exc):
        return err(f"{exc}: check the account and secrets", False)
    return None


@dataclass(frozen=True)
class AzureLocation:
    """Where a destination's exports are: container and folder (and, for ADLS Gen2, the account
    and host of its URL)."""

    container: str
    folder: str
    account: str = ""
    host: str = ""


class AzureBlobBackend(Backend):
    type = "azure_blob"
    default_jobs = 8
    flat_listing = True
    # Content-MD5 is kept for single-shot uploads, as the uploader's claim
    offered_checksums = frozenset({("md5", "client")})
    schemes: ClassVar[tuple[str, ...]] = ("az://", "abfs://", "abfss://")

    @classmethod
    def validate(cls, dest: Destination) -> None:
        if not dest.url or not dest.url.startswith(cls.schemes) or "@" in dest.url.split("/")[2]:
            raise ValueError(
                f"{dest.url!r}: use az://container/folder (for abfss://container@account... URLs, "
                'use type = "adls_gen2")'
            )
        if not dest.url.split("://", 1)[1].split("/")[0]:
            raise ValueError(f"{dest.url!r}: the container name is missing; use az://container/folder")
        ambient = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if not (dest.options.get("account_name") or "connection_string" in dest.secrets or ambient):
            raise ValueError("set options.account_name (or secrets.connection_string)")

    @cached_property
    def location(self) -> AzureLocation:
        """The container and folder, parsed once from the url."""
        assert self.dest.url
        container, _, folder = self.dest.url.split("://", 1)[1].partition("/")
        return AzureLocation(container, folder.strip("/"))

    def make_filesystem(self) -> AbstractFileSystem:
        return make_azure_fs(self.dest.options, self.dest.secrets)

    def root(self) -> str:
        loc = self.location
        return f"{loc.container}/{loc.folder}" if loc.folder else loc.container

    def uri(self, path: str) -> str:
        return "az://" + path.lstrip("/")

    def display_url(self) -> str:
        return self.uri(self.root())

    def native_checksums(self, info: dict[str, Any]) -> tuple[Checksum, ...]:
        return content_md5(info)

    def classify(self, exc: BaseException) -> StoreError:
        return classify_azure(exc, f"{self.type} {self.display_url()}") or super().classify(exc)


def parse_abfs(url: str) -> tuple[str, str, str, str]:
    """`abfss://container@account.dfs.core.windows.net/folder` -> (container, account, host, folder)."""
    parts = urlsplit(url)
    if parts.scheme not in ("abfs", "abfss") or "@" not in parts.netloc:
        raise ValueError(f"{url!r}: use abfss://container@account.dfs.core.windows.net/folder")
    container, _, host = parts.netloc.partition("@")
    account = host.split(".")[0]
    if not container or not account:
        raise ValueError(f"{url!r}: use abfss://container@account.dfs.core.windows.net/folder")
    return container, account, host, parts.path.strip("/")


class AdlsGen2Backend(AzureBlobBackend):
    """ADLS Gen2 through its Blob endpoint (what adlfs uses); the account comes from the URL."""

    type = "adls_gen2"
    # a hierarchical namespace has real, possibly empty folders, which a flat blob listing omits
    flat_listing = False

    @classmethod
    def validate(cls, dest: Destination) -> None:
        if not dest.url:
            raise ValueError("required: abfss://container@account.dfs.core.windows.net/folder")
        parse_abfs(dest.url)

    @cached_property
    def location(self) -> AzureLocation:
        """The container, folder, account and host, parsed once from the abfss:// url."""
        assert self.dest.url
        container, account, host, folder = parse_abfs(self.dest.url)
        return AzureLocation(container, folder, account, host)

    def make_filesystem(self) -> AbstractFileSystem:
        loc = self.location
        opts = dict(self.dest.options)
        opts.setdefault("account_name", loc.account)
        if "connection_string" not in self.dest.secrets:
            opts.setdefault("account_host", loc.host.replace(".dfs.", ".blob."))
        return make_azure_fs(opts, self.dest.secrets)

    def uri(self, path: str) -> str:
        container, _, rest = path.lstrip("/").partition("/")
        return f"abfss://{container}@{self.location.host}/{rest}".rstrip("/")
