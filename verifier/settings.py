"""The resolved configuration as plain data: what `verifier.config` builds and everything else reads.

A leaf module: backends, checks and the catalog import these types without pulling in the
config loader (which itself needs the backend registry to validate a destination's type).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier.errors import ConfigError
from verifier.findings import Severity

if TYPE_CHECKING:
    from verifier.aep.settings import AepSettings


@dataclass
class Destination:
    name: str
    type: str
    url: str | None
    format: str = "parquet"
    compression: str = "gzip"
    manifest: bool = True
    export_mode: str = "first_full_then_incremental"
    schedule: timedelta | None = timedelta(hours=24)  # None: infer ("auto")
    stale_after: timedelta = timedelta(hours=48)
    settle_time: timedelta = timedelta(hours=2)
    encryption: str = "none"  # "pgp": every data file is an OpenPGP message
    pgp_recipients: tuple[str, ...] = ()  # upper-case hex fingerprints (or 16-digit key ids)
    # pgp_private_key / pgp_passphrase, kept apart from `secrets`, which backends hand to their store client
    pgp_secrets: dict[str, str] = field(repr=False, default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(repr=False, default_factory=dict)  # resolved values
    flows: list[str] = field(default_factory=list)  # AEP dataset-export dataflow ids writing here
    folder_template: str = "%DATASET_ID%/%EXPORT_TIME%"  # Adobe's folder name template (templates.py)

    def __repr__(self) -> str:  # never show secrets, even in a traceback's locals
        return f"Destination(name={self.name!r}, type={self.type!r})"


@dataclass
class ServiceConfig:
    schedule: str | None = None
    level: str = "metadata"
    sample: float | None = None
    token: str | None = field(default=None, repr=False)
    public_url: str | None = None  # where people reach the dashboard; linked from notifications


@dataclass(frozen=True)
class NotifyConfig:
    on: str = "error"  # the lowest severity that notifies, or "always"
    only_new: bool = True
    urls: tuple[str, ...] = field(default=(), repr=False)
    heartbeat: str | None = field(default=None, repr=False)
    public_url: str | None = None  # the dashboard, from [service] public_url

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.heartbeat)

    def __repr__(self) -> str:  # channel URLs carry tokens
        return f"NotifyConfig(on={self.on!r}, channels={len(self.urls)}, heartbeat={self.heartbeat is not None})"


@dataclass
class Config:
    path: Path | None
    catalog_path: Path
    destinations: list[Destination]
    severity: dict[str, Severity] = field(default_factory=dict)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    aep: AepSettings | None = None  # [aep]: Flow Service reconciliation for destinations with `flows`
    limits: dict[str, int] = field(default_factory=dict)  # verifier.checks.limits constant -> value

    def destination(self, name: str) -> Destination:
        for d in self.destinations:
            if d.name == name:
                return d
        names = ", ".join(d.name for d in self.destinations) or "none"
        raise ConfigError(f"no destination named {name!r} in {self.path}; configured: {names}")
