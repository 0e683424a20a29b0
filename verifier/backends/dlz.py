"""Adobe Data Landing Zone: an Azure Blob container (`dlz-destination`) behind a SAS token.

Adobe hands out the whole SAS URI (``https://<account>.blob.core.windows.net/dlz-destination?sv=...&sig=...``);
configure it as ``secrets.sas_url`` (then `url` may be left out, or give the folder with `url`),
or give `url` plus ``secrets.sas_token``. The Data Landing Zone deletes files after 7 days.

An emulator (Azurite) has an IP address or `localhost` as host and uses path style:
``https://127.0.0.1:10443/<account>/dlz-destination/<folder>``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fsspec.spec import AbstractFileSystem

from verifier import redact
from verifier.backends.azure import classify_azure, content_md5, make_azure_fs
from verifier.backends.base import Backend
from verifier.errors import StoreError
from verifier.model import Checksum
from verifier.settings import Destination

CONTAINER = "dlz-destination"
_FORM = f"https://<account>.blob.core.windows.net/{CONTAINER}/<folder>"


@dataclass(frozen=True)
class DLZLocation:
    scheme: str
    netloc: str
    account: str
    path_style: bool  # emulator: the account is the first path segment
    container: str
    folder: str

    @property
    def account_host(self) -> str:
        host = f"{self.netloc}/{self.account}" if self.path_style else self.netloc
        return host if self.scheme == "https" else f"{self.scheme}://{host}"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}/" + (f"{self.account}/" if self.path_style else "")


def _is_emulator_host(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _parse(url: str, what: str) -> DLZLocation:
    shown = redact.strip_url(url)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
    except ValueError:
        raise ValueError(f"{what} {shown!r} is not a URL; use {_FORM}") from None
    if parts.scheme not in ("https", "http") or not hostname:
        raise ValueError(f"{what} {shown!r}: use {_FORM}")
    segments = [s for s in parts.path.split("/") if s]
    path_style = _is_emulator_host(hostname)
    if path_style:
        if not segments:
            raise ValueError(f"{what} {shown!r}: an emulator URL is https://HOST:PORT/<account>/{CONTAINER}/<folder>")
        account, segments = segments[0], segments[1:]
    else:
        account = hostname.split(".")[0]
    if not segments:
        raise ValueError(f"{what} {shown!r}: the container is missing; use {_FORM}")
    return DLZLocation(parts.scheme, parts.netloc, account, path_style, segments[0], "/".join(segments[1:]))


class DLZBackend(Backend):
    type = "dlz"
    offered_checksums = frozenset({("md5", "client")})  # an Azure container: Content-MD5, the uploader's claim
    retention = timedelta(days=7)
    default_jobs = 8

    @classmethod
    def validate(cls, dest: Destination) -> None:
        sas_url = dest.secrets.get("sas_url")
        if not dest.url and not sas_url:
            raise ValueError(
                f"required: the container URL plus folder ({_FORM}) with secrets.sas_token, or secrets.sas_url"
            )
        if sas_url:
            loc = _parse(sas_url, "secrets.sas_url")
            if "sig" not in parse_qs(urlsplit(sas_url).query):
                raise ValueError("secrets.sas_url has no SAS token (no `sig=` in its query); use the whole SAS URI")
            if dest.url:
                at = _parse(dest.url, "url")
                if (at.netloc, at.account, at.container) != (loc.netloc, loc.account, loc.container):
                    raise ValueError(
                        f"url {redact.strip_url(dest.url)!r} names another account or container than secrets.sas_url"
                    )
        else:
            assert dest.url
            _parse(dest.url, "url")
            if not dest.secrets.get("sas_token"):
                raise ValueError("set secrets.sas_token (or secrets.sas_url, the whole SAS URI)")
        if urlsplit(dest.url or "").query:
            raise ValueError("url must not carry a query; put the SAS in secrets.sas_token or secrets.sas_url")

    def __init__(self, dest: Destination) -> None:
        super().__init__(dest)
        sas_url = dest.secrets.get("sas_url")
        self._sas_token = urlsplit(sas_url).query if sas_url else dest.secrets.get("sas_token", "").lstrip("?")
        # the token alone (cut out of sas_url) must be scrubbed too, wherever it turns up
        redact.register(self._sas_token)

    @cached_property
    def location(self) -> DLZLocation:
        """The account, container and folder, parsed once from the url (or the SAS URI)."""
        if self.dest.url:
            return _parse(self.dest.url, "url")
        return _parse(self.dest.secrets["sas_url"], "secrets.sas_url")

    def make_filesystem(self) -> AbstractFileSystem:
        loc = self.location
        return make_azure_fs(
            self.dest.options,
            {"sas_token": self._sas_token},
            account_name=loc.account,
            account_host=loc.account_host,
            assume_container_exists=True,
        )

    def root(self) -> str:
        loc = self.location
        return f"{loc.container}/{loc.folder}" if loc.folder else loc.container

    def uri(self, path: str) -> str:
        return self.location.base + path.lstrip("/")

    def display_url(self) -> str:
        return self.uri(self.root())

    def native_checksums(self, info: dict[str, Any]) -> tuple[Checksum, ...]:
        return content_md5(info)

    def classify(self, exc: BaseException) -> StoreError:
        return classify_azure(exc, f"dlz {self.display_url()}") or super().classify(exc)
