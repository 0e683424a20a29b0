"""Plain data shared by backends, the scanner, the checks and the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Checksum:
    """A checksum a store offers for an object, or one computed from its bytes.

    `source` is the provenance: ``service`` (computed by the store from the bytes it
    received), ``client`` (claimed by whoever uploaded, stored as given) or ``computed``
    (verifier read the bytes itself).
    """

    algo: str  # md5 | crc32c | crc32 | sha1 | sha256 | crc64nvme
    value: str  # lowercase hex
    source: str


@dataclass
class Entry:
    """One item of a store listing, normalised across stores."""

    path: str  # the path inside the backend's filesystem (no protocol)
    name: str
    is_dir: bool
    size: int = 0
    modified_at: datetime | None = None  # UTC, tz-aware
    etag: str | None = None
    checksums: tuple[Checksum, ...] = ()

    def checksum(self, algo: str) -> Checksum | None:
        for c in self.checksums:
            if c.algo == algo:
                return c
        return None


@dataclass
class FileResult:
    """What the checks concluded about one file."""

    entry: Entry
    uri: str
    role: str  # data | manifest | other
    status: str = "ok"  # ok | warning | failed | pending | unverified
    verified_level: str | None = None
    record_count: int | None = None
    schema_hash: str | None = None
    schema: dict[str, str] | None = None  # column -> type, for drift reports
    computed: dict[str, str] = field(default_factory=dict)  # algo -> hex, from bytes read
    bytes_read: int = 0
