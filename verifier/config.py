"""The TOML configuration: loaded, validated and resolved before anything runs."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from verifier import backends, redact, secretrules
from verifier.aep.settings import parse_aep
from verifier.checks import limits as check_limits
from verifier.errors import ConfigError
from verifier.findings import CODES, Severity
from verifier.levels import LEVELS
from verifier.settings import Config, Destination, NotifyConfig, ServiceConfig  # built here, defined in the leaf module
from verifier.templates import DEFAULT as DEFAULT_TEMPLATE
from verifier.templates import TemplateError, compile_template
from verifier.timeutil import parse_duration, parse_size

SCHEDULES = {"3h": 3, "6h": 6, "8h": 8, "9h": 9, "12h": 12, "24h": 24, "1d": 24}
FORMATS = ("parquet", "json")
COMPRESSIONS = ("gzip", "none")
EXPORT_MODES = ("first_full_then_incremental", "full")
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_SECRET_HINT = 'must be an environment reference like "${MY_SECRET}"; secret values are never written in the config'

DEFAULTS: dict[str, Any] = {
    "format": "parquet",
    "compression": "gzip",
    "manifest": True,
    "export_mode": "first_full_then_incremental",
    "schedule": "24h",
    "stale_after": "48h",
    "settle_time": "2h",
}
_DEST_KEYS = {"name", "type", "url", "options", "secrets", "flows", "folder_template", *DEFAULTS}
_TOP_KEYS = {"catalog", "defaults", "destinations", "severity", "service", "notify", "aep", "limits"}
_DEST_KEYS |= {"encryption", "pgp_recipient"}  # PGP-encrypted exports: docs/pgp.md


def find_config(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("VERIFIER_CONFIG")
    if env:
        return Path(env)
    return Path("verifier.toml")


def load(path: Path, environ: dict[str, str] | None = None, registry: backends.Registry = backends.registry) -> Config:
    """Read and validate `path`. Every problem raises ConfigError naming file, key and reason."""
    if not path.exists():
        raise ConfigError(
            f"{path}: config file not found; pass --config PATH, set VERIFIER_CONFIG, or create ./verifier.toml"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse(raw, path, os.environ if environ is None else environ, registry)


def parse(
    raw: dict[str, Any], path: Path | None, environ: Any, registry: backends.Registry = backends.registry
) -> Config:
    where = str(path) if path else "<config>"

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {reason}")

    def env_secret(key: str, value: Any) -> str:
        return _env_secret(value, key, fail, environ)

    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown key; allowed top-level keys: {', '.join(sorted(_TOP_KEYS))}")
    cat_path = _catalog_path(_table(raw, "catalog", fail), path, fail)
    defaults = _defaults(_table(raw, "defaults", fail), fail)
    destinations = _destinations(raw.get("destinations", []), defaults, fail, environ, path, registry)
    severity = _severity(_table(raw, "severity", fail), fail)
    service = _service(_table(raw, "service", fail), fail, environ)
    notify = parse_notify(_table(raw, "notify", fail), fail, env_secret)
    notify = dataclasses.replace(notify, public_url=service.public_url)
    aep = parse_aep(_table(raw, "aep", fail), fail, env_secret) if "aep" in raw else None
    for dest in destinations:
        if dest.flows and aep is None:
            raise fail(f"destinations[{dest.name}].flows", "needs an [aep] table with org_id and secrets (docs/aep.md)")
    return Config(
        path=path,
        catalog_path=cat_path,
        destinations=destinations,
        severity=severity,
        service=service,
        notify=notify,
        aep=aep,
        limits=_limits(_table(raw, "limits", fail), fail),
    )


def _catalog_path(catalog: dict[str, Any], path: Path | None, fail: Any) -> Path:
    """[catalog] path, relative to the config file's folder."""
    if set(catalog) - {"path"}:
        raise fail(f"catalog.{sorted(set(catalog) - {'path'})[0]}", "unknown key; allowed: path")
    cat_path = Path(str(catalog.get("path", "verifier.duckdb")))
    if not cat_path.is_absolute() and path is not None:
        cat_path = path.parent / cat_path
    return cat_path


def _defaults(user_defaults: dict[str, Any], fail: Any) -> dict[str, Any]:
    """DEFAULTS with [defaults] over them."""
    defaults = dict(DEFAULTS)
    for k, v in user_defaults.items():
        if k not in DEFAULTS:
            raise fail(f"defaults.{k}", f"unknown key; allowed: {', '.join(DEFAULTS)}")
        defaults[k] = v
    return defaults


