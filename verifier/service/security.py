"""The service's front door, as plain ASGI middleware: the bearer token and the request-size cap.

With a token configured, every path but `/healthz` needs `Authorization: Bearer <token>`. People
in a browser open the dashboard once as `/?token=<token>`: that answer sets an HttpOnly,
SameSite=Strict cookie and redirects to the same page without the token in the address. The
cookie holds an HMAC of the token, not the token, and opens the dashboard pages only: the API,
`/metrics` and `/openapi.json` always want the bearer header, so a page on another site can
never drive the API with a visitor's cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "verifier_session"
MAX_BODY = 64 * 1024
OPEN_PATHS = frozenset({"/healthz"})
MACHINE_PATHS = ("/api", "/metrics", "/openapi.json", "/docs", "/redoc")


def is_page(path: str) -> bool:
    """A dashboard page (cookie accepted), as opposed to the API and machine endpoints."""
    return not any(path == p or path.startswith(p + "/") for p in MACHINE_PATHS)


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"verifier dashboard session", hashlib.sha256).hexdigest()


class Guard:
    def __init__(self, app: ASGIApp, token: str | None, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and path not in OPEN_PATHS:
            if is_page(path) and scope["method"] in ("GET", "HEAD"):
                query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                given = [v for k, v in query if k == "token"]
                if given:
                    await self._login(scope, send, path, query, given[-1])
                    return
            if not self._authorised(headers, is_page(path)):
                await send_error(send, 401, "authentication required", _auth_hint(path), {"www-authenticate": "Bearer"})
                return
            if is_page(path) and scope["method"] not in ("GET", "HEAD") and not _same_origin(headers):
                await send_error(send, 403, "cross-site request refused", None)
                return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await send_error(send, 400, "bad Content-Length header", None)
                return
            if int(length) > self.max_body:
                await send_error(send, 413, "request body too large", f"at most {self.max_body} bytes")
                return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = bytearray()
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return
                body += msg.get("body", b"")
                if len(body) > self.max_body:
                    await send_error(send, 413, "request body too large", f"at most {self.max_body} bytes")
                    return
                if not msg.get("more_body"):
                    break
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, headers: dict[str, str], page: bool) -> bool:
        assert self.token and self.session
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode()):
            return True
        if page and "cookie" in headers:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:  # noqa: BLE001 - a malformed cookie header is just not a session
                return False
            morsel = jar.get(COOKIE)
            if morsel is not None and hmac.compare_digest(morsel.value.encode(), self.session.encode()):
                return True
        return False

    async def _login(self, scope: Scope, send: Send, path: str, query: list[tuple[str, str]], given: str) -> None:
        assert self.token and self.session
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            await send_error(send, 401, "authentication required", "the token is not valid")
            return
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        location = path + ("?" + rest if rest else "")
        cookie = f"{COOKIE}={self.session}; HttpOnly; SameSite=Strict; Path=/"
        if scope.get("scheme") == "https":
            cookie += "; Secure"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1", "replace")),
                    (b"set-cookie", cookie.encode()),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _same_origin(headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    if not origin:
        return True  # not a browser form from another site (browsers send Origin on cross-site POSTs)
    host = headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def _auth_hint(path: str) -> str:
    if is_page(path):
        return "send 'Authorization: Bearer <token>', or open /?token=<token> once to get a session cookie"
    return "send 'Authorization: Bearer <token>' ([service.secrets] token)"


async def send_error(send: Send, status: int, error: str, detail: Any, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
