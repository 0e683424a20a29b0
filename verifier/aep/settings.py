"""The `[aep]` config table: where Adobe is and which credential to use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verifier import redact

SCOPES = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"
_KEYS = {"org_id", "sandbox", "platform_url", "ims_url", "scopes", "timeout", "secrets"}


@dataclass(frozen=True)
class AepSettings:
    org_id: str
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    sandbox: str = "prod"
    platform_url: str = "https://platform.adobe.io"
    ims_url: str = "https://ims-na1.adobelogin.com/ims/token/v3"
    scopes: str = SCOPES
    timeout_s: float = 30.0
    attempts: int = 4  # per request, counting the first
    backoff_s: float = 1.0  # first wait after a 5xx / network error, doubled each time
    max_wait_s: float = 60.0  # a Retry-After beyond this is cut to it

    def __post_init__(self) -> None:
        redact.register(self.client_secret)


def parse_aep(raw: dict[str, Any], fail: Any, resolve_secret: Any) -> AepSettings:
    """`[aep]` -> settings. `resolve_secret(key, value)` turns a ${ENV} reference into its value."""
    unknown = set(raw) - _KEYS
    if unknown:
        raise fail(f"aep.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(_KEYS))}")
    strings: dict[str, Any] = {}
    for k in ("org_id", "sandbox", "platform_url", "ims_url", "scopes"):
        v = raw.get(k)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise fail(f"aep.{k}", "must be a non-empty string")
        if v is not None:
            strings[k] = v.strip()
    if "org_id" not in strings:
        raise fail("aep.org_id", 'required: your IMS organization id, like "5555467B5D8013E50A494220@AdobeOrg"')
    if "sandbox" in strings and strings["sandbox"] != strings["sandbox"].lower():
        raise fail("aep.sandbox", 'sandbox names are all lower-case (x-sandbox-name), e.g. "prod"')
    for k in ("platform_url", "ims_url"):
        if k in strings and not strings[k].startswith(("https://", "http://")):
            raise fail(f"aep.{k}", "must be an http(s) URL")
    timeout = raw.get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise fail("aep.timeout", "seconds, a positive number")
    secrets = raw.get("secrets", {})
    if not isinstance(secrets, dict) or set(secrets) - {"client_id", "client_secret"}:
        raise fail("aep.secrets", "a table with client_id and client_secret")
    for k in ("client_id", "client_secret"):
        if k not in secrets:
            raise fail(f"aep.secrets.{k}", f'required, an environment reference like "${{AEP_{k.upper()}}}"')
    return AepSettings(
        client_id=resolve_secret("aep.secrets.client_id", secrets["client_id"]),
        client_secret=resolve_secret("aep.secrets.client_secret", secrets["client_secret"]),
        timeout_s=float(timeout),
        **strings,
    )
