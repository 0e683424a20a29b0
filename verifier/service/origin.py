"""Requests from other web sites are refused, token or not.

A browser on any page can send a "simple" cross-site POST (a form, or `fetch` with
`Content-Type: text/plain`) to `http://127.0.0.1:8080`, and a DNS-rebound name makes the browser
treat the service as that site's own. So, on every request but `/healthz`:

- the `Host` header must name this service: loopback names, the bound address, and the names
  given with `verifier serve --allowed-host` (a rebound name is none of these);
- a state-changing request (anything but GET/HEAD/OPTIONS) must not come from another site:
  `Sec-Fetch-Site` (sent by current browsers) must be `same-origin` or `none`, and `Origin`, when
  sent, must be this service. Clients that send neither (curl, scripts) are not browsers;
- an API POST must say `Content-Type: application/json`, which no cross-site form can send
  without a CORS preflight (that this service never answers).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from verifier.service.security import OPEN_PATHS, ASGIApp, Receive, Scope, Send, send_error

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names this service answers to when bound to `bind`."""
    names = set(LOOPBACK_NAMES) | {_bare(h) for h in extra}
    if bind in WILDCARDS:  # every interface: this machine's own names and addresses
        names |= _own_names()
    else:
        names.add(_bare(bind))
    return frozenset(n.lower() for n in names if n)


def _own_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:  # a host name that does not resolve: its names are still allowed
        pass
    return names


def _bare(host: str) -> str:
    """`host` of a Host header or Origin netloc, without port or IPv6 brackets, lower-case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.rstrip(".")


class SameOrigin:
    def __init__(self, app: ASGIApp, hosts: frozenset[str] = LOOPBACK_NAMES) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await send_error(send, refusal[0], refusal[1], refusal[2])
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str] | None:
        host = headers.get("host", "")
        if _bare(host) not in self.hosts:
            return (
                421,
                "unknown host",
                "this service answers only to its own names; see `verifier serve --allowed-host`",
            )
        if scope["method"] in SAFE_METHODS:
            return None
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if site is not None and site not in ("same-origin", "none"):
            return 403, "cross-site request refused", f"Sec-Fetch-Site: {site}"
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return 403, "cross-site request refused", "the request's Origin is not this service"
        if scope.get("path", "").startswith("/api/") and scope["method"] == "POST" and not _is_json(headers):
            return 415, "unsupported media type", "send the body as JSON with 'Content-Type: application/json'"
        return None


def _is_json(headers: dict[str, str]) -> bool:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/json"
