"""From credentials to a config: what `verifier aep flows` shows and `verifier init` writes.

Everything here builds text or plain data; the CLI only prints it or writes it to a file.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from verifier.aep.fetch import FlowSnapshot
from verifier.aep.reconcile import DEFAULT_TEMPLATE
from verifier.aep.settings import SCOPES, AepSettings
from verifier.timeutil import iso

# the secrets a user reaches for first (SPEC §3), as commented ${ENV} references
SECRETS: dict[str, dict[str, str]] = {
    "local": {},
    "s3": {"key": "AWS_ACCESS_KEY_ID", "secret": "AWS_SECRET_ACCESS_KEY"},
    "azure_blob": {"connection_string": "AZURE_STORAGE_CONNECTION_STRING"},
    "adls_gen2": {
        "client_id": "AZURE_CLIENT_ID",
        "client_secret": "AZURE_CLIENT_SECRET",
        "tenant_id": "AZURE_TENANT_ID",
    },
    "gcs": {"token": "GOOGLE_APPLICATION_CREDENTIALS"},
    "sftp": {"key_filename": "SFTP_KEY_FILE"},
    "dlz": {"sas_url": "DLZ_SAS_URL"},
}
_SCHEDULES = {3: "3h", 6: "6h", 8: "8h", 9: "9h", 12: "12h", 24: "24h"}


def toml_str(v: str) -> str:
    return json.dumps(v)  # a JSON string is a valid TOML basic string


def url_for(snap: FlowSnapshot) -> str | None:
    """The store URL a dataset-export flow writes to, from its target connection's params."""
    kind, t = snap.flow.destination_type, snap.target
    if kind is None or t is None:
        return None
    path = (t.path or "").strip("/")
    tail = f"/{path}" if path else ""
    if kind == "s3" and t.location:
        return f"s3://{t.location}{tail}"
    if kind == "gcs" and t.location:
        return f"gs://{t.location}{tail}"
    if kind == "azure_blob" and t.location:
        return f"az://{t.location}{tail}"
    if kind == "adls_gen2" and t.location:
        return f"abfss://{t.location}@ACCOUNT.dfs.core.windows.net{tail}"  # the account is not in the target
    if kind == "sftp":
        return f"sftp://USER@HOST:22/{path}"  # host and user live in the base connection, not readable back
    return None  # dlz: the SAS URL Adobe hands out names the container; url may be left out


