"""Keep secrets out of every string verifier writes: catalog, reports, logs, errors."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

_lock = threading.Lock()
_secrets: set[str] = set()

# Query parameters that carry credentials in SAS URLs and presigned URLs.
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:sig|signature|x-amz-signature|x-amz-credential|"
    r"x-amz-security-token|token|key|password|secret)=)[^&\s\"']*"
)
_ACCOUNT_KEY = re.compile(r"(?i)(AccountKey=|SharedAccessSignature=)[^;\s\"']*")


def register(value: str | None) -> None:
    """Remember a secret value so that `scrub` removes it wherever it appears."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """Replace every known secret and every credential-shaped fragment with ***."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for s in known:
        if s in text:
            text = text.replace(s, "***")
    text = _SECRET_QUERY.sub(r"\1***", text)
    text = _ACCOUNT_KEY.sub(r"\1***", text)
    return text


def strip_url(url: str) -> str:
    """A URL without user info passwords or query string credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}"
    # the query string is dropped whole: SAS tokens and presigned signatures live there
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        record.msg = scrub(msg)
        record.args = None
        return True
