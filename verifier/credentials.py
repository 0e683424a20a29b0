"""Credentials with a known expiry: a SAS token's `se=` (Azure Blob, ADLS Gen2, the Data Landing
Zone). Adobe's DLZ SAS tokens expire; a run that starts failing with "403" the night after is
the worst way to learn it. `backend.credentials_expiring` warns 14 days ahead, and is an error once
the credential has expired. The token itself never appears in a finding: only where it came from.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from verifier.findings import Finding, Severity
from verifier.settings import Destination

WARN_AHEAD = timedelta(days=14)


def _se(query: str) -> datetime | None:
    values = parse_qs(query.lstrip("?")).get("se")
    if not values:
        return None
    text = values[0].strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def expiries(dest: Destination) -> list[tuple[str, datetime]]:
    """(which secret, when it expires) for every credential of `dest` whose expiry is written in it."""
    out: list[tuple[str, datetime]] = []
    for key in ("sas_token", "sas_url"):
        value = dest.secrets.get(key)
        if value:
            query = urlsplit(value).query if key == "sas_url" else value
            if (when := _se(query)) is not None:
                out.append((f"secrets.{key}", when))
    conn = dest.secrets.get("connection_string")
    if conn:
        for part in conn.split(";"):
            name, _, value = part.partition("=")
            if name.strip().lower() == "sharedaccesssignature" and (when := _se(value)) is not None:
                out.append(("secrets.connection_string (SharedAccessSignature)", when))
    return out


def findings(dest: Destination, now: datetime) -> list[Finding]:
    """`backend.credentials_expiring` for each credential that expires within 14 days (error once expired)."""
    out = []
    for what, when in expiries(dest):
        left = when - now
        if left > WARN_AHEAD:
            continue
        if left <= timedelta(0):
            message = (
                f"{what} expired on {when:%Y-%m-%d %H:%M} UTC; the store will refuse every request — "
                "ask for a new SAS (for the Data Landing Zone: Adobe's DLZ credentials API or UI) and update the secret"
            )
            sev = Severity.ERROR
        else:
            message = (
                f"{what} expires on {when:%Y-%m-%d %H:%M} UTC, in {left.days} day(s) {left.seconds // 3600} h; "
                "renew it before then and update the secret"
            )
            sev = Severity.WARNING
        out.append(Finding("backend.credentials_expiring", message, destination=dest.name, severity=sev))
    return out