def schedule_of(snap: FlowSnapshot) -> str:
    step = snap.flow.schedule.step
    hours = int(step.total_seconds() // 3600) if step else 0
    return _SCHEDULES.get(hours, "auto") if step and step % timedelta(hours=1) == timedelta(0) else "auto"


def flow_row(snap: FlowSnapshot) -> dict[str, Any]:
    """One flow as `aep flows --json` prints it."""
    f, s, t = snap.flow, snap.flow.schedule, snap.target
    last = f.raw_last_run
    return {
        "flow_id": f.id,
        "name": f.name,
        "state": f.state,
        "type": f.destination_type,
        "schedule": {
            "every": schedule_of(snap),
            "start": iso(s.start),
            "end": iso(s.end),
            "export_mode": s.export_mode,
        },
        "datasets": snap.datasets,
        "target": {
            "url": url_for(snap),
            "format": t.format if t else None,
            "compression": t.compression if t else None,
            "folder_template": snap.template or DEFAULT_TEMPLATE,
        },
        "last_run": {"id": last.get("id"), "state": str(last.get("state", "")).lower() or None} if last else None,
    }


def _name(kind: str, url: str | None, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", f"{kind}-{(url or '').split('://')[-1]}".lower()).strip("-")[:40] or kind
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def destination_blocks(snaps: list[FlowSnapshot]) -> str:
    """`[[destinations]]` blocks: one per store location, listing the flows that write there."""
    groups: dict[tuple[str, str | None, str, str, str, str], list[FlowSnapshot]] = {}
    for snap in snaps:
        kind = snap.flow.destination_type
        if kind is None:
            continue
        t = snap.target
        key = (
            kind,
            url_for(snap),
            (t.format if t else None) or "parquet",
            (t.compression if t else None) or "gzip",
            schedule_of(snap),
            (snap.template or DEFAULT_TEMPLATE).strip().strip("/"),
        )
        groups.setdefault(key, []).append(snap)
    out, taken = [], set[str]()
    for (kind, url, fmt, comp, sched, template), members in groups.items():
        lines = ["[[destinations]]", f"name = {toml_str(_name(kind, url, taken))}", f"type = {toml_str(kind)}"]
        if url:
            lines.append(f"url = {toml_str(url)}")
        if "ACCOUNT" in (url or "") or "HOST" in (url or ""):
            lines.insert(0, "# fill in the storage account / host: Flow Service does not return it")
        modes = {m.flow.schedule.export_mode for m in members}
        manifest = any(m.target and m.target.manifest for m in members)
        lines += [
            f"format = {toml_str(fmt)}",
            f"compression = {toml_str(comp)}",
            f"schedule = {toml_str(sched)}",
            f"export_mode = {toml_str('full' if modes == {'DAILY_FULL_EXPORT'} else 'first_full_then_incremental')}",
            f"manifest = {'true' if manifest else 'false'}",
            "flows = [" + ", ".join(toml_str(m.flow.id) for m in members) + "]",
        ]
        if not template:  # "/": every dataset in one folder, randomly named files (docs/aep.md section 6)
            lines.insert(0, '# the dataflow\'s folder template is "/": files cannot be told apart, so they cannot be')
            lines.insert(
                1, "# verified; give it %DATASET_ID%/%EXPORT_TIME% in Experience Platform (docs/aep.md section 6)"
            )
        elif template != DEFAULT_TEMPLATE:
            lines.append(f"folder_template = {toml_str(template)}")
        secrets = SECRETS.get(kind, {})
        if secrets:
            lines.append("[destinations.secrets]")
            lines += [f'{k} = "${{{v}}}"' for k, v in secrets.items()]
        about = "; ".join(f"{_oneline(m.flow.name)} ({m.flow.id}): {len(m.datasets)} dataset(s)" for m in members)
        lines.insert(0, f"# {about}")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def aep_block(s: AepSettings, id_env: str = "AEP_CLIENT_ID", secret_env: str = "AEP_CLIENT_SECRET") -> str:
    lines = [
        "[aep]",
        f"org_id = {toml_str(s.org_id)}",
        f"sandbox = {toml_str(s.sandbox)}  # x-sandbox-name",
        f"platform_url = {toml_str(s.platform_url)}",
        f"ims_url = {toml_str(s.ims_url)}",
    ]
    if s.scopes != SCOPES:
        lines.append(f"scopes = {toml_str(s.scopes)}")
    lines += [
        "[aep.secrets]",
        f'client_id = "${{{id_env}}}"  # also sent as x-api-key',
        f'client_secret = "${{{secret_env}}}"',
    ]
    return "\n".join(lines) + "\n"


HEADER = """# verifier configuration (see README.md and docs/aep.md).
# Secrets are never written here: each is an ${ENV} reference, resolved when verifier starts.

[catalog]
path = {catalog}            # DuckDB file with every run, export, file and finding

[defaults]                  # every destination inherits these; each may override them
stale_after = "48h"         # no new export for this long -> dataset.stale
settle_time = "2h"          # younger, unfinished exports are pending, not failed
"""


def plain_config(kind: str, url: str | None, name: str, catalog: str, fmt: str, compression: str, schedule: str) -> str:
    """A commented config for one destination, from `verifier init --type --url`."""
    lines = [
        "[[destinations]]",
        f"name = {toml_str(name)}",
        f"type = {toml_str(kind)}",
    ]
    if url:
        lines.append(f"url = {toml_str(url)}")
    lines += [
        f"format = {toml_str(fmt)}              # parquet | json (NDJSON, always gzip)",
        f"compression = {toml_str(compression)}          # gzip | none",
        f"schedule = {toml_str(schedule)}             # 3h | 6h | 8h | 12h | 24h | auto",
        "manifest = true             # expect manifest-*.json in each export folder",
        '# flows = ["<dataflow id>"]  # with an [aep] table: reconcile with Adobe\'s dataflows (docs/aep.md)',
    ]
    secrets = SECRETS.get(kind, {})
    if secrets:
        lines.append("[destinations.secrets]     # ${ENV} references only")
        lines += [f'{k} = "${{{v}}}"' for k, v in secrets.items()]
    return HEADER.replace("{catalog}", toml_str(catalog)) + "\n" + "\n".join(lines) + "\n"


def aep_config(s: AepSettings, snaps: list[FlowSnapshot], catalog: str) -> str:
    """A config from what the credential sees: [aep] and one destination per store location."""
    return HEADER.replace("{catalog}", toml_str(catalog)) + "\n" + aep_block(s) + "\n" + destination_blocks(snaps)


def _oneline(text: str) -> str:
    """A flow name inside a TOML comment: one line, whatever Adobe holds."""
    return re.sub(r"\s+", " ", text).strip()[:80]