def _destinations(
    dests_raw: Any,
    defaults: dict[str, Any],
    fail: Any,
    environ: Any,
    path: Path | None,
    registry: backends.Registry,
) -> list[Destination]:
    """[[destinations]], each validated with its backend class; names unique."""
    if not isinstance(dests_raw, list):
        raise fail("destinations", "must be an array of tables ([[destinations]])")
    destinations: list[Destination] = []
    seen: set[str] = set()
    for i, d in enumerate(dests_raw):
        key = f"destinations[{i}]"
        if not isinstance(d, dict):
            raise fail(key, "must be a table")
        dest = _destination(d, defaults, key, fail, environ, path, registry)
        if dest.name in seen:
            raise fail(f"{key}.name", f"duplicate destination name {dest.name!r}")
        seen.add(dest.name)
        destinations.append(dest)
    return destinations


def _severity(table: dict[str, Any], fail: Any) -> dict[str, Severity]:
    """[severity]: a finding code's severity overridden."""
    severity: dict[str, Severity] = {}
    for code, sev in table.items():
        if code not in CODES:
            raise fail(f"severity.{code}", "unknown finding code; see `verifier run --help` or the README")
        try:
            severity[code] = Severity.parse(str(sev))
        except ValueError as exc:
            raise fail(f"severity.{code}", str(exc)) from None
    return severity


def _env_secret(value: Any, key: str, fail: Any, environ: Any, hint: str = _SECRET_HINT) -> str:
    """A secret's value from its `${ENV}` reference; registered so that it is scrubbed everywhere."""
    m = _ENV_REF.match(value) if isinstance(value, str) else None
    if not m:
        raise fail(key, hint)
    var = m.group(1)
    if var not in environ:
        raise fail(key, f"environment variable {var} is not set")
    if not environ[var]:
        raise fail(key, f"environment variable {var} is empty")
    redact.register(environ[var])
    return str(environ[var])


