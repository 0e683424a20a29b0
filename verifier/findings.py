"""Typed findings with stable codes; checks return them, they never raise."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; use info, warning or error") from None

    def __str__(self) -> str:
        return self.name.lower()


# code -> (default severity, when it is raised). The one table of finding codes.
CODES: dict[str, tuple[Severity, str]] = {
    "layout.bad_export_time": (Severity.ERROR, "exportTime= folder whose value is not a 12/14-digit UTC time"),
    "layout.unexpected_entry": (Severity.WARNING, "something else where datasets or exports are expected"),
    "manifest.missing": (Severity.ERROR, "manifest expected, none present, export older than settle_time"),
    "manifest.invalid": (Severity.ERROR, "not JSON, wrong shape, or names that are not plain file names"),
    "manifest.file_missing": (Severity.ERROR, "the manifest lists a file that is not there"),
    "manifest.size_mismatch": (Severity.ERROR, "a listed file's size differs from the manifest"),
    "manifest.unlisted_file": (Severity.ERROR, "a data file is present that the manifest does not list"),
    "manifest.time_mismatch": (Severity.WARNING, "scheduledTime does not match the folder's export time"),
    "file.empty": (Severity.ERROR, "a data file of zero bytes"),
    "file.unexpected_format": (Severity.ERROR, "name or magic bytes disagree with the format/compression"),
    "file.unreadable": (Severity.ERROR, "the store refused or failed to return the bytes"),
    "file.checksum_mismatch": (Severity.ERROR, "bytes disagree with a native or earlier recorded checksum"),
    "file.changed": (Severity.ERROR, "size, etag or checksum differs from an earlier run"),
    "file.vanished": (Severity.ERROR, "a file recorded earlier is gone"),
    "parquet.corrupt": (Severity.ERROR, "bad magic, footer, metadata or page"),
    "json.corrupt": (Severity.ERROR, "broken gzip stream, bad UTF-8, a line that is not a JSON object"),
    "export.empty": (Severity.WARNING, "an export with no data files"),
    "export.vanished": (Severity.ERROR, "a whole export recorded earlier is gone"),
    "dataset.schema_drift": (Severity.WARNING, "columns added, removed or retyped between exports"),
    "dataset.schedule_gap": (Severity.WARNING, "expected exports missing between two present ones"),
    "dataset.stale": (Severity.WARNING, "no export for longer than stale_after"),
    "restore.chain_broken": (Severity.ERROR, "an earlier link of a restore chain is failed or gone"),
    "backend.unreachable": (Severity.ERROR, "a destination could not be listed or read"),
    "backend.credentials_expiring": (Severity.WARNING, "a credential with a known expiry runs out within 14 days"),
    "file.check_crashed": (Severity.ERROR, "the reader crashed, hung or ran out of memory on this file"),
    "file.too_large": (Severity.WARNING, "not decoded: beyond a configured limit; not fully verified"),
    "parquet.encrypted": (Severity.ERROR, "Parquet modular encryption (AEP never writes it)"),
    "parquet.tolerated": (Severity.WARNING, "a deviation readers tolerate, or one reader refuses and DuckDB reads"),
    "pgp.wrong_recipient": (Severity.ERROR, "an OpenPGP file not encrypted to the destination's key"),
    "pgp.corrupt": (Severity.ERROR, "broken OpenPGP framing, or integrity failure on decryption"),
    "pgp.unsupported": (Severity.WARNING, "an OpenPGP message GnuPG cannot decrypt; not fully verified"),
    "dataset.not_exported": (Severity.ERROR, "a dataset of a dataflow has no export although the flow has run"),
    "export.missing": (Severity.ERROR, "a scheduled export's folder is not there (its run succeeded, or none ran)"),
    "export.no_run": (Severity.WARNING, "an export folder that no dataflow run accounts for"),
    "export.record_count_mismatch": (Severity.WARNING, "records counted differ from the dataflow run's count"),
    "flow.run_failed": (Severity.ERROR, "a dataflow run failed"),
    "flow.disabled": (Severity.WARNING, "the dataflow is disabled: exports have stopped"),
    "flow.ending": (Severity.WARNING, "the dataflow's endTime is within 14 days"),
    "flow.ended": (Severity.ERROR, "the dataflow's endTime has passed: exports stop silently"),
    "flow.settings_mismatch": (Severity.WARNING, "the dataflow's settings differ from the destination's config"),
    "aep.unreachable": (Severity.ERROR, "Adobe's token or Flow Service could not be reached or refused"),
}


@dataclass
class Finding:
    code: str
    message: str
    destination: str = ""
    dataset_id: str | None = None
    export_time: datetime | None = None
    uri: str | None = None
    severity: Severity | None = None  # None: the code's default, or the config override
    found_at: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}")
        if self.severity is None:
            self.severity = CODES[self.code][0]

    @property
    def sev(self) -> Severity:
        assert self.severity is not None
        return self.severity

    def as_dict(self) -> dict[str, object]:
        """The stable JSON form, for `--json` outputs and the HTTP API."""
        from verifier.timeutil import iso

        return {
            "code": self.code,
            "severity": str(self.sev),
            "destination": self.destination,
            "dataset_id": self.dataset_id,
            "export_time": iso(self.export_time),
            "uri": self.uri,
            "message": self.message,
        }
