"""Where a secret may be written in the config: only as an `${ENV}` reference under `secrets`.

A credential inside a destination URL or under `options` would be printed, logged and stored
(`destinations.url`, finding messages, `last_error`) like any other setting, so the config is
refused before anything runs. These rules only say what is wrong; config.py says where.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Query parameters of presigned (S3, GCS) and SAS (Azure) URLs that carry the credential itself.
SECRET_QUERY_KEYS = frozenset(
    {
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "accountkey",
        "sharedaccesssignature",
        "password",
        "secret",
        "token",
        "access_token",
    }
)

# Option names that are credentials in s3fs, adlfs, gcsfs, paramiko or verifier's own backends.
SECRET_OPTIONS = frozenset(
    {
        "key",
        "secret",
        "password",
        "passphrase",
        "account_key",
        "sas_token",
        "sas_url",
        "connection_string",
        "client_secret",
        "token",
        "access_key",
        "secret_key",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "session_token",
        "credential",
        "credentials",
        "private_key",
        "pkey",
    }
)

# gcsfs `token` values that name a way to find credentials rather than being one.
_TOKEN_MODES = frozenset({"anon", "google_default", "cache", "cloud", "browser"})

HINT = 'put it under [destinations.secrets] as an environment reference, e.g. secret = "${MY_SECRET}"'


def url_problem(url: str) -> str | None:
    """Why `url` may not be written in the config (it holds a credential), or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # not a URL at all: the backend's own validation says what is wrong with it
    if parts.password is not None:
        return f"the URL holds a password or secret key (user:secret@); {HINT}"
    # keep_blank_values: `?sig=` is still an attempt at a signature
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in SECRET_QUERY_KEYS:
            return f"the URL's query holds a credential ({name}=…); {HINT}"
    return None


def option_problem(options: Mapping[str, Any]) -> tuple[str, str] | None:
    """The dotted name of the first option that is a credential, and why; or None."""
    for dotted, value in _walk(options, ""):
        name = dotted.rsplit(".", 1)[-1].lower()
        if name not in SECRET_OPTIONS:
            continue
        if name == "token" and _names_a_source(value):
            continue
        return dotted, f"a credential, never written in the config; {HINT}"
    return None


def _names_a_source(value: Any) -> bool:
    """A gcsfs token mode ("anon") or the path of a credentials file, not the token itself."""
    return isinstance(value, str) and (value in _TOKEN_MODES or value.endswith(".json"))


def _walk(options: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    # options nest (client_kwargs, connect_kwargs): a key is a credential at any depth
    for k, v in options.items():
        dotted = f"{prefix}{k}"
        yield dotted, v
        if isinstance(v, Mapping):
            yield from _walk(v, dotted + ".")