def _limits(table: dict[str, Any], fail: Any) -> dict[str, int]:
    """[limits]: check limits an operator may raise, by their lower-case names (README, [limits])."""
    allowed = {key: (name, kind) for name, (key, kind) in check_limits.CONFIG.items()}
    out: dict[str, int] = {}
    for key, value in table.items():
        if key not in allowed:
            raise fail(f"limits.{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
        name, kind = allowed[key]
        try:
            out[name] = _limit_value(value, kind)
        except ValueError as exc:
            raise fail(f"limits.{key}", str(exc)) from None
    return out


def _limit_value(value: Any, kind: str) -> int:
    """A [limits] value: a size ("64MiB"), a count (an integer) or a duration ("10m"); positive."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a {kind}")
    if isinstance(value, int):
        n = value
    elif kind == "size":
        n = parse_size(value)
    elif kind == "seconds":
        n = int(value) if value.isdigit() else int(parse_duration(value).total_seconds())
    elif value.replace("_", "").isdigit():
        n = int(value.replace("_", ""))
    else:
        raise ValueError(f"{value!r} is not a count; use an integer such as 100000")
    if n <= 0:
        raise ValueError(f"{value!r} must be more than 0")
    return n


def _table(raw: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise fail(key, "must be a table")
    return value


def _destination(
    d: dict[str, Any],
    defaults: dict[str, Any],
    key: str,
    fail: Any,
    environ: Any,
    path: Path | None,
    registry: backends.Registry,
) -> Destination:
    name, key, btype, url = _identity(d, key, fail, registry)
    merged = {**defaults, **{k: v for k, v in d.items() if k in DEFAULTS}}
    settings = _settings(merged, d, key, fail)
    options = d.get("options", {})
    if not isinstance(options, dict):
        raise fail(f"{key}.options", "must be a table")
    if leak := secretrules.option_problem(options):
        raise fail(f"{key}.options.{leak[0]}", leak[1])
    secrets = _secrets(d.get("secrets", {}), key, fail, environ)
    flows = d.get("flows", [])
    if not isinstance(flows, list) or not all(isinstance(f, str) and f.strip() for f in flows):
        raise fail(f"{key}.flows", 'a list of dataflow ids, e.g. ["7a6e996c-afcc-48ff-ab14-594321147cdd"]')
    encryption, recipients = _pgp(d, btype, secrets, key, fail)
    pgp_secrets = {k: secrets.pop(k) for k in _PGP_SECRETS if k in secrets}  # not for the store client
    template = d.get("folder_template", DEFAULT_TEMPLATE)
    try:
        template = compile_template(template).text if isinstance(template, str) else None
    except TemplateError as exc:
        raise fail(f"{key}.folder_template", str(exc)) from None
    if template is None:
        raise fail(f"{key}.folder_template", 'a string such as "%DATASET_ID%/%EXPORT_TIME%"')
    dest = Destination(
        folder_template=template,
        flows=[f.strip() for f in flows],
        name=name,
        type=btype,
        url=url,
        encryption=encryption,
        pgp_recipients=recipients,
        pgp_secrets=pgp_secrets,
        options=dict(options),
        secrets=secrets,
        **settings,
    )
    if btype == "local" and url and path is not None:
        # a relative local path is relative to the config file, as the catalog path is
        local = url[7:] if url.startswith("file://") else url
        if not os.path.isabs(local):
            dest.url = str((path.parent / local).resolve())
    try:
        registry.get_class(btype).validate(dest)
    except ValueError as exc:
        raise fail(f"{key}.url", str(exc)) from None
    return dest


def _identity(d: dict[str, Any], key: str, fail: Any, registry: backends.Registry) -> tuple[str, str, str, str | None]:
    """The destination's name, the key errors are reported under, its backend type and url."""
    unknown = set(d) - _DEST_KEYS
    if unknown:
        raise fail(f"{key}.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(_DEST_KEYS))}")
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail(f"{key}.name", "required, a non-empty string")
    key = f"destinations[{name}]"
    btype = d.get("type")
    types = registry.names()
    if btype not in types:
        raise fail(f"{key}.type", f"{btype!r} is not a known backend; known: {', '.join(sorted(types))}")
    url = d.get("url")
    if url is not None and not isinstance(url, str):
        raise fail(f"{key}.url", "must be a string")
    if url is not None and (problem := secretrules.url_problem(url)):
        raise fail(f"{key}.url", problem)
    return name, key, str(btype), url


def _settings(merged: dict[str, Any], d: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    """The DEFAULTS keys of one destination, checked and typed as Destination takes them."""

    def where(k: str) -> str:  # a value inherited from [defaults] is wrong there, not in this destination
        return f"{key}.{k}" if k in d else f"defaults.{k}"

    fmt = merged["format"]
    if fmt not in FORMATS:
        raise fail(where("format"), f"{fmt!r}: use one of {', '.join(FORMATS)}")
    comp = merged["compression"]
    if comp not in COMPRESSIONS:
        raise fail(where("compression"), f"{comp!r}: use one of {', '.join(COMPRESSIONS)}")
    if fmt == "json" and comp != "gzip":
        raise fail(where("compression"), 'AEP exports JSON only as gzip (.json.gz); set compression = "gzip"')
    if not isinstance(merged["manifest"], bool):
        raise fail(where("manifest"), f"{merged['manifest']!r}: must be true or false (without quotes)")
    mode = merged["export_mode"]
    if mode not in EXPORT_MODES:
        raise fail(where("export_mode"), f"{mode!r}: use one of {', '.join(EXPORT_MODES)}")
    sched = str(merged["schedule"])
    if sched != "auto" and sched not in SCHEDULES:
        raise fail(where("schedule"), f"{sched!r}: use one of {', '.join(SCHEDULES)} or auto")
    durations = {}
    for k in ("stale_after", "settle_time"):
        try:
            durations[k] = parse_duration(str(merged[k]))
        except ValueError as exc:
            raise fail(where(k), str(exc)) from None
    schedule = None if sched == "auto" else timedelta(hours=SCHEDULES[sched])
    typed = {"format": fmt, "compression": comp, "manifest": merged["manifest"], "export_mode": mode}
    return {**typed, "schedule": schedule, **durations}


def _secrets(secrets_raw: Any, key: str, fail: Any, environ: Any) -> dict[str, str]:
    if not isinstance(secrets_raw, dict):
        raise fail(f"{key}.secrets", "must be a table")
    return {sk: _env_secret(sv, f"{key}.secrets.{sk}", fail, environ) for sk, sv in secrets_raw.items()}


_HEX_ID = re.compile(r"^(?:[0-9A-F]{16}|[0-9A-F]{40}|[0-9A-F]{64})$")
_PGP_SECRETS = ("pgp_private_key", "pgp_passphrase")


def _pgp(d: dict[str, Any], btype: str, secrets: dict[str, str], key: str, fail: Any) -> tuple[str, tuple[str, ...]]:
    """`encryption` and `pgp_recipient` (one fingerprint or a list; spaces allowed, as gpg prints them)."""
    encryption = d.get("encryption", "none")
    if encryption not in ("none", "pgp"):
        raise fail(f"{key}.encryption", f"{encryption!r}: use pgp or none")
    if encryption == "none":
        for k in ("pgp_recipient", *_PGP_SECRETS):
            if k in d or k in secrets:
                raise fail(f"{key}.{k}", 'only used with encryption = "pgp"')
        return "none", ()
    if btype == "dlz":
        raise fail(f"{key}.encryption", "Adobe offers no file encryption for the Data Landing Zone")
    raw = d.get("pgp_recipient")
    items = [raw] if isinstance(raw, str) else raw
    if not items or not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise fail(
            f"{key}.pgp_recipient",
            'required with encryption = "pgp": the fingerprint of the key the dataflow encrypts to '
            "(its encryption subkey's, see `gpg --list-keys --with-subkey-fingerprints`), or a list of them",
        )
    recipients = tuple("".join(i.split()).upper().removeprefix("0X") for i in items)
    for r in recipients:
        if not _HEX_ID.match(r):
            raise fail(f"{key}.pgp_recipient", f"{r!r} is not a fingerprint (40 or 64 hex digits) or key id (16)")
    private = secrets.get("pgp_private_key")
    if private is not None and "-----BEGIN PGP PRIVATE KEY BLOCK-----" not in private:
        raise fail(
            f"{key}.secrets.pgp_private_key",
            "not an ASCII-armoured OpenPGP private key (gpg --export-secret-keys --armor)",
        )
    if "pgp_passphrase" in secrets and private is None:
        raise fail(f"{key}.secrets.pgp_passphrase", "set only together with secrets.pgp_private_key")
    return "pgp", recipients


def _service(s: dict[str, Any], fail: Any, environ: Any) -> ServiceConfig:
    allowed = {"schedule", "level", "sample", "secrets", "public_url"}
    if set(s) - allowed:
        raise fail(f"service.{sorted(set(s) - allowed)[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    level = s.get("level", "metadata")
    if level not in LEVELS:
        raise fail("service.level", f"{level!r}: use listing, metadata or full")
    sample = s.get("sample")
    if sample is not None and (not isinstance(sample, int | float) or not 0 < sample <= 100):
        raise fail("service.sample", "a percentage in (0, 100]")
    token = None
    sec = s.get("secrets", {})
    if not isinstance(sec, dict) or set(sec) - {"token"}:
        raise fail("service.secrets", "a table with only `token`")
    if "token" in sec:
        hint = 'must be an environment reference like "${VERIFIER_TOKEN}"'
        token = _env_secret(sec["token"], "service.secrets.token", fail, environ, hint)
    sched = s.get("schedule")
    if sched is not None:
        from verifier.cron import CronError, parse_cron

        try:
            parse_cron(str(sched))
        except CronError as exc:
            raise fail("service.schedule", str(exc)) from None
    public_url = s.get("public_url")
    if public_url is not None and (
        not isinstance(public_url, str) or not public_url.startswith(("http://", "https://"))
    ):
        raise fail("service.public_url", f"{public_url!r}: the dashboard's address as people reach it, http(s)://...")
    return ServiceConfig(schedule=sched, level=level, sample=sample, token=token, public_url=public_url)


NOTIFY_ON = ("error", "warning", "always")


def parse_notify(
    table: dict[str, Any], fail: Callable[[str, str], Exception], resolve: Callable[[str, Any], str]
) -> NotifyConfig:
    """`[notify]` from the config; `resolve(key, value)` turns a `${ENV}` reference into its value."""
    allowed = {"on", "only_new", "secrets"}
    unknown = set(table) - allowed
    if unknown:
        raise fail(f"notify.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    on = table.get("on", "error")
    if on not in NOTIFY_ON:
        raise fail("notify.on", f"{on!r}: use one of {', '.join(NOTIFY_ON)}")
    only_new = table.get("only_new", True)
    if not isinstance(only_new, bool):
        raise fail("notify.only_new", f"{only_new!r}: must be true or false")
    secrets = table.get("secrets", {})
    if not isinstance(secrets, dict) or set(secrets) - {"urls", "heartbeat"}:
        raise fail("notify.secrets", "a table with `urls` (a list of ${ENV} references) and/or `heartbeat`")
    urls_raw = secrets.get("urls", [])
    if not isinstance(urls_raw, list):
        raise fail("notify.secrets.urls", 'a list of environment references, like ["${SLACK_URL}"]')
    urls = tuple(resolve(f"notify.secrets.urls[{i}]", u) for i, u in enumerate(urls_raw))
    heartbeat = resolve("notify.secrets.heartbeat", secrets["heartbeat"]) if "heartbeat" in secrets else None
    for i, u in enumerate(urls):
        _check_apprise_url(u, f"notify.secrets.urls[{i}]", fail)
    if heartbeat is not None and not heartbeat.startswith(("http://", "https://")):
        raise fail("notify.secrets.heartbeat", "must resolve to an http:// or https:// URL (a ping URL)")
    return NotifyConfig(on=on, only_new=only_new, urls=urls, heartbeat=heartbeat)


def _check_apprise_url(url: str, key: str, fail: Callable[[str, str], Exception]) -> None:
    import apprise

    if not apprise.Apprise().add(url):
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise fail(
            key,
            f"not a notification URL Apprise knows (scheme {scheme!r}); see "
            "https://github.com/caronc/apprise/wiki for slack://, msteams://, mailto://, json://, ...",
        )
