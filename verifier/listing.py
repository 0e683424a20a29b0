"""What a scan of a destination found: datasets, their export folders and the entries in them.

Plain data, apart from the scanners (`layout.py`, `layout_template.py`) that fill it in and
everything that reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from verifier.errors import StoreError
from verifier.findings import Finding
from verifier.model import Entry


@dataclass
class ExportListing:
    dataset_id: str
    export_time: datetime
    raw: str  # the folder's value as written, 12 or 14 digits
    path: str
    uri: str
    entries: list[Entry] = field(default_factory=list)
    error: StoreError | None = None  # the folder could not be listed

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.dataset_id, self.export_time)

    def listing_hash(self) -> str:
        """A fingerprint of what the listing says: names, kinds, sizes, etags, mtimes."""
        lines = "".join(
            f"{e.name}\0{e.is_dir}\0{e.size}\0{e.etag or ''}\0{e.modified_at.timestamp() if e.modified_at else ''}\n"
            for e in sorted(self.entries, key=lambda e: e.name)
        )  # one update of the same bytes as one per entry: the same hash
        return hashlib.sha256(lines.encode()).hexdigest()[:32]

    @property
    def newest_modified(self) -> datetime | None:
        times = [e.modified_at for e in self.entries if e.modified_at]
        return max(times) if times else None


@dataclass
class DatasetListing:
    dataset_id: str
    path: str
    exports: list[ExportListing] = field(default_factory=list)


@dataclass
class ScanResult:
    datasets: dict[str, DatasetListing] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    entries_listed: int = 0
    unlisted: set[str] = field(default_factory=set)  # datasets whose folder could not be listed tonight
