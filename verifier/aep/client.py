"""A Flow Service client: IMS OAuth server-to-server tokens, Adobe's headers, paging, retries.

Facts from AEP-FLOW-SERVICE.md §1 (token, headers), §3.1–3.2 (limit 100, `_links.next` /
`continuationToken`) and §7 (status codes). The client secret and the access token are
registered with `redact` and kept out of every repr, so no log line or traceback shows them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import tenacity

from verifier import redact
from verifier.aep.settings import AepSettings
from verifier.errors import TerminalError, TransientError

log = logging.getLogger("verifier.aep")

SERVICE_PATH = "/data/foundation/flowservice"
PAGE_SIZE = 100  # the documented maximum (DEST-OAS `limit`: maximum 100)
MAX_PAGES = 1000  # a server that keeps handing out the same page must not loop forever
# IMS expires_in is seconds; the deprecated JWT flow documented milliseconds. Nothing valid for
# more than ten days exists, so a larger number is milliseconds.
_MS_THRESHOLD = 10 * 86400
_TOKEN_MARGIN_S = 60.0  # renew a little before the stated expiry


class AepError(TerminalError):
    """Adobe refused or answered something unusable; retrying will not help. Says what to fix."""


class AepUnavailable(TransientError):
    """IMS or Flow Service could not be reached, or kept failing (429, 5xx) after retries."""


class _Retry(Exception):
    """A response worth another try: 429 or 5xx (wait: Retry-After, else backoff)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FlowServiceClient:
    """GETs against Flow Service, one token cached until it expires and renewed on a 401."""

    def __init__(
        self,
        settings: AepSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._http = httpx.Client(timeout=settings.timeout_s, transport=transport, follow_redirects=False)
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self.tokens_issued = 0  # how many times IMS was asked (tests and `doctor` read it)

    def __repr__(self) -> str:
        return f"FlowServiceClient(platform_url={self.settings.platform_url!r}, org_id={self.settings.org_id!r})"

    def __enter__(self) -> FlowServiceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- token ---------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None or self._clock() >= self._expires_at:
            self._token = self._with_retries(self._fetch_token)
        return self._token

    def _fetch_token(self) -> str:
        s = self.settings
        form = {
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "scope": s.scopes,
        }
        resp = self._send("POST", s.ims_url, data=form, what="IMS token request")
        if resp.status_code in (400, 401, 403):
            raise AepError(
                f"IMS refused the credentials (HTTP {resp.status_code}{_error_hint(resp)}): check [aep.secrets] "
                "client_id and client_secret against the OAuth Server-to-Server credential in Adobe Developer "
                "Console, and that the project has the Experience Platform API added"
            )
        body = _json(resp, "IMS token response")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AepError(f"IMS answered without an access_token at {s.ims_url}; check [aep] ims_url")
        redact.register(token)
        self._expires_at = self._clock() + _expires_in_seconds(body.get("expires_in")) - _TOKEN_MARGIN_S
        self.tokens_issued += 1
        return token

    # -- requests --------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> dict[str, Any]:
        """One GET relative to the Flow Service base path (or an absolute URL from `_links`)."""
        return self._with_retries(lambda: self._get_once(path, params))

    def _get_once(self, path: str, params: Any) -> dict[str, Any]:
        url = path if path.startswith(("http://", "https://")) else self._url(path)
        for renewed in (False, True):
            resp = self._send("GET", url, params=params, headers=self._headers(), what=f"GET {_path_only(url)}")
            if resp.status_code == 401 and not renewed:
                self._token = None  # expired or revoked early: one new token, one more try
                continue
            break
        if resp.status_code == 401:
            raise AepError(
                f"Flow Service refused the token for GET {_path_only(url)} (HTTP 401{_error_hint(resp)}): check "
                "[aep.secrets] client_id (sent as x-api-key) and [aep] org_id"
            )
        if resp.status_code == 403:
            raise AepError(
                f"Flow Service denied GET {_path_only(url)} (HTTP 403{_error_hint(resp)}): give the credential's "
                "product profile the View Destinations and View Datasets permissions in the sandbox "
                f"{self.settings.sandbox!r} (see docs/aep.md)"
            )
        if resp.status_code == 404:
            raise AepError(
                f"Flow Service has no {_path_only(url)} (HTTP 404) in sandbox {self.settings.sandbox!r}: "
                "check the flow id in `flows` and [aep] sandbox"
            )
        if resp.status_code >= 400:
            raise AepError(f"Flow Service answered HTTP {resp.status_code} to GET {_path_only(url)}{_error_hint(resp)}")
        return _json(resp, f"GET {_path_only(url)}")

    def pages(self, path: str, params: list[tuple[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list call, 100 per page, following `_links.next` or `continuationToken`."""
        base = [(k, v) for k, v in (params or []) if v is not None]
        query: list[tuple[str, Any]] = [*base, ("limit", PAGE_SIZE)]
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self.get(path, query)
            items = body.get("items")
            if not isinstance(items, list):
                raise AepError(f"GET {path}: the answer has no `items` list; is [aep] platform_url Flow Service?")
            yield from (i for i in items if isinstance(i, dict))
            nxt = _next_page(body, path, base)
            if nxt is None:
                return
            path, query = nxt
            key = repr((path, query))
            if key in seen:  # the same page again: stop rather than loop
                return
            seen.add(key)

    def _headers(self) -> dict[str, str]:
        s = self.settings
        return {
            "Authorization": f"Bearer {self.token()}",
            "x-api-key": s.client_id,
            "x-gw-ims-org-id": s.org_id,
            "x-sandbox-name": s.sandbox,
            "Accept": "application/json",
        }

    def _url(self, path: str) -> str:
        root = self.settings.platform_url.rstrip("/")
        if not path.startswith(SERVICE_PATH):
            path = SERVICE_PATH + (path if path.startswith("/") else "/" + path)
        return root + path

    def _send(self, method: str, url: str, *, what: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, url, **kw)
        except httpx.TimeoutException:
            raise _Retry(f"{what}: no answer within {self.settings.timeout_s:g} s", None) from None
        except httpx.HTTPError as exc:
            raise _Retry(f"{what}: {type(exc).__name__}: {redact.scrub(str(exc))}", None) from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retry(f"{what}: HTTP {resp.status_code}", _retry_after(resp))
        return resp

    def _with_retries(self, fn: Callable[[], Any]) -> Any:
        s = self.settings

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retry) and exc.retry_after is not None:
                return min(exc.retry_after, s.max_wait_s)
            return float(min(s.backoff_s * 2 ** (state.attempt_number - 1), s.max_wait_s))

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            stop=tenacity.stop_after_attempt(max(1, s.attempts)),
            wait=wait,
            before_sleep=lambda st: log.info("AEP: %s; retrying", st.outcome.exception() if st.outcome else "?"),
            reraise=True,
        )
        try:
            return retrying(fn)
        except _Retry as exc:
            raise AepUnavailable(
                f"{exc} after {s.attempts} attempts: Adobe could not be reached or kept failing; check [aep] "
                "platform_url / ims_url and the network, and try again later"
            ) from None


def _next_page(
    body: dict[str, Any], path: str, base: list[tuple[str, Any]]
) -> tuple[str, list[tuple[str, Any]]] | None:
    """The next page, from `_links.next.href` (absolute or base-path relative, with or without the
    filters: both are undocumented) or a bare `continuationToken`."""
    links = body.get("_links")
    nxt = links.get("next") if isinstance(links, dict) else None
    href = nxt.get("href") if isinstance(nxt, dict) else nxt if isinstance(nxt, str) else None
    if isinstance(href, str) and href:
        parts = urlsplit(href)
        given = parse_qsl(parts.query, keep_blank_values=True)
        names = {k for k, _ in given}
        query = given + [(k, v) for k, v in base if k not in names]
        if "limit" not in names:
            query.append(("limit", PAGE_SIZE))
        path = href.split("?", 1)[0] if parts.scheme else parts.path
        return path, query
    token = body.get("continuationToken")
    if isinstance(token, str) and token:
        return path, [*base, ("limit", PAGE_SIZE), ("continuationToken", token)]
    return None


def _expires_in_seconds(value: Any) -> float:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return 3600.0  # not stated: assume an hour, a 401 renews it earlier if need be
    return n / 1000.0 if n > _MS_THRESHOLD else n


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to the backoff


def _json(resp: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise AepError(f"{what}: the answer is not JSON (HTTP {resp.status_code}); check the URL in [aep]") from None
    if not isinstance(body, dict):
        raise AepError(f"{what}: the answer is not a JSON object; check the URL in [aep]")
    return body


def _error_hint(resp: httpx.Response) -> str:
    """Adobe's error code and message, when the body has them (shapes differ between services)."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    code = body.get("error_code") or body.get("code") or body.get("error")
    msg = body.get("message") or body.get("errorMessage") or body.get("error_description") or body.get("title")
    text = " ".join(str(x) for x in (code, msg) if x)
    return f": {redact.scrub(text)[:200]}" if text else ""


def _path_only(url: str) -> str:
    return urlsplit(url).path.replace(SERVICE_PATH, "") or "/"
